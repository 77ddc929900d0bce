//! The simulation: state, the action list and Brian2's step schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rheobase_kernel::program::{
    Action, ConnectPlan, GeneratorPlan, KernelId, MonitorPlan, Multiplicity, Program,
};
use rheobase_kernel::{ArrayId, Iteration};

use crate::exec::{ArrayStore, Clock, Executor};
use crate::synapses::{make_connections, ConnectBudget, SynapsesState, CONNECT_INTERRUPTED};
use crate::{MonitorData, RuntimeError};

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
}

/// A SpikeGeneratorGroup's spike list and where the next step's spikes
/// start in it.
struct GeneratorState {
    plan: GeneratorPlan,
    /// Index of the first spike of `plan.spikes` not yet emitted in the
    /// current period.
    cursor: usize,
    /// The period `cursor` refers to.
    cursor_period: u64,
    /// This step's spikes, ascending.
    list: Vec<u32>,
    total: u64,
}

impl GeneratorState {
    fn new(plan: &GeneratorPlan) -> GeneratorState {
        GeneratorState {
            plan: plan.clone(),
            cursor: 0,
            cursor_period: 0,
            list: Vec::new(),
            total: 0,
        }
    }

    /// Sets `list` to the spikes of step `step`. Steps only increase, so
    /// the cursor moves forward (and back to 0 at each new period): the
    /// cost is the number of spikes, not the list's length per step.
    fn fire(&mut self, step: u64) {
        self.list.clear();
        let (period, local) = match self.plan.period {
            0 => (0, step),
            p => (step / p, step % p),
        };
        if period != self.cursor_period {
            self.cursor = 0;
            self.cursor_period = period;
        }
        let spikes = &self.plan.spikes;
        while self.cursor < spikes.len() && spikes[self.cursor].0 < local {
            self.cursor += 1;
        }
        while self.cursor < spikes.len() && spikes[self.cursor].0 == local {
            self.list.push(spikes[self.cursor].1);
            self.cursor += 1;
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
    /// The state updaters of the `groups` slot in Brian2's order: objects
    /// of one slot and order run sorted by name (`G_stateupdater`,
    /// `S_stateupdater`), so a synapse's clock-driven equations may run
    /// before or after a neuron group's, as in Brian2.
    update_order: Vec<Updater>,
    /// The Synapses objects with `on_pre` (resp. `on_post`) code in the
    /// order Brian2 runs their pathways: sorted by the pathway's name,
    /// `S_pre` (resp. `S_post`). Two pathways writing the same target
    /// variable then add in Brian2's order, to the last bit.
    pre_order: Vec<usize>,
    post_order: Vec<usize>,
    seed: u64,
    /// Steps completed; the current time is `step * dt`.
    step: u64,
    /// Index of the next action to run.
    next_action: usize,
    /// Steps still to run of the action before `next_action` when it was
    /// interrupted.
    unfinished_steps: u64,
    interrupt: Option<Arc<AtomicBool>>,
    /// Where recorded samples go once they exceed `sink_budget` bytes; without
    /// one they stay in `monitors` for the whole run.
    sink: Option<Box<dyn RecordingSink>>,
    sink_budget: usize,
    /// Bytes the simulation may use (see `set_memory_limit`).
    memory_limit: Option<u64>,
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
    pub fn new(program: Program, config: RunConfig) -> Result<Simulation, RuntimeError> {
        check_structure(&program).map_err(RuntimeError::InvalidProgram)?;
        let store = ArrayStore::new(&program.arrays);
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
        let update_order = update_order(&program);
        let pre_order = pathway_order(&program, "_pre", |s| s.on_pre.is_some());
        let post_order = pathway_order(&program, "_post", |s| s.on_post.is_some());
        let threads = exec.threads();
        Ok(Simulation {
            program,
            store,
            exec,
            groups,
            synapses,
            monitors,
            monitor_checked,
            update_order,
            pre_order,
            post_order,
            seed: config.seed,
            step: 0,
            next_action: 0,
            unfinished_steps: 0,
            interrupt: None,
            sink: None,
            sink_budget: 0,
            memory_limit: None,
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
        match *action {
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
                self.run_steps(steps)?;
            }
            Action::Connect { synapses, connect } => {
                let started = Instant::now();
                let clock = self.clock();
                let budget = self.connect_budget(synapses);
                let plan = &self.program.synapses[synapses];
                let state = &mut self.synapses[synapses];
                let result = make_connections(
                    plan,
                    connect,
                    &mut self.exec,
                    &mut self.store,
                    clock,
                    &budget,
                )
                .and_then(|(pre, post)| state.append(plan, &pre, &post, &mut self.store));
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
                self.exec.run_range(
                    kernel,
                    &mut self.store,
                    0..state.len(),
                    clock,
                    Some(&state.pairs),
                    None,
                );
                self.timings.simulate_seconds += started.elapsed().as_secs_f64();
            }
        }
        Ok(Some(&self.program.actions[self.next_action - 1]))
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
        self.prepare_delays()?;
        let mut done = 0;
        let mut result = Ok(());
        while done < steps {
            if self.interrupted() {
                break;
            }
            result = self.one_step();
            if result.is_err() {
                break;
            }
            done += 1;
            if self.sink.is_some() && self.held_bytes() >= self.sink_budget {
                result = self.flush_recordings();
                if result.is_err() {
                    break;
                }
            }
            if done % crate::DIVERGENCE_CHECK_STEPS == 0 || done == steps {
                result = self.check_finite();
                if result.is_err() {
                    break;
                }
            }
        }
        self.timings.simulate_seconds += started.elapsed().as_secs_f64();
        result.map(|()| done)
    }

    /// Converts every `pre` pathway's delays to steps (Brian2 does this at
    /// the start of each run, so delays may change between runs; spikes
    /// already queued keep the step they are due at).
    fn prepare_delays(&mut self) -> Result<(), RuntimeError> {
        for (plan, state) in self.program.synapses.iter().zip(&mut self.synapses) {
            if plan.on_pre.is_none() {
                continue;
            }
            state
                .prepare_delays(self.store.get(plan.delay), self.program.dt, self.step)
                .map_err(|message| RuntimeError::Delay {
                    synapses: plan.name.clone(),
                    message,
                })?;
        }
        Ok(())
    }

    /// Finds the first state value that is NaN or infinite. A scan of the
    /// state every few hundred steps costs far less than the steps
    /// themselves, and reports divergence soon enough to be useful.
    fn check_finite(&self) -> Result<(), RuntimeError> {
        for (k, decl) in self.program.arrays.iter().enumerate() {
            if decl.kind != rheobase_kernel::program::ValueKind::Float {
                continue;
            }
            let values = self.store.get(ArrayId(k as u32));
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                let (group, variable) = decl.name.split_once('.').unwrap_or(("?", &decl.name));
                return Err(RuntimeError::Diverged {
                    group: group.to_string(),
                    variable: variable.to_string(),
                    index,
                    value: values[index],
                    t: self.t(),
                });
            }
        }
        Ok(())
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
        let used =
            self.store.bytes() as u64 + self.synapses.iter().map(|s| s.bytes() as u64).sum::<u64>();
        let free_bytes = self
            .memory_limit
            .map_or(u64::MAX, |limit| limit.saturating_sub(used));
        ConnectBudget {
            max_synapses: usize::try_from(free_bytes / bytes_per_synapse as u64)
                .unwrap_or(usize::MAX),
            bytes_per_synapse,
            free_bytes,
            interrupt: self.interrupt.clone(),
        }
    }

    /// Bytes of samples the monitors hold (8 per value).
    fn held_bytes(&self) -> usize {
        self.monitors.iter().map(MonitorData::held_bytes).sum()
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

    /// The values of an array.
    ///
    /// # Panics
    /// If `id` is not an array of the program.
    pub fn array(&self, id: ArrayId) -> &[f64] {
        self.store.get(id)
    }

    /// The values of an array, for changing them between steps.
    ///
    /// # Panics
    /// If `id` is not an array of the program.
    pub fn array_mut(&mut self, id: ArrayId) -> &mut [f64] {
        self.store.get_mut(id)
    }

    /// The values of variable `var` of group `group`, if both exist.
    pub fn variable(&self, group: &str, var: &str) -> Option<&[f64]> {
        let g = self.program.groups.iter().find(|g| g.name == group)?;
        let (_, id) = g.variables.iter().find(|(name, _)| name == var)?;
        Some(self.store.get(*id))
    }

    /// The values of variable `var` of Synapses object `synapses` (one per
    /// synapse, or one for a shared variable), if both exist.
    pub fn synapse_variable(&self, synapses: &str, var: &str) -> Option<&[f64]> {
        let s = self.program.synapses.iter().find(|s| s.name == synapses)?;
        let (_, id) = s.variables.iter().find(|(name, _)| name == var)?;
        Some(self.store.get(*id))
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
            })
            .collect()
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
    /// (index into the group's events) occurred in the last step.
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

    /// One time step, in Brian2's schedule: start, groups, thresholds,
    /// after_thresholds, synapses, resets, after_resets, end. Within a
    /// slot, objects run in program order.
    fn one_step(&mut self) -> Result<(), RuntimeError> {
        let clock = self.clock();
        let Simulation {
            program,
            store,
            exec,
            groups,
            synapses,
            monitors,
            monitor_checked,
            update_order,
            pre_order,
            post_order,
            ..
        } = self;

        // start: StateMonitors sample the state before this step changes it.
        for ((plan, data), checked) in program
            .monitors
            .iter()
            .zip(monitors.iter_mut())
            .zip(monitor_checked.iter_mut())
        {
            if let MonitorPlan::State {
                name,
                group,
                synapses: recorded_synapses,
                variables,
                record,
                every,
                prepare,
                record_all_synapses,
                ..
            } = plan
            {
                if clock.step % every != 0 || !plan.active_at(clock.step) {
                    continue;
                }
                match recorded_synapses {
                    None => {
                        if let Some(kernel) = *prepare {
                            exec.run_range(
                                kernel,
                                store,
                                0..groups[*group].size,
                                clock,
                                None,
                                None,
                            );
                        }
                    }
                    Some(s) => {
                        let state = &synapses[*s];
                        if *record_all_synapses && !*checked {
                            data.set_record((0..state.len()).collect());
                        }
                        if !*checked {
                            if let Some(&i) = record.iter().find(|&&i| i >= state.len()) {
                                return Err(RuntimeError::Record {
                                    monitor: name.clone(),
                                    message: format!(
                                        "it records synapse {i} of `{}`, which has {} synapses",
                                        program.synapses[*s].name,
                                        state.len()
                                    ),
                                });
                            }
                            *checked = true;
                        }
                        if let Some(kernel) = *prepare {
                            exec.run_range(
                                kernel,
                                store,
                                0..state.len(),
                                clock,
                                Some(&state.pairs),
                                None,
                            );
                        }
                    }
                }
                data.record_state(store, clock.t, variables);
            }
        }

        // groups: summed variables (order -1), then the groups' state
        // updates, then the synapses' (order 0).
        for (plan, state) in program.synapses.iter().zip(synapses.iter()) {
            for summed in &plan.summed {
                exec.run_range(
                    summed.kernel,
                    store,
                    0..state.len(),
                    clock,
                    Some(&state.pairs),
                    None,
                );
                let (terms, target) = store.read_write(summed.scratch, summed.target);
                target[plan.target_start..plan.target_stop].fill(0.0);
                for (&term, &j) in terms.iter().zip(state.pairs.post()) {
                    target[j as usize] += term;
                }
            }
        }
        for updater in update_order.iter() {
            match *updater {
                Updater::Group(k) => {
                    let g = &groups[k];
                    if let Some(kernel) = g.state_update {
                        exec.run_range(kernel, store, 0..g.size, clock, None, None);
                    }
                }
                Updater::Synapses(k) => {
                    let state = &synapses[k];
                    if let Some(kernel) = program.synapses[k].state_update {
                        exec.run_range(
                            kernel,
                            store,
                            0..state.len(),
                            clock,
                            Some(&state.pairs),
                            None,
                        );
                    }
                }
            }
        }

        // thresholds: find the spiking neurons (or take a generator's),
        // then (order 1) SpikeMonitors record them with the state after
        // the threshold, before the reset.
        for g in groups.iter_mut() {
            if let Some(spike) = &mut g.spike {
                spike.len = exec.run_range(
                    spike.condition,
                    store,
                    0..g.size,
                    clock,
                    None,
                    Some(&mut spike.list),
                );
                spike.total += spike.len as u64;
            }
            if let Some(generator) = &mut g.generator {
                generator.fire(clock.step);
            }
        }
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if let MonitorPlan::Spike {
                group,
                start,
                stop,
                variables,
                ..
            } = plan
            {
                let g = &groups[*group];
                if (g.spike.is_some() || g.generator.is_some()) && plan.active_at(clock.step) {
                    data.record_spikes(store, clock.t, g.spikes(), *start, *stop, variables);
                }
            }
        }

        // after_thresholds: custom event conditions.
        for g in groups.iter_mut() {
            for event in &mut g.events {
                event.len = exec.run_range(
                    event.condition,
                    store,
                    0..g.size,
                    clock,
                    None,
                    Some(&mut event.list),
                );
                event.total += event.len as u64;
            }
        }

        // synapses: `pre` pathways (order -1), PoissonInputs (0), `post`
        // pathways (+1).
        for &k in pre_order.iter() {
            let (plan, state) = (&program.synapses[k], &mut synapses[k]);
            if let Some(kernel) = plan.on_pre {
                let due = state.push_and_take_due(plan, groups[plan.source].spikes(), clock.step);
                exec.run_list(kernel, store, &due, clock, Some(&state.pairs), None);
                state.clear_due(due, clock.step);
            }
        }
        for input in &program.poisson_inputs {
            let size = groups[input.group].size;
            exec.run_range(input.kernel, store, 0..size, clock, None, None);
        }
        for &k in post_order.iter() {
            let (plan, state) = (&program.synapses[k], &mut synapses[k]);
            if let Some(kernel) = plan.on_post {
                let list = state.post_synapses(plan, groups[plan.target].spikes());
                exec.run_list(kernel, store, &list, clock, Some(&state.pairs), None);
                state.return_post_list(list);
            }
        }

        // resets: spike effects over this step's spikes.
        for g in groups.iter() {
            if let Some(spike) = &g.spike {
                if let Some(kernel) = spike.effect {
                    exec.run_list(kernel, store, spike.occurred(), clock, None, None);
                }
            }
        }

        // after_resets: custom event effects.
        for g in groups.iter() {
            for event in &g.events {
                if let Some(kernel) = event.effect {
                    exec.run_list(kernel, store, event.occurred(), clock, None, None);
                }
            }
        }

        // end: population rates.
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if let MonitorPlan::Rate {
                group, start, stop, ..
            } = plan
            {
                if !plan.active_at(clock.step) {
                    continue;
                }
                data.record_rate(clock.t, clock.dt, groups[*group].spikes(), *start, *stop);
            }
        }

        self.step += 1;
        Ok(())
    }
}

