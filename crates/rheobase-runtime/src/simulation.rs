//! The simulation: state, the action list and Brian2's step schedule.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rheobase_kernel::program::{
    Action, ConnectPlan, GeneratorPlan, KernelId, MonitorPlan, Multiplicity, PathwaySide, Program,
};
use rheobase_kernel::{ArrayId, Iteration};

use crate::divergence::{DivergenceWatch, NonFinite};
use crate::exec::{ArrayStore, Clock, Executor, KernelCode, ValuesMut};
use crate::partition::Placement;
use crate::partition::{Exchange, PartitionState, FLAG_FAILED, FLAG_INTERRUPTED};
use crate::synapses::{
    make_connections, ConnectBudget, OwnedTargets, SynapsesState, CONNECT_INTERRUPTED,
};
use crate::{MonitorData, RuntimeError};

mod overlap;
mod ranks;
mod regular;
mod schedule;
mod validate;

use schedule::{pathway_order, step_order, Step};
use validate::{check_kernel_use, check_structure};

/// How to run a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunConfig {
    /// Seed of every random draw (`rand()`, `randn()`).
    pub seed: u64,
    /// Worker threads; 0 = one per core, 1 = no worker threads. Results do
    /// not depend on it.
    pub threads: usize,
}

/// Wall-clock costs of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timings {
    /// Seconds spent compiling kernels to machine code.
    pub compile_seconds: f64,
    /// Seconds spent in actions: initialisations and time steps, including
    /// monitor recording (but not making connections).
    pub simulate_seconds: f64,
    /// Seconds spent making synapses (`connect:` lines), all Synapses
    /// objects together; see [`Simulation::synapse_stats`] for each.
    pub connect_seconds: f64,
    /// Time steps simulated so far.
    pub steps: u64,
    /// Threads kernels run on.
    pub threads: usize,
}

/// Size and cost of one Synapses object.
#[derive(Debug, Clone, PartialEq)]
pub struct SynapseStats {
    pub name: String,
    /// Number of synapses.
    pub synapses: usize,
    /// Bytes of memory: the per-synapse arrays (8 bytes per synapse each),
    /// the neuron indices (4 + 4), the indexes by source and target, the
    /// delays in steps and the spike queue.
    pub bytes: usize,
    /// Seconds spent making its connections.
    pub connect_seconds: f64,
    /// Synaptic events processed so far: synapses whose `on_pre` code ran
    /// (one per presynaptic spike and synapse, after the delay) plus
    /// synapses whose `on_post` code ran.
    pub events: u64,
}

/// A SpikeGeneratorGroup's spike list and where the next step's spikes
/// start in it, kept as Brian2 keeps it (`_lastindex`), so that a group
/// declared after `run`s, or in the middle of a period, fires exactly the
/// spikes Brian2's fires.
struct GeneratorState {
    plan: GeneratorPlan,
    /// Index of the first spike of `plan.spikes` not yet emitted (in the
    /// current period, with a period).
    cursor: usize,
    /// This step's spikes, ascending.
    list: Vec<u32>,
    total: u64,
}

impl GeneratorState {
    fn new(plan: &GeneratorPlan) -> GeneratorState {
        // Brian2's `before_run` skips the spikes whose step lies before
        // the step at which the group joins the network: they never occur.
        let cursor = plan
            .spikes
            .iter()
            .take_while(|(k, _)| *k < plan.from_step)
            .count();
        GeneratorState {
            plan: plan.clone(),
            cursor,
            list: Vec::new(),
            total: 0,
        }
    }

    /// Sets `list` to the spikes of step `step`: every spike from the
    /// cursor on whose step (within the period) is not after this step's.
    /// With a period, the cursor returns to 0 when the last spike emitted
    /// lies at or after this step's position in the period — Brian2's rule,
    /// which also decides what a group declared mid-period fires first.
    /// The cost is the number of spikes, not the list's length per step.
    fn fire(&mut self, step: u64) {
        self.list.clear();
        if step < self.plan.from_step {
            return;
        }
        let spikes = &self.plan.spikes;
        let local = match self.plan.period {
            0 => step,
            p => {
                let local = step % p;
                if self.cursor > 0 && spikes[self.cursor - 1].0 >= local {
                    self.cursor = 0;
                }
                local
            }
        };
        let first = self.cursor;
        while self.cursor < spikes.len() && spikes[self.cursor].0 <= local {
            self.list.push(spikes[self.cursor].1);
            self.cursor += 1;
        }
        // Spikes of several earlier steps fire together only in the first
        // step of a group declared mid-period; the spike list must stay
        // ascending with each neuron once, as a threshold's is.
        if self.cursor > first && spikes[first].0 != local {
            self.list.sort_unstable();
            self.list.dedup();
        }
        self.total += self.list.len() as u64;
    }
}

/// One event of a group (the spike or a custom event) and its per-step
/// list of neurons.
struct EventState {
    condition: KernelId,
    effect: Option<KernelId>,
    /// Room for every neuron; the first `len` entries are the neurons for
    /// which the event occurred in the last step, ascending.
    list: Vec<u32>,
    len: usize,
    /// Events since the start of the simulation.
    total: u64,
}

impl EventState {
    fn occurred(&self) -> &[u32] {
        &self.list[..self.len]
    }
}

struct GroupState {
    size: usize,
    /// The neurons this process updates: all of them, or on one rank of
    /// several its share (`partition::Split`).
    owned: std::ops::Range<usize>,
    /// Positions, in this step's spike list, of the spikes of `owned`.
    own_spikes: std::ops::Range<usize>,
    state_update: Option<KernelId>,
    spike: Option<EventState>,
    generator: Option<GeneratorState>,
    events: Vec<EventState>,
}

