//! One simulation over several processes (ranks): the split of neurons
//! and synapses, the collectives the step needs ([`Exchange`]), and the
//! check of what a program may use when it runs split.
//!
//! Each NeuronGroup's neurons are split into contiguous ranges of global
//! index, balanced by their expected synapses ([`Split`]); a rank updates only its range, while its
//! neuron arrays stay full length (the memory that must scale with the
//! rank count is the synapses'). Each synapse lives on the rank that owns
//! its target neuron, so `on_pre` effects, summed variables and `on_post`
//! code write only the rank's own neurons. Once per window of steps the
//! ranks exchange their spiking neurons (and the custom events that
//! trigger pathways) of each step: since ranges are
//! ascending in rank order, concatenating the ranks' ascending lists
//! gives every rank the group's full ascending list, the one a single
//! process computes. Random draws are keyed by global element index, so
//! the numbers do not depend on the rank count.

use std::ops::Range;
use std::sync::{Arc, Barrier, Mutex};

use rheobase_kernel::program::{
    ConnectPlan, KernelId, MonitorPlan, Multiplicity, Part, PathwaySide, Program, RegularTarget,
    Slot,
};
use rheobase_kernel::{ArrayId, BinaryOp, Expr, IndexSpace, Kernel, Stmt};

use crate::exec::ArrayStore;

mod balance;
mod clocks;
mod synapse_sides;
pub use balance::Split;
pub(crate) use synapse_sides::{ghost_arrays, side_reads, Ghosts};

/// The collectives a split simulation needs. Every rank calls each method
/// at the same point of the run, in the same order (they are collective
/// operations, as in MPI).
///
/// Implemented over MPI by the `rheobase-mpi` crate and in-process, with
/// threads as ranks, by [`ThreadExchange`] (for tests).
pub trait Exchange: Send + Sync {
    /// Number of ranks.
    fn ranks(&self) -> usize;
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;
    /// Every rank's `local` words, concatenated in rank order, into `out`
    /// (cleared first); `counts[q]` is the number of words of rank `q`.
    fn all_gather(&mut self, local: &[u32], counts: &mut Vec<usize>, out: &mut Vec<u32>);
    /// The bitwise OR of every rank's `flags`, on every rank.
    fn any(&mut self, flags: u32) -> u32;
    /// Rank 0 receives every rank's bytes, in rank order; the others get
    /// `None`.
    fn gather(&mut self, local: Vec<u8>) -> Option<Vec<Vec<u8>>>;
    /// Every rank's `block`, concatenated in rank order, into `out`
    /// (cleared first). Every rank's block has the same length, so this
    /// is one collective (`MPI_Allgather`): the window's message, whose
    /// blocks carry their own lengths ([`PartitionState::exchange_window`]).
    fn all_gather_fixed(&mut self, block: &[u32], out: &mut Vec<u32>);
    /// Like [`Exchange::all_gather`] when every rank already knows every
    /// rank's length, `counts[q]` words of rank `q`: one collective
    /// (`MPI_Allgatherv`) instead of two.
    fn all_gather_known(&mut self, local: &[u32], counts: &[usize], out: &mut Vec<u32>);
    /// Collectives made so far, counted as MPI makes them
    /// ([`Exchange::all_gather`] and [`Exchange::gather`] are two each, the
    /// others one), so that tests can check how many a window costs.
    fn collectives(&self) -> u64;
}

/// The neurons rank `rank` of `ranks` owns in a group of `size`:
/// `size*rank/ranks .. size*(rank+1)/ranks` (rounded down), so ranges
/// are contiguous, ascending in rank order, and differ in length by at
/// most one.
pub fn owned_range(size: usize, ranks: usize, rank: usize) -> Range<usize> {
    let at = |r: usize| (size as u128 * r as u128 / ranks.max(1) as u128) as usize;
    at(rank)..at(rank + 1)
}

/// Flags agreed between ranks after every step and action.
pub(crate) const FLAG_INTERRUPTED: u32 = 1;
pub(crate) const FLAG_FAILED: u32 = 2;

/// A run of a rank's synapses whose global indices are consecutive:
/// local synapses `local..local + len` are global synapses
/// `global..global + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GlobalRun {
    pub local: usize,
    pub global: u64,
    pub len: usize,
}

/// Where the synapses a `connect:` line kept lie in the global numbering,
/// and how many the line made on all ranks together.
pub(crate) type GlobalPlace = (Vec<GlobalRun>, u64);

/// What a `connect:` line on one rank of several says of the global
/// numbering of the synapses it kept: where they lie
/// ([`GlobalPlace`]), or, for a line whose rows are made in target order,
/// how many it kept of each row, from which the ranks together number them
/// (`PartitionState::place_rows`).
#[derive(Debug)]
pub(crate) enum Placement {
    Runs(GlobalPlace),
    Rows(Vec<u32>),
}

/// The longest exchange window, in steps (ticks, with several clocks:
/// `clocks`). Any window up to one step more
/// than the shortest delay between ranks gives the same results; this
/// bound keeps the spikes buffered per window, and the time a rank takes
/// to notice another's interrupt, small when no synapse crosses ranks.
pub const MAX_WINDOW_STEPS: u64 = 64;

/// The smallest block, in words, each rank sends in a window's message
/// ([`PartitionState::exchange_window`]): its two header words and a
/// few spikes.
const MIN_BLOCK_WORDS: usize = 64;

/// Consecutive windows whose messages would all fit a quarter of the
/// block before it halves: bursty activity (a population firing together
/// every few windows) would otherwise shrink and regrow it, paying a
/// second round each time.
const SHRINK_AFTER_WINDOWS: u32 = 256;

/// A rank's side of a split simulation.
///
/// Spikes are exchanged once per window of steps (NEST's min-delay
/// scheme): each rank buffers its own spikes (and custom events that
/// trigger pathways) step by step, and after the custom events of the
/// window's last step, before its `synapses` slot, one all-gather gives
/// every rank every group's spikes of every step of the window. A synapse whose
/// source is on another rank has a delay of at least `split` steps, so a
/// spike of step `s` in the window is due at `s + split` or later, never
/// before the window's last step `s + split` at most: it can wait for the
/// exchange. On its own rank, a spike's synapses with a delay below
/// `split` (all of them local) are queued at once, the others at the
/// exchange; the queue delivers those queued late first, which is the
/// order of one process (`synapses::queue`). SpikeMonitors and
/// PopulationRateMonitors of exchanged groups record the window's steps
/// at the exchange, in step order.
pub(crate) struct PartitionState {
    pub exchange: Box<dyn Exchange>,
    /// Which neurons of each group each rank owns.
    pub owners: Split,
    /// Per Synapses object: how local synapses map to global indices.
    pub runs: Vec<Vec<GlobalRun>>,
    /// Per Synapses object: synapses made on all ranks together.
    pub global_len: Vec<u64>,
    /// What each step's exchanged lists hold, in order: the spikes of
    /// every exchanged group, then the custom events that trigger a
    /// pathway from the source side ([`Trigger`]).
    pub triggers: Vec<Trigger>,
    /// This rank's message of the current window: a flags word, then per
    /// step and trigger a count and the neurons it occurred for (then, at
    /// the exchange, `values_send`).
    send: Vec<u32>,
    recv: Vec<u32>,
    counts: Vec<usize>,
    /// The window message's block per rank, in words: the same on every
    /// rank, since every rank derives it from the same headers.
    block_words: usize,
    /// This rank's block of the window message, and every rank's.
    block: Vec<u32>,
    blocks: Vec<u32>,
    /// Windows whose message overflowed some rank's block and took a
    /// second collective.
    pub second_rounds: u64,
    /// Consecutive windows whose messages fit a quarter of the block.
    small_windows: u32,
    /// Collectives made by the windows' exchanges (one per window, plus
    /// the second rounds).
    pub window_collectives: u64,
    /// Synapses with a delay of `split` ticks or more are queued at the
    /// exchange; every synapse whose source is on another rank has one
    /// (in its clock's steps, `split_in`: `clocks`).
    pub split: u32,
    /// Whether the program has several clocks, the ticks per step of each
    /// clock and of each trigger's group's, and per clock the delay in
    /// its steps from which synapses wait for the exchange (`clocks`).
    several_clocks: bool,
    clock_every: Vec<u64>,
    trigger_every: Vec<u64>,
    split_steps: Vec<u32>,
    /// The first step of the current window and the step after its last.
    window_start: u64,
    pub window_end: u64,
    /// Steps buffered in `send`, and lists per step (`triggers.len()`).
    steps: usize,
    per_step: usize,
    /// Whether the current window's exchange has been made.
    exchanged: bool,
    /// The OR of every rank's flags in the last exchange.
    pub window_flags: u32,
    /// The pathways from the source side placed before their source's
    /// spike thresholder (`S.pre.when = 'before_groups'`), which read the
    /// previous step's spikes: `(synapses, pathway)` as in `pre_order`.
    pub shifted: Vec<(usize, Option<usize>)>,
    /// Every trigger's neurons in every step of the last exchanged window:
    /// `merged[at[step * per_step + g].clone()]`, ascending; `own[g]` is
    /// where this rank's neurons lie in the list of trigger `g` of the
    /// window's last step where its group was due, `last_due[g]` (the
    /// last step, with one clock; `clocks`).
    merged: Vec<u32>,
    at: Vec<Range<usize>>,
    own: Vec<Range<usize>>,
    last_due: Vec<Option<usize>>,
    /// Seconds spent in the spike exchange (the collective and the
    /// copies around it), waiting for slower ranks included.
    pub exchange_seconds: f64,
    /// Spike exchanges made (windows).
    pub exchanges: u64,
    /// This rank's values of the presynaptic variables shared before a
    /// synapse kernel reads them ([`PartitionState::share`]).
    share_send: Vec<u32>,
    /// Per Synapses object: which neurons of each rank's range of its
    /// source group other ranks' synapses read
    /// ([`PartitionState::share_pre`]), found when it had made the
    /// given number of synapses (on all ranks together).
    pre_read: Vec<Option<(u64, Vec<Vec<u32>>)>>,
    /// Words this rank sent in shares, and what it would have sent had
    /// every share carried every owned value.
    pub share_words: u64,
    pub share_full_words: u64,
    /// Words this rank sent of changes of presynaptic variables
    /// ([`PartitionState::apply_pre_writes`]).
    pub pre_write_words: u64,
    /// Per kernel: whether it draws random numbers or uses its element's
    /// index, so that over synapses it must run with global indices.
    pub keyed: Vec<bool>,
    /// Per kernel: whether, as a group's `run_regularly` code, it runs
    /// over every neuron on every rank ([`changes_shared_from_shared`]).
    pub everywhere: Vec<bool>,
    /// Per monitor: where a StateMonitor of synapses finds its recorded
    /// synapses (set at its first sample).
    pub columns: Vec<Option<Columns>>,
    /// Per monitor: the neuron arrays that change during a run, that only
    /// their owners hold current, and that the monitor reads: what a
    /// StateMonitor of synapses' `prepare` kernel reads of presynaptic
    /// neurons, or what a monitor of neurons records or computes of a
    /// one-neuron group ([`kernel_reads`]).
    pub monitor_reads: Vec<Vec<ArrayId>>,
    /// Per kernel: [`kernel_reads`].
    pub kernel_reads: Vec<Vec<ArrayId>>,
    /// Per kernel: the neuron arrays a pathway's kernel changes through
    /// its presynaptic neuron ([`pre_writes`]), whose changes each rank
    /// sends to the neurons' owners ([`PartitionState::apply_pre_writes`]).
    pub pre_writes: Vec<Changes>,
    /// Per kernel: the shared variables a reset or an event's code
    /// changes ([`shared_writes`]), whose changes every rank applies.
    pub shared_writes: Vec<Changes>,
    /// The monitors that each rank records for its own neurons and whose
    /// recordings travel with the window's exchange (monitor indices):
    /// SpikeMonitors with `variables:` of exchanged groups (read after the
    /// threshold, before the reset), then EventMonitors recording before
    /// their event is evaluated, then those recording after it; each step
    /// buffers them in this order ([`PartitionState::buffer_recorded`]).
    pub recorded: Vec<usize>,
    /// The number of variables of each monitor of `recorded`.
    pub recorded_vars: Vec<usize>,
    /// Whether a monitor of `recorded` records after the window's exchange
    /// (a `when:` after `after_thresholds`): what it records in a window's
    /// last step travels in the next window's message, and the last step
    /// of a run's in one more exchange at its end
    /// ([`PartitionState::exchange_tail`]).
    pub late_recorded: bool,
    /// This rank's recordings made since the last exchange: per recording
    /// (`keys_send`), a count of neurons, the neurons, then the values of
    /// each variable (two words each). They travel after the spike lists,
    /// in the next window's one message.
    values_send: Vec<u32>,
    /// The step and monitor of each recording of `values_send`, in the
    /// order they were made: the same on every rank, which make the same
    /// steps.
    keys_send: Vec<(u64, usize)>,
    /// The last exchange's recordings, `keys[l]` (step and monitor): the
    /// neurons `indices[values_at[l].0.clone()]` and the values
    /// `values[values_at[l].1.clone()]`, variable by variable, each in
    /// neuron order, every rank's merged in rank order.
    keys: Vec<(u64, usize)>,
    indices: Vec<u32>,
    values: Vec<f64>,
    values_at: Vec<(Range<usize>, Range<usize>)>,
    /// Per Synapses object that is the source of another: its ghost
    /// slots on this rank (`synapse_sides`), made when the other's
    /// synapses are.
    pub ghosts: Vec<Option<Ghosts>>,
    /// Per Synapses object: its arrays that get ghost slots
    /// ([`ghost_arrays`]).
    pub ghost_arrays: Vec<Vec<ArrayId>>,
}

