//! Synapses onto synapses over ranks: a Synapses object `T` whose source
//! or target is another Synapses object `S` (Brian2's
//! `Synapses(dopamine, synapse_stdp)`, Stimberg et al.'s astrocytes).
//!
//! `S`'s synapses lie on the ranks of their own targets, in no order of
//! rank. While `T`'s synapses are made, `S`'s synapses are numbered
//! globally (creation order), so that rows, draws and the synapses made
//! are those of one process. Then:
//! - a synapse of `T` onto a synapse of `S` is kept by the rank that holds
//!   that synapse (`OwnedTargets::Synapses`), and its target becomes the
//!   local index there ([`PartitionState::localise_held`]): `on_pre`
//!   effects and summed variables onto `S` are local writes;
//! - a synapse of `T` from a synapse of `S` is kept by the rank of its own
//!   target, which may not hold its source: `T`'s kernels read `S`'s
//!   variables (`Y_S_pre`) from *ghost* slots appended to `S`'s arrays on
//!   this rank, after its own synapses, filled with the holders' values
//!   right before each kernel that reads them
//!   ([`PartitionState::share_ghosts`]), and its source becomes the local
//!   index or the ghost slot ([`PartitionState::add_ghosts`]).

use std::collections::HashMap;
use std::ops::Range;

use rheobase_kernel::program::{KernelId, Program};
use rheobase_kernel::{ArrayId, Expr, IndexSpace};

use super::{walk, PartitionState};
use crate::exec::ArrayStore;

/// The ghost slots of one Synapses object on one rank: copies of other
/// ranks' synapses that this rank's synapses of other objects read
/// through their source.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ghosts {
    /// The global index of the synapse each slot holds, in slot order:
    /// slot `g` is element `local_len + g` of the ghost arrays.
    globals: Vec<u64>,
    /// Global index -> element of the ghost arrays.
    slot: HashMap<u64, u32>,
    /// This rank's synapses that other ranks read, as local indices, in
    /// ascending global order: what it sends in each share.
    send: Vec<u32>,
    /// Per rank, in rank order, where each value it sends goes on this
    /// rank (`None`: this rank does not read it).
    recv: Vec<Vec<Option<u32>>>,
}

impl Ghosts {
    /// Number of ghost slots.
    pub fn len(&self) -> usize {
        self.globals.len()
    }
}

/// Per Synapses object, the arrays some kernel reads through a synapse's
/// source (`x_pre` of a Synapses object whose source is that object):
/// the arrays that get ghost slots on a split run.
pub(crate) fn ghost_arrays(program: &Program) -> Vec<Vec<ArrayId>> {
    let mut found = vec![Vec::new(); program.synapses.len()];
    for k in &program.kernels {
        walk(
            k,
            &mut |e| {
                if let Expr::Load(a, IndexSpace::Pre) = e {
                    if let Some(s) = program.arrays[a.0 as usize].synapses {
                        let list: &mut Vec<ArrayId> = &mut found[s];
                        if !list.contains(a) {
                            list.push(*a);
                        }
                    }
                }
            },
            &mut |_, _| {},
        );
    }
    for list in &mut found {
        list.sort_by_key(|a| a.0);
    }
    found
}

/// The arrays of Synapses object `s` that the kernels `kernels` of a
/// `connect:` line read and do not write themselves (a mapping's scratch
/// values are written first): the variables of a side made of `s`'s
/// synapses that the line reads, gathered from every rank while it is made
/// ([`PartitionState::gather_side`]).
pub(crate) fn side_reads(program: &Program, s: usize, kernels: &[KernelId]) -> Vec<ArrayId> {
    let mut written = Vec::new();
    for &k in kernels {
        walk(&program.kernels[k.0 as usize], &mut |_| {}, &mut |a, _| {
            written.push(a)
        });
    }
    let mut read = Vec::new();
    for &k in kernels {
        walk(
            &program.kernels[k.0 as usize],
            &mut |e| {
                if let Expr::Load(a, _) = e {
                    let of_s = program.arrays[a.0 as usize].synapses == Some(s);
                    if of_s && !written.contains(a) && !read.contains(a) {
                        read.push(*a);
                    }
                }
            },
            &mut |_, _| {},
        );
    }
    read
}

impl PartitionState {
    /// The global indices of the synapses of object `s` this rank holds,
    /// as ascending ranges.
    pub fn held_globals(&self, s: usize) -> Vec<Range<u32>> {
        let mut held: Vec<Range<u32>> = Vec::new();
        for run in &self.runs[s] {
            let (from, to) = (run.global as u32, (run.global + run.len as u64) as u32);
            match held.last_mut() {
                Some(last) if last.end == from => last.end = to,
                _ => held.push(from..to),
            }
        }
        held
    }