impl GroupState {
    /// The neurons that spiked in the last step (threshold or generator),
    /// ascending.
    fn spikes(&self) -> &[u32] {
        if let Some(g) = &self.generator {
            return &g.list;
        }
        self.spike.as_ref().map_or(&[], EventState::occurred)
    }

    /// Whether a split run exchanges this group's spikes: a threshold's
    /// are found by each rank for its own neurons (a generator fires the
    /// same spikes on every rank).
    fn exchanged(&self) -> bool {
        self.spike.is_some() && self.generator.is_none()
    }

    fn spike_total(&self) -> u64 {
        self.generator.as_ref().map_or(0, |g| g.total) + self.spike.as_ref().map_or(0, |e| e.total)
    }
}

/// A program being simulated.
///
/// Built by [`Simulation::new`], which compiles the kernels and allocates
/// the state. The program's actions then run one at a time
/// ([`Simulation::run_next_action`]) or all together
/// ([`Simulation::run_all`]); a library user can also step the network
/// directly with [`Simulation::advance`].
pub struct Simulation {
    program: Program,
    store: ArrayStore,
    exec: Executor,
    groups: Vec<GroupState>,
    /// Parallel to `program.synapses`.
    synapses: Vec<SynapsesState>,
    /// Parallel to `program.monitors`.
    monitors: Vec<MonitorData>,
    /// Parallel to `program.monitors`: a synapse StateMonitor's indices
    /// were checked against the number of synapses (at its first sample).
    monitor_checked: Vec<bool>,
    /// Every object of a time step, in the order Brian2 runs them
    /// (`schedule::step_order`): sorted by slot, order and name, so that
    /// a synapse's clock-driven equations run before or after a neuron
    /// group's, and two pathways writing the same target variable add,
    /// as in Brian2, to the last bit. Sorted again only when a run
    /// starts for which a statement between runs moved a part
    /// (`Program::later_places`; see `begin_run`).
    steps: Vec<Step>,
    /// How many runs have started (`begin_run`), so the number of the
    /// next one.
    runs_begun: usize,
    /// The pathways triggered by source neurons, as `(synapses, None)`
    /// for `on_pre` and `(synapses, Some(k))` for `pathways[k]`, sorted
    /// by the pathway's name (`S_pre`, `S_up`): the spikes of a window
    /// are queued in this order on one rank of several.
    pre_order: Vec<(usize, Option<usize>)>,
    seed: u64,
    /// Steps completed; the current time is `step * dt`.
    step: u64,
    /// Index of the next action to run.
    next_action: usize,
    /// Steps still to run of the action before `next_action` when it was
    /// interrupted.
    unfinished_steps: u64,
    interrupt: Option<Arc<AtomicBool>>,
    /// Where the step count is published for an observer on another
    /// thread (a progress display); see `set_progress`.
    progress: Option<Arc<AtomicU64>>,
    /// Where recorded samples go once they exceed `sink_budget` bytes; without
    /// one they stay in `monitors` for the whole run.
    sink: Option<Box<dyn RecordingSink>>,
    sink_budget: usize,
    /// Bytes the simulation may use (see `set_memory_limit`).
    memory_limit: Option<u64>,
    /// Which arrays are scanned for NaN and infinite values during a run.
    divergence: DivergenceWatch,
    /// On one rank of several: the collectives and the synapses' global
    /// numbering (see `set_exchange`).
    partition: Option<PartitionState>,
    /// On one rank of several: per Synapses object, the presynaptic
    /// variables shared before each of its kernels (empty when not split).
    pre_reads: Vec<crate::partition::PreReads>,
    /// Values may have been set since the last full scan (by an action or
    /// through [`Simulation::array_mut`]).
    unscanned: bool,
    timings: Timings,
}

/// Takes monitor samples off a running [`Simulation`], so that a long
/// recording need not fit in memory (the command-line tool writes them to
/// disk as they come).
///
/// With a sink installed, the simulation hands over each monitor's samples
/// whenever the samples held by all monitors reach the budget given to
/// [`Simulation::set_recording_sink`], and when
/// [`Simulation::flush_recordings`] is called; it then drops them, so
/// [`Simulation::monitors`] holds only what was recorded since.
pub trait RecordingSink: Send + Sync {
    /// Receives the samples monitor `monitor` (an index into the program's
    /// monitors) recorded since the previous call for it, in recording
    /// order. A SpikeMonitor's `count` is the cumulative count since the
    /// start, not the chunk's. An error stops the run with
    /// [`RuntimeError::Output`].
    fn append(&mut self, monitor: usize, samples: &MonitorData) -> Result<(), String>;
}

impl Simulation {
    /// Checks the program, compiles every kernel and allocates the state:
    /// one array per [`rheobase_kernel::program::ArrayDecl`], filled with
    /// its initial value.
    /// Gives a side of `synapses[k]` made of another object's synapses
    /// its range, all of them, before `k`'s first connection. That object
    /// is declared earlier, so every one of its connections has been made
    /// and its number of synapses does not change any more.
    fn size_synapse_sides(&mut self, k: usize) {
        // On one rank of several, a side's elements are numbered globally
        // while the synapses are made (rows and draws keyed by them, as on
        // one process); the `Connect` action turns them into this rank's
        // elements of their arrays afterwards (`partition::synapse_sides`).
        let count = |side: Option<usize>| {
            side.map(|s| match &self.partition {
                Some(p) => p.global_len[s] as usize,
                None => self.synapses[s].len(),
            })
        };
        let plan = &self.program.synapses[k];
        let (source, target) = (count(plan.source_synapses), count(plan.target_synapses));
        if (source.is_none() && target.is_none()) || self.synapses[k].len() > 0 {
            return;
        }
        let plan = &mut self.program.synapses[k];
        if let Some(n) = source {
            plan.source_stop = n;
        }
        if let Some(n) = target {
            plan.target_stop = n;
        }
        self.synapses[k].resize_sides(plan);
    }