/// Checks the indices and ranges of a program that do not need the
/// compiled kernels, so that a broken program fails before compiling.
fn check_structure(program: &Program) -> Result<(), String> {
    if !(program.dt.is_finite() && program.dt > 0.0) {
        return Err(format!("the time step is {} s", program.dt));
    }
    let n_kernels = program.kernels.len();
    let kernel = |id: KernelId, what: &str| {
        if (id.0 as usize) < n_kernels {
            Ok(())
        } else {
            Err(format!("{what} refers to kernel #{} of {n_kernels}", id.0))
        }
    };
    let n_groups = program.groups.len();
    let group = |g: usize, what: &str| {
        program
            .groups
            .get(g)
            .ok_or_else(|| format!("{what} refers to group #{g} of {n_groups}"))
    };
    let n_arrays = program.arrays.len();
    let array = |id: ArrayId, what: &str| {
        program
            .arrays
            .get(id.0 as usize)
            .ok_or_else(|| format!("{what} refers to array #{} of {n_arrays}", id.0))
    };
    let n_synapses = program.synapses.len();
    let synapses = |s: usize, what: &str| {
        program
            .synapses
            .get(s)
            .ok_or_else(|| format!("{what} refers to Synapses #{s} of {n_synapses}"))
    };
    // A per-synapse array of Synapses object `s`.
    let synaptic = |id: ArrayId, s: usize, what: &str| {
        let decl = array(id, what)?;
        if decl.synapses == Some(s) {
            Ok(())
        } else {
            Err(format!(
                "{what}: `{}` is not a per-synapse array",
                decl.name
            ))
        }
    };
    // A neuron array with at least `len` elements.
    let neuron_array = |id: ArrayId, len: usize, what: &str| {
        let decl = array(id, what)?;
        if decl.synapses.is_none() && decl.len >= len {
            Ok(())
        } else {
            Err(format!(
                "{what}: `{}` is not an array of {len} neurons",
                decl.name
            ))
        }
    };
    for decl in &program.arrays {
        if let Some(s) = decl.synapses {
            synapses(s, &format!("array `{}`", decl.name))?;
        }
    }
    for g in &program.groups {
        if u32::try_from(g.size).is_err() {
            return Err(format!(
                "group `{}` has {} neurons, more than 2^32",
                g.name, g.size
            ));
        }
        let what = format!("group `{}`", g.name);
        for (_, id) in &g.variables {
            array(*id, &what)?;
        }
        if let Some(k) = g.state_update {
            kernel(k, &what)?;
        }
        for e in g.spike.iter().chain(&g.events) {
            kernel(e.condition, &what)?;
            if let Some(k) = e.effect {
                kernel(k, &what)?;
            }
        }
        if let Some(generator) = &g.generator {
            if g.spike.is_some() {
                return Err(format!("{what} has both a threshold and a spike list"));
            }
            if let Some(&(_, n)) = generator.spikes.iter().find(|s| s.1 as usize >= g.size) {
                return Err(format!("{what} has a spike of neuron {n} of {}", g.size));
            }
            if generator.spikes.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!(
                    "{what}: the spike list is not sorted or has duplicates"
                ));
            }
        }
    }
    for (k, t) in program.tables.iter().enumerate() {
        if t.rows == 0 || t.columns == 0 || t.rows.checked_mul(t.columns) != Some(t.values.len()) {
            return Err(format!("table #{k} `{}` has an inconsistent shape", t.name));
        }
    }
    for (index, s) in program.synapses.iter().enumerate() {
        let what = format!("Synapses `{}`", s.name);
        let source = group(s.source, &what)?;
        let target = group(s.target, &what)?;
        if s.source_start > s.source_stop || s.source_stop > source.size {
            return Err(format!(
                "{what} connects from neurons {}..{} of {}",
                s.source_start, s.source_stop, source.size
            ));
        }
        if s.target_start > s.target_stop || s.target_stop > target.size {
            return Err(format!(
                "{what} connects to neurons {}..{} of {}",
                s.target_start, s.target_stop, target.size
            ));
        }
        for (_, id) in &s.variables {
            array(*id, &what)?;
        }
        let delay = array(s.delay, &what)?;
        if delay.synapses != Some(index) && !(delay.synapses.is_none() && delay.len == 1) {
            return Err(format!(
                "{what}: the delay `{}` is not per synapse",
                delay.name
            ));
        }
        for k in [s.on_pre, s.on_post, s.state_update].into_iter().flatten() {
            kernel(k, &what)?;
        }
        for summed in &s.summed {
            kernel(summed.kernel, &what)?;
            synaptic(summed.scratch, index, &what)?;
            neuron_array(summed.target, s.target_stop, &what)?;
            if array(summed.target, &what)?.group != s.target {
                return Err(format!(
                    "{what}: a summed variable's target is not in the target group"
                ));
            }
        }
        for id in [s.n_incoming, s.n_outgoing].into_iter().flatten() {
            synaptic(id, index, &what)?;
        }
        for c in &s.connect {
            // The number of synapses per pair, when it is computed.
            let multiplicity = |n: &Multiplicity, result_stop: usize| match n {
                Multiplicity::Constant(_) => Ok(()),
                Multiplicity::PerPair { kernel: k, scratch } => {
                    kernel(*k, &what)?;
                    neuron_array(*scratch, result_stop, &what)
                }
            };
            match c {
                ConnectPlan::Explicit { .. } => {}
                ConnectPlan::AllPairs { filter, n, .. } => {
                    if let Some(k) = filter {
                        kernel(*k, &what)?;
                    }
                    multiplicity(n, s.target_stop)?;
                }
                ConnectPlan::Mapping {
                    target_of,
                    scratch,
                    filter,
                    n,
                    ..
                } => {
                    kernel(*target_of, &what)?;
                    neuron_array(*scratch, s.source_stop, &what)?;
                    if let Some(k) = filter {
                        kernel(*k, &what)?;
                    }
                    multiplicity(n, s.target_stop)?;
                }
                ConnectPlan::Generator {
                    over_targets,
                    bounds,
                    start,
                    stop,
                    step,
                    element,
                    filter,
                    n,
                    ..
                } => {
                    // Candidates need a placeholder neuron on each side.
                    if s.source_start == s.source_stop || s.target_start == s.target_stop {
                        return Err(format!(
                            "{what}: a generator connection over an empty range"
                        ));
                    }
                    let (outer_stop, result_stop) = if *over_targets {
                        (s.target_stop, s.source_stop)
                    } else {
                        (s.source_stop, s.target_stop)
                    };
                    kernel(*bounds, &what)?;
                    for a in [start, stop, step] {
                        neuron_array(*a, outer_stop, &what)?;
                    }
                    if let Some(e) = element {
                        kernel(e.kernel, &what)?;
                        if array(e.values, &what)?.synapses.is_some() {
                            return Err(format!("{what}: generator values are per synapse"));
                        }
                    }
                    if let Some(k) = filter {
                        kernel(*k, &what)?;
                    }
                    multiplicity(n, result_stop)?;
                }
            }
        }
    }
    for input in &program.poisson_inputs {
        let what = format!("PoissonInput `{}`", input.name);
        group(input.group, &what)?;
        kernel(input.kernel, &what)?;
    }
    for m in &program.monitors {
        let what = format!("monitor `{}`", m.name());
        match m {
            MonitorPlan::Spike {
                group: g,
                start,
                stop,
                variables,
                ..
            } => {
                let size = group(*g, &what)?.size;
                if start > stop || *stop > size {
                    return Err(format!("{what} records neurons {start}..{stop} of {size}"));
                }
                for v in variables {
                    let decl = array(v.array, &what)?;
                    if decl.synapses.is_some() || (decl.len != 1 && decl.len < *stop) {
                        return Err(format!("{what} records `{}` beyond its length", decl.name));
                    }
                }
            }
            MonitorPlan::State {
                group: g,
                synapses: recorded_synapses,
                variables,
                record,
                every,
                prepare,
                ..
            } => {
                if *every == 0 {
                    return Err(format!("{what} records every 0 steps"));
                }
                if let Some(k) = prepare {
                    kernel(*k, &what)?;
                }
                if let Some(s) = recorded_synapses {
                    // Indices are checked against the number of synapses
                    // at the first sample.
                    synapses(*s, &what)?;
                    for v in variables {
                        let decl = array(v.array, &what)?;
                        if decl.synapses != Some(*s) && decl.len != 1 {
                            return Err(format!(
                                "{what} records `{}`, which is not per synapse",
                                decl.name
                            ));
                        }
                    }
                    continue;
                }
                let size = group(*g, &what)?.size;
                if let Some(&i) = record.iter().find(|&&i| i >= size) {
                    return Err(format!("{what} records neuron {i} of {size}"));
                }
                let max = record.iter().max().map_or(0, |&i| i + 1);
                for v in variables {
                    let decl = array(v.array, &what)?;
                    if decl.synapses.is_some() || (decl.len != 1 && decl.len < max) {
                        return Err(format!("{what} records `{}` beyond its length", decl.name));
                    }
                }
            }
            MonitorPlan::Rate {
                group: g,
                start,
                stop,
                ..
            } => {
                let size = group(*g, &what)?.size;
                if start >= stop || *stop > size {
                    return Err(format!("{what} records neurons {start}..{stop} of {size}"));
                }
            }
        }
    }
    for a in &program.actions {
        match a {
            Action::Initialise {
                kernel: k,
                group: g,
            } => {
                kernel(*k, "an initialisation")?;
                group(*g, "an initialisation")?;
            }
            Action::Run { .. } => {}
            Action::Connect {
                synapses: s,
                connect,
            } => {
                let plan = synapses(*s, "a connection")?;
                if *connect >= plan.connect.len() {
                    return Err(format!(
                        "a connection refers to line #{connect} of {} of Synapses `{}`",
                        plan.connect.len(),
                        plan.name
                    ));
                }
            }
            Action::InitialiseSynapses {
                kernel: k,
                synapses: s,
            } => {
                kernel(*k, "a synapse initialisation")?;
                synapses(*s, "a synapse initialisation")?;
            }
        }
    }
    Ok(())
}