/// What one of each step's exchanged lists holds: the spikes of group
/// `group` (`event: None`) or the neurons of its custom event
/// `events[e]` (`Some(e)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trigger {
    pub group: usize,
    pub event: Option<usize>,
}

/// The recorded synapses of a StateMonitor of synapses on one rank of
/// several: each column's local synapse on this rank (if it holds it) and
/// the rank that holds it.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    pub local: Vec<Option<u32>>,
    pub owner: Vec<usize>,
}

impl PartitionState {
    pub fn new(exchange: Box<dyn Exchange>, owners: Split, synapses: usize) -> PartitionState {
        PartitionState {
            exchange,
            owners,
            runs: vec![Vec::new(); synapses],
            global_len: vec![0; synapses],
            triggers: Vec::new(),
            send: Vec::new(),
            recv: Vec::new(),
            counts: Vec::new(),
            block_words: MIN_BLOCK_WORDS,
            block: Vec::new(),
            blocks: Vec::new(),
            second_rounds: 0,
            small_windows: 0,
            window_collectives: 0,
            split: 0,
            several_clocks: false,
            clock_every: vec![1],
            trigger_every: Vec::new(),
            split_steps: Vec::new(),
            window_start: 0,
            window_end: 0,
            steps: 0,
            per_step: 0,
            exchanged: true,
            window_flags: 0,
            shifted: Vec::new(),
            merged: Vec::new(),
            at: Vec::new(),
            own: Vec::new(),
            last_due: Vec::new(),
            exchange_seconds: 0.0,
            exchanges: 0,
            share_send: Vec::new(),
            pre_read: vec![None; synapses],
            share_words: 0,
            share_full_words: 0,
            pre_write_words: 0,
            keyed: Vec::new(),
            everywhere: Vec::new(),
            columns: Vec::new(),
            monitor_reads: Vec::new(),
            kernel_reads: Vec::new(),
            pre_writes: Vec::new(),
            shared_writes: Vec::new(),
            recorded: Vec::new(),
            recorded_vars: Vec::new(),
            late_recorded: false,
            values_send: Vec::new(),
            keys_send: Vec::new(),
            keys: Vec::new(),
            indices: Vec::new(),
            values: Vec::new(),
            values_at: Vec::new(),
            ghosts: vec![None; synapses],
            ghost_arrays: vec![Vec::new(); synapses],
        }
    }

    pub fn ranks(&self) -> usize {
        self.exchange.ranks()
    }

    pub fn rank(&self) -> usize {
        self.exchange.rank()
    }

    /// Agrees on `split` from each rank's shortest delay of a synapse
    /// whose source is on another rank (`u32::MAX` for none), so that
    /// every rank uses the same windows, and returns the OR of every
    /// rank's `flags` (the run's first agreement on stopping, in the same
    /// collective). Collective.
    pub fn agree_split(&mut self, local_min_delay: u32, flags: u32) -> u32 {
        self.exchange
            .all_gather_fixed(&[local_min_delay, flags], &mut self.recv);
        let min = self.recv.iter().step_by(2).copied().min();
        self.split = u64::from(min.unwrap_or(u32::MAX)).min(MAX_WINDOW_STEPS - 1) as u32;
        self.size_split_steps();
        self.recv.iter().skip(1).step_by(2).fold(0, |a, &f| a | f)
    }

    /// Steps (ticks) per window: a spike of a window's first step is due
    /// `split` steps later at the earliest, i.e. in the synapses slot of
    /// step `split` of the window, which runs after that step's exchange.
    pub fn window(&self) -> u64 {
        u64::from(self.split) + 1
    }

    /// Starts a window of steps `start..end`; `flags` travel in its
    /// message (an interrupt raised on this rank before the window).
    pub fn begin_window(&mut self, start: u64, end: u64, flags: u32) {
        self.window_start = start;
        self.window_end = end;
        self.steps = 0;
        self.exchanged = false;
        self.send.clear();
        self.send.push(flags);
    }

    /// Buffers this rank's recording of step `step` by monitor `monitor`
    /// of `recorded` (every step buffers each of them), of its own neurons
    /// `own` that fall in the monitored `start..stop`: the neurons and the
    /// values their `variables` have now.
    pub fn buffer_recorded(
        &mut self,
        store: &ArrayStore,
        own: &[u32],
        (start, stop): (usize, usize),
        variables: &[rheobase_kernel::program::RecordedVariable],
        (step, monitor): (u64, usize),
    ) {
        self.keys_send.push((step, monitor));
        let lo = own.partition_point(|&n| (n as usize) < start);
        let hi = own.partition_point(|&n| (n as usize) < stop);
        let neurons = &own[lo..hi];
        self.values_send.push(neurons.len() as u32);
        self.values_send.extend_from_slice(neurons);
        for var in variables {
            let values = store.values(var.array);
            for &n in neurons {
                let v = if values.len() == 1 {
                    values.get(0)
                } else {
                    values.get(n as usize)
                };
                let bits = v.to_bits();
                self.values_send.push(bits as u32);
                self.values_send.push((bits >> 32) as u32);
            }
        }
    }