    /// On one rank of several, a `j='EXPR'` mapping from another object's
    /// synapses computes its targets over all of them, by global index:
    /// its per-synapse scratch array (an array of that object, of this
    /// rank's length) gets every synapse's element first.
    fn size_mapping_over_synapses(&mut self, k: usize, connect: usize) {
        let (Some(p), Some(s)) = (&self.partition, self.program.synapses[k].source_synapses) else {
            return;
        };
        if let ConnectPlan::Mapping { scratch, .. } = &self.program.synapses[k].connect[connect] {
            let len = (p.global_len[s] as usize).max(self.store.len_of(*scratch));
            self.store.resize(*scratch, len, 0.0);
        }
    }

    /// On one rank of several, the variables of a side made of another
    /// object's synapses that `connect:` line `connect` of `synapses[k]`
    /// reads (`connect: 'i == astrocyte_index_post'`) get, while the line
    /// is made, the values of every rank's synapses in global order, as
    /// the line numbers them; returns each array's own values, which the
    /// caller puts back afterwards. Collective (an all-gather per side
    /// whose variables the line reads, which every rank knows from the
    /// program).
    fn globalise_sides(&mut self, k: usize, connect: usize) -> Vec<(ArrayId, Vec<f64>)> {
        let mut saved = Vec::new();
        let Some(p) = &mut self.partition else {
            return saved;
        };
        let plan = &self.program.synapses[k];
        let kernels = crate::partition::connect_kernels(&plan.connect[connect]);
        for s in [plan.source_synapses, plan.target_synapses]
            .into_iter()
            .flatten()
        {
            let arrays = crate::partition::side_reads(&self.program, s, &kernels);
            if arrays.is_empty() {
                continue;
            }
            let local_len = self.synapses[s].len();
            let global = p.gather_side(s, local_len, &arrays, &self.store);
            for (a, values) in arrays.into_iter().zip(global) {
                saved.push((a, self.store.values(a).iter().collect()));
                self.store.resize(a, values.len(), 0.0);
                for (v, x) in self.store.values_mut(a).iter_mut().zip(values) {
                    *v = x;
                }
            }
        }
        saved
    }

