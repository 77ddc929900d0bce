//! The simulation: state, the action list and Brian2's step schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rheobase_kernel::program::{Action, KernelId, MonitorPlan, Program};
use rheobase_kernel::{ArrayId, Iteration};

use crate::exec::{ArrayStore, Clock, Executor};
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
    /// monitor recording.
    pub simulate_seconds: f64,
    /// Time steps simulated so far.
    pub steps: u64,
    /// Threads kernels run on.
    pub threads: usize,
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
    events: Vec<EventState>,
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
    /// Parallel to `program.monitors`.
    monitors: Vec<MonitorData>,
    seed: u64,
    /// Steps completed; the current time is `step * dt`.
    step: u64,
    /// Index of the next action to run.
    next_action: usize,
    /// Steps still to run of the action before `next_action` when it was
    /// interrupted.
    unfinished_steps: u64,
    interrupt: Option<Arc<AtomicBool>>,
    timings: Timings,
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
        check_kernel_use(&program, &exec).map_err(RuntimeError::InvalidProgram)?;

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
                events: g
                    .events
                    .iter()
                    .map(|e| event(e.condition, e.effect, g.size))
                    .collect(),
            })
            .collect();
        let monitors = program.monitors.iter().map(MonitorData::for_plan).collect();
        let threads = exec.threads();
        Ok(Simulation {
            program,
            store,
            exec,
            groups,
            monitors,
            seed: config.seed,
            step: 0,
            next_action: 0,
            unfinished_steps: 0,
            interrupt: None,
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
                    .run_range(kernel, &mut self.store, size, clock, None);
                self.timings.simulate_seconds += started.elapsed().as_secs_f64();
            }
            Action::Run { steps } => {
                self.reserve_samples(steps);
                self.run_steps(steps)?;
            }
            Action::Connect { .. } | Action::InitialiseSynapses { .. } => {
                return Err(RuntimeError::InvalidProgram(
                    "Synapses are not supported by the runtime yet".into(),
                ));
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
        let mut done = 0;
        let mut result = Ok(());
        while done < steps {
            let interrupted = self
                .interrupt
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed));
            if interrupted {
                break;
            }
            self.one_step();
            done += 1;
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

    /// What each monitor recorded, in the program's monitor order.
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
            .map(|(plan, g)| (plan.name.clone(), g.spike.as_ref().map_or(0, |e| e.total)))
            .collect()
    }

    /// The neurons of group `group` (index into the program's groups) that
    /// spiked in the last step, ascending.
    pub fn last_spikes(&self, group: usize) -> &[u32] {
        self.groups[group]
            .spike
            .as_ref()
            .map_or(&[], EventState::occurred)
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
                MonitorPlan::State { every, .. } => {
                    (self.step + steps).div_ceil(*every) - self.step.div_ceil(*every)
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
    fn one_step(&mut self) {
        let clock = self.clock();
        let Simulation {
            program,
            store,
            exec,
            groups,
            monitors,
            ..
        } = self;

        // start: StateMonitors sample the state before this step changes it.
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if let MonitorPlan::State {
                group,
                variables,
                every,
                prepare,
                ..
            } = plan
            {
                if clock.step % every != 0 {
                    continue;
                }
                if let Some(kernel) = *prepare {
                    exec.run_range(kernel, store, groups[*group].size, clock, None);
                }
                data.record_state(store, clock.t, variables);
            }
        }

        // groups: integrate.
        for g in groups.iter() {
            if let Some(kernel) = g.state_update {
                exec.run_range(kernel, store, g.size, clock, None);
            }
        }

        // thresholds: find the spiking neurons, then (order 1) SpikeMonitors
        // record them with the state after the threshold, before the reset.
        for g in groups.iter_mut() {
            if let Some(spike) = &mut g.spike {
                spike.len =
                    exec.run_range(spike.condition, store, g.size, clock, Some(&mut spike.list));
                spike.total += spike.len as u64;
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
                if let Some(spike) = &groups[*group].spike {
                    data.record_spikes(store, clock.t, spike.occurred(), *start, *stop, variables);
                }
            }
        }

        // after_thresholds: custom event conditions.
        for g in groups.iter_mut() {
            for event in &mut g.events {
                event.len =
                    exec.run_range(event.condition, store, g.size, clock, Some(&mut event.list));
                event.total += event.len as u64;
            }
        }

        // synapses: spike propagation will go here; it reads the groups'
        // spike lists (`EventState::occurred`) of this step.

        // resets: spike effects over this step's spikes.
        for g in groups.iter() {
            if let Some(spike) = &g.spike {
                if let Some(kernel) = spike.effect {
                    exec.run_list(kernel, store, spike.occurred(), clock);
                }
            }
        }

        // after_resets: custom event effects.
        for g in groups.iter() {
            for event in &g.events {
                if let Some(kernel) = event.effect {
                    exec.run_list(kernel, store, event.occurred(), clock);
                }
            }
        }

        // end: population rates.
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if let MonitorPlan::Rate {
                group, start, stop, ..
            } = plan
            {
                let spikes = groups[*group]
                    .spike
                    .as_ref()
                    .map_or(&[][..], EventState::occurred);
                data.record_rate(clock.t, clock.dt, spikes, *start, *stop);
            }
        }

        self.step += 1;
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
                    if decl.len != 1 && decl.len < *stop {
                        return Err(format!("{what} records `{}` beyond its length", decl.name));
                    }
                }
            }
            MonitorPlan::State {
                group: g,
                variables,
                record,
                every,
                prepare,
                ..
            } => {
                let size = group(*g, &what)?.size;
                if *every == 0 {
                    return Err(format!("{what} records every 0 steps"));
                }
                if let Some(&i) = record.iter().find(|&&i| i >= size) {
                    return Err(format!("{what} records neuron {i} of {size}"));
                }
                let max = record.iter().max().map_or(0, |&i| i + 1);
                for v in variables {
                    let decl = array(v.array, &what)?;
                    if decl.len != 1 && decl.len < max {
                        return Err(format!("{what} records `{}` beyond its length", decl.name));
                    }
                }
                if let Some(k) = prepare {
                    kernel(*k, &what)?;
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
        if let Action::Initialise {
            kernel: k,
            group: g,
        } = a
        {
            kernel(*k, "an initialisation")?;
            group(*g, "an initialisation")?;
        }
    }
    Ok(())
}