/// What a kernel runs over.
#[derive(Clone, Copy)]
enum Context {
    /// Neurons `0..size` of a group (Range), or some of them (List).
    Neurons(usize),
    /// Neurons `source_start..source_stop` of a Synapses object's source
    /// (connection kernels computing targets or ranges).
    Sources(usize),
    /// Synapses of a Synapses object.
    Synapses(usize),
    /// Neurons `target_start..target_stop` of a Synapses object's target
    /// (the ranges of `i=` generators).
    Targets(usize),
    /// Candidate pairs of a connection (filters, generator elements,
    /// per-pair `n`): no own element but what is allowed.
    Candidates(usize, Candidates),
}

/// What a candidate kernel may touch besides the pairs' neurons.
#[derive(Clone, Copy, Default)]
struct Candidates {
    /// The one array it may read at `Own` (a generator's element values).
    own: Option<ArrayId>,
    /// The one array it may write.
    store: Option<ArrayId>,
}

/// Checks that each kernel is used as the right kind (Range or List),
/// over elements its `Own` arrays have (neuron arrays of the right size,
/// or the object's per-synapse arrays), with `Pre`/`Post` arrays that
/// cover the synapses' neurons. Every call is also checked by the
/// executor; this reports a broken program before it runs.
fn check_kernel_use(program: &Program, exec: &Executor, store: &ArrayStore) -> Result<(), String> {
    let check = |id: KernelId, iteration: Iteration, context: Context| {
        let name = &program.kernels[id.0 as usize].name;
        if exec.iteration(id) != iteration {
            return Err(format!("kernel `{name}` is not a {iteration:?} kernel"));
        }
        let [own, pre, post, shared] = exec.arrays_by_space(id);
        let decl = |a: &ArrayId| &program.arrays[a.0 as usize];
        if let Some(a) = shared.iter().find(|a| decl(a).synapses.is_some()) {
            return Err(format!(
                "kernel `{name}` reads per-synapse `{}` as a shared value",
                decl(a).name
            ));
        }
        let neurons = |size: usize| {
            if let Some(a) = own.iter().find(|a| decl(a).synapses.is_some()) {
                return Err(format!(
                    "kernel `{name}` over neurons uses per-synapse `{}`",
                    decl(a).name
                ));
            }
            if exec.uses_pairs(id) {
                return Err(format!(
                    "kernel `{name}` uses presynaptic or postsynaptic indices, which neuron \
                     kernels cannot"
                ));
            }
            if size > exec.own_limit(id, store) {
                return Err(format!(
                    "kernel `{name}` runs over {size} elements but its arrays are shorter"
                ));
            }
            Ok(())
        };
        let pairs = |s: usize| {
            let plan = &program.synapses[s];
            for (arrays, len) in [(pre, plan.source_stop), (post, plan.target_stop)] {
                if let Some(a) = arrays
                    .iter()
                    .find(|a| decl(a).synapses.is_some() || decl(a).len < len)
                {
                    return Err(format!(
                        "kernel `{name}` of Synapses `{}` uses `{}` as a neuron variable",
                        plan.name,
                        decl(a).name
                    ));
                }
            }
            Ok(())
        };
        match context {
            Context::Neurons(g) => neurons(program.groups[g].size),
            Context::Sources(s) => neurons(program.synapses[s].source_stop),
            Context::Synapses(s) => {
                if let Some(a) = own.iter().find(|a| decl(a).synapses != Some(s)) {
                    return Err(format!(
                        "kernel `{name}` over synapses of `{}` uses `{}`, which is not one of \
                         their per-synapse arrays",
                        program.synapses[s].name,
                        decl(a).name
                    ));
                }
                pairs(s)
            }
            Context::Targets(s) => neurons(program.synapses[s].target_stop),
            Context::Candidates(s, allowed) => {
                if let Some(a) = own.iter().find(|&&a| Some(a) != allowed.own) {
                    return Err(format!(
                        "connection kernel `{name}` uses `{}` of a synapse that does not exist yet",
                        decl(a).name
                    ));
                }
                let writes = exec.writes(id);
                if let Some(a) = writes.iter().find(|&&a| Some(a) != allowed.store) {
                    return Err(format!(
                        "connection kernel `{name}` writes to `{}`",
                        decl(a).name
                    ));
                }
                pairs(s)
            }
        }
    };
    for (g, plan) in program.groups.iter().enumerate() {
        if let Some(k) = plan.state_update {
            check(k, Iteration::Range, Context::Neurons(g))?;
        }
        for e in plan.spike.iter().chain(&plan.events) {
            check(e.condition, Iteration::Range, Context::Neurons(g))?;
            if let Some(k) = e.effect {
                check(k, Iteration::List, Context::Neurons(g))?;
            }
        }
    }
    for (s, plan) in program.synapses.iter().enumerate() {
        for k in [plan.on_pre, plan.on_post].into_iter().flatten() {
            check(k, Iteration::List, Context::Synapses(s))?;
        }
        if let Some(k) = plan.state_update {
            check(k, Iteration::Range, Context::Synapses(s))?;
        }
        for summed in &plan.summed {
            check(summed.kernel, Iteration::Range, Context::Synapses(s))?;
        }
        for c in &plan.connect {
            let none = Candidates::default();
            let (computed, filter, element, n) = match c {
                ConnectPlan::Explicit { .. } => continue,
                ConnectPlan::AllPairs { filter, n, .. } => (None, *filter, None, n),
                ConnectPlan::Mapping {
                    target_of,
                    filter,
                    n,
                    ..
                } => (Some((*target_of, false)), *filter, None, n),
                ConnectPlan::Generator {
                    over_targets,
                    bounds,
                    filter,
                    element,
                    n,
                    ..
                } => (Some((*bounds, *over_targets)), *filter, element.as_ref(), n),
            };
            if let Some((k, over_targets)) = computed {
                let context = if over_targets {
                    Context::Targets(s)
                } else {
                    Context::Sources(s)
                };
                check(k, Iteration::Range, context)?;
            }
            // Candidate kernels may read a generator's element values; the
            // element kernel writes them, and a per-pair `n` its scratch.
            let values = element.map(|e| e.values);
            if let Some(e) = element {
                let allowed = Candidates {
                    own: values,
                    store: values,
                };
                check(e.kernel, Iteration::List, Context::Candidates(s, allowed))?;
            }
            if let Some(k) = filter {
                let allowed = Candidates {
                    own: values,
                    ..none
                };
                check(k, Iteration::List, Context::Candidates(s, allowed))?;
            }
            if let Multiplicity::PerPair { kernel, scratch } = n {
                let allowed = Candidates {
                    store: Some(*scratch),
                    ..none
                };
                check(*kernel, Iteration::List, Context::Candidates(s, allowed))?;
            }
        }
    }
    for input in &program.poisson_inputs {
        check(
            input.kernel,
            Iteration::Range,
            Context::Neurons(input.group),
        )?;
    }
    for m in &program.monitors {
        if let MonitorPlan::State {
            group,
            synapses,
            prepare: Some(k),
            ..
        } = m
        {
            let context = match synapses {
                Some(s) => Context::Synapses(*s),
                None => Context::Neurons(*group),
            };
            check(*k, Iteration::Range, context)?;
        }
    }
    for a in &program.actions {
        match a {
            Action::Initialise { kernel, group } => {
                check(*kernel, Iteration::Range, Context::Neurons(*group))?;
            }
            Action::InitialiseSynapses { kernel, synapses } => {
                check(*kernel, Iteration::Range, Context::Synapses(*synapses))?;
            }
            Action::Run { .. } | Action::Connect { .. } => {}
        }
    }
    Ok(())
}