    pub fn new(program: Program, config: RunConfig) -> Result<Simulation, RuntimeError> {
        check_structure(&program).map_err(RuntimeError::InvalidProgram)?;
        let store = ArrayStore::new(&program.arrays, &program.records());
        let max_elements = program.groups.iter().map(|g| g.size).max().unwrap_or(0);
        let (exec, compile_seconds) =
            Executor::new(&program, &store, config.threads, max_elements)?;
        check_kernel_use(&program, &exec, &store).map_err(RuntimeError::InvalidProgram)?;

        let event = |condition: KernelId, effect: Option<KernelId>, size: usize| EventState {
            condition,
            effect,
            list: vec![0; size],
            len: 0,
            total: 0,
        };
        let groups = program
            .groups
            .iter()
            .map(|g| GroupState {
                size: g.size,
                owned: 0..g.size,
                own_spikes: 0..0,
                state_update: g.state_update,
                spike: g
                    .spike
                    .as_ref()
                    .map(|e| event(e.condition, e.effect, g.size)),
                generator: g.generator.as_ref().map(GeneratorState::new),
                events: g
                    .events
                    .iter()
                    .map(|e| event(e.condition, e.effect, g.size))
                    .collect(),
            })
            .collect();
        let synapses = program
            .synapses
            .iter()
            .enumerate()
            .map(|(k, plan)| {
                let arrays = program
                    .arrays
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.synapses == Some(k))
                    .map(|(a, d)| (ArrayId(a as u32), d.initial))
                    .collect();
                SynapsesState::new(plan, arrays)
            })
            .collect();
        let monitors = program.monitors.iter().map(MonitorData::for_plan).collect();
        let monitor_checked = vec![false; program.monitors.len()];
        let steps = step_order(&program, 0);
        let pre_order = pathway_order(&program, PathwaySide::Pre);
        let threads = exec.threads();
        let divergence = DivergenceWatch::new(&program, &exec);
        Ok(Simulation {
            program,
            store,
            exec,
            groups,
            synapses,
            monitors,
            monitor_checked,
            steps,
            pre_order,
            runs_begun: 0,
            seed: config.seed,
            step: 0,
            next_action: 0,
            unfinished_steps: 0,
            interrupt: None,
            progress: None,
            sink: None,
            sink_budget: 0,
            memory_limit: None,
            divergence,
            partition: None,
            pre_reads: Vec::new(),
            unscanned: true,
            timings: Timings {
                compile_seconds,
                threads,
                ..Timings::default()
            },
        })
    }

    /// Runs the next action of the program (an initialisation or a `run`
    /// segment) and returns it, or `None` when every action has run.
    ///
    /// After [`RuntimeError::Interrupted`], calling this again finishes
    /// the interrupted `run` segment first.
    pub fn run_next_action(&mut self) -> Result<Option<&Action>, RuntimeError> {
        let result = self.run_next_action_here().map(|a| a.is_some());
        let result = self.agree(result)?;
        Ok(result
            .then(|| self.program.actions.get(self.next_action.wrapping_sub(1)))
            .flatten())
    }

    fn run_next_action_here(&mut self) -> Result<Option<&Action>, RuntimeError> {
        // Checked between actions too, so that Ctrl-C during a model's
        // set-up (long connection phases) stops before the next one.
        if self.interrupted() {
            return Err(RuntimeError::Interrupted { t: self.t() });
        }
        if self.unfinished_steps > 0 {
            let steps = self.unfinished_steps;
            self.unfinished_steps = 0;
            self.run_steps(steps)?;
            return Ok(Some(&self.program.actions[self.next_action - 1]));
        }
        let Some(action) = self.program.actions.get(self.next_action) else {
            return Ok(None);
        };
        self.next_action += 1;
        if !matches!(action, Action::Run { .. }) {
            self.unscanned = true;
        }
        // On one rank of several, a connection or synapse setting that
        // reads neuron variables changed by a run reads what their owners
        // hold, as on one process.
        if let Some(p) = &mut self.partition {
            let kernels = match action {
                Action::Connect { synapses, connect } => crate::partition::connect_kernels(
                    &self.program.synapses[*synapses].connect[*connect],
                ),
                Action::InitialiseSynapses { kernel, .. } => vec![*kernel],
                _ => Vec::new(),
            };
            if !kernels.is_empty() {
                let reads = crate::partition::action_reads(&self.program, &kernels);
                p.share(&reads, &self.program, &mut self.store);
            }
        }
        match *action {
            Action::CheckSynapseCount {
                synapses,
                values,
                ref variable,
            } => {
                // On one rank of several, the count of every rank's
                // synapses, which is what one process has.
                let made = self
                    .partition
                    .as_ref()
                    .map_or(self.synapses[synapses].len() as u64, |p| {
                        p.global_len[synapses]
                    });
                if made != values as u64 {
                    return Err(RuntimeError::ArrayLength {
                        synapses: self.program.synapses[synapses].name.clone(),
                        variable: variable.clone(),
                        values,
                        made,
                    });
                }
            }
            Action::Initialise { kernel, group } => {
                let started = Instant::now();
                let size = self.groups[group].size;
                let clock = self.clock();
                self.exec
                    .run_range(kernel, &mut self.store, 0..size, clock, None, None);
                self.timings.simulate_seconds += started.elapsed().as_secs_f64();
            }
            Action::Run { steps } => {
                if self.sink.is_none() {
                    self.reserve_samples(steps);
                }
                self.begin_run();
                self.run_steps(steps)?;
            }
            Action::Connect { synapses, connect } => {
                let started = Instant::now();
                self.size_synapse_sides(synapses);
                self.size_mapping_over_synapses(synapses, connect);
                let clock = self.clock();
                let budget = self.connect_budget(synapses);
                let plan = &self.program.synapses[synapses];
                // The local synapses of a side made of synapses, on one
                // rank of several.
                let side_len = |side: Option<usize>| side.map(|s| self.synapses[s].len());
                let (source_len, target_len) = (
                    side_len(plan.source_synapses),
                    side_len(plan.target_synapses),
                );
                let saved = self.globalise_sides(synapses, connect);
                let plan = &self.program.synapses[synapses];
                let mut made = make_connections(
                    plan,
                    connect,
                    &mut self.exec,
                    &mut self.store,
                    clock,
                    &budget,
                );
                for (a, values) in saved {
                    self.store.resize(a, values.len(), 0.0);
                    for (v, x) in self.store.values_mut(a).iter_mut().zip(values) {
                        *v = x;
                    }
                }
                let state = &mut self.synapses[synapses];
                let partition = &mut self.partition;
                let local = state.len();
                let mut rows = Vec::new();
                if let Some(p) = partition.as_mut() {
                    // Sides made of synapses were numbered globally; the
                    // synapses' indices become this rank's elements of
                    // their arrays (`partition::synapse_sides`).
                    let (mut pre_bound, mut post_bound) = state.pairs.bounds();
                    if let (Some(s), Some(len)) = (plan.source_synapses, source_len) {
                        // Collective, whatever the line's outcome.
                        let mut none = Vec::new();
                        let pre = match &mut made {
                            Ok((pre, _, _)) => pre,
                            Err(_) => &mut none,
                        };
                        p.add_ghosts(s, len, pre);
                        pre_bound = len + p.ghost_len(s);
                        for &a in &p.ghost_arrays[s] {
                            let initial = self.program.arrays[a.0 as usize].initial;
                            self.store.resize(a, pre_bound, initial);
                        }
                    }
                    if let (Some(s), Some(len)) = (plan.target_synapses, target_len) {
                        if let Ok((_, post, _)) = &mut made {
                            p.localise_held(s, post);
                        }
                        post_bound = len;
                    }
                    state.pairs.set_bounds(pre_bound, post_bound);
                }
                let result = made.and_then(|(pre, post, place)| {
                    state.append(plan, &pre, &post, &mut self.store)?;
                    match (partition.as_mut(), place) {
                        (Some(p), Placement::Runs(runs)) => p.add_runs(synapses, local, &runs),
                        (_, Placement::Rows(counts)) => rows = counts,
                        (None, Placement::Runs(_)) => {}
                    }
                    Ok(())
                });
                if let Some(p) = partition {
                    // Collective for every line placed by row, which every
                    // rank knows from the program alone.
                    if crate::synapses::placed_by_row(plan, connect) {
                        p.place_rows(synapses, local, &rows);
                    }
                    // `N_outgoing` counts the synapses of every rank.
                    p.count_outgoing(plan, state, &mut self.store, source_len);
                    p.count_synapses(synapses, plan, &mut self.store);
                }
                let seconds = started.elapsed().as_secs_f64();
                state.connect_seconds += seconds;
                self.timings.connect_seconds += seconds;
                if result.as_ref().is_err_and(|m| m == CONNECT_INTERRUPTED) {
                    // Nothing was appended; resuming makes this line again.
                    self.next_action -= 1;
                    return Err(RuntimeError::Interrupted { t: self.t() });
                }
                result.map_err(|message| RuntimeError::Connect {
                    synapses: plan.name.clone(),
                    message,
                })?;
            }
            Action::InitialiseSynapses { kernel, synapses } => {
                let started = Instant::now();
                let clock = self.clock();
                let state = &self.synapses[synapses];
                ranks::run_synapse_range(
                    &mut self.exec,
                    &self.program,
                    self.partition.as_ref(),
                    kernel,
                    &mut self.store,
                    (synapses, state),
                    clock,
                );
                self.timings.simulate_seconds += started.elapsed().as_secs_f64();
            }
        }
        Ok(Some(&self.program.actions[self.next_action - 1]))
    }

    /// If the next action is a `run` segment (not one interrupted part-way),
    /// moves past it without simulating and returns its number of steps,
    /// so that a caller can simulate them itself with [`Simulation::advance`]
    /// (in slices, checking for interrupts of its own between them).
    pub fn skip_run_action(&mut self) -> Option<u64> {
        if self.unfinished_steps > 0 {
            return None;
        }
        match self.program.actions.get(self.next_action) {
            Some(Action::Run { steps }) => {
                self.next_action += 1;
                let steps = *steps;
                self.begin_run();
                Some(steps)
            }
            _ => None,
        }
    }

    /// What Brian2 does when a `run` ends (its thresholders' `after_code`):
    /// it empties the spike and custom events' lists, which an
    /// EventMonitor of a subgroup (see `MonitoredEvent::before_evaluation`)
    /// or a monitor given a `when:` before the thresholds reads before they
    /// are found again, so that in the first step of every run it records
    /// nothing. A SpikeGeneratorGroup's list is kept, as Brian2 keeps it.
    /// Library callers that run by duration instead of by the script's
    /// `run` lines call it at the start of each of their runs.
    ///
    /// A statement between runs that moved a part (`S.pre.when = ...`
    /// after a `run`) takes effect here, as Brian2 sorts its objects
    /// again in `Network.before_run`; the step's order is sorted again
    /// only then, so that runs without such a statement keep theirs.
    pub fn begin_run(&mut self) {
        let run = self.runs_begun;
        self.runs_begun += 1;
        if run > 0 && self.program.later_places.iter().any(|&(r, _, _)| r == run) {
            self.steps = step_order(&self.program, run);
            let shifted = self.shifted_pathways();
            if let Some(p) = &mut self.partition {
                p.shifted = shifted;
            }
        }
        for g in &mut self.groups {
            for event in g.events.iter_mut().chain(g.spike.as_mut()) {
                event.len = 0;
            }
            // On one rank of several, a resetter placed before the
            // thresholds reads this rank's share of the emptied list.
            g.own_spikes = 0..0;
        }
    }

    /// The next action [`Simulation::run_next_action`] would run, or `None`
    /// when every action has run or a `run` segment is part-way done.
    pub fn next_action(&self) -> Option<&Action> {
        if self.unfinished_steps > 0 {
            return None;
        }
        self.program.actions.get(self.next_action)
    }

    /// Drops every sample the monitors hold (a SpikeMonitor's per-neuron
    /// `count` too), as if recording had started now.
    pub fn clear_monitors(&mut self) {
        for data in &mut self.monitors {
            data.clear_samples();
            if let MonitorData::Spike { count, .. } = data {
                count.iter_mut().for_each(|c| *c = 0);
            }
        }
    }

    /// Runs every remaining action.
    pub fn run_all(&mut self) -> Result<(), RuntimeError> {
        while self.run_next_action()?.is_some() {}
        Ok(())
    }

    /// Simulates `steps` time steps from the current time.
    ///
    /// Stops early with [`RuntimeError::Interrupted`] when the interrupt
    /// flag is raised; the state is then consistent (whole steps only).
    pub fn advance(&mut self, steps: u64) -> Result<(), RuntimeError> {
        let done = self.simulate(steps)?;
        if done < steps {
            return Err(RuntimeError::Interrupted { t: self.t() });
        }
        Ok(())
    }

    /// Simulates up to `steps` steps, fewer if interrupted; returns the
    /// number simulated.
    fn simulate(&mut self, steps: u64) -> Result<u64, RuntimeError> {
        let started = Instant::now();
        // An error is not returned at once: on one rank of several, the
        // others learn of it at the next agreement below.
        let delays = self.prepare_delays();
        self.divergence.size_synapses(&self.store);
        let result = if delays.is_err() {
            delays
        } else if self.unscanned {
            // Values set since the last scan (initialisation, assignments,
            // a library user's writes) are scanned once before stepping.
            self.unscanned = false;
            self.report(DivergenceWatch::scan_all(&self.program, &self.store), true)
        } else {
            Ok(())
        };
        // On one rank of several: the OR of every rank's flags, as last
        // agreed.
        let mut agreed = 0;
        if self.partition.is_some() {
            // Every rank must use the same windows, so each takes part in
            // agreeing on them even when its delays are in error.
            let local = if result.is_ok() {
                self.min_delay_between_ranks()
            } else {
                0
            };
            let flags = self.local_flags(result.is_err());
            if let Some(p) = &mut self.partition {
                agreed = p.agree_split(local, flags);
            }
        }
        // With overlap, the windows run in `overlap.rs`'s loop instead,
        // whose windows count the steps of one clock (several clocks keep
        // the blocking windows, which count ticks).
        let overlapped = self.program.clocks.len() <= 1
            && self.partition.as_ref().is_some_and(|p| p.overlapping());
        let (done, result) = if overlapped {
            self.simulate_overlapped(steps, result, agreed)
        } else {
            self.simulate_windows(steps, result, agreed)
        };
        // What monitors recording after the window's exchange recorded in
        // the last step travels in one more exchange, on every rank.
        let flags = self.local_flags(result.is_err());
        if let Some(p) = self.partition.as_mut().filter(|p| p.late_recorded) {
            p.exchange_tail(flags);
            schedule::record_window(p, &self.program, &mut self.monitors);
        }
        self.timings.simulate_seconds += started.elapsed().as_secs_f64();
        result.map(|()| done)
    }

    /// The windows of a run (one step each on one process, see
    /// `crate::partition` on several ranks): returns the steps simulated
    /// and the outcome. `result` and `agreed` are the run's outcome and
    /// flags so far.
    fn simulate_windows(
        &mut self,
        steps: u64,
        mut result: Result<(), RuntimeError>,
        mut agreed: u32,
    ) -> (u64, Result<(), RuntimeError>) {
        let mut done = 0;
        let mut must_agree = false;
        loop {
            if self.partition.is_some() {
                if self.agree_before_window(
                    &mut must_agree,
                    &mut agreed,
                    &mut result,
                    done >= steps,
                ) {
                    break;
                }
            } else if done >= steps || result.is_err() || self.interrupted() {
                break;
            }
            // On one process a window is one step. Windows end at every
            // divergence check, so that the checks (and the flushes of
            // recordings) see the state of the same steps as on one
            // process.
            let to_check =
                crate::DIVERGENCE_CHECK_STEPS - self.step % crate::DIVERGENCE_CHECK_STEPS;
            let flags = self.local_flags(false);
            let window = match &mut self.partition {
                Some(p) => {
                    let window = p.window().min(steps - done).min(to_check);
                    p.begin_window(self.step, self.step + window, flags);
                    window
                }
                None => 1,
            };
            for _ in 0..window {
                result = self.one_step();
                if result.is_err() {
                    break;
                }
                done += 1;
                if let Some(progress) = &self.progress {
                    // One relaxed store per step: nothing next to a step's
                    // kernels, and the observer never blocks the loop.
                    progress.store(self.step, Ordering::Relaxed);
                }
            }
            if let Some(p) = &mut self.partition {
                p.finish_window();
                agreed = p.window_flags;
                if p.window_flags & FLAG_FAILED != 0 && result.is_ok() {
                    result = Err(RuntimeError::OtherRank { t: self.t() });
                }
            }
            if result.is_err() {
                continue;
            }
            result = self.after_window(done == steps, &mut must_agree);
        }
        (done, result)
    }

    /// On one rank of several, before a window: every rank takes the same
    /// steps, so the run stops after the same window on all of them when
    /// any is interrupted or has failed. The flags travel in each window's
    /// message (`agreed`); only after a check or flush (`must_agree`) do
    /// the ranks agree apart. Returns whether the run stops here
    /// (`finished`: its steps are done).
    fn agree_before_window(
        &mut self,
        must_agree: &mut bool,
        agreed: &mut u32,
        result: &mut Result<(), RuntimeError>,
        finished: bool,
    ) -> bool {
        if *must_agree {
            let flags = self.local_flags(result.is_err());
            *agreed = self.partition_any(flags);
            *must_agree = false;
        }
        if *agreed & FLAG_FAILED != 0 && result.is_ok() {
            *result = Err(RuntimeError::OtherRank { t: self.t() });
        }
        *agreed & FLAG_INTERRUPTED != 0 || finished || result.is_err()
    }

    /// Converts every delayed pathway's delays to steps (Brian2 does this
    /// at the start of each run, so delays may change between runs; spikes
    /// already queued keep the step they are due at).
    fn prepare_delays(&mut self) -> Result<(), RuntimeError> {
        for k in 0..self.synapses.len() {
            let plan = &self.program.synapses[k];
            let default = plan.on_pre.map(|_| (None, plan.delay));
            let named = plan
                .pathways
                .iter()
                .enumerate()
                .map(|(p, pathway)| (Some(p), pathway.delay));
            for (which, delay) in default.into_iter().chain(named) {
                let free_bytes = self.memory_free();
                // A pathway runs on its triggering side's clock, and its
                // delays count that clock's steps (Brian2's
                // `queue.prepare(..., source.clock.dt_)`); its next step
                // is the first at or after the current tick.
                let (dt, step) = if self.program.clocks.len() > 1 {
                    let side = match which {
                        Some(p) if plan.pathways[p].side == PathwaySide::Post => plan.target,
                        _ => plan.source,
                    };
                    let clock = self.program.clocks[self.program.groups[side].clock];
                    (clock.dt, self.step.div_ceil(clock.every))
                } else {
                    (self.program.dt, self.step)
                };
                self.synapses[k]
                    .prepare_delays(which, self.store.get(delay), dt, step, free_bytes)
                    .map_err(|message| RuntimeError::Delay {
                        synapses: plan.name.clone(),
                        message,
                    })?;
            }
        }
        Ok(())
    }

    /// The shortest delay, in ticks, of this rank's synapses whose source
    /// neuron another rank owns, over every pathway from the source side
    /// whose trigger is exchanged: the spikes of a group with a threshold,
    /// or a custom event (`u32::MAX` when there is none). A pathway runs
    /// on its source's clock, so its delay in ticks is its delay in that
    /// clock's steps times the clock's ticks per step.
    fn min_delay_between_ranks(&self) -> u32 {
        self.pre_order
            .iter()
            .filter_map(|&(k, which)| {
                let plan = &self.program.synapses[k];
                let event = match which {
                    None => plan.pre_event,
                    Some(w) => plan.pathways[w].event,
                };
                let source = &self.groups[plan.source];
                let every = self
                    .program
                    .clocks
                    .get(self.program.groups[plan.source].clock)
                    .map_or(1, |c| c.every);
                (event.is_some() || source.exchanged())
                    .then(|| self.synapses[k].min_delay_from_outside(which, &source.owned))
                    .flatten()
                    .map(|d| u64::from(d).saturating_mul(every).min(u64::from(u32::MAX)) as u32)
            })
            .min()
            .unwrap_or(u32::MAX)
    }

    /// What follows a window's end (every step on one process): the
    /// recordings handed over to disk when they exceed their budget, and
    /// the divergence check every `DIVERGENCE_CHECK_STEPS` steps and at a
    /// run's `last`; either makes the ranks agree on their flags before
    /// the next window (`must_agree`).
    fn after_window(&mut self, last: bool, must_agree: &mut bool) -> Result<(), RuntimeError> {
        if self.sink.is_some() && self.held_bytes() >= self.sink_budget {
            *must_agree = true;
            self.flush_recordings()?;
        }
        if self.step % crate::DIVERGENCE_CHECK_STEPS == 0 || last {
            *must_agree = true;
            let check = self.step / crate::DIVERGENCE_CHECK_STEPS;
            return self.report(self.divergence.scan(&self.store, check, last), false);
        }
        Ok(())
    }

    /// Turns a value found by the divergence watch into the error that
    /// names its group, variable, element and the current time.
    /// `before_steps`: found by the scan before a run's first step.
    fn report(&self, found: Option<NonFinite>, before_steps: bool) -> Result<(), RuntimeError> {
        let Some(found) = found else { return Ok(()) };
        let decl = &self.program.arrays[found.array.0 as usize];
        let (group, variable) = decl.name.split_once('.').unwrap_or(("?", &decl.name));
        Err(RuntimeError::Diverged {
            group: group.to_string(),
            variable: variable.to_string(),
            index: found.index,
            value: found.value,
            t: self.t(),
            synapse: decl.synapses.is_some(),
            before_steps,
        })
    }

    /// Runs `steps` steps of the current `run` action, remembering what
    /// is left if interrupted so that `run_next_action` can resume.
    fn run_steps(&mut self, steps: u64) -> Result<(), RuntimeError> {
        let done = self.simulate(steps)?;
        if done < steps {
            self.unfinished_steps = steps - done;
            return Err(RuntimeError::Interrupted { t: self.t() });
        }
        Ok(())
    }

    /// Sends recorded samples to `sink` whenever the monitors hold
    /// `budget_bytes` or more (counted at 8 bytes per value), instead of
    /// keeping the whole recording in memory. A budget of 0 hands over
    /// every step's samples.
    pub fn set_recording_sink(&mut self, sink: Box<dyn RecordingSink>, budget_bytes: usize) {
        self.sink = Some(sink);
        self.sink_budget = budget_bytes;
    }

    /// Hands every monitor's held samples to the recording sink, if one is
    /// installed (otherwise does nothing). Call it after the run, whatever
    /// its outcome, so the sink has everything recorded.
    pub fn flush_recordings(&mut self) -> Result<(), RuntimeError> {
        if self.sink.is_none() {
            return Ok(());
        }
        if !self.gather_recordings() {
            // Another rank writes the merged samples.
            self.monitors
                .iter_mut()
                .for_each(MonitorData::clear_samples);
            return Ok(());
        }
        let Some(sink) = self.sink.as_mut() else {
            return Ok(());
        };
        for (k, data) in self.monitors.iter_mut().enumerate() {
            if !data.holds_samples() {
                continue;
            }
            sink.append(k, data)
                .map_err(|message| RuntimeError::Output {
                    monitor: data.name().to_string(),
                    message,
                })?;
            data.clear_samples();
        }
        Ok(())
    }

    /// Limits the memory the simulation may use to `bytes`: connections
    /// that would make more synapses than fit are refused with an error
    /// instead of exhausting the machine. Without a limit, only the
    /// synapse count's own bound (2^32) applies.
    pub fn set_memory_limit(&mut self, bytes: u64) {
        self.memory_limit = Some(bytes);
    }

    /// Bytes left under the memory limit by the state and the synapses.
    fn memory_free(&self) -> u64 {
        let used =
            self.store.bytes() as u64 + self.synapses.iter().map(|s| s.bytes() as u64).sum::<u64>();
        self.memory_limit
            .map_or(u64::MAX, |limit| limit.saturating_sub(used))
    }

    /// What `connect:` lines of Synapses object `k` may use now.
    fn connect_budget(&self, k: usize) -> ConnectBudget {
        // Per synapse: its arrays, the pre/post indices and the two indexes
        // (16 bytes), the delay in steps (4), and the pre/post lists the
        // connection is built in before it is appended (8).
        let arrays = self
            .program
            .arrays
            .iter()
            .filter(|a| a.synapses == Some(k))
            .count();
        let bytes_per_synapse = arrays * 8 + 28;
        let free_bytes = self.memory_free();
        ConnectBudget {
            max_synapses: usize::try_from(free_bytes / bytes_per_synapse as u64)
                .unwrap_or(usize::MAX),
            bytes_per_synapse,
            free_bytes,
            interrupt: self.interrupt.clone(),
            owned_targets: self.partition.as_ref().map(|p| {
                let plan = &self.program.synapses[k];
                if let Some(s) = plan.target_synapses {
                    return OwnedTargets::Synapses(p.held_globals(s));
                }
                // The split is of the whole target group (a Synapses
                // object may target a slice of it).
                let own = p.owners.range(plan.target, p.rank());
                OwnedTargets::Neurons(own.start as u32..own.end as u32)
            }),
        }
    }

    /// Bytes of samples the monitors hold (8 per value).
    fn held_bytes(&self) -> usize {
        self.monitors.iter().map(MonitorData::held_bytes).sum()
    }

    /// This rank's flags for an agreement on stopping: whether it was
    /// interrupted, and whether it `failed`.
    fn local_flags(&self, failed: bool) -> u32 {
        (u32::from(self.interrupted()) * FLAG_INTERRUPTED) | (u32::from(failed) * FLAG_FAILED)
    }

    /// Whether the interrupt flag is raised.
    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Installs a flag that, once set (e.g. by a Ctrl+C handler), stops
    /// the run after the current time step.
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// Installs a counter that the step loop keeps equal to
    /// [`step`](Self::step) as it runs, so another thread can show progress
    /// without touching the simulation.
    pub fn set_progress(&mut self, steps: Arc<AtomicU64>) {
        steps.store(self.step, Ordering::Relaxed);
        self.progress = Some(steps);
    }

    /// Current simulated time, seconds: exactly `step() as f64 * dt`.
    pub fn t(&self) -> f64 {
        self.step as f64 * self.program.dt
    }

    /// Number of time steps simulated so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Number of time steps the program's remaining actions will run.
    pub fn remaining_steps(&self) -> u64 {
        self.unfinished_steps
            + self.program.actions[self.next_action..]
                .iter()
                .map(|a| match a {
                    Action::Run { steps } => *steps,
                    _ => 0,
                })
                .sum::<u64>()
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The values of an array: borrowed where they are stored on their
    /// own, copied out of their record where they are interleaved (see
    /// `Program::records`).
    ///
    /// # Panics
    /// If `id` is not an array of the program.
    pub fn array(&self, id: ArrayId) -> Cow<'_, [f64]> {
        self.store.values(id).to_cow()
    }

    /// The values of an array, for changing them between steps.
    ///
    /// # Panics
    /// If `id` is not an array of the program.
    pub fn array_mut(&mut self, id: ArrayId) -> ValuesMut<'_> {
        self.unscanned = true;
        self.store.values_mut(id)
    }

    /// The values of variable `var` of group `group`, if both exist.
    pub fn variable(&self, group: &str, var: &str) -> Option<Cow<'_, [f64]>> {
        let g = self.program.groups.iter().find(|g| g.name == group)?;
        let (_, id) = g.variables.iter().find(|(name, _)| name == var)?;
        Some(self.array(*id))
    }

    /// The values of variable `var` of Synapses object `synapses` (one per
    /// synapse, or one for a shared variable), if both exist.
    pub fn synapse_variable(&self, synapses: &str, var: &str) -> Option<Cow<'_, [f64]>> {
        let s = self.program.synapses.iter().find(|s| s.name == synapses)?;
        let (_, id) = s.variables.iter().find(|(name, _)| name == var)?;
        Some(self.array(*id))
    }

    /// The presynaptic and postsynaptic neurons (absolute indices in the
    /// source and target groups) of every synapse of `synapses[synapses]`,
    /// in synapse order.
    ///
    /// # Panics
    /// If there is no such Synapses object.
    pub fn connections(&self, synapses: usize) -> (&[u32], &[u32]) {
        let s = &self.synapses[synapses];
        (s.pairs.pre(), s.pairs.post())
    }

    /// Number of synapses, memory and connection time of every Synapses
    /// object, in program order.
    pub fn synapse_stats(&self) -> Vec<SynapseStats> {
        self.program
            .synapses
            .iter()
            .zip(&self.synapses)
            .map(|(plan, s)| SynapseStats {
                name: plan.name.clone(),
                synapses: s.len(),
                bytes: s.bytes(),
                connect_seconds: s.connect_seconds,
                events: s.events,
            })
            .collect()
    }

    /// Where the machine code of every compiled kernel lies, so that a
    /// profiler can name it (the CLI's `--perf-map` writes these as a perf
    /// map). The code stays where it is for the simulation's lifetime.
    pub fn kernel_code(&self) -> Vec<KernelCode> {
        self.exec.kernel_code()
    }

    /// What each monitor recorded, in the program's monitor order (with a
    /// recording sink installed: what it recorded since the last hand-over).
    pub fn monitors(&self) -> &[MonitorData] {
        &self.monitors
    }

    /// Total number of spikes of each group since the start, in group
    /// order (0 for groups without a threshold).
    pub fn spike_counts(&self) -> Vec<(String, u64)> {
        self.program
            .groups
            .iter()
            .zip(&self.groups)
            .map(|(plan, g)| (plan.name.clone(), g.spike_total()))
            .collect()
    }

    /// The neurons of group `group` (index into the program's groups) that
    /// spiked in the last step (threshold or spike generator), ascending.
    pub fn last_spikes(&self, group: usize) -> &[u32] {
        self.groups[group].spikes()
    }

    /// The neurons of group `group` for which its custom event `event`
    /// (index into the group's events) occurred in the last step (on one
    /// rank of several, those of the neurons it owns).
    pub fn last_events(&self, group: usize, event: usize) -> &[u32] {
        self.groups[group].events[event].occurred()
    }

    pub fn timings(&self) -> Timings {
        Timings {
            steps: self.step,
            ..self.timings
        }
    }

    fn clock(&self) -> Clock {
        Clock {
            t: self.t(),
            dt: self.program.dt,
            step: self.step,
            seed: self.seed,
            tick: self.step,
        }
    }

    /// Reserves monitor memory for a run of `steps` steps from now.
    fn reserve_samples(&mut self, steps: u64) {
        for (plan, data) in self.program.monitors.iter().zip(&mut self.monitors) {
            let samples = match plan {
                // Samples at steps s in [step, step + steps) with s % every == 0.
                MonitorPlan::State {
                    every, from_step, ..
                } => {
                    let from = self.step.max(*from_step);
                    (self.step + steps).max(from).div_ceil(*every) - from.div_ceil(*every)
                }
                MonitorPlan::Rate { .. } => steps,
                MonitorPlan::Spike { .. } => 0,
            };
            data.reserve(usize::try_from(samples).unwrap_or(usize::MAX));
        }
    }
}