    /// What the monitors of `recorded` recorded that travelled in the
    /// last exchange, in the order they recorded it, every rank's in rank
    /// order: the step, the monitor, the neurons (ascending) and the
    /// values of its variables, variable by variable, each in the
    /// neurons' order.
    pub fn window_recorded(&self) -> impl Iterator<Item = (u64, usize, &[u32], &[f64])> + '_ {
        self.keys
            .iter()
            .zip(&self.values_at)
            .map(|(&(step, m), (i, v))| {
                (step, m, &self.indices[i.clone()], &self.values[v.clone()])
            })
    }

    /// Merges the recordings of `recorded` that travelled in the window's
    /// message: `places[q]` is where rank `q`'s part of them lies in
    /// `recv` (after its spike lists), merged per step and monitor in rank
    /// order. Part of [`PartitionState::exchange_window`].
    fn merge_recorded(&mut self, places: &[Range<usize>]) {
        if self.recorded.is_empty() {
            return;
        }
        // The number of variables of each recording's monitor.
        let vars: Vec<usize> = self
            .keys
            .iter()
            .map(|&(_, m)| {
                let x = self.recorded.iter().position(|&r| r == m);
                x.map_or(0, |x| self.recorded_vars[x])
            })
            .collect();
        let blocks = self.keys.len();
        // Per rank, per block: where its neurons lie in `recv` and how
        // many there are. A rank that failed sends no recordings; its
        // blocks are empty.
        let places: Vec<Vec<(usize, usize)>> = places
            .iter()
            .map(|part| {
                let end = part.end;
                let mut at = part.start;
                let mut mine = Vec::with_capacity(blocks);
                for &per_neuron in &vars {
                    let n = if at < end { self.recv[at] as usize } else { 0 };
                    let words = n + 2 * n * per_neuron;
                    if at + 1 + words <= end {
                        mine.push((at + 1, n));
                        at += 1 + words;
                    } else {
                        mine.push((at, 0));
                    }
                }
                mine
            })
            .collect();
        self.indices.clear();
        self.values.clear();
        self.values_at.clear();
        for b in 0..blocks {
            let (from_i, from_v) = (self.indices.len(), self.values.len());
            for place in &places {
                let (at, n) = place[b];
                self.indices.extend_from_slice(&self.recv[at..at + n]);
            }
            for v in 0..vars[b] {
                for place in &places {
                    let (at, n) = place[b];
                    let at = at + n;
                    let words = &self.recv[at + 2 * n * v..at + 2 * n * (v + 1)];
                    self.values.extend(
                        words
                            .chunks_exact(2)
                            .map(|w| f64::from_bits(u64::from(w[0]) | (u64::from(w[1]) << 32))),
                    );
                }
            }
            self.values_at
                .push((from_i..self.indices.len(), from_v..self.values.len()));
        }
    }

    /// Buffers this rank's lists of tick `tick`, one ascending list per
    /// trigger (the same triggers in the same order every step): the
    /// spikes of the exchanged groups after the thresholds, then the
    /// custom events after they are found. A trigger whose group is not
    /// due at the tick sends an empty list (`clocks`).
    pub fn buffer<'a>(&mut self, tick: u64, lists: impl Iterator<Item = &'a [u32]>) {
        for (x, list) in lists.enumerate() {
            let list = if self.due(x, tick) { list } else { &[] };
            self.send.push(list.len() as u32);
            self.send.extend_from_slice(list);
        }
    }

    /// Buffers this rank's custom events of tick `tick` that are triggers
    /// (after the step's spikes): `occurred(group, event)` is the
    /// ascending list of this rank's neurons for which the event occurred.
    pub fn buffer_events<'a>(&mut self, tick: u64, occurred: impl Fn(usize, usize) -> &'a [u32]) {
        for x in 0..self.triggers.len() {
            let t = self.triggers[x];
            if let Some(e) = t.event {
                let list = if self.due(x, tick) {
                    occurred(t.group, e)
                } else {
                    &[]
                };
                self.send.push(list.len() as u32);
                self.send.extend_from_slice(list);
            }
        }
    }

    /// The first step of the current window.
    pub fn window_first(&self) -> u64 {
        self.window_start
    }

    /// The step after the last of the last exchanged window.
    pub fn window_step_end(&self) -> u64 {
        self.window_start + self.steps as u64
    }

    /// Ends the buffering of a step's lists (see [`PartitionState::buffer`]).
    pub fn end_step(&mut self) {
        self.per_step = self.triggers.len();
        self.steps += 1;
    }

    /// Whether step `step` is the last of the current window.
    pub fn ends_window(&self, step: u64) -> bool {
        step + 1 == self.window_end
    }

    /// The window's exchange: every rank's buffered spikes, merged per
    /// step and group in rank order (neuron ranges ascend with the rank,
    /// so the merged lists are the ones a single process computes).
    /// Collective.
    pub fn exchange_window(&mut self) {
        let started = std::time::Instant::now();
        // The recordings of `recorded` made since the last exchange follow
        // the spike lists in the same message.
        self.send.extend_from_slice(&self.values_send);
        self.values_send.clear();
        self.keys.clear();
        self.keys.append(&mut self.keys_send);
        let before = self.exchange.collectives();
        self.gather_window();
        self.window_collectives += self.exchange.collectives() - before;
        self.exchanged = true;
        self.exchanges += 1;
        let lists = self.steps * self.per_step;
        // Where each rank's list of each step and group lies in `recv`.
        let mut places: Vec<Vec<Range<usize>>> = Vec::with_capacity(self.counts.len());
        let mut recorded: Vec<Range<usize>> = Vec::with_capacity(self.counts.len());
        let mut flags = 0;
        let mut block = 0;
        for &count in &self.counts {
            let words = &self.recv[block..block + count];
            flags |= words[0];
            let mut mine = Vec::with_capacity(lists);
            // A rank that failed sends its flags only; its spikes no
            // longer matter, since the run ends after this window.
            if words[0] & FLAG_FAILED == 0 {
                let mut at = block + 1;
                for _ in 0..lists {
                    let n = self.recv[at] as usize;
                    mine.push(at + 1..at + 1 + n);
                    at += 1 + n;
                }
                debug_assert!(at <= block + count, "a rank's spike message is too short");
                recorded.push(at..block + count);
            } else {
                mine.resize(lists, 0..0);
                recorded.push(block + count..block + count);
            }
            places.push(mine);
            block += count;
        }
        self.window_flags = flags;
        self.merged.clear();
        self.at.clear();
        self.own.clear();
        self.own.resize(self.per_step, 0..0);
        self.find_last_due();
        let me = self.rank();
        for l in 0..lists {
            let start = self.merged.len();
            for (q, place) in places.iter().enumerate() {
                let x = l % self.per_step.max(1);
                if q == me && self.last_due[x] == Some(l) {
                    let from = self.merged.len() - start;
                    self.own[x] = from..from + place[l].len();
                }
                self.merged.extend_from_slice(&self.recv[place[l].clone()]);
            }
            self.at.push(start..self.merged.len());
        }
        self.merge_recorded(&recorded);
        self.exchange_seconds += started.elapsed().as_secs_f64();
    }

    /// The window's one collective: every rank sends a block of
    /// `block_words` words, a header (its flags and the length of the
    /// rest of its message) and as much of the rest as fits, so that the
    /// flags, the lengths and (usually) the spikes travel together. Only
    /// when some rank's message did not fit, which every rank sees in the
    /// headers, do all ranks make a second collective for the overflows,
    /// whose lengths they then know. The block grows to fit the longest
    /// message and shrinks when messages stay much shorter, the same way
    /// on every rank. Leaves `recv` and `counts` as one all-gather of the
    /// messages `send` would (flags word first).
    fn gather_window(&mut self) {
        let words = self.block_words;
        let (flags, rest) = self
            .send
            .split_first()
            .map_or((0, &[][..]), |(f, r)| (*f, r));
        let fits = rest.len().min(words - 2);
        self.block.clear();
        self.block.push(flags);
        self.block.push(rest.len() as u32);
        self.block.extend_from_slice(&rest[..fits]);
        self.block.resize(words, 0);
        self.exchange
            .all_gather_fixed(&self.block, &mut self.blocks);
        let ranks = self.blocks.len() / words;
        let lens: Vec<usize> = (0..ranks)
            .map(|q| self.blocks[q * words + 1] as usize)
            .collect();
        let longest = lens.iter().copied().max().unwrap_or(0);
        let overflows: Vec<usize> = lens.iter().map(|&n| n.saturating_sub(words - 2)).collect();
        let mut extra = Vec::new();
        if longest > words - 2 {
            self.second_rounds += 1;
            self.exchange
                .all_gather_known(&rest[fits..], &overflows, &mut extra);
        }
        self.recv.clear();
        self.counts.clear();
        let mut at = 0;
        for (q, (&n, &over)) in lens.iter().zip(&overflows).enumerate() {
            let block = &self.blocks[q * words..(q + 1) * words];
            self.recv.push(block[0]);
            self.recv.extend_from_slice(&block[2..2 + n - over]);
            self.recv.extend_from_slice(&extra[at..at + over]);
            at += over;
            self.counts.push(1 + n);
        }
        let needed = longest + 2;
        if needed * 4 > words || words == MIN_BLOCK_WORDS {
            self.small_windows = 0;
        } else {
            self.small_windows += 1;
        }
        if needed > words {
            self.block_words = needed.next_power_of_two();
        } else if self.small_windows >= SHRINK_AFTER_WINDOWS {
            self.block_words = words / 2;
            self.small_windows = 0;
        }
    }

    /// Ends the current window: a rank that failed before its exchange
    /// still takes part in it (with only the failure flag), so that the
    /// others do not wait for it forever. Collective when the exchange
    /// has not been made. (A step cannot fail on one rank of several
    /// today: its one error, a StateMonitor recording a synapse that does
    /// not exist, is refused before a split run; were one added, the
    /// collectives of [`PartitionState::share`] in the steps the failed
    /// rank skips would have to be matched too.)
    pub fn finish_window(&mut self) {
        if self.exchanged {
            return;
        }
        self.send.clear();
        self.send.push(FLAG_FAILED);
        self.values_send.clear();
        self.keys_send.clear();
        self.steps = 0;
        self.exchange_window();
    }

    /// At the end of a run's steps, on every rank alike when
    /// `late_recorded`: one more exchange, without spikes, for what the
    /// monitors recording after the window's exchange recorded in the
    /// run's last step (afterwards [`PartitionState::window_recorded`]
    /// gives it). A rank that failed sends its flags only. Collective.
    pub fn exchange_tail(&mut self, flags: u32) {
        self.send.clear();
        self.send.push(flags);
        if flags & FLAG_FAILED != 0 {
            self.values_send.clear();
            self.keys_send.clear();
        }
        self.steps = 0;
        self.window_start = self.window_end;
        self.exchange_window();
    }

    /// Every step and trigger of the last exchanged window, in step
    /// order: `(step, the neurons, the trigger's position in `triggers`)`.
    pub fn window_steps(&self) -> impl Iterator<Item = (u64, &[u32], usize)> + '_ {
        (0..self.steps * self.per_step).map(move |l| {
            let step = self.window_start + (l / self.per_step.max(1)) as u64;
            (
                step,
                &self.merged[self.at[l].clone()],
                l % self.per_step.max(1),
            )
        })
    }
}

impl PartitionState {
    /// Gives every rank the current values of the neuron arrays `arrays`
    /// (each a full-length array of its group): each rank sends the
    /// values of the neurons it owns, which only it has updated, and
    /// writes the others' into its copy. Called before a kernel that
    /// reads them where it does not own them, so that the kernel reads
    /// what it reads on one process. Collective.
    pub fn share(&mut self, arrays: &[ArrayId], program: &Program, store: &mut ArrayStore) {
        // Synapse arrays among them are read through a source made of
        // synapses: their ghost slots are filled (`synapse_sides`).
        let synapse = |a: &ArrayId| program.arrays[a.0 as usize].synapses.is_some();
        if !arrays.iter().any(synapse) {
            self.share_selected(arrays, None, program, store);
            return;
        }
        let neurons: Vec<ArrayId> = arrays
            .iter()
            .copied()
            .filter(|a| program.arrays[a.0 as usize].synapses.is_none())
            .collect();
        self.share_selected(&neurons, None, program, store);
        self.share_synapse_arrays(arrays, program, store);
    }

    /// Like [`PartitionState::share`], before a kernel of Synapses object
    /// `k` that reads `arrays` through its presynaptic neuron (`pre`: the
    /// presynaptic neuron of each synapse this rank holds): of the
    /// source group's arrays, only the neurons some other rank's synapses
    /// have as presynaptic neuron travel (the kernel reads no others), so
    /// sparse or local connectivity sends a fraction of the values.
    /// Collective; the first call after `k`'s synapses changed makes
    /// one more, to learn which neurons the other ranks read.
    pub fn share_pre(
        &mut self,
        k: usize,
        arrays: &[ArrayId],
        pre: &[u32],
        program: &Program,
        store: &mut ArrayStore,
    ) {
        if arrays.is_empty() {
            return;
        }
        // A source made of synapses reads ghost slots, not neurons.
        if program.synapses[k].source_synapses.is_some() {
            self.share_synapse_arrays(arrays, program, store);
            return;
        }
        let source = program.synapses[k].source;
        let made = self.global_len[k];
        if self.pre_read[k].as_ref().map(|(n, _)| *n) != Some(made) {
            let read = self.find_pre_read(source, pre);
            self.pre_read[k] = Some((made, read));
        }
        let read = self.pre_read[k].take();
        let selected = read.as_ref().map(|(_, per_rank)| (source, &per_rank[..]));
        self.share_selected(arrays, selected, program, store);
        self.pre_read[k] = read;
    }

    /// Per rank `r`, the neurons of `r`'s range of a group of `size` that
    /// some other rank has among its synapses' presynaptic neurons (this
    /// rank's are `pre`), ascending. Collective.
    fn find_pre_read(&mut self, group: usize, pre: &[u32]) -> Vec<Vec<u32>> {
        let (ranks, me) = (self.ranks(), self.rank());
        let own = self.owners.range(group, me);
        let mut mine: Vec<u32> = pre
            .iter()
            .copied()
            .filter(|&i| !own.contains(&(i as usize)))
            .collect();
        mine.sort_unstable();
        mine.dedup();
        self.exchange
            .all_gather(&mine, &mut self.counts, &mut self.recv);
        let mut all = self.recv.clone();
        all.sort_unstable();
        all.dedup();
        (0..ranks)
            .map(|r| {
                let range = self.owners.range(group, r);
                let lo = all.partition_point(|&i| (i as usize) < range.start);
                let hi = all.partition_point(|&i| (i as usize) < range.end);
                all[lo..hi].to_vec()
            })
            .collect()
    }