/// Checks that each kernel is used as the right kind (Range or List) and
/// over no more elements than its arrays have.
fn check_kernel_use(program: &Program, exec: &Executor) -> Result<(), String> {
    let check = |id: KernelId, iteration: Iteration, size: usize| {
        let name = &program.kernels[id.0 as usize].name;
        if exec.iteration(id) != iteration {
            return Err(format!("kernel `{name}` is not a {iteration:?} kernel"));
        }
        if size > exec.own_limit(id) {
            return Err(format!(
                "kernel `{name}` runs over {size} elements but its arrays are shorter"
            ));
        }
        Ok(())
    };
    for g in &program.groups {
        if let Some(k) = g.state_update {
            check(k, Iteration::Range, g.size)?;
        }
        for e in g.spike.iter().chain(&g.events) {
            check(e.condition, Iteration::Range, g.size)?;
            if let Some(k) = e.effect {
                check(k, Iteration::List, g.size)?;
            }
        }
    }
    for m in &program.monitors {
        if let MonitorPlan::State {
            group,
            prepare: Some(k),
            ..
        } = m
        {
            check(*k, Iteration::Range, program.groups[*group].size)?;
        }
    }
    for a in &program.actions {
        if let Action::Initialise { kernel, group } = a {
            check(*kernel, Iteration::Range, program.groups[*group].size)?;
        }
    }
    Ok(())
}
