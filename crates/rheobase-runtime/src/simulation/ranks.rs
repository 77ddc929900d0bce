//! A simulation as one rank of several: joining the split, the agreements
//! that end every rank together, and the merge of recordings onto rank 0.
//! The split itself is described in `crate::partition`.

use super::*;
use crate::exec::PairIndex;
use crate::partition::{owned_range, owner, uses_global_index, GlobalRun};
use crate::synapses::SynapsesState;

impl Simulation {
    /// Makes this simulation rank `exchange.rank()` of `exchange.ranks()`
    /// processes running the same program: from now on it updates only
    /// its share of each group's neurons, keeps only the synapses onto
    /// them, and exchanges spikes with the other ranks once per window of
    /// steps. Every
    /// rank must then make the same calls in the same order (run the same
    /// actions and steps, flush and gather recordings together).
    ///
    /// Results are the same as on one process, provided the program is
    /// one [`crate::unsupported`] finds nothing in; the caller checks.
    ///
    /// # Errors
    /// If the simulation has already run an action (its synapses would
    /// be those of one process).
    pub fn set_exchange(&mut self, exchange: Box<dyn Exchange>) -> Result<(), String> {
        if self.next_action > 0 || self.step > 0 {
            return Err("a simulation can be split over ranks only before it starts".into());
        }
        let (ranks, rank) = (exchange.ranks(), exchange.rank());
        for g in &mut self.groups {
            g.owned = owned_range(g.size, ranks, rank);
        }
        self.partition = Some(PartitionState::new(exchange, self.program.synapses.len()));
        self.pre_reads = crate::partition::pre_reads(&self.program);
        Ok(())
    }

    /// `(rank, ranks)`: `(0, 1)` for a simulation that is not split.
    pub fn rank(&self) -> (usize, usize) {
        self.partition
            .as_ref()
            .map_or((0, 1), |p| (p.rank(), p.ranks()))
    }

    /// On one rank of several: the neurons of group `group` it updates.
    pub fn owned_neurons(&self, group: usize) -> std::ops::Range<usize> {
        self.groups[group].owned.clone()
    }

    /// Synapses of each Synapses object on all ranks together (on one
    /// process, the same as [`Simulation::synapse_stats`]' counts).
    pub fn global_synapse_counts(&self) -> Vec<u64> {
        match &self.partition {
            Some(p) => p.global_len.clone(),
            None => self.synapses.iter().map(|s| s.len() as u64).collect(),
        }
    }

    /// Seconds this rank spent exchanging spikes, once per window (0 when
    /// not split).
    pub fn exchange_seconds(&self) -> f64 {
        self.partition.as_ref().map_or(0.0, |p| p.exchange_seconds)
    }

    /// Spike exchanges (windows) this rank has taken part in (0 when not
    /// split): one per window of steps, see `crate::partition`.
    pub fn exchanges(&self) -> u64 {
        self.partition.as_ref().map_or(0, |p| p.exchanges)
    }

    /// Hands `local` to rank 0, which receives every rank's bytes in rank
    /// order (the others get `None`; a process that is not split gets its
    /// own). Collective: for the caller's per-rank reports.
    pub fn gather_bytes(&mut self, local: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        match &mut self.partition {
            Some(p) => p.exchange.gather(local),
            None => Some(vec![local]),
        }
    }

    /// The OR of every rank's flags (this rank's alone when not split).
    pub(super) fn partition_any(&mut self, flags: u32) -> u32 {
        match &mut self.partition {
            Some(p) => p.exchange.any(flags),
            None => flags,
        }
    }

    /// Makes every rank's outcome of an action the same: an error or
    /// interrupt on any rank ends the action with an error on all.
    pub(super) fn agree(
        &mut self,
        result: Result<bool, RuntimeError>,
    ) -> Result<bool, RuntimeError> {
        if self.partition.is_none() {
            return result;
        }
        let flags = match &result {
            Ok(_) => 0,
            Err(RuntimeError::Interrupted { .. }) => FLAG_INTERRUPTED,
            Err(_) => FLAG_FAILED,
        };
        let all = self.partition_any(flags);
        let t = self.t();
        match result {
            Ok(_) if all & FLAG_FAILED != 0 => Err(RuntimeError::OtherRank { t }),
            Ok(_) if all & FLAG_INTERRUPTED != 0 => Err(RuntimeError::Interrupted { t }),
            r => r,
        }
    }