    /// [`PartitionState::share`] of every owned neuron, or, for the
    /// arrays of group `selected.0`, only of the neurons `selected.1[r]`
    /// of each rank `r`.
    fn share_selected(
        &mut self,
        arrays: &[ArrayId],
        selected: Option<(usize, &[Vec<u32>])>,
        program: &Program,
        store: &mut ArrayStore,
    ) {
        if arrays.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        let (ranks, me) = (self.ranks(), self.rank());
        let owners = &self.owners;
        // The neurons of array `a` that rank `q` sends, in order.
        let elements = |a: ArrayId, q: usize| -> Elements<'_> {
            let group = program.arrays[a.0 as usize].group;
            match selected {
                Some((g, per_rank)) if g == group => Elements::Listed(per_rank[q].iter()),
                _ => Elements::Range(owners.range(group, q)),
            }
        };
        self.share_send.clear();
        for &a in arrays {
            let values = store.get(a);
            for i in elements(a, me) {
                let bits = values[i].to_bits();
                self.share_send.push(bits as u32);
                self.share_send.push((bits >> 32) as u32);
            }
        }
        // Every rank knows how many values each sends: one collective.
        self.counts.clear();
        for q in 0..ranks {
            let n: usize = arrays.iter().map(|&a| elements(a, q).len()).sum();
            self.counts.push(2 * n);
        }
        self.share_full_words += 2 * arrays
            .iter()
            .map(|&a| {
                let group = program.arrays[a.0 as usize].group;
                self.owners.range(group, me).len()
            })
            .sum::<usize>() as u64;
        self.share_words += self.share_send.len() as u64;
        self.exchange
            .all_gather_known(&self.share_send, &self.counts, &mut self.recv);
        let mut at = 0;
        for q in 0..ranks {
            for &a in arrays {
                let values = store.get_mut(a);
                for i in elements(a, q) {
                    let (lo, hi) = (self.recv[at], self.recv[at + 1]);
                    values[i] = f64::from_bits(u64::from(lo) | (u64::from(hi) << 32));
                    at += 2;
                }
            }
        }
        debug_assert_eq!(
            at,
            self.recv.len(),
            "a rank shared the wrong number of values"
        );
        self.exchange_seconds += started.elapsed().as_secs_f64();
    }
}

/// The neurons of one array one rank sends in a share: its whole range,
/// or those listed.
enum Elements<'a> {
    Range(Range<usize>),
    Listed(std::slice::Iter<'a, u32>),
}

impl Iterator for Elements<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            Elements::Range(r) => r.next(),
            Elements::Listed(l) => l.next().map(|&i| i as usize),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Elements::Range(r) => r.size_hint(),
            Elements::Listed(l) => l.size_hint(),
        }
    }
}

impl ExactSizeIterator for Elements<'_> {}

impl PartitionState {
    /// Shares what kernel `kernel` reads of one-neuron groups that change
    /// (`kernel_reads`) right before it runs. Collective for the kernels
    /// that read any: every rank runs the same kernels in the same order.
    pub fn share_for(&mut self, kernel: KernelId, program: &Program, store: &mut ArrayStore) {
        let Some(reads) = self.kernel_reads.get(kernel.0 as usize) else {
            return;
        };
        if reads.is_empty() {
            return;
        }
        let reads = reads.clone();
        self.share(&reads, program, store);
    }

    /// Shares what monitor `monitor` records or computes of one-neuron
    /// groups and presynaptic neurons that change, before it records.
    /// Collective, like [`PartitionState::share_for`].
    pub fn share_for_monitor(&mut self, monitor: usize, program: &Program, store: &mut ArrayStore) {
        let Some(reads) = self.monitor_reads.get(monitor) else {
            return;
        };
        if reads.is_empty() {
            return;
        }
        let reads = reads.clone();
        self.share(&reads, program, store);
    }
}

/// One synapse's change of a presynaptic variable, made on the rank that
/// holds the synapse and applied by the rank that owns the neuron
/// ([`PartitionState::apply_pre_writes`]): `neuron`'s variable
/// `writes[array]` (of the kernel's [`pre_writes`]) is changed by
/// `value` (and `low`, see [`Change::AddProduct`]) as its [`Change`]
/// says. `(step, post, global)` is the place of the synapse's run of
/// the kernel in one process's order of them: the step of the spike (or
/// event) that triggered it, then, for a pathway triggered from the
/// target side, its postsynaptic neuron, then its global index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PreWrite {
    pub neuron: u32,
    pub array: u32,
    pub step: u64,
    pub post: u32,
    pub global: u64,
    pub value: f64,
    pub low: f64,
}

/// Words of one [`PreWrite`] in a message.
const PRE_WRITE_WORDS: usize = 11;

impl PartitionState {
    /// Applies every rank's [`PreWrite`]s of one run of a pathway kernel
    /// that changes the presynaptic variables `writes`, right after it ran
    /// on every rank: each rank sends the changes its synapses made, and
    /// the owner of each neuron applies them to its variable in the order
    /// one process makes them (which mixes every rank's synapses), so that
    /// its value is the one of one process to the last bit. Collective.
    ///
    /// With `everywhere` (the shared variables of [`shared_writes`]),
    /// every rank applies every change, so that each holds the value of
    /// one process.
    pub fn apply_pre_writes(
        &mut self,
        writes: &[(ArrayId, Change)],
        local: &[PreWrite],
        program: &Program,
        store: &mut ArrayStore,
        everywhere: bool,
    ) {
        let started = std::time::Instant::now();
        self.share_send.clear();
        let halves = |x: u64| [x as u32, (x >> 32) as u32];
        for w in local {
            self.share_send.extend_from_slice(&[w.neuron, w.array]);
            for word in [w.step, w.global, w.value.to_bits(), w.low.to_bits()] {
                self.share_send.extend_from_slice(&halves(word));
            }
            self.share_send.push(w.post);
        }
        self.pre_write_words += self.share_send.len() as u64;
        self.exchange
            .all_gather(&self.share_send, &mut self.counts, &mut self.recv);
        let me = self.rank();
        let whole = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
        let mut mine: Vec<PreWrite> = self
            .recv
            .chunks_exact(PRE_WRITE_WORDS)
            .map(|w| PreWrite {
                neuron: w[0],
                array: w[1],
                step: whole(w[2], w[3]),
                global: whole(w[4], w[5]),
                value: f64::from_bits(whole(w[6], w[7])),
                low: f64::from_bits(whole(w[8], w[9])),
                post: w[10],
            })
            .filter(|w| {
                if everywhere {
                    return true;
                }
                let a = writes[w.array as usize].0;
                let group = program.arrays[a.0 as usize].group;
                self.owners.range(group, me).contains(&(w.neuron as usize))
            })
            .collect();
        // A stable sort: a synapse's changes of several variables keep
        // their order (they touch different arrays, so it does not matter).
        mine.sort_by_key(|w| (w.step, w.post, w.global));
        for w in &mine {
            let (a, change) = writes[w.array as usize];
            let x = &mut store.get_mut(a)[w.neuron as usize];
            *x = change.apply(*x, w.value, w.low);
        }
        self.exchange_seconds += started.elapsed().as_secs_f64();
    }
}

/// How a kernel changes a variable that the rank running it does not own
/// (a presynaptic neuron's, [`pre_writes`]) or that every rank holds (a
/// shared variable, [`shared_writes`]), so that the variable's owner (or
/// every rank) can apply each element's change in one process's order.
/// Each element runs alone with the variable set to [`Change::identity`];
/// what it leaves there is its change, which [`Change::apply`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `x += e` or `x -= e`, `e` not a product: the change is `-0.0 ± e`
    /// (`-0.0` is the identity of addition: `-0.0 + e == e` and `-0.0 - e
    /// == -e` for every `e`, zeros included), and `x + change` is what one
    /// process computes.
    Add,
    /// `x += a*b` or `x -= a*b`: one process rounds `x ± a*b` once (the
    /// JIT fuses a product added to something into one multiply-add, as
    /// g++ does; without FMA it rounds the product first). The change is
    /// the rounded product `h` (`x` set to `-0.0`) and what the product
    /// exceeds it by, `l` (a second run with `x` set to `-h`: exact, since
    /// the error of a product is a double), and the owner rounds `x + h +
    /// l` once ([`sum_rounded_once`]), which is the fused result to the
    /// last bit; without FMA `l` is 0 and it is `x + h`, the unfused one.
    AddProduct,
    /// `x *= e`: the change is `1.0 * e == e`, and `x * change` is what
    /// one process computes.
    Scale,
    /// `x = e`, `e` not reading `x`: the last store in one process's order
    /// wins. The change is the value stored; `x` is set to a NaN no
    /// computation makes ([`UNSET`]) to see whether the element stored it.
    Assign,
}

/// The bits of a NaN no arithmetic produces (a signalling NaN; hardware
/// makes only quiet ones), which an element that assigns a variable
/// without reading it cannot leave in it unless it did not store it.
const UNSET: u64 = 0x7ff0_5245_4f42_4153;

impl Change {
    /// The value the variable is given before one element runs alone.
    pub(crate) fn identity(self) -> f64 {
        match self {
            Change::Add | Change::AddProduct => -0.0,
            Change::Scale => 1.0,
            Change::Assign => f64::from_bits(UNSET),
        }
    }

    /// Whether `value`, left by an element run alone, is no change.
    pub(crate) fn unchanged(self, value: f64) -> bool {
        value.to_bits() == self.identity().to_bits()
    }

    /// `x` after an element's change `value` (and, for a product, its
    /// remainder `low`), as one process's store computes it.
    pub(crate) fn apply(self, x: f64, value: f64, low: f64) -> f64 {
        match self {
            Change::Add => x + value,
            Change::AddProduct => sum_rounded_once(x, value, low),
            Change::Scale => x * value,
            Change::Assign => value,
        }
    }
}

/// `x + high + low` rounded once to the nearest double, where `high +
/// low` is an exact product and `high` its rounded value (`|low| <=
/// ulp(high)/2`): Boldo and Melquiond's correctly rounded sum of three
/// doubles ("Emulation of FMA and correctly rounded sums: proved
/// algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008):
/// the exact sum of `x` and `high`, then its error plus `low` rounded to
/// odd, which keeps the information a second rounding to nearest needs.
/// Exact barring overflow and products deep in the subnormal range.
pub(crate) fn sum_rounded_once(x: f64, high: f64, low: f64) -> f64 {
    if low == 0.0 || !high.is_finite() || !x.is_finite() {
        return x + high;
    }
    let (th, tl) = two_sum(x, high);
    th + add_rounded_to_odd(tl, low)
}

/// `a + b` exactly: the rounded sum and its error (Knuth's TwoSum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `a + b` rounded to odd: the rounded sum, moved one unit towards the
/// exact sum when it is inexact and its last bit is even.
fn add_rounded_to_odd(a: f64, b: f64) -> f64 {
    let (s, e) = two_sum(a, b);
    if e == 0.0 || s.to_bits() & 1 == 1 || !s.is_finite() {
        return s;
    }
    // `s` is not zero here (a zero sum is exact). Towards `e`: a larger
    // magnitude when `e` has the sign of `s`.
    let bits = s.to_bits();
    f64::from_bits(if (e > 0.0) == (s > 0.0) {
        bits + 1
    } else {
        bits - 1
    })
}

/// What a kernel changes that another rank applies ([`pre_writes`],
/// [`shared_writes`]): each variable and how, and every element it
/// stores, which a second run of one element (for a product) starts from
/// again.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Changes {
    pub vars: Vec<(ArrayId, Change)>,
    pub stores: Vec<(ArrayId, IndexSpace)>,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    pub(crate) fn arrays(&self) -> impl Iterator<Item = ArrayId> + '_ {
        self.vars.iter().map(|&(a, _)| a)
    }

    /// Whether some variable's change needs the second run.
    pub(crate) fn products(&self) -> bool {
        self.vars.iter().any(|&(_, c)| c == Change::AddProduct)
    }
}