    /// The local index of the synapse of object `s` with global index
    /// `global`, if this rank holds it.
    fn local_of(&self, s: usize, global: u64) -> Option<u32> {
        let runs = &self.runs[s];
        let at = runs.partition_point(|r| r.global + r.len as u64 <= global);
        runs.get(at)
            .filter(|r| r.global <= global)
            .map(|r| (r.local as u64 + (global - r.global)) as u32)
    }

    /// Turns the targets `post` of synapses onto synapses of object `s`,
    /// global indices of synapses this rank holds (it kept only those),
    /// into their local indices.
    pub fn localise_held(&self, s: usize, post: &mut [u32]) {
        for j in post.iter_mut() {
            let local = self.local_of(s, u64::from(*j));
            debug_assert!(
                local.is_some(),
                "a synapse onto a synapse another rank holds"
            );
            *j = local.unwrap_or(0);
        }
    }

    /// The global index of element `e` of object `s`'s arrays on this
    /// rank: a local synapse or a ghost slot after its `local_len`.
    pub fn side_global(&self, s: usize, local_len: usize, e: usize) -> u64 {
        if e >= local_len {
            let ghosts = self.ghosts[s].as_ref();
            return ghosts.map_or(0, |g| g.globals[e - local_len]);
        }
        let runs = &self.runs[s];
        let at = runs.partition_point(|r| r.local + r.len <= e);
        runs.get(at)
            .map_or(e as u64, |r| r.global + (e - r.local) as u64)
    }

    /// Ghost slots of object `s` on this rank.
    pub fn ghost_len(&self, s: usize) -> usize {
        self.ghosts[s].as_ref().map_or(0, Ghosts::len)
    }

    /// Turns the sources `pre` of new synapses from synapses of object
    /// `s` (global indices; `local_len` synapses of `s` are this rank's)
    /// into elements of `s`'s arrays on this rank: the local synapse, or a
    /// ghost slot, made for those it does not hold. Then every rank
    /// learns which of its synapses the others read, for
    /// [`PartitionState::share_ghosts`]. Collective (two all-gathers):
    /// every rank calls it after each `connect:` line of an object whose
    /// source is `s`, whatever the line's outcome (`pre` is then empty).
    pub fn add_ghosts(&mut self, s: usize, local_len: usize, pre: &mut [u32]) {
        let mut ghosts = self.ghosts[s].take().unwrap_or_default();
        for i in pre.iter_mut() {
            let g = u64::from(*i);
            *i = match self.local_of(s, g) {
                Some(local) => local,
                None => *ghosts.slot.entry(g).or_insert_with(|| {
                    ghosts.globals.push(g);
                    (local_len + ghosts.globals.len() - 1) as u32
                }),
            };
        }
        // Every rank's ghosts, so that each knows which of its synapses
        // the others read.
        let words = |globals: &mut dyn Iterator<Item = u64>| -> Vec<u32> {
            globals.flat_map(|g| [g as u32, (g >> 32) as u32]).collect()
        };
        let unwords = |w: &[u32]| -> Vec<u64> {
            w.chunks_exact(2)
                .map(|w| u64::from(w[0]) | (u64::from(w[1]) << 32))
                .collect()
        };
        let mine = words(&mut ghosts.globals.iter().copied());
        self.exchange
            .all_gather(&mine, &mut self.counts, &mut self.recv);
        let mut wanted = unwords(&self.recv);
        wanted.sort_unstable();
        wanted.dedup();
        let sent: Vec<u64> = wanted
            .into_iter()
            .filter(|&g| self.local_of(s, g).is_some())
            .collect();
        ghosts.send = sent.iter().filter_map(|&g| self.local_of(s, g)).collect();
        let mine = words(&mut sent.iter().copied());
        self.exchange
            .all_gather(&mine, &mut self.counts, &mut self.recv);
        let mut at = 0;
        ghosts.recv = self
            .counts
            .iter()
            .map(|&count| {
                let from = unwords(&self.recv[at..at + count]);
                at += count;
                from.iter().map(|g| ghosts.slot.get(g).copied()).collect()
            })
            .collect();
        self.ghosts[s] = Some(ghosts);
    }

