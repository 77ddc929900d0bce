//! A simulation as one rank of several: joining the split, the agreements
//! that end every rank together, and the merge of recordings onto rank 0.
//! The split itself is described in `crate::partition`.

use super::*;
use crate::exec::PairIndex;
use crate::partition::{uses_global_index, Change, Changes, GlobalRun, PreWrite, Trigger};
use crate::synapses::SynapsesState;
use rheobase_kernel::program::PathwaySide;
use rheobase_kernel::IndexSpace;

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
        let split = crate::partition::Split::balanced(&self.program, ranks);
        for (gi, g) in self.groups.iter_mut().enumerate() {
            g.owned = split.range(gi, rank);
        }
        let mut p = PartitionState::new(exchange, split, self.program.synapses.len());
        p.keyed = self.program.kernels.iter().map(uses_global_index).collect();
        p.ghost_arrays = crate::partition::ghost_arrays(&self.program);
        p.everywhere = self
            .program
            .kernels
            .iter()
            .map(|k| crate::partition::changes_shared_from_shared(&self.program, k))
            .collect();
        p.columns = vec![None; self.program.monitors.len()];
        p.kernel_reads = crate::partition::kernel_reads(&self.program);
        p.pre_writes = self
            .program
            .kernels
            .iter()
            .map(|k| crate::partition::pre_writes(&self.program, k).unwrap_or_default())
            .collect();
        p.shared_writes = self
            .program
            .kernels
            .iter()
            .map(|k| crate::partition::shared_writes(&self.program, k).unwrap_or_default())
            .collect();
        // The changes of a pathway changing presynaptic variables are
        // applied in the order of the steps of the spikes that delivered
        // them, which its queue keeps (a delay changed between runs gives
        // no spike in flight its step).
        for (k, plan) in self.program.synapses.iter().enumerate() {
            let queued = std::iter::once((None, plan.on_pre))
                .chain((0..plan.pathways.len()).map(|w| (Some(w), Some(plan.pathways[w].kernel))));
            for (which, kernel) in queued {
                if kernel.is_some_and(|k| !p.pre_writes[k.0 as usize].is_empty()) {
                    self.synapses[k].keep_spike_steps(which);
                }
            }
        }
        p.triggers = self.triggers();
        p.set_clocks(&self.program);
        p.recorded = self.recorded_by_owners();
        p.shifted = self.shifted_pathways();
        p.late_recorded = p.recorded.iter().any(|&m| {
            matches!(
                &self.program.monitors[m],
                MonitorPlan::Spike { schedule: Some(slot), .. }
                    if slot.when > rheobase_kernel::program::Slot::AFTER_THRESHOLDS
            )
        });
        p.recorded_vars = p
            .recorded
            .iter()
            .map(|&m| match &self.program.monitors[m] {
                MonitorPlan::Spike { variables, .. } => variables.len(),
                _ => 0,
            })
            .collect();
        let (synapses, monitors) = crate::partition::pre_reads(&self.program);
        p.monitor_reads = monitors;
        self.partition = Some(p);
        self.pre_reads = synapses;
        Ok(())
    }

    /// The lists each step exchanges (`PartitionState::triggers`): the
    /// spikes of every group whose threshold each rank evaluates for its
    /// own neurons, then every custom event that triggers a pathway from
    /// the source side (a pathway's synapses may be on any rank).
    fn triggers(&self) -> Vec<Trigger> {
        let mut triggers: Vec<Trigger> = (0..self.groups.len())
            .filter(|&k| self.groups[k].exchanged())
            .map(|group| Trigger { group, event: None })
            .collect();
        let mut events: Vec<Trigger> = self
            .program
            .synapses
            .iter()
            .flat_map(|s| {
                let default = s.on_pre.and(s.pre_event);
                let named = s
                    .pathways
                    .iter()
                    .filter(|p| p.side == PathwaySide::Pre)
                    .filter_map(|p| p.event);
                default.into_iter().chain(named).map(|e| Trigger {
                    group: s.source,
                    event: Some(e),
                })
            })
            .collect();
        events.sort_by_key(|t| (t.group, t.event));
        events.dedup();
        triggers.extend(events);
        triggers
    }

    /// The monitors each rank records for its own neurons, merged at the
    /// window's exchange (`PartitionState::recorded`), in the order a step
    /// buffers them (`schedule::Recorded`): SpikeMonitors with
    /// `variables:` of exchanged groups at `BufferSpikes`, EventMonitors
    /// that record before their event is evaluated at
    /// `BufferEventsBefore`, those that record after at
    /// `BufferEventsAfter`, and SpikeMonitors and EventMonitors given a
    /// `when:` at their own place.
    fn recorded_by_owners(&self) -> Vec<usize> {
        let monitors = &self.program.monitors;
        let at = |step: Step| self.steps.iter().position(|&s| s == step);
        let place = |m: usize, plan: &MonitorPlan| match plan {
            MonitorPlan::Spike {
                group,
                event,
                schedule: Some(_),
                ..
            } if event.is_some() || self.groups[*group].exchanged() => at(Step::Monitor(m)),
            MonitorPlan::Spike {
                group,
                variables,
                event: None,
                ..
            } if !variables.is_empty() && self.groups[*group].exchanged() => at(Step::BufferSpikes),
            MonitorPlan::Spike { event: Some(e), .. } => at(if e.before_evaluation {
                Step::BufferEventsBefore
            } else {
                Step::BufferEventsAfter
            }),
            _ => None,
        };
        let mut recorded: Vec<(usize, usize)> = monitors
            .iter()
            .enumerate()
            .filter_map(|(m, plan)| place(m, plan).map(|k| (k, m)))
            .collect();
        // A stable sort keeps program order among those buffered together.
        recorded.sort_by_key(|&(k, _)| k);
        recorded.into_iter().map(|(_, m)| m).collect()
    }

    /// The source-side pathways triggered by spikes that run before their
    /// source's thresholder in the step (`PartitionState::shifted`).
    pub(super) fn shifted_pathways(&self) -> Vec<(usize, Option<usize>)> {
        let at = |step: Step| self.steps.iter().position(|&s| s == step);
        self.pre_order
            .iter()
            .copied()
            .filter(|&(k, which)| {
                let source = self.program.synapses[k].source;
                let pathway = at(Step::Pathway(k, PathwaySide::Pre, which));
                let thresholder = at(Step::Thresholder(source));
                matches!((pathway, thresholder), (Some(p), Some(t)) if p < t)
            })
            .collect()
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

    /// Synaptic events of each Synapses object on all ranks together
    /// (`SynapseStats::events` counts only the synapses this rank holds,
    /// so on a split run each rank has its share); this process's own
    /// when not split. Collective: every rank calls it, at the same point.
    pub fn global_synapse_events(&mut self) -> Vec<u64> {
        let local: Vec<u64> = self.synapse_stats().iter().map(|s| s.events).collect();
        let Some(p) = &mut self.partition else {
            return local;
        };
        // Counts may exceed `u32`, so each travels as two words.
        let words: Vec<u32> = local
            .iter()
            .flat_map(|&e| [e as u32, (e >> 32) as u32])
            .collect();
        let (mut counts, mut all) = (Vec::new(), Vec::new());
        p.exchange.all_gather(&words, &mut counts, &mut all);
        let mut total = vec![0u64; local.len()];
        for block in all.chunks(words.len().max(1)) {
            for (t, w) in total.iter_mut().zip(block.chunks_exact(2)) {
                *t += u64::from(w[0]) | (u64::from(w[1]) << 32);
            }
        }
        total
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

    /// Collectives this rank's window exchanges made (0 when not split):
    /// one per window, plus one more for each window whose message did not
    /// fit the agreed block ([`Simulation::second_rounds`]).
    pub fn window_collectives(&self) -> u64 {
        self.partition.as_ref().map_or(0, |p| p.window_collectives)
    }

    /// Bytes of presynaptic values this rank sent, and what it would have
    /// sent had every share carried all its neurons' values (both 0 when
    /// not split).
    pub fn share_bytes(&self) -> (u64, u64) {
        self.partition
            .as_ref()
            .map_or((0, 0), |p| (4 * p.share_words, 4 * p.share_full_words))
    }

    /// Bytes of changes of presynaptic variables (`x_pre += ...`) this
    /// rank sent to their owners (0 when not split).
    pub fn pre_write_bytes(&self) -> u64 {
        self.partition.as_ref().map_or(0, |p| 4 * p.pre_write_words)
    }

    /// Windows whose message took a second collective (0 when not split).
    pub fn second_rounds(&self) -> u64 {
        self.partition.as_ref().map_or(0, |p| p.second_rounds)
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
        // Each rank sends, per StateMonitor and variable, the values of the
        // recorded neurons it owns, sample by sample.
        let owners: Vec<Option<(Vec<usize>, usize)>> = self
            .program
            .monitors
            .iter()
            .zip(&self.monitors)
            .zip(&p.columns)
            .map(|((plan, data), columns)| match (plan, data) {
                // Synapses are held by the rank of their target, found at
                // the monitor's first sample.
                (
                    MonitorPlan::State {
                        synapses: Some(_), ..
                    },
                    MonitorData::State { .. },
                ) => columns.as_ref().map(|c| (c.owner.clone(), 0)),
                (
                    MonitorPlan::State {
                        group,
                        synapses: None,
                        ..
                    },
                    MonitorData::State { record, .. },
                ) => {
                    let owners = &p.owners;
                    Some((record.iter().map(|&i| owners.owner(*group, i)).collect(), 0))
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
    /// Sets `N_outgoing` of every synapse this rank holds of Synapses
    /// object `plan` to its source's synapses on all ranks together (each
    /// rank counts only the synapses it holds). Collective: every rank
    /// calls it after each `connect:` line, whatever the line's outcome.
    pub(crate) fn count_outgoing(
        &mut self,
        plan: &rheobase_kernel::program::SynapsesPlan,
        state: &SynapsesState,
        store: &mut ArrayStore,
        source_len: Option<usize>,
    ) {
        let Some(id) = plan.n_outgoing else { return };
        let rows = plan.source_stop - plan.source_start;
        // A source made of synapses: a synapse's source is this rank's
        // element of their arrays (a local synapse or a ghost slot), its
        // row the global index (`partition::synapse_sides`).
        let row_of: Vec<usize> = state
            .pairs
            .pre()
            .iter()
            .map(|&i| match (plan.source_synapses, source_len) {
                (Some(s), Some(len)) => self.side_global(s, len, i as usize) as usize,
                _ => i as usize - plan.source_start,
            })
            .collect();
        let local: Vec<u32> = match plan.source_synapses {
            Some(_) => {
                let mut counts = vec![0u32; rows];
                for &r in &row_of {
                    counts[r] += 1;
                }
                counts
            }
            None => (0..rows).map(|r| state.by_source.count(r)).collect(),
        };
        let (mut counts, mut all) = (Vec::new(), Vec::new());
        self.exchange.all_gather(&local, &mut counts, &mut all);
        let mut total = vec![0u64; rows];
        for block in all.chunks(rows.max(1)) {
            for (t, &c) in total.iter_mut().zip(block) {
                *t += u64::from(c);
            }
        }
        let values = store.get_mut(id);
        for (v, &r) in values.iter_mut().zip(&row_of) {
            *v = total[r] as f64;
        }
    }

    /// Sets `N` of Synapses object `synapses` (`plan`) to its number of
    /// synapses on all ranks together, known to every rank once the
    /// line's synapses are numbered (`place_rows`, `add_runs`).
    pub(crate) fn count_synapses(
        &self,
        synapses: usize,
        plan: &rheobase_kernel::program::SynapsesPlan,
        store: &mut ArrayStore,
    ) {
        if let Some(id) = plan.n_synapses {
            store.get_mut(id)[0] = self.global_len[synapses] as f64;
        }
    }

    /// Numbers the synapses a `connect:` line placed by row kept on this
    /// rank (`synapses::places_by_row`): `rows[i]` were kept of row `i`,
    /// stored from local synapse `local_start` on. In one process a row's
    /// synapses follow every synapse of the rows before it, and within the
    /// row those onto lower targets, i.e. of lower ranks, come first.
    /// Collective: every rank calls it after such a line, whatever the
    /// line's outcome (a rank that failed sends no counts; the run then
    /// fails on every rank, so the numbering no longer matters).
    pub(crate) fn place_rows(&mut self, synapses: usize, local_start: usize, rows: &[u32]) {
        let (mut counts, mut all) = (Vec::new(), Vec::new());
        self.exchange.all_gather(rows, &mut counts, &mut all);
        let me = self.rank();
        let mut blocks = Vec::with_capacity(counts.len());
        let mut at = 0;
        for &c in &counts {
            blocks.push(&all[at..at + c]);
            at += c;
        }
        let count = |q: usize, i: usize| u64::from(blocks[q].get(i).copied().unwrap_or(0));
        let mut global = self.global_len[synapses];
        let mut local = local_start;
        let runs = &mut self.runs[synapses];
        for (i, &mine) in rows.iter().enumerate() {
            let before: u64 = (0..me).map(|q| count(q, i)).sum();
            let after: u64 = (me + 1..blocks.len()).map(|q| count(q, i)).sum();
            let len = mine as usize;
            if len > 0 {
                let start = global + before;
                match runs.last_mut() {
                    Some(run)
                        if run.local + run.len == local && run.global + run.len as u64 == start =>
                    {
                        run.len += len;
                    }
                    _ => runs.push(GlobalRun {
                        local,
                        global: start,
                        len,
                    }),
                }
            }
            local += len;
            global += before + u64::from(mine) + after;
        }
        // Rows this rank did not count (it failed) are counted by the others.
        let longest = blocks.iter().map(|b| b.len()).max().unwrap_or(0);
        for i in rows.len()..longest {
            global += (0..blocks.len()).map(|q| count(q, i)).sum::<u64>();
        }
        self.global_len[synapses] = global;
    }

    /// The global indices of the local synapses `selected` of Synapses
    /// object `synapses` on every rank together, in ascending (creation)
    /// order: a monitor's selection of synapses held by several ranks.
    /// Collective: every rank calls it at the monitor's first sample.
    pub(crate) fn gather_selected(&mut self, synapses: usize, selected: &[usize]) -> Vec<usize> {
        let runs = &self.runs[synapses];
        // Global indices may exceed `u32`, so each travels as two words.
        let words: Vec<u32> = selected
            .iter()
            .flat_map(|&e| {
                let g = e as u64 + global_offset(runs, e);
                [g as u32, (g >> 32) as u32]
            })
            .collect();
        let (mut counts, mut all) = (Vec::new(), Vec::new());
        self.exchange.all_gather(&words, &mut counts, &mut all);
        let mut global: Vec<usize> = all
            .chunks_exact(2)
            .map(|w| (u64::from(w[0]) | (u64::from(w[1]) << 32)) as usize)
            .collect();
        global.sort_unstable();
        global
    }

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

/// What to add to a local synapse index for its global one, for the
/// synapse `e` of `runs` (sorted by local index, covering every local
/// synapse).
fn global_offset(runs: &[GlobalRun], e: usize) -> u64 {
    let at = runs.partition_point(|r| r.local + r.len <= e);
    runs.get(at).map_or(0, |r| r.global - r.local as u64)
}

/// Runs a List kernel over synapses `list` of Synapses object `k`. On one
/// rank of several, a kernel that draws random numbers (or uses the
/// synapse's index) runs once per stretch of the list whose synapses
/// share an offset to their global index, in list order, so that each
/// synapse draws what it draws on one process and the effects are
/// applied in the same order.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
pub(super) fn run_synapse_list(
    exec: &mut Executor,
    partition: Option<&PartitionState>,
    kernel: KernelId,
    store: &mut ArrayStore,
    list: &[u32],
    clock: Clock,
    (k, pairs): (usize, &PairIndex),
) {
    match partition {
        Some(p) if p.keyed[kernel.0 as usize] => {
            let runs = &p.runs[k];
            let mut start = 0;
            while start < list.len() {
                let offset = global_offset(runs, list[start] as usize);
                let mut end = start + 1;
                while end < list.len() && global_offset(runs, list[end] as usize) == offset {
                    end += 1;
                }
                exec.run_list_at(
                    kernel,
                    store,
                    &list[start..end],
                    clock,
                    Some(pairs),
                    None,
                    offset,
                );
                start = end;
            }
        }
        _ => {
            exec.run_list(kernel, store, list, clock, Some(pairs), None);
        }
    }
}

/// Runs a Range kernel over synapses `range` of Synapses object `k`,
/// offset like [`run_synapse_range`] on one rank of several when the
/// kernel draws random numbers or uses the synapse's index.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
pub(super) fn run_synapse_range_in(
    exec: &mut Executor,
    partition: Option<&PartitionState>,
    kernel: KernelId,
    store: &mut ArrayStore,
    range: std::ops::Range<usize>,
    clock: Clock,
    (k, pairs): (usize, &PairIndex),
) {
    match partition {
        Some(p) if p.keyed[kernel.0 as usize] => {
            for run in &p.runs[k] {
                let from = run.local.max(range.start);
                let to = (run.local + run.len).min(range.end);
                if from < to {
                    exec.run_range_at(
                        kernel,
                        store,
                        from..to,
                        clock,
                        Some(pairs),
                        None,
                        run.global - run.local as u64,
                    );
                }
            }
        }
        _ => {
            exec.run_range(kernel, store, range, clock, Some(pairs), None);
        }
    }
}

/// Runs a pathway's List kernel over the synapses `list` of Synapses
/// object `k` ([`run_synapse_list`]), triggered from `side` (`which` as in
/// `SynapsesState::push`). On one rank of several, a kernel that changes
/// presynaptic variables (`PartitionState::pre_writes`) runs one synapse
/// at a time ([`run_alone`]); the changes go to the neurons' owners,
/// which apply every rank's in one process's order: by the step of the
/// spike or event that delivered each synapse, the postsynaptic neuron
/// for a pathway triggered from the target side, and the global synapse
/// index. Collective for such kernels.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
pub(super) fn run_pathway_list(
    exec: &mut Executor,
    program: &Program,
    partition: &mut Option<PartitionState>,
    kernel: KernelId,
    store: &mut ArrayStore,
    list: &[u32],
    clock: Clock,
    (k, state, side, which): (usize, &SynapsesState, PathwaySide, Option<usize>),
) {
    let Some(p) = partition
        .as_mut()
        .filter(|p| !p.pre_writes[kernel.0 as usize].is_empty())
    else {
        run_synapse_list(
            exec,
            partition.as_ref(),
            kernel,
            store,
            list,
            clock,
            (k, &state.pairs),
        );
        return;
    };
    let changes = p.pre_writes[kernel.0 as usize].clone();
    // The steps of the spikes or events the queue delivered now (a queue
    // of a pathway changing presynaptic variables keeps them, see
    // `SynapsesState::keep_spike_steps`); an `on_post` pathway without a
    // queue delivers at once.
    let steps = match (side, which) {
        (PathwaySide::Post, None) => None,
        _ => Some(state.due_steps(which)),
    };
    let mut run = 0;
    let mut key = |p: &PartitionState, at: usize, s: u32| {
        let step = match steps {
            None => clock.step,
            Some(steps) => {
                while run + 1 < steps.len() && steps[run + 1].1 as usize <= at {
                    run += 1;
                }
                steps.get(run).map_or(clock.step, |&(step, _)| step)
            }
        };
        let post = match side {
            PathwaySide::Pre => 0,
            PathwaySide::Post => state.pairs.post()[s as usize],
        };
        let global = u64::from(s) + global_offset(&p.runs[k], s as usize);
        (step, post, global)
    };
    let mut one = |exec: &mut Executor, p: &PartitionState, store: &mut ArrayStore, s: &[u32]| {
        run_synapse_list(exec, Some(p), kernel, store, s, clock, (k, &state.pairs));
    };
    let local = run_alone(
        exec,
        p,
        store,
        list,
        &changes,
        Some(&state.pairs),
        &mut one,
        &mut key,
    );
    p.apply_pre_writes(&changes.vars, &local, program, store, false);
}

/// Runs a reset or an event's code (a List kernel) over the neurons
/// `list`. On one rank of several, a kernel that changes shared
/// variables (`PartitionState::shared_writes`, `s += 1`) runs one neuron
/// at a time ([`run_alone`]), and every rank applies every rank's changes
/// in neuron order, the order of one process. Collective for such
/// kernels.
pub(super) fn run_reset_list(
    exec: &mut Executor,
    program: &Program,
    partition: &mut Option<PartitionState>,
    kernel: KernelId,
    store: &mut ArrayStore,
    list: &[u32],
    clock: Clock,
) {
    let Some(p) = partition
        .as_mut()
        .filter(|p| !p.shared_writes[kernel.0 as usize].is_empty())
    else {
        exec.run_list(kernel, store, list, clock, None, None);
        return;
    };
    let changes = p.shared_writes[kernel.0 as usize].clone();
    let mut one = |exec: &mut Executor, _: &PartitionState, store: &mut ArrayStore, n: &[u32]| {
        exec.run_list(kernel, store, n, clock, None, None);
    };
    // Ordered by neuron, as one process runs the list.
    let mut key = |_: &PartitionState, _: usize, n: u32| (clock.step, 0, u64::from(n));
    let local = run_alone(exec, p, store, list, &changes, None, &mut one, &mut key);
    p.apply_pre_writes(&changes.vars, &local, program, store, true);
}

/// Runs a List kernel over the given elements (one, for [`run_alone`]).
type RunOne<'a> = dyn FnMut(&mut Executor, &PartitionState, &mut ArrayStore, &[u32]) + 'a;

/// An element's place in one process's order, `(step, post, global)` of
/// a `PreWrite`, from its position in the list and its index.
type OrderKey<'a> = dyn FnMut(&PartitionState, usize, u32) -> (u64, u32, u64) + 'a;

/// Runs a List kernel's elements `list` one at a time (`one`), each with
/// the variables of `changes` (a synapse's presynaptic neuron's, through
/// `pairs`, or shared ones) set to their [`Change::identity`] and put
/// back after, which leaves in them exactly the element's change; returns
/// the changes, with their place in one process's order (`key` of the
/// element's position and index), for `PartitionState::apply_pre_writes`.
/// A product added to a variable ([`Change::AddProduct`]) runs the
/// element a second time, from the same state (every element the kernel
/// stores is put back first), with the variable set to minus the rounded
/// product, which leaves the product's exact remainder.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
fn run_alone(
    exec: &mut Executor,
    p: &PartitionState,
    store: &mut ArrayStore,
    list: &[u32],
    changes: &Changes,
    pairs: Option<&PairIndex>,
    one: &mut RunOne<'_>,
    key: &mut OrderKey<'_>,
) -> Vec<PreWrite> {
    // The element of array `space` an element `e` of the kernel touches.
    let index = |store: &ArrayStore, space: IndexSpace, e: usize| -> usize {
        match (space, pairs) {
            (IndexSpace::Pre, Some(pairs)) => pairs.pre()[e] as usize,
            (IndexSpace::Post, Some(pairs)) => pairs.post()[e] as usize,
            (IndexSpace::Shared, _) => 0,
            (IndexSpace::Via(v), _) => store.values(v).get(e) as usize,
            _ => e,
        }
    };
    let space = if pairs.is_some() {
        IndexSpace::Pre
    } else {
        IndexSpace::Shared
    };
    let products = changes.products();
    let mut found: Vec<PreWrite> = Vec::new();
    let mut saved = vec![0.0; changes.vars.len()];
    let mut stored = vec![0.0; if products { changes.stores.len() } else { 0 }];
    let mut left = vec![0.0; changes.vars.len()];
    let mut low = vec![0.0; changes.vars.len()];
    for at in 0..list.len() {
        let e = list[at] as usize;
        let neuron = index(store, space, e);
        if products {
            for (x, &(a, s)) in changes.stores.iter().enumerate() {
                stored[x] = store.values(a).get(index(store, s, e));
            }
        }
        for (x, &(a, change)) in changes.vars.iter().enumerate() {
            let values = store.get_mut(a);
            saved[x] = values[neuron];
            values[neuron] = change.identity();
        }
        one(exec, p, store, &list[at..at + 1]);
        for (x, &(a, _)) in changes.vars.iter().enumerate() {
            left[x] = store.get(a)[neuron];
        }
        low.fill(0.0);
        let again = changes
            .vars
            .iter()
            .zip(&left)
            .any(|(&(_, c), &v)| c == Change::AddProduct && !c.unchanged(v) && v.is_finite());
        if again {
            // Every element stored as it was (duplicates hold the same
            // value), then the product's variable at minus its rounded
            // value: `x ± a*b` is then the exact remainder, and every
            // other store is what the first run stored.
            for (x, &(a, s)) in changes.stores.iter().enumerate() {
                let i = index(store, s, e);
                store.values_mut(a).set(i, stored[x]);
            }
            for (x, &(a, change)) in changes.vars.iter().enumerate() {
                store.get_mut(a)[neuron] = match change {
                    Change::AddProduct if left[x].is_finite() => -left[x],
                    _ => change.identity(),
                };
            }
            one(exec, p, store, &list[at..at + 1]);
            for (x, &(a, change)) in changes.vars.iter().enumerate() {
                if change == Change::AddProduct && left[x].is_finite() {
                    low[x] = store.get(a)[neuron];
                }
            }
        }
        let place = key(p, at, list[at]);
        for (x, &(a, change)) in changes.vars.iter().enumerate() {
            store.get_mut(a)[neuron] = saved[x];
            if !change.unchanged(left[x]) {
                found.push(PreWrite {
                    neuron: neuron as u32,
                    array: x as u32,
                    step: place.0,
                    post: place.1,
                    global: place.2,
                    value: left[x],
                    low: low[x],
                });
            }
        }
    }
    found
}