/// The neuron arrays a pathway's kernel changes through its presynaptic
/// neuron (`x_pre += ...`), when it changes each in a way the owner of
/// the neuron can apply in one process's order ([`Change`]): a single
/// `x_pre += e`, `x_pre -= e` or `x_pre *= e` per variable (possibly
/// under a condition), where nothing else in the kernel reads or writes
/// `x` (through any index), or assignments `x_pre = e` of values that do
/// not read `x`, read back only after an assignment that always runs.
/// Then `e` does not depend on the order in which the synapses run.
/// `Err` names what cannot be split.
pub(crate) fn pre_writes(program: &Program, kernel: &Kernel) -> Result<Changes, String> {
    accumulated_writes(program, kernel, IndexSpace::Pre)
}

/// Like [`pre_writes`], the shared variables a reset or an event's code
/// changes (`s += 1` in a reset): each rank runs its own neurons' share
/// one neuron at a time, and every rank applies every rank's changes in
/// neuron order, as one process makes them
/// (`PartitionState::apply_pre_writes`), so `s` stays the same on every
/// rank.
pub(crate) fn shared_writes(program: &Program, kernel: &Kernel) -> Result<Changes, String> {
    accumulated_writes(program, kernel, IndexSpace::Shared)
}

/// [`pre_writes`] and [`shared_writes`]: the arrays `kernel` stores
/// through `space` and how, or what keeps them from being applied by
/// another rank.
fn accumulated_writes(
    program: &Program,
    kernel: &Kernel,
    space: IndexSpace,
) -> Result<Changes, String> {
    // How the message names the variable `v`: as the code writes it.
    let (kind, suffix) = match space {
        IndexSpace::Pre => ("presynaptic", "_pre"),
        _ => ("shared", ""),
    };
    let name = |a: ArrayId| {
        let name = &program.arrays[a.0 as usize].name;
        name.split_once('.')
            .map_or(name.as_str(), |(_, v)| v)
            .to_string()
    };
    let mut changes = Changes::default();
    walk(kernel, &mut |_| {}, &mut |a, at| {
        if at == space && !changes.vars.iter().any(|&(w, _)| w == a) {
            changes.vars.push((a, Change::Add));
        }
        if !changes.stores.contains(&(a, at)) {
            changes.stores.push((a, at));
        }
    });
    if changes.is_empty() {
        return Ok(changes);
    }
    for x in 0..changes.vars.len() {
        let a = changes.vars[x].0;
        let v = name(a);
        changes.vars[x].1 = change_of(kernel, a, space).map_err(|why| match why {
            Refusal::Twice => format!("changes the {kind} variable `{v}{suffix}` more than once"),
            Refusal::Reads => format!(
                "reads `{v}`, which it changes as the {kind} variable `{v}{suffix}`, beside \
                 changing it"
            ),
            Refusal::Other => format!(
                "writes the {kind} variable `{v}{suffix}` other than by `{v}{suffix} += ...`, \
                 `-=`, `*=` or an assignment `{v}{suffix} = ...` of a value that does not read it"
            ),
        })?;
    }
    Ok(changes)
}

/// Why [`change_of`] cannot make a variable's change one another rank
/// applies.
enum Refusal {
    /// `x` is changed by more than one `+=`, `-=` or `*=` (or by those and
    /// an assignment).
    Twice,
    /// `x` is read beside a `+=`/`-=`/`*=` of it, or before an assignment
    /// of it that always runs.
    Reads,
    /// Another operator, or a value made from `x` itself.
    Other,
}

/// How `kernel` changes array `a` through `space` ([`Change`]).
fn change_of(kernel: &Kernel, a: ArrayId, space: IndexSpace) -> Result<Change, Refusal> {
    let own = |e: &Expr| matches!(e, Expr::Load(b, l) if *b == a && *l == space);
    let reads = |e: &Expr| {
        let mut found = false;
        let mut stack = vec![e];
        while let Some(e) = stack.pop() {
            found |= matches!(e, Expr::Load(b, _) if *b == a);
            stack.extend(e.operands());
        }
        found
    };
    // The change of an update `x = x op e` (op `+`, `-`, `*`), if the
    // value is one. A product added is what the JIT fuses (`a*b` as
    // either operand of the sum).
    let update = |value: &Expr| -> Option<Change> {
        let (change, e) = match value {
            Expr::Binary(BinaryOp::Add, x, e) | Expr::Binary(BinaryOp::Sub, x, e) if own(x) => {
                (Change::Add, e)
            }
            Expr::Binary(BinaryOp::Add, e, x) if own(x) => (Change::Add, e),
            Expr::Binary(BinaryOp::Mul, x, e) if own(x) => (Change::Scale, e),
            Expr::Binary(BinaryOp::Mul, e, x) if own(x) => (Change::Scale, e),
            _ => return None,
        };
        if reads(e) {
            return None;
        }
        Some(match (change, &**e) {
            (Change::Add, Expr::Binary(BinaryOp::Mul, ..)) => Change::AddProduct,
            _ => change,
        })
    };
    // Every statement touching `a` in order, with whether it always runs
    // (is not inside an `if`).
    let mut stores: Vec<(&Expr, IndexSpace, bool)> = Vec::new();
    // Reads of `a` before the first store that always runs (of any kind)
    // and after it.
    let (mut reads_before, mut reads_after) = (0usize, 0usize);
    fn scan<'k>(
        body: &'k [Stmt],
        a: ArrayId,
        always: bool,
        reads: &dyn Fn(&Expr) -> bool,
        stores: &mut Vec<(&'k Expr, IndexSpace, bool)>,
        counts: (&mut usize, &mut usize),
    ) {
        let (before, after) = counts;
        let settled = |stores: &Vec<(&Expr, IndexSpace, bool)>| stores.iter().any(|s| s.2);
        for s in body {
            match s {
                Stmt::SetLocal(_, e) | Stmt::Store(_, _, e) if reads(e) => {
                    if settled(stores) {
                        *after += 1;
                    } else {
                        *before += 1;
                    }
                }
                _ => {}
            }
            match s {
                Stmt::Store(b, at, e) if *b == a => stores.push((e, *at, always)),
                Stmt::If { cond, then } => {
                    if reads(cond) {
                        if settled(stores) {
                            *after += 1;
                        } else {
                            *before += 1;
                        }
                    }
                    scan(then, a, false, reads, stores, (&mut *before, &mut *after));
                }
                _ => {}
            }
        }
    }
    scan(
        &kernel.body,
        a,
        true,
        &reads,
        &mut stores,
        (&mut reads_before, &mut reads_after),
    );
    // Read through another index (`x_post` beside `x_pre` of a group
    // onto itself): another neuron's value, which earlier elements may
    // have changed on another rank.
    let mut foreign = false;
    walk(
        kernel,
        &mut |e| foreign |= matches!(e, Expr::Load(b, l) if *b == a && *l != space),
        &mut |_, _| {},
    );
    if foreign {
        return Err(Refusal::Reads);
    }
    if stores.iter().any(|&(_, at, _)| at != space) {
        // Changed through another index as well (`x_pre` and `x_post` of
        // a group onto itself): not one variable of one neuron.
        return Err(Refusal::Twice);
    }
    let updates: Vec<Option<Change>> = stores.iter().map(|s| update(s.0)).collect();
    match updates.as_slice() {
        // One update `x += e`, `x -= e` or `x *= e`; its own read of `x` is
        // the only one.
        [Some(change)] => {
            if reads_before + reads_after > 1 {
                Err(Refusal::Reads)
            } else {
                Ok(*change)
            }
        }
        // Assignments of values that do not read `x`, read back only after
        // one that always runs.
        _ if stores.iter().all(|s| !reads(s.0)) => {
            if reads_before > 0 {
                Err(Refusal::Reads)
            } else {
                Ok(Change::Assign)
            }
        }
        _ if updates.iter().filter(|u| u.is_some()).count() > 1
            || (updates.iter().any(|u| u.is_some()) && stores.len() > 1) =>
        {
            Err(Refusal::Twice)
        }
        _ => Err(Refusal::Other),
    }
}

impl PartitionState {
    /// Finds where the synapses `recorded` (global indices) of Synapses
    /// object `synapses` that StateMonitor `monitor` records lie: which of
    /// them this rank holds, at which local index, and which rank holds
    /// each. Collective (every rank makes the monitor's first sample at
    /// the same step).
    pub fn find_columns(&mut self, monitor: usize, synapses: usize, recorded: &[usize]) {
        let runs = &self.runs[synapses];
        let local: Vec<Option<u32>> = recorded
            .iter()
            .map(|&g| {
                let g = g as u64;
                let at = runs.partition_point(|r| r.global + r.len as u64 <= g);
                runs.get(at)
                    .filter(|r| r.global <= g)
                    .map(|r| (r.local as u64 + (g - r.global)) as u32)
            })
            .collect();
        let mine: Vec<u32> = (0..recorded.len() as u32)
            .filter(|&c| local[c as usize].is_some())
            .collect();
        self.exchange
            .all_gather(&mine, &mut self.counts, &mut self.recv);
        let mut owner = vec![0; recorded.len()];
        let mut at = 0;
        for (q, &count) in self.counts.iter().enumerate() {
            for &c in &self.recv[at..at + count] {
                owner[c as usize] = q;
            }
            at += count;
        }
        self.columns[monitor] = Some(Columns { local, owner });
    }
}

/// The presynaptic neuron arrays the per-step kernels of one Synapses
/// object read that change during a run (arrays only set between runs
/// are the same on every rank): shared with every rank right before each
/// kernel runs ([`PartitionState::share`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct PreReads {
    pub on_pre: Vec<ArrayId>,
    pub on_post: Vec<ArrayId>,
    pub state_update: Vec<ArrayId>,
    /// Per summed variable.
    pub summed: Vec<Vec<ArrayId>>,
    /// Per named pathway.
    pub pathways: Vec<Vec<ArrayId>>,
}

/// Every neuron or synaptic array some kernel run during the steps writes
/// (arrays only set between runs are the same on every rank).
fn changing_arrays(program: &Program) -> Vec<ArrayId> {
    let kernel = |k: KernelId| &program.kernels[k.0 as usize];
    let mut per_step: Vec<KernelId> = Vec::new();
    for g in &program.groups {
        per_step.extend(g.state_update);
        for e in g.spike.iter().chain(&g.events) {
            per_step.push(e.condition);
            per_step.extend(e.effect);
        }
    }
    per_step.extend(program.regular.iter().map(|r| r.kernel));
    per_step.extend(program.poisson_inputs.iter().map(|p| p.kernel));
    for s in &program.synapses {
        per_step.extend(s.on_pre.iter().chain(&s.on_post).chain(&s.state_update));
        per_step.extend(s.summed.iter().map(|m| m.kernel));
        per_step.extend(s.pathways.iter().map(|p| p.kernel));
    }
    for m in &program.monitors {
        if let MonitorPlan::State {
            prepare: Some(k), ..
        } = m
        {
            per_step.push(*k);
        }
    }
    let mut changing: Vec<ArrayId> = program
        .synapses
        .iter()
        .flat_map(|s| s.summed.iter().map(|m| m.target))
        .collect();
    for &k in &per_step {
        walk(kernel(k), &mut |_| {}, &mut |a, _| changing.push(a));
    }
    changing.sort_by_key(|a| a.0);
    changing.dedup();
    changing
}