    /// Fills the ghost slots of object `s`'s arrays `arrays` with the
    /// current values of the synapses they stand for, each sent by the
    /// rank that holds it. Collective (one all-gather of known lengths);
    /// nothing when `s` has no ghosts on any rank (every rank knows).
    pub fn share_ghosts(&mut self, s: usize, arrays: &[ArrayId], store: &mut ArrayStore) {
        let Some(ghosts) = self.ghosts[s].take() else {
            return;
        };
        if arrays.is_empty() || ghosts.recv.iter().all(Vec::is_empty) {
            self.ghosts[s] = Some(ghosts);
            return;
        }
        let started = std::time::Instant::now();
        self.share_send.clear();
        for &a in arrays {
            let values = store.values(a);
            for &e in &ghosts.send {
                let bits = values.get(e as usize).to_bits();
                self.share_send.push(bits as u32);
                self.share_send.push((bits >> 32) as u32);
            }
        }
        self.counts.clear();
        self.counts
            .extend(ghosts.recv.iter().map(|r| 2 * r.len() * arrays.len()));
        self.share_words += self.share_send.len() as u64;
        self.share_full_words += self.share_send.len() as u64;
        self.exchange
            .all_gather_known(&self.share_send, &self.counts, &mut self.recv);
        let mut at = 0;
        for from in &ghosts.recv {
            for &a in arrays {
                let mut values = store.values_mut(a);
                for slot in from {
                    if let Some(e) = slot {
                        let (lo, hi) = (self.recv[at], self.recv[at + 1]);
                        values.set(
                            *e as usize,
                            f64::from_bits(u64::from(lo) | (u64::from(hi) << 32)),
                        );
                    }
                    at += 2;
                }
            }
        }
        self.ghosts[s] = Some(ghosts);
        self.exchange_seconds += started.elapsed().as_secs_f64();
    }

    /// [`PartitionState::share_ghosts`] of the synapse arrays among
    /// `arrays`, object by object (in the order of their first array, the
    /// same on every rank). Collective.
    pub fn share_synapse_arrays(
        &mut self,
        arrays: &[ArrayId],
        program: &Program,
        store: &mut ArrayStore,
    ) {
        let mut objects: Vec<usize> = Vec::new();
        for a in arrays {
            if let Some(s) = program.arrays[a.0 as usize].synapses {
                if !objects.contains(&s) {
                    objects.push(s);
                }
            }
        }
        for s in objects {
            let of_s: Vec<ArrayId> = arrays
                .iter()
                .copied()
                .filter(|a| program.arrays[a.0 as usize].synapses == Some(s))
                .collect();
            self.share_ghosts(s, &of_s, store);
        }
    }
}

impl PartitionState {
    /// The values of arrays `arrays` of object `s` over all its synapses,
    /// by global index, from every rank's own (`local_len` here): what a
    /// `connect:` line whose side is `s` reads of its variables while it
    /// numbers them globally. Collective.
    pub fn gather_side(
        &mut self,
        s: usize,
        local_len: usize,
        arrays: &[ArrayId],
        store: &ArrayStore,
    ) -> Vec<Vec<f64>> {
        // Per rank: its runs (global index in two words, local index,
        // length), then each array's values of its own synapses.
        let mut words = vec![self.runs[s].len() as u32];
        for r in &self.runs[s] {
            words.extend([
                r.global as u32,
                (r.global >> 32) as u32,
                r.local as u32,
                r.len as u32,
            ]);
        }
        for &a in arrays {
            let values = store.values(a);
            for e in 0..local_len {
                let bits = values.get(e).to_bits();
                words.extend([bits as u32, (bits >> 32) as u32]);
            }
        }
        let (mut counts, mut all) = (Vec::new(), Vec::new());
        self.exchange.all_gather(&words, &mut counts, &mut all);
        let total = self.global_len[s] as usize;
        let mut out = vec![vec![0.0; total]; arrays.len()];
        let mut at = 0;
        for &count in &counts {
            let block = &all[at..at + count];
            at += count;
            let n = block.first().copied().unwrap_or(0) as usize;
            let runs: Vec<(usize, usize, usize)> = block[1..1 + 4 * n]
                .chunks_exact(4)
                .map(|w| {
                    let global = u64::from(w[0]) | (u64::from(w[1]) << 32);
                    (global as usize, w[2] as usize, w[3] as usize)
                })
                .collect();
            let len: usize = runs.iter().map(|r| r.2).sum();
            let values = &block[1 + 4 * n..];
            for (x, column) in out.iter_mut().enumerate() {
                for &(global, local, run) in &runs {
                    for e in 0..run {
                        let w = 2 * (x * len + local + e);
                        let bits = u64::from(values[w]) | (u64::from(values[w + 1]) << 32);
                        column[global + e] = f64::from_bits(bits);
                    }
                }
            }
        }
        out
    }
}