    /// Collects the StateMonitor samples every rank holds for its own
    /// neurons into rank 0's monitors, in recorded order, so that rank 0
    /// holds what one process would. Every rank must call it at the same
    /// point; the other ranks' samples are dropped. Returns whether this
    /// process holds the merged recordings (always, when not split).
    /// SpikeMonitors and PopulationRateMonitors need no merge: every rank
    /// sees every spike.
    pub fn gather_recordings(&mut self) -> bool {
        let Some(p) = &mut self.partition else {
            return true;
        };
        let ranks = p.ranks();
        // Each rank sends, per StateMonitor and variable, the values of the
        // recorded neurons it owns, sample by sample.
        let owners: Vec<Option<(Vec<usize>, usize)>> = self
            .program
            .monitors
            .iter()
            .zip(&self.monitors)
            .map(|(plan, data)| match (plan, data) {
                (
                    MonitorPlan::State {
                        group,
                        synapses: None,
                        ..
                    },
                    MonitorData::State { record, .. },
                ) => {
                    let size = self.program.groups[*group].size;
                    Some((record.iter().map(|&i| owner(i, size, ranks)).collect(), 0))
                }
                _ => None,
            })
            .collect();
        let me = p.rank();
        let mut bytes = Vec::new();
        for (data, owners) in self.monitors.iter().zip(&owners) {
            let (Some((owners, _)), MonitorData::State { variables, .. }) = (owners, data) else {
                continue;
            };
            for series in variables {
                for sample in series.values.chunks(series.width.max(1)) {
                    for (v, &o) in sample.iter().zip(owners) {
                        if o == me {
                            bytes.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                }
            }
        }
        let Some(all) = p.exchange.gather(bytes) else {
            return false;
        };
        let mut readers: Vec<_> = all
            .iter()
            .map(|b| {
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            })
            .collect();
        for (data, owners) in self.monitors.iter_mut().zip(&owners) {
            let (Some((owners, _)), MonitorData::State { variables, .. }) = (owners, data) else {
                continue;
            };
            for series in variables.iter_mut() {
                let width = series.width.max(1);
                for sample in series.values.chunks_mut(width) {
                    for (v, &o) in sample.iter_mut().zip(owners) {
                        // Every rank holds the same number of samples, so
                        // each reader has one value per owned column.
                        if let Some(x) = readers[o].next() {
                            *v = x;
                        }
                    }
                }
            }
        }
        true
    }
}

impl PartitionState {
    /// Records where the synapses a `connect:` line kept on this rank lie
    /// in the global numbering: `runs` count from the line's first
    /// synapse, and the line's synapses follow those made before.
    pub(crate) fn add_runs(
        &mut self,
        synapses: usize,
        local_start: usize,
        (runs, made): &(Vec<GlobalRun>, u64),
    ) {
        let base = self.global_len[synapses];
        for run in runs {
            self.runs[synapses].push(GlobalRun {
                local: local_start + run.local,
                global: base + run.global,
                len: run.len,
            });
        }
        self.global_len[synapses] = base + made;
    }
}

/// Runs a Range kernel over all of a Synapses object's synapses (a
/// setting of synaptic variables). On one rank of several, a kernel that
/// draws random numbers (or uses the synapse's index) runs once per run of
/// consecutive global indices, offset so that each synapse draws what it
/// draws on one process.
pub(super) fn run_synapse_range(
    exec: &mut Executor,
    program: &Program,
    partition: Option<&PartitionState>,
    kernel: KernelId,
    store: &mut ArrayStore,
    (k, state): (usize, &SynapsesState),
    clock: Clock,
) {
    let pairs: &PairIndex = &state.pairs;
    match partition {
        Some(p) if uses_global_index(&program.kernels[kernel.0 as usize]) => {
            for run in &p.runs[k] {
                let range = run.local..run.local + run.len;
                exec.run_range_at(
                    kernel,
                    store,
                    range,
                    clock,
                    Some(pairs),
                    None,
                    run.global - run.local as u64,
                );
            }
        }
        _ => {
            exec.run_range(kernel, store, 0..state.len(), clock, Some(pairs), None);
        }
    }
}