/// The neuron arrays that the kernels `kernels` of an action between runs
/// (a `connect:` line, a synapse setting) read and that change during a
/// run: on one rank of several, only their owners hold their current
/// values, so they are shared before the action ([`PartitionState::share`]).
pub(crate) fn action_reads(program: &Program, kernels: &[KernelId]) -> Vec<ArrayId> {
    let changing = changing_arrays(program);
    let mut found: Vec<ArrayId> = Vec::new();
    for &k in kernels {
        walk(
            &program.kernels[k.0 as usize],
            &mut |e| {
                let Expr::Load(a, space) = e else { return };
                let d = &program.arrays[a.0 as usize];
                let neuron = d.synapses.is_none()
                    && d.len == program.groups[d.group].size
                    && (*space != IndexSpace::Shared || one_neuron_array(program, *a))
                    && changing.binary_search_by_key(&a.0, |c| c.0).is_ok();
                // A setting of synapses reading their source synapses'
                // variables reads ghost slots (`synapse_sides`).
                let ghost = *space == IndexSpace::Pre && d.synapses.is_some();
                if (neuron || ghost) && !found.contains(a) {
                    found.push(*a);
                }
            },
            &mut |_, _| {},
        );
    }
    found
}

/// Every kernel of a `connect:` line.
pub(crate) fn connect_kernels(plan: &ConnectPlan) -> Vec<KernelId> {
    let mut kernels = Vec::new();
    let n = match plan {
        ConnectPlan::Explicit { .. } => return kernels,
        ConnectPlan::AllPairs { filter, n, .. } => {
            kernels.extend(*filter);
            n
        }
        ConnectPlan::Mapping {
            target_of,
            filter,
            n,
            ..
        } => {
            kernels.push(*target_of);
            kernels.extend(*filter);
            n
        }
        ConnectPlan::Generator {
            bounds,
            element,
            filter,
            n,
            ..
        } => {
            kernels.push(*bounds);
            kernels.extend(element.as_ref().map(|e| e.kernel));
            kernels.extend(*filter);
            n
        }
    };
    if let Multiplicity::PerPair { kernel, .. } = n {
        kernels.push(*kernel);
    }
    kernels
}

/// [`PreReads`] of every Synapses object of `program`, and per monitor
/// those of a StateMonitor of synapses' `prepare` kernel.
pub(crate) fn pre_reads(program: &Program) -> (Vec<PreReads>, Vec<Vec<ArrayId>>) {
    let kernel = |k: KernelId| &program.kernels[k.0 as usize];
    let changing = changing_arrays(program);
    let reads = |k: Option<KernelId>| -> Vec<ArrayId> {
        let mut found = Vec::new();
        if let Some(k) = k {
            // What a pathway changes through the presynaptic neuron it
            // reads only to change it, and its change does not depend on
            // the value (`pre_writes`): no need to share it first.
            let written = pre_writes(program, kernel(k)).unwrap_or_default();
            walk(
                kernel(k),
                &mut |e| {
                    let Expr::Load(a, space) = e else { return };
                    let d = &program.arrays[a.0 as usize];
                    let shared = *space == IndexSpace::Shared && one_neuron_array(program, *a);
                    // Another object's synapses read as a source: their
                    // ghost slots are filled before every read, since
                    // even values set only between runs were set on
                    // their holders alone (`synapse_sides`).
                    let ghost = *space == IndexSpace::Pre && d.synapses.is_some();
                    // A monitor's `prepare` kernel reading a variable
                    // linked with `index=` reads any source neuron.
                    let via = matches!(space, IndexSpace::Via(_));
                    let neuron = (*space == IndexSpace::Pre || shared || via)
                        && d.synapses.is_none()
                        && changing.contains(a)
                        && !written.arrays().any(|w| w == *a);
                    if (neuron || ghost) && !found.contains(a) {
                        found.push(*a);
                    }
                },
                &mut |_, _| {},
            );
        }
        found
    };
    // What a monitor of neurons records of a one-neuron group that
    // another rank updates (a linked variable), beside what its `prepare`
    // kernel reads.
    let recorded = |variables: &[rheobase_kernel::program::RecordedVariable],
                    found: &mut Vec<ArrayId>| {
        for v in variables {
            let d = &program.arrays[v.array.0 as usize];
            if one_neuron_array(program, v.array)
                && d.synapses.is_none()
                && changing.contains(&v.array)
                && !found.contains(&v.array)
            {
                found.push(v.array);
            }
        }
    };
    let monitors = program
        .monitors
        .iter()
        .map(|m| match m {
            MonitorPlan::State {
                synapses: Some(_),
                prepare,
                ..
            } => reads(*prepare),
            MonitorPlan::State {
                synapses: None,
                prepare,
                variables,
                ..
            } => {
                let mut found = reads(*prepare);
                recorded(variables, &mut found);
                found
            }
            MonitorPlan::Spike { variables, .. } => {
                let mut found = Vec::new();
                recorded(variables, &mut found);
                found
            }
            MonitorPlan::Rate { .. } => Vec::new(),
        })
        .collect();
    let synapses = program
        .synapses
        .iter()
        .map(|s| PreReads {
            on_pre: reads(s.on_pre),
            on_post: reads(s.on_post),
            state_update: reads(s.state_update),
            summed: s.summed.iter().map(|m| reads(Some(m.kernel))).collect(),
            pathways: s.pathways.iter().map(|p| reads(Some(p.kernel))).collect(),
        })
        .collect();
    (synapses, monitors)
}

/// Whether `a` is the variable of a group of one neuron (its one value;
/// only the rank that owns the neuron updates it, `owned_range`).
fn one_neuron_array(program: &Program, a: ArrayId) -> bool {
    let d = &program.arrays[a.0 as usize];
    d.synapses.is_none() && d.len == 1 && program.groups[d.group].size == 1
}

/// Per kernel: the variables of one-neuron groups that it reads as one
/// value (a variable linked to such a group, `x : 1 (linked)`), the
/// neuron variables it reads through a synapse's presynaptic neuron, and
/// the source variables it reads through a link with `index=`, that
/// change during a run. On one rank of several only the rank owning the
/// neuron has their current value, so they are shared right before the
/// kernel runs ([`PartitionState::share_for`]; the pathways, summed
/// variables and equations of synapses use [`pre_reads`] instead).
pub(crate) fn kernel_reads(program: &Program) -> Vec<Vec<ArrayId>> {
    let changing = changing_arrays(program);
    program
        .kernels
        .iter()
        .map(|k| {
            let mut found = Vec::new();
            walk(
                k,
                &mut |e| {
                    let Expr::Load(a, space) = e else { return };
                    let d = &program.arrays[a.0 as usize];
                    let wanted = match space {
                        IndexSpace::Shared => one_neuron_array(program, *a),
                        // A synapse's `run_regularly` code reading its
                        // presynaptic neuron (the pathways' kernels get
                        // theirs from `pre_reads`), or its source
                        // synapse's ghost slot, filled before every read
                        // (`synapse_sides`).
                        IndexSpace::Pre => true,
                        // A variable linked with `index=`: neuron `k`
                        // reads the source's neuron `index[k]`, which
                        // another rank may update.
                        IndexSpace::Via(_) => d.synapses.is_none(),
                        // Refused on split runs (`unsupported`).
                        IndexSpace::Own | IndexSpace::Post => false,
                    };
                    let ghost = *space == IndexSpace::Pre && d.synapses.is_some();
                    if wanted
                        && (ghost || changing.binary_search_by_key(&a.0, |c| c.0).is_ok())
                        && !found.contains(a)
                    {
                        found.push(*a);
                    }
                },
                &mut |_, _| {},
            );
            found
        })
        .collect()
}

/// Threads as ranks: an in-process [`Exchange`] for tests, so ordinary
/// `cargo test` can compare runs on 1, 2 and 3 ranks byte for byte.
pub struct ThreadExchange {
    rank: usize,
    ranks: usize,
    board: Arc<Board>,
    collectives: u64,
    /// Rounds posted so far (the same on every rank).
    rounds: u64,
}

struct Board {
    barrier: Barrier,
    /// Two sets of slots, used by alternate rounds: a rank can post the
    /// next round while others still read this one, so one barrier per
    /// round suffices (a rank can reach the round after next, which reuses
    /// these slots, only once every rank has arrived at the next round's
    /// barrier, i.e. has finished reading this one).
    slots: [Mutex<Vec<Vec<u8>>>; 2],
}

impl ThreadExchange {
    /// One exchange per rank of a group of `ranks`, to be moved each to
    /// its own thread.
    pub fn group(ranks: usize) -> Vec<ThreadExchange> {
        let board = Arc::new(Board {
            barrier: Barrier::new(ranks),
            slots: [
                Mutex::new(vec![Vec::new(); ranks]),
                Mutex::new(vec![Vec::new(); ranks]),
            ],
        });
        (0..ranks)
            .map(|rank| ThreadExchange {
                rank,
                ranks,
                board: board.clone(),
                collectives: 0,
                rounds: 0,
            })
            .collect()
    }

    /// Posts `local`, waits for every rank's, and returns them all.
    fn post(&mut self, local: Vec<u8>) -> Vec<Vec<u8>> {
        let set = (self.rounds % 2) as usize;
        self.rounds += 1;
        self.slots(set)[self.rank] = local;
        self.board.barrier.wait();
        self.slots(set).clone()
    }