/// A state updater of the `groups` slot.
#[derive(Debug, Clone, Copy)]
enum Updater {
    Group(usize),
    Synapses(usize),
}

/// The state updaters sorted as Brian2 sorts objects with the same slot
/// and order: by object name, byte-wise (so `S_stateupdater` comes before
/// `neurons_stateupdater`).
/// The Synapses objects that `has` a pathway, sorted by the pathway's
/// Brian2 name (`NAME` + `suffix`); equal names keep declaration order.
fn pathway_order(
    program: &Program,
    suffix: &str,
    has: impl Fn(&rheobase_kernel::program::SynapsesPlan) -> bool,
) -> Vec<usize> {
    let mut named: Vec<(String, usize)> = program
        .synapses
        .iter()
        .enumerate()
        .filter(|(_, s)| has(s))
        .map(|(k, s)| (format!("{}{suffix}", s.name), k))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, k)| k).collect()
}

fn update_order(program: &Program) -> Vec<Updater> {
    let mut named: Vec<(String, Updater)> = program
        .groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.state_update.is_some())
        .map(|(k, g)| (format!("{}_stateupdater", g.name), Updater::Group(k)))
        .chain(
            program
                .synapses
                .iter()
                .enumerate()
                .filter(|(_, s)| s.state_update.is_some())
                .map(|(k, s)| (format!("{}_stateupdater", s.name), Updater::Synapses(k))),
        )
        .collect();
    // A stable sort keeps declaration order for equal names.
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, u)| u).collect()
}