    fn slots(&self, set: usize) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A rank that panicked while holding the lock left whole slots.
        self.board.slots[set]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Exchange for ThreadExchange {
    fn ranks(&self) -> usize {
        self.ranks
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn all_gather(&mut self, local: &[u32], counts: &mut Vec<usize>, out: &mut Vec<u32>) {
        // MPI needs the lengths first, then the words.
        self.collectives += 1;
        self.gather_words(local, counts, out);
    }

    fn all_gather_fixed(&mut self, block: &[u32], out: &mut Vec<u32>) {
        let mut counts = Vec::new();
        self.gather_words(block, &mut counts, out);
        debug_assert!(
            counts.iter().all(|&c| c == block.len()),
            "ranks' fixed blocks differ in length"
        );
    }

    fn all_gather_known(&mut self, local: &[u32], counts: &[usize], out: &mut Vec<u32>) {
        let mut found = Vec::new();
        self.gather_words(local, &mut found, out);
        debug_assert_eq!(found, counts, "a rank sent other than its known length");
    }

    fn collectives(&self) -> u64 {
        self.collectives
    }

    fn any(&mut self, flags: u32) -> u32 {
        self.collectives += 1;
        let all = self.post(flags.to_le_bytes().to_vec());
        all.iter()
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .fold(0, |a, b| a | b)
    }

    fn gather(&mut self, local: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        // Lengths, then bytes, as over MPI.
        self.collectives += 2;
        let all = self.post(local);
        (self.rank == 0).then_some(all)
    }
}

impl ThreadExchange {
    /// One all-gather of words, counted as one collective.
    fn gather_words(&mut self, local: &[u32], counts: &mut Vec<usize>, out: &mut Vec<u32>) {
        self.collectives += 1;
        let bytes = local.iter().flat_map(|w| w.to_le_bytes()).collect();
        let all = self.post(bytes);
        counts.clear();
        out.clear();
        for block in &all {
            counts.push(block.len() / 4);
            out.extend(
                block
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
    }
}

/// Whether a kernel's result depends on its element's global index:
/// random draws are keyed by it, and `Index(Own)` is it.
pub(crate) fn uses_global_index(kernel: &Kernel) -> bool {
    fn expr(e: &Expr) -> bool {
        matches!(
            e,
            Expr::Rand { .. } | Expr::Binomial { .. } | Expr::Index(IndexSpace::Own)
        ) || e.operands().any(expr)
    }
    fn stmt(s: &Stmt) -> bool {
        match s {
            Stmt::SetLocal(_, e) | Stmt::Store(_, _, e) => expr(e),
            Stmt::If { cond, then } => expr(cond) || then.iter().any(stmt),
            Stmt::Emit => false,
        }
    }
    kernel.body.iter().any(stmt)
}

/// Whether a `run_regularly` kernel of a group changes shared variables
/// from shared values alone: every value stored into a shared variable is
/// computed from shared variables (replicated on every rank), constants,
/// `t`, the element's index and random draws keyed by it, through locals
/// computed the same way. Such a kernel runs over every neuron on every
/// rank (`PartitionState::everywhere`), so that each rank computes the
/// shared values of one process, element by element in the same order
/// (Kremer et al.'s `direction = rand()*2*pi`); its other writes reach the
/// neurons another rank owns only in this rank's copy, whose values are
/// never read before their owner's are shared.
pub(crate) fn changes_shared_from_shared(program: &Program, kernel: &Kernel) -> bool {
    // A variable of a one-neuron group is current only on its owner.
    let replicated = |a: &ArrayId| {
        let d = &program.arrays[a.0 as usize];
        d.synapses.is_none() && !one_neuron_array(program, *a)
    };
    fn clean(e: &Expr, locals: &[u32], replicated: &dyn Fn(&ArrayId) -> bool) -> bool {
        let here = match e {
            Expr::Load(a, space) => *space == IndexSpace::Shared && replicated(a),
            Expr::Local(l) => locals.contains(&l.0),
            _ => true,
        };
        here && e.operands().all(|o| clean(o, locals, replicated))
    }
    fn stmts(
        body: &[Stmt],
        guarded: bool,
        locals: &mut Vec<u32>,
        writes: &mut bool,
        replicated: &dyn Fn(&ArrayId) -> bool,
    ) -> bool {
        for s in body {
            match s {
                Stmt::SetLocal(l, e) => {
                    // A local set under a condition that is not clean, or
                    // from values that are not, is not clean.
                    if guarded && clean(e, locals, replicated) {
                        if !locals.contains(&l.0) {
                            locals.push(l.0);
                        }
                    } else {
                        locals.retain(|&x| x != l.0);
                    }
                }
                Stmt::Store(_, IndexSpace::Shared, e) => {
                    *writes = true;
                    if !guarded || !clean(e, locals, replicated) {
                        return false;
                    }
                }
                Stmt::Store(..) | Stmt::Emit => {}
                Stmt::If { cond, then } => {
                    let g = guarded && clean(cond, locals, replicated);
                    if !stmts(then, g, locals, writes, replicated) {
                        return false;
                    }
                }
            }
        }
        true
    }
    let mut writes = false;
    let mut locals = Vec::new();
    stmts(&kernel.body, true, &mut locals, &mut writes, &replicated) && writes
}

/// A construct of a program that cannot yet run split over ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The object (group, Synapses object or monitor) it belongs to.
    pub object: String,
    /// Which of its parts: `on_pre`, `on_post`, `equations`, a monitor's
    /// `variables`, ...
    pub part: &'static str,
    /// What it does that cannot be split, in the user's terms.
    pub what: String,
}

/// Everything of `program` that cannot yet run on more than one rank.
/// Empty when the program runs split with the same results as on one.
pub fn unsupported(program: &Program) -> Vec<Unsupported> {
    let mut found = Vec::new();
    let mut refuse = |object: &str, part: &'static str, what: String| {
        let u = Unsupported {
            object: object.to_string(),
            part,
            what,
        };
        if !found.contains(&u) {
            found.push(u);
        }
    };
    let kernel = |k: KernelId| &program.kernels[k.0 as usize];
    let array_name = |a: ArrayId| {
        let name = &program.arrays[a.0 as usize].name;
        name.split_once('.')
            .map_or(name.as_str(), |(_, v)| v)
            .to_string()
    };
    // What a synapse kernel writes through its presynaptic neuron (reads
    // are shared before the kernel runs: `PartitionState::share`).
    let pre_access = |k: &Kernel| -> Option<String> {
        let mut stores = Vec::new();
        walk(k, &mut |_| {}, &mut |a, s| {
            if s == IndexSpace::Pre {
                stores.push(a)
            }
        });
        stores
            .first()
            .map(|&a| format!("writes the presynaptic variable `{}_pre`", array_name(a)))
    };
    for s in &program.synapses {
        // After connecting, a synapse's side made of synapses is this
        // rank's element of that object's arrays (`synapse_sides`), not
        // the global index `i`/`j` means.
        let mut runtime: Vec<KernelId> = Vec::new();
        runtime.extend(s.on_pre.iter().chain(&s.on_post).chain(&s.state_update));
        runtime.extend(s.summed.iter().map(|m| m.kernel));
        runtime.extend(s.pathways.iter().map(|p| p.kernel));
        let me = program.synapses.iter().position(|o| std::ptr::eq(o, s));
        runtime.extend(program.regular.iter().filter_map(|r| {
            (Some(r.target) == me.map(RegularTarget::Synapses)).then_some(r.kernel)
        }));
        runtime.extend(program.actions.iter().filter_map(|a| match a {
            rheobase_kernel::program::Action::InitialiseSynapses { kernel, synapses } => {
                (Some(*synapses) == me).then_some(*kernel)
            }
            _ => None,
        }));
        runtime.extend(program.monitors.iter().filter_map(|m| match m {
            MonitorPlan::State {
                synapses: Some(k),
                prepare: Some(p),
                ..
            } if Some(*k) == me => Some(*p),
            _ => None,
        }));
        let index_sides = [
            (s.source_synapses, IndexSpace::Pre, "i"),
            (s.target_synapses, IndexSpace::Post, "j"),
        ];
        for (side, space, name) in index_sides {
            let Some(k) = side else { continue };
            let uses = runtime.iter().any(|&r| {
                let mut found = false;
                walk(
                    kernel(r),
                    &mut |e| found |= matches!(e, Expr::Index(x) if *x == space),
                    &mut |_, _| {},
                );
                found
            });
            if uses {
                refuse(
                    &s.name,
                    if space == IndexSpace::Pre {
                        "source"
                    } else {
                        "target"
                    },
                    format!(
                        "index `{name}` is used in its code, but on several ranks the synapses \
                         of `{}` are numbered by each rank's own",
                        program.synapses[k].name
                    ),
                );
            }
        }
        // Pathways may change presynaptic variables by `+=`/`-=`: the
        // owners apply every rank's changes in one process's order
        // (`pre_writes`).
        let parts = [("on_pre", s.on_pre), ("on_post", s.on_post)];
        for (part, k) in parts {
            let Some(k) = k else { continue };
            if let Err(what) = pre_writes(program, kernel(k)) {
                refuse(&s.name, part, what);
            }
        }
        if let Some(what) = s.state_update.and_then(|k| pre_access(kernel(k))) {
            refuse(&s.name, "equations", what);
        }
        for summed in &s.summed {
            if let Some(what) = pre_access(kernel(summed.kernel)) {
                refuse(&s.name, "(summed)", what);
            }
        }
        for p in &s.pathways {
            if let Err(what) = pre_writes(program, kernel(p.kernel)) {
                let part = match p.side {
                    PathwaySide::Pre => "on_pre",
                    PathwaySide::Post => "on_post",
                };
                refuse(&s.name, part, format!("pathway `{}` {what}", p.name));
            }
        }
    }
    // Kernels run over a group's own neurons may only read arrays of
    // groups split the same way (the same size), and no shared value that
    // a rank updates for itself.
    let mut per_step: Vec<(usize, &str, &'static str, &Kernel)> = Vec::new();
    for (gi, g) in program.groups.iter().enumerate() {
        if let Some(k) = g.state_update {
            per_step.push((gi, &g.name, "equations", kernel(k)));
        }
        for e in g.spike.iter().chain(&g.events) {
            per_step.push((gi, &g.name, "threshold", kernel(e.condition)));
            if let Some(k) = e.effect {
                per_step.push((gi, &g.name, "reset", kernel(k)));
            }
        }
    }
    // A group's `run_regularly` kernel that changes shared variables from
    // shared values runs over every neuron on every rank, so each rank
    // holds their one-process values.
    let everywhere: Vec<KernelId> = program
        .regular
        .iter()
        .filter(|r| matches!(r.target, RegularTarget::Group(_)))
        .map(|r| r.kernel)
        .filter(|&k| changes_shared_from_shared(program, kernel(k)))
        .collect();
    let everywhere: Vec<&Kernel> = everywhere.iter().map(|&k| kernel(k)).collect();
    let runs_everywhere = |k: &Kernel| everywhere.iter().any(|e| std::ptr::eq(*e, k));
    for r in &program.regular {
        if let RegularTarget::Group(gi) = r.target {
            per_step.push((
                gi,
                &program.groups[gi].name,
                "run_regularly",
                kernel(r.kernel),
            ));
        }
    }
    for input in &program.poisson_inputs {
        per_step.push((
            input.group,
            &input.name,
            "PoissonInput",
            kernel(input.kernel),
        ));
    }
    // The shared variables that only some rank holds current: those
    // changed by a kernel run over each rank's own neurons.
    // Resets and events' code that accumulate shared variables
    // (`shared_writes`) keep them the same on every rank.
    let accumulates = |part: &str, k: &Kernel| part == "reset" && shared_writes(program, k).is_ok();
    let mut written = Vec::new();
    for &(_, _, part, k) in &per_step {
        let everywhere = runs_everywhere(k) || accumulates(part, k);
        walk(k, &mut |_| {}, &mut |a, space| {
            if !(everywhere && space == IndexSpace::Shared) {
                written.push(a)
            }
        });
    }
    for &(gi, name, part, k) in &per_step {
        let size = program.groups[gi].size;
        let mut what = None;
        let mut changes = None;
        walk(
            k,
            &mut |e| {
                let Expr::Load(a, space) = e else { return };
                let d = &program.arrays[a.0 as usize];
                if d.synapses.is_some() || d.group == gi {
                    return;
                }
                let other = &program.groups[d.group];
                let bad = match space {
                    IndexSpace::Own => Some(format!(
                        "reads `{}`, a variable of group `{}` whose neurons are split differently",
                        d.name, other.name
                    ))
                    .filter(|_| other.size != size),
                    // Only the rank that updates the other group's
                    // neuron (or the rank that changed a shared value)
                    // holds its current value.
                    IndexSpace::Shared => Some(format!(
                        "reads `{}`, a shared variable that group `{}` changes during the run \
                         on one rank only",
                        d.name, other.name
                    ))
                    .filter(|_| written.contains(a) && !one_neuron_array(program, *a)),
                    // Neuron `k` reads the other group's neuron
                    // `index[k]`, shared from its owner right before the
                    // kernel runs (`kernel_reads`).
                    IndexSpace::Via(_) | IndexSpace::Pre | IndexSpace::Post => None,
                };
                if what.is_none() {
                    what = bad;
                }
            },
            &mut |a, space| {
                if space == IndexSpace::Shared
                    && changes.is_none()
                    && !runs_everywhere(k)
                    && !accumulates(part, k)
                {
                    changes = Some(match shared_writes(program, k) {
                        Err(why) if part == "reset" => why,
                        _ => format!(
                            "changes the shared variable `{}` during the run",
                            program.arrays[a.0 as usize].name
                        ),
                    });
                }
            },
        );
        if let Some(what) = what.or(changes) {
            refuse(name, part, what);
        }
    }
    // Each rank buffers its own neurons' share of a SpikeMonitor or
    // EventMonitor given a `when:` at the monitor's place, and the next
    // window's message carries it (after the window's exchange, at the
    // end of `after_thresholds`, the next one; `exchange_tail` at the end
    // of a run).
    // A split step reads its SpikeMonitors' variables at `thresholds`
    // order 1 (where one process's SpikeMonitors record), buffers its
    // EventMonitors' events at `thresholds` order 2 and `after_thresholds`
    // order 1, and buffers and exchanges its spikes and events at the end
    // of `after_thresholds` (`schedule::step_order`). Parts that only
    // update, reset or sum over a rank's own neurons and synapses may move
    // anywhere else: they read what they read on one process (a resetter
    // its own neurons' share of the spike list, a post pathway its own
    // targets' spikes). What must stay on its side of those steps: the
    // spike thresholders before the exchange (and before the reading of
    // their default SpikeMonitors' variables), the source-side pathways
    // triggered by a custom event after the exchange (before it, they
    // would deliver the previous step's events, which every rank learns
    // only at the exchange and does not keep; those triggered by spikes
    // queue the previous step's spikes of other ranks at the exchange, or
    // in a window's first step at the pathway), and the custom events'
    // thresholders, whose EventMonitors are placed around them.
    let buffers = [
        Slot::new(Slot::THRESHOLDS, 1),
        Slot::new(Slot::THRESHOLDS, 2),
        Slot::new(Slot::AFTER_THRESHOLDS, 1),
    ];
    // A part moved between runs is checked as one moved before them: a
    // place refused in one run is refused in any.
    let later = program
        .later_places
        .iter()
        .map(|&(_, part, slot)| (part, slot));
    for (part, slot) in program.places.iter().copied().chain(later) {
        let (object, what) = match part {
            Part::GroupStateUpdater(g) => (&program.groups[g].name, "state updater"),
            Part::Thresholder(g, None) => (&program.groups[g].name, "thresholder"),
            Part::Thresholder(g, Some(_)) => {
                (&program.groups[g].name, "custom event's thresholder")
            }
            Part::Resetter(g, _) => (&program.groups[g].name, "resetter"),
            Part::SynapsesStateUpdater(s) => (&program.synapses[s].name, "state updater"),
            Part::Pathway(s, _, _) => (&program.synapses[s].name, "pathway"),
            Part::Summed(s, _) => (&program.synapses[s].name, "summed variable"),
        };
        // A SpikeMonitor at its default place whose variables a split run
        // reads at `thresholds` order 1.
        let default_variables = |g: usize| {
            program.monitors.iter().any(|m| {
                matches!(m, MonitorPlan::Spike { group, event: None, schedule: None, variables, .. }
                    if *group == g && !variables.is_empty())
            })
        };
        let triggered_by_event = |s: usize, which: Option<usize>| {
            let plan = &program.synapses[s];
            match which {
                None => plan.pre_event.is_some(),
                Some(w) => plan.pathways[w].event.is_some(),
            }
        };
        // A pathway placed in an earlier slot than its source's
        // thresholder in every run runs before it: it reads the previous
        // step's spikes, which the exchange queues one step later
        // (`PartitionState::shifted`). One placed after the thresholder
        // and before the exchange would miss the spikes of the window's
        // first step due in its last, which other ranks send only at the
        // exchange.
        let runs = 1 + program
            .later_places
            .iter()
            .map(|&(r, _, _)| r)
            .max()
            .unwrap_or(0);
        let before_thresholder = |s: usize| {
            let source = program.synapses[s].source;
            slot.when < Slot::THRESHOLDS
                && (0..runs).all(|r| {
                    program
                        .place_in_run(Part::Thresholder(source, None), r)
                        .when
                        >= Slot::THRESHOLDS
                })
        };
        let why = match part {
            Part::Thresholder(_, None) if slot.when > Slot::AFTER_THRESHOLDS => {
                Some("after the place where a split run exchanges spikes")
            }
            Part::Thresholder(g, None) if slot >= buffers[0] && default_variables(g) => {
                Some("after the place where a split run reads its SpikeMonitor's `variables:`")
            }
            Part::Thresholder(_, None) => None,
            _ if buffers.contains(&slot) => Some("to where a split run buffers spikes and events"),
            Part::Thresholder(_, Some(_)) => Some("from Brian2's default place"),
            Part::Pathway(s, PathwaySide::Pre, which)
                if slot.when <= Slot::AFTER_THRESHOLDS && triggered_by_event(s, which) =>
            {
                Some("before the place where a split run exchanges custom events")
            }
            Part::Pathway(s, PathwaySide::Pre, _)
                if slot.when <= Slot::AFTER_THRESHOLDS && !before_thresholder(s) =>
            {
                Some("after its source's thresholder and before the place where a split run exchanges spikes")
            }
            _ => None,
        };
        if let Some(why) = why {
            refuse(
                object,
                "schedule",
                format!("moves its {what} {why} (`order:`, `.when = ...`)"),
            );
        }
    }
    found
}

/// Calls `on_expr` for every expression (and subexpression) of a kernel
/// and `on_store` for every store.
fn walk(k: &Kernel, on_expr: &mut dyn FnMut(&Expr), on_store: &mut dyn FnMut(ArrayId, IndexSpace)) {
    fn expr(e: &Expr, f: &mut dyn FnMut(&Expr)) {
        f(e);
        for o in e.operands() {
            expr(o, f);
        }
    }
    fn stmt(s: &Stmt, f: &mut dyn FnMut(&Expr), g: &mut dyn FnMut(ArrayId, IndexSpace)) {
        match s {
            Stmt::SetLocal(_, e) => expr(e, f),
            Stmt::Store(a, space, e) => {
                g(*a, *space);
                expr(e, f);
            }
            Stmt::If { cond, then } => {
                expr(cond, f);
                for t in then {
                    stmt(t, f, g);
                }
            }
            Stmt::Emit => {}
        }
    }
    for s in &k.body {
        stmt(s, on_expr, on_store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_neuron_once_in_rank_order() {
        for size in [0, 1, 2, 7, 10, 4000] {
            for ranks in 1..6 {
                let mut next = 0;
                for rank in 0..ranks {
                    let r = owned_range(size, ranks, rank);
                    assert_eq!(r.start, next);
                    assert!(r.len() <= size.div_ceil(ranks));
                    let split = Split::even(vec![size], ranks);
                    assert_eq!(split.range(0, rank), r);
                    for i in r.clone() {
                        assert_eq!(split.owner(0, i), rank);
                    }
                    next = r.end;
                }
                assert_eq!(next, size);
            }
        }
    }

    #[test]
    fn a_window_is_one_collective_unless_a_block_overflows() {
        let handles: Vec<_> = ThreadExchange::group(3)
            .into_iter()
            .map(|ex| {
                std::thread::spawn(move || {
                    let mut p = PartitionState::new(Box::new(ex), Split::even(Vec::new(), 3), 0);
                    let r = p.rank() as u32;
                    let mut seen = Vec::new();
                    // Rank 2's second message overflows the block; the
                    // third fits the grown block, and so do the small
                    // ones after it.
                    for (window, len) in [(0u32, 3usize), (1, 300), (2, 300), (3, 1), (4, 1)] {
                        p.send.clear();
                        p.send.push(u32::from(r == 1 && window == 3));
                        let len = if r == 2 { len } else { 2 };
                        p.send.extend((0..len as u32).map(|k| 1000 * r + k));
                        let before = p.exchange.collectives();
                        p.gather_window();
                        seen.push((
                            p.exchange.collectives() - before,
                            p.counts.clone(),
                            p.recv.clone(),
                        ));
                    }
                    seen
                })
            })
            .collect();
        let all: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("rank thread"))
            .collect();
        let rounds: Vec<u64> = all[0].iter().map(|(c, _, _)| *c).collect();
        assert_eq!(rounds, vec![1, 2, 1, 1, 1]);
        for seen in &all {
            assert_eq!(seen, &all[0], "ranks disagree on a window's message");
        }
        let (_, counts, recv) = &all[0][1];
        assert_eq!(counts, &vec![3, 3, 301]);
        assert_eq!(&recv[..3], &[0, 0, 1]);
        assert_eq!(
            &recv[6..],
            &[0].into_iter().chain(2000..2300).collect::<Vec<_>>()[..]
        );
        // The flags of rank 1 in window 3 reach every rank.
        assert_eq!(all[2][3].2[3], 1);
    }

    #[test]
    fn threads_gather_in_rank_order() {
        let handles: Vec<_> = ThreadExchange::group(3)
            .into_iter()
            .map(|mut ex| {
                std::thread::spawn(move || {
                    let r = ex.rank() as u32;
                    let local: Vec<u32> = (0..=r).map(|k| 10 * r + k).collect();
                    let (mut counts, mut out) = (Vec::new(), Vec::new());
                    ex.all_gather(&local, &mut counts, &mut out);
                    let flags = ex.any(1 << r);
                    let gathered = ex.gather(vec![r as u8]);
                    (counts, out, flags, gathered)
                })
            })
            .collect();
        for (rank, h) in handles.into_iter().enumerate() {
            let (counts, out, flags, gathered) = h.join().expect("rank thread");
            assert_eq!(counts, vec![1, 2, 3]);
            assert_eq!(out, vec![0, 10, 11, 20, 21, 22]);
            assert_eq!(flags, 0b111);
            assert_eq!(gathered.is_some(), rank == 0);
            if let Some(g) = gathered {
                assert_eq!(g, vec![vec![0], vec![1], vec![2]]);
            }
        }
    }

    /// The owner's `x + high + low`, rounded once, is the fused `x + a*b`
    /// of one process (`f64::mul_add`, correctly rounded) for products
    /// and sums of every relative size, cancellation and ties included,
    /// and `x + high` when the product was rounded first (no FMA).
    #[test]
    fn a_product_and_its_remainder_add_as_one_fused_multiply_add() {
        // A small xorshift generator: values of every sign and of
        // exponents from -60 to 60, and near-cancelling sums.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let value = |next: &mut dyn FnMut() -> u64| {
            let r = next();
            let mantissa = 1.0 + (r >> 12) as f64 / (1u64 << 52) as f64;
            let exponent = (r % 121) as i32 - 60;
            let sign = if r & (1 << 11) == 0 { 1.0 } else { -1.0 };
            sign * mantissa * 2f64.powi(exponent)
        };
        for case in 0..200_000 {
            let a = value(&mut next);
            let b = value(&mut next);
            let x = match case % 4 {
                // `x` nearly cancelling the product.
                0 => -(a * b) * (1.0 + f64::EPSILON * (next() % 8) as f64),
                // Products with few bits, so that sums fall on ties.
                1 => value(&mut next).round(),
                _ => value(&mut next),
            };
            let (a, b) = if case % 4 == 1 {
                (a.round(), (b * 8.0).round() / 8.0)
            } else {
                (a, b)
            };
            let high = a * b;
            let low = a.mul_add(b, -high);
            let fused = a.mul_add(b, x);
            let owner = sum_rounded_once(x, high, low);
            assert_eq!(
                owner.to_bits(),
                fused.to_bits(),
                "x {x:e} + {a:e} * {b:e}: {owner:e} instead of {fused:e}"
            );
            assert_eq!(
                sum_rounded_once(x, high, 0.0).to_bits(),
                (x + high).to_bits()
            );
        }
    }
}
