//! The step schedule: what one time step does, in Brian2's order. Every
//! object that runs in a step (state updaters, thresholders, resetters,
//! pathways, summed variables, monitors, PoissonInputs, `run_regularly`
//! code) is a [`Step`], and the steps are sorted once, when the
//! simulation is made, as Brian2's `Network` sorts its objects: by slot
//! (`when`), then `order`, then name ([`step_order`]).

use super::ranks::{run_pathway_list, run_reset_list, run_synapse_range_in};
use super::regular::run_one;
use super::*;
use crate::partition::PartitionState;
use crate::synapses::Delays;
use rheobase_kernel::program::{ClockPlan, Part, PathwaySide, Slot};

/// Synapses per piece of a summed variable's update: 256 KiB of terms,
/// which stay in the L2 cache between being written and being added.
const SUMMED_PIECE: usize = 32 * 1024;

/// One object of the step, run where Brian2's sort puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// `Program::monitors[m]` records: a StateMonitor, or a SpikeMonitor
    /// or EventMonitor given a `when:` (or whose event's thresholder was
    /// moved).
    Monitor(usize),
    /// A SpikeMonitor or EventMonitor at its default place right after
    /// its event's thresholder (an EventMonitor of a subgroup: before it,
    /// see `MonitoredEvent::before_evaluation`). On one rank of several
    /// such monitors record at the window's exchange.
    EventMonitor(usize),
    /// `Program::monitors[m]`, a PopulationRateMonitor.
    Rate(usize),
    /// `Program::synapses[s].summed[m]`.
    Summed(usize, usize),
    StateUpdater(Updater),
    /// The spike thresholder of group `g` (or its generator's spikes).
    Thresholder(usize),
    /// The thresholder of group `g`'s custom event `e`.
    EventThresholder(usize, usize),
    /// A pathway of `Program::synapses[s]` from its source (`Pre`) or
    /// target (`Post`) side: `None` is `on_pre`/`on_post`, `Some(k)`
    /// `pathways[k]`.
    Pathway(usize, PathwaySide, Option<usize>),
    PoissonInput(usize),
    /// The reset of group `g`'s spikes.
    Resetter(usize),
    /// The code of group `g`'s custom event `e`.
    EventResetter(usize, usize),
    /// `Program::regular[r]`.
    Regular(usize),
    /// On one rank of several: this rank's spikes, and the variables of
    /// its SpikeMonitors, are buffered for the exchange (where one process
    /// records them, after the thresholders).
    BufferSpikes,
    /// On one rank of several: the EventMonitors recording before their
    /// event is evaluated buffer their events.
    BufferEventsBefore,
    /// On one rank of several: the EventMonitors recording right after
    /// their event buffer it.
    BufferEventsAfter,
    /// On one rank of several: the step's custom events are buffered, and
    /// at the end of a window every rank learns every rank's spikes and
    /// events (before the `synapses` slot, which needs them).
    Exchange,
}

impl Simulation {
    /// One time step: the objects of [`Simulation::steps`], in the order
    /// Brian2 runs them.
    pub(super) fn one_step(&mut self) -> Result<(), RuntimeError> {
        let tick_clock = self.clock();
        let Simulation {
            program,
            store,
            exec,
            groups,
            synapses,
            monitors,
            monitor_checked,
            partition,
            pre_reads,
            steps,
            pre_order,
            ..
        } = self;
        let split = partition.is_some();
        // With one clock every object runs at every tick, on it; with
        // several, each runs only at the ticks where its clock is due
        // (Brian2's `Network._nextclocks`), seeing its clock's time.
        let several_clocks = program.clocks.len() > 1;
        for &step in steps.iter() {
            let own = if several_clocks {
                step_clock(program, step)
            } else {
                None
            };
            let clock = match own {
                Some(c) => {
                    let Some((t, dt, step)) = clock_at(program, c, tick_clock.tick) else {
                        continue;
                    };
                    Clock {
                        t,
                        dt,
                        step,
                        ..tick_clock
                    }
                }
                None => tick_clock,
            };
            match step {
                Step::Monitor(m) => match &program.monitors[m] {
                    MonitorPlan::State { .. } => record_state_monitor(
                        program,
                        exec,
                        store,
                        groups,
                        synapses,
                        (&mut monitors[m], &mut monitor_checked[m]),
                        partition,
                        clock,
                        m,
                    )?,
                    plan => match partition.as_mut() {
                        // A split run buffers its own neurons' share here,
                        // merged at the exchange (`PartitionState::recorded`).
                        Some(p) if p.recorded.contains(&m) => {
                            buffer_recorded(
                                p,
                                program,
                                store,
                                groups,
                                (Recorded::At(m), clock.tick),
                            );
                        }
                        _ => record_spike_monitor(plan, &mut monitors[m], groups, store, clock),
                    },
                },
                Step::EventMonitor(m) => {
                    let plan = &program.monitors[m];
                    if let MonitorPlan::Spike { group, event, .. } = plan {
                        // A split run records them at the exchange (an
                        // EventMonitor, or a SpikeMonitor of an exchanged
                        // group).
                        if !(split && (event.is_some() || groups[*group].exchanged())) {
                            record_spike_monitor(plan, &mut monitors[m], groups, store, clock);
                        }
                    }
                }
                Step::Rate(m) => {
                    if let MonitorPlan::Rate {
                        group, start, stop, ..
                    } = &program.monitors[m]
                    {
                        let plan = &program.monitors[m];
                        if plan.active_at(clock.tick) && !(split && groups[*group].exchanged()) {
                            monitors[m].record_rate(
                                clock.t,
                                clock.dt,
                                groups[*group].spikes(),
                                *start,
                                *stop,
                            );
                        }
                    }
                }
                Step::Summed(k, m) => {
                    let (plan, state) = (&program.synapses[k], &synapses[k]);
                    let summed = &plan.summed[m];
                    if clock.tick < summed.from_step {
                        continue;
                    }
                    // On one rank of several, the presynaptic values the
                    // terms read (a gap junction's `v_pre`) are made
                    // current first.
                    if let Some(p) = partition.as_mut() {
                        p.share_pre(
                            k,
                            &pre_reads[k].summed[m],
                            state.pairs.pre(),
                            program,
                            store,
                        );
                    }
                    let (_, target) = store.read_write(summed.scratch, summed.target);
                    // A target made of synapses has, on one rank of
                    // several, this rank's synapses (and maybe ghost
                    // slots, refilled before they are read) of the
                    // `target_stop` made on all ranks.
                    let stop = plan.target_stop.min(target.len());
                    target[plan.target_start..stop].fill(0.0);
                    // The terms are computed and added a piece at a time,
                    // so that the scratch array is read back from the
                    // cache instead of from memory; the additions are made
                    // in synapse order all the same, so the sums do not
                    // change.
                    let n = state.len();
                    let mut start = 0;
                    while start < n {
                        let end = (start + SUMMED_PIECE).min(n);
                        run_synapse_range_in(
                            exec,
                            partition.as_ref(),
                            summed.kernel,
                            store,
                            start..end,
                            clock,
                            (k, &state.pairs),
                        );
                        let (terms, target) = store.read_write(summed.scratch, summed.target);
                        let post = &state.pairs.post()[start..end];
                        for (&term, &j) in terms[start..end].iter().zip(post) {
                            target[j as usize] += term;
                        }
                        start = end;
                    }
                }
                Step::StateUpdater(Updater::Group(k)) => {
                    let g = &groups[k];
                    if let Some(kernel) = g.state_update {
                        share_for(partition, kernel, program, store);
                        exec.run_range(kernel, store, g.owned.clone(), clock, None, None);
                    }
                }
                Step::StateUpdater(Updater::Synapses(k)) => {
                    let state = &synapses[k];
                    if let Some(kernel) = program.synapses[k].state_update {
                        if let Some(p) = partition.as_mut() {
                            let reads = &pre_reads[k].state_update;
                            p.share_pre(k, reads, state.pairs.pre(), program, store);
                        }
                        run_synapse_range_in(
                            exec,
                            partition.as_ref(),
                            kernel,
                            store,
                            0..state.len(),
                            clock,
                            (k, &state.pairs),
                        );
                    }
                }
                Step::Thresholder(k) => {
                    // Find the spiking neurons (or take a generator's).
                    let g = &mut groups[k];
                    if let Some(spike) = &mut g.spike {
                        share_for(partition, spike.condition, program, store);
                        spike.len = exec.run_range(
                            spike.condition,
                            store,
                            g.owned.clone(),
                            clock,
                            None,
                            Some(&mut spike.list),
                        );
                        g.own_spikes = 0..spike.len;
                        // On one rank of several, the spikes are counted
                        // when every rank learns them.
                        if !split {
                            spike.total += spike.len as u64;
                        }
                    }
                    if let Some(generator) = &mut g.generator {
                        generator.fire(clock.step);
                    }
                }
                Step::BufferSpikes => {
                    // On one rank of several, each rank buffers its own
                    // spikes (and below its custom events), and at the
                    // end of an exchange window, once this step's custom
                    // events are found, every rank learns every group's
                    // spikes and events of the window's steps (a
                    // generator's spikes are the same on all ranks
                    // already). `partition` describes the scheme.
                    if let Some(p) = partition.as_mut() {
                        // SpikeMonitors' variables are read now, where one
                        // process's SpikeMonitors record them (after the
                        // thresholders and any code placed right after
                        // them, before the reset), by the rank owning the
                        // neuron.
                        buffer_recorded(p, program, store, groups, (Recorded::Spikes, clock.tick));
                    }
                }
                Step::BufferEventsBefore => {
                    if let Some(p) = partition.as_mut() {
                        buffer_recorded(
                            p,
                            program,
                            store,
                            groups,
                            (Recorded::EventsBefore, clock.tick),
                        );
                    }
                }
                Step::EventThresholder(k, e) => {
                    let g = &mut groups[k];
                    let event = &mut g.events[e];
                    share_for(partition, event.condition, program, store);
                    event.len = exec.run_range(
                        event.condition,
                        store,
                        g.owned.clone(),
                        clock,
                        None,
                        Some(&mut event.list),
                    );
                    event.total += event.len as u64;
                }
                Step::BufferEventsAfter => {
                    if let Some(p) = partition.as_mut() {
                        buffer_recorded(
                            p,
                            program,
                            store,
                            groups,
                            (Recorded::EventsAfter, clock.tick),
                        );
                    }
                }
                Step::Exchange => {
                    if let Some(p) = partition.as_mut() {
                        // The spike lists are buffered here, after every
                        // thresholder (one moved to `thresholds` order 1
                        // or later included), then the custom events.
                        let tick = clock.tick;
                        let exchanged = groups.iter().filter(|g| g.exchanged());
                        p.buffer(tick, exchanged.map(|g| g.spikes()));
                        p.buffer_events(tick, |g, e| groups[g].events[e].occurred());
                        p.end_step();
                        if p.ends_window(tick) {
                            p.exchange_window();
                            deliver_window(
                                p, program, store, groups, synapses, monitors, pre_order,
                            );
                        }
                    }
                }
                Step::Pathway(k, PathwaySide::Pre, which) => {
                    let (plan, state) = (&program.synapses[k], &mut synapses[k]);
                    let (kernel, event) = match which {
                        None => (plan.on_pre, plan.pre_event),
                        Some(p) => (Some(plan.pathways[p].kernel), plan.pathways[p].event),
                    };
                    let Some(kernel) = kernel else { continue };
                    let source = &groups[plan.source];
                    let due = match partition {
                        // This rank's spikes or events reach its synapses
                        // of shorter delays than the window's now; the
                        // other ranks', and the longer delays, were queued
                        // at the exchange (a generator's spikes are every
                        // rank's).
                        Some(p) if event.is_some() || source.exchanged() => {
                            let own = match event {
                                None => &source.spikes()[source.own_spikes.clone()],
                                Some(e) => source.events[e].occurred(),
                            };
                            // The shortest delay between ranks, in steps
                            // of the pathway's (its source's) clock.
                            let c = program.groups[plan.source].clock;
                            let split = p.split_in(c);
                            state.push(plan, which, own, clock.step, Delays::Below(split));
                            // Placed before its source's thresholder, the
                            // pathway reads the previous step's spikes: in
                            // its clock's first step of a window those are
                            // every rank's (of its last step in an earlier
                            // window, see `deliver_window`), whose longer
                            // delays it queues now, as one process does.
                            if event.is_none()
                                && p.first_step_in_window(c, clock.tick)
                                && p.shifted.contains(&(k, which))
                            {
                                let all = source.spikes();
                                state.push(plan, which, all, clock.step, Delays::AtLeast(split));
                            }
                            state.take_due(which, clock.step)
                        }
                        _ => {
                            let triggered = match event {
                                None => source.spikes(),
                                Some(e) => source.events[e].occurred(),
                            };
                            state.push_and_take_due(plan, which, triggered, clock.step)
                        }
                    };
                    state.events += due.len() as u64;
                    if let Some(p) = partition.as_mut() {
                        let reads = match which {
                            None => &pre_reads[k].on_pre,
                            Some(w) => &pre_reads[k].pathways[w],
                        };
                        p.share_pre(k, reads, state.pairs.pre(), program, store);
                    }
                    run_pathway_list(
                        exec,
                        program,
                        partition,
                        kernel,
                        store,
                        &due,
                        clock,
                        (k, state, PathwaySide::Pre, which),
                    );
                    state.clear_due(which, due, clock.step);
                }
                Step::PoissonInput(x) => {
                    let input = &program.poisson_inputs[x];
                    let owned = groups[input.group].owned.clone();
                    share_for(partition, input.kernel, program, store);
                    exec.run_range(input.kernel, store, owned, clock, None, None);
                }
                Step::Pathway(k, PathwaySide::Post, None) => {
                    let (plan, state) = (&program.synapses[k], &mut synapses[k]);
                    let target = &groups[plan.target];
                    let Some(kernel) = plan.on_post else { continue };
                    let triggered = match plan.post_event {
                        None => target.spikes(),
                        Some(e) => target.events[e].occurred(),
                    };
                    let list = state.post_synapses(plan, triggered);
                    state.events += list.len() as u64;
                    if let Some(p) = partition.as_mut() {
                        p.share_pre(k, &pre_reads[k].on_post, state.pairs.pre(), program, store);
                    }
                    run_pathway_list(
                        exec,
                        program,
                        partition,
                        kernel,
                        store,
                        &list,
                        clock,
                        (k, state, PathwaySide::Post, None),
                    );
                    state.return_post_list(list);
                }
                // A named `post` pathway may have a delay, so it goes
                // through its own queue.
                Step::Pathway(k, PathwaySide::Post, Some(w)) => {
                    let (plan, state) = (&program.synapses[k], &mut synapses[k]);
                    let target = &groups[plan.target];
                    let pathway = &plan.pathways[w];
                    let triggered = match pathway.event {
                        None => target.spikes(),
                        Some(e) => target.events[e].occurred(),
                    };
                    // Its synapses are onto this rank's neurons, whose
                    // spikes and events this rank found itself.
                    let due = state.push_and_take_due(plan, Some(w), triggered, clock.step);
                    state.events += due.len() as u64;
                    if let Some(p) = partition.as_mut() {
                        let reads = &pre_reads[k].pathways[w];
                        p.share_pre(k, reads, state.pairs.pre(), program, store);
                    }
                    run_pathway_list(
                        exec,
                        program,
                        partition,
                        pathway.kernel,
                        store,
                        &due,
                        clock,
                        (k, state, PathwaySide::Post, Some(w)),
                    );
                    state.clear_due(Some(w), due, clock.step);
                }
                Step::Resetter(k) => {
                    let g = &groups[k];
                    if let Some(spike) = &g.spike {
                        if let Some(kernel) = spike.effect {
                            share_for(partition, kernel, program, store);
                            // Each rank resets its own neurons.
                            let own = &spike.occurred()[g.own_spikes.clone()];
                            run_reset_list(exec, program, partition, kernel, store, own, clock);
                        }
                    }
                }
                Step::EventResetter(k, e) => {
                    let event = &groups[k].events[e];
                    if let Some(kernel) = event.effect {
                        share_for(partition, kernel, program, store);
                        let own = event.occurred();
                        run_reset_list(exec, program, partition, kernel, store, own, clock);
                    }
                }
                Step::Regular(r) => run_one(
                    program,
                    &program.regular[r],
                    exec,
                    store,
                    groups,
                    synapses,
                    partition,
                    clock,
                ),
            }
        }
        self.step += 1;
        Ok(())
    }
}

/// The clock (an index into `Program::clocks`) an object of the step runs
/// on, as Brian2 gives each object one: a group's parts, its PoissonInputs
/// and its SpikeMonitors and PopulationRateMonitors run on the group's; a
/// Synapses object's state updater on its own, a pathway on its
/// triggering side's and a summed variable on its target's. `None` for
/// steps that look at every tick: StateMonitors and `run_regularly` code,
/// whose periods count ticks (a default period is their source's clock's),
/// and the steps a split run adds.
fn step_clock(program: &Program, step: Step) -> Option<usize> {
    let group = |g: usize| Some(program.groups[g].clock);
    match step {
        Step::StateUpdater(Updater::Group(g))
        | Step::Thresholder(g)
        | Step::EventThresholder(g, _)
        | Step::Resetter(g)
        | Step::EventResetter(g, _) => group(g),
        Step::StateUpdater(Updater::Synapses(k)) => Some(program.synapses[k].clock),
        Step::Pathway(k, PathwaySide::Pre, _) => group(program.synapses[k].source),
        Step::Pathway(k, PathwaySide::Post, _) => group(program.synapses[k].target),
        Step::Summed(k, _) => {
            let plan = &program.synapses[k];
            match plan.target_synapses {
                Some(t) => Some(program.synapses[t].clock),
                None => group(plan.target),
            }
        }
        Step::PoissonInput(x) => group(program.poisson_inputs[x].group),
        Step::EventMonitor(m) | Step::Rate(m) => match &program.monitors[m] {
            MonitorPlan::Spike { group: g, .. } | MonitorPlan::Rate { group: g, .. } => group(*g),
            MonitorPlan::State { .. } => None,
        },
        Step::Monitor(m) => match &program.monitors[m] {
            MonitorPlan::Spike { group: g, .. } => group(*g),
            MonitorPlan::State { .. } | MonitorPlan::Rate { .. } => None,
        },
        Step::Regular(_)
        | Step::BufferSpikes
        | Step::BufferEventsBefore
        | Step::BufferEventsAfter
        | Step::Exchange => None,
    }
}

/// The time, time step and step number an object on clock `clock` (an
/// index into `Program::clocks`) sees at tick `tick`: its clock's `dt`
/// and step `tick / every`, or `None` when its clock is not due then.
/// With one clock, the tick's own (`Simulation::t`).
pub(super) fn clock_at(program: &Program, clock: usize, tick: u64) -> Option<(f64, f64, u64)> {
    if program.clocks.len() <= 1 {
        return Some((tick as f64 * program.dt, program.dt, tick));
    }
    let ClockPlan { dt, every } = program.clocks[clock];
    if tick % every != 0 {
        return None;
    }
    let n = tick / every;
    Some((n as f64 * dt, dt, n))
}

/// On one rank of several, shares what `kernel` reads of one-neuron
/// groups that change (a linked variable) from the rank that owns the
/// neuron, right before the kernel runs (`partition::kernel_reads`).
fn share_for(
    partition: &mut Option<PartitionState>,
    kernel: KernelId,
    program: &Program,
    store: &mut ArrayStore,
) {
    if let Some(p) = partition.as_mut() {
        p.share_for(kernel, program, store);
    }
}

/// Records what the SpikeMonitor or EventMonitor `plan` sees now: the
/// list its event's thresholder last made (this step's once it has run,
/// else the previous step's, as Brian2's spike space holds), with the
/// variables as they are now.
fn record_spike_monitor(
    plan: &MonitorPlan,
    data: &mut MonitorData,
    groups: &[GroupState],
    store: &ArrayStore,
    clock: Clock,
) {
    let MonitorPlan::Spike {
        group,
        start,
        stop,
        variables,
        event,
        ..
    } = plan
    else {
        return;
    };
    if !plan.active_at(clock.tick) {
        return;
    }
    let g = &groups[*group];
    let occurred = match event {
        Some(e) => g.events[e.index].occurred(),
        None if g.spike.is_some() || g.generator.is_some() => g.spikes(),
        None => return,
    };
    data.record_spikes(store, clock.t, occurred, *start, *stop, variables);
}

/// Which of the monitors a rank records for its own neurons
/// (`PartitionState::recorded`), by the point of the step they record at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    /// SpikeMonitors with `variables:`, after the thresholds.
    Spikes,
    /// EventMonitors recording before their event is evaluated.
    EventsBefore,
    /// EventMonitors recording right after it.
    EventsAfter,
    /// The SpikeMonitor or EventMonitor `m` given a `when:`, at its place.
    At(usize),
}

/// Buffers, for the window's exchange, this rank's recording of each
/// monitor of `p.recorded` of kind `kind` at tick `step`: its own
/// neurons' spikes or events in the monitor's range and their variables'
/// values now. Every step of its group's clock buffers every such
/// monitor, recording or not (whether it records is decided at the
/// exchange).
fn buffer_recorded(
    p: &mut PartitionState,
    program: &Program,
    store: &mut ArrayStore,
    groups: &[GroupState],
    (kind, step): (Recorded, u64),
) {
    for x in 0..p.recorded.len() {
        let m = p.recorded[x];
        let MonitorPlan::Spike {
            group,
            start,
            stop,
            variables,
            event,
            schedule,
            ..
        } = &program.monitors[m]
        else {
            continue;
        };
        let due = match (event, kind) {
            (_, Recorded::At(at)) => at == m,
            _ if schedule.is_some() => false,
            (None, Recorded::Spikes) => true,
            (Some(e), Recorded::EventsBefore) => e.before_evaluation,
            (Some(e), Recorded::EventsAfter) => !e.before_evaluation,
            _ => false,
        };
        // A monitor at the split run's buffers (not at its own place,
        // which runs on its group's clock) records only at the ticks where
        // its group is due.
        let at_buffer = !matches!(kind, Recorded::At(_));
        if !due || at_buffer && clock_at(program, program.groups[*group].clock, step).is_none() {
            continue;
        }
        p.share_for_monitor(p.recorded[x], program, store);
        let g = &groups[*group];
        let own = match event {
            None => &g.spikes()[g.own_spikes.clone()],
            Some(e) => g.events[e.index].occurred(),
        };
        p.buffer_recorded(store, own, (*start, *stop), variables, (step, m));
    }
}

/// Records the StateMonitor `program.monitors[m]`, if it records in this
/// step.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
fn record_state_monitor(
    program: &Program,
    exec: &mut Executor,
    store: &mut ArrayStore,
    groups: &[GroupState],
    synapses: &[SynapsesState],
    (data, checked): (&mut MonitorData, &mut bool),
    partition: &mut Option<PartitionState>,
    clock: Clock,
    m: usize,
) -> Result<(), RuntimeError> {
    let plan = &program.monitors[m];
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
            record_pairs,
            ..
        } = plan
        {
            if clock.tick % every != 0 || !plan.active_at(clock.tick) {
                return Ok(());
            }
            match recorded_synapses {
                None => {
                    if let Some(p) = partition.as_mut() {
                        p.share_for_monitor(m, program, store);
                    }
                    if let Some(kernel) = *prepare {
                        exec.run_range(
                            kernel,
                            store,
                            groups[*group].owned.clone(),
                            clock,
                            None,
                            None,
                        );
                    }
                }
                Some(s) => {
                    let state = &synapses[*s];
                    // On one rank of several the monitor's synapses are
                    // numbered globally, as on one process.
                    let total = partition
                        .as_ref()
                        .map_or(state.len(), |p| p.global_len[*s] as usize);
                    if *record_all_synapses && !*checked {
                        data.set_record((0..total).collect());
                    }
                    if let (Some((pre, post)), false) = (record_pairs, *checked) {
                        let plan = &program.synapses[*s];
                        // A side that is a Synapses object has as many
                        // elements as it made synapses, known only now:
                        // check its index here, as `rheo check` checks a
                        // side of neurons.
                        let sides = [
                            (pre, plan.source_synapses, "source"),
                            (post, plan.target_synapses, "target"),
                        ];
                        for (index, side, role) in sides {
                            if let (Some(n), Some(o)) = (*index, side) {
                                let len = partition
                                    .as_ref()
                                    .map_or(synapses[o].len(), |p| p.global_len[o] as usize);
                                if n >= len {
                                    return Err(RuntimeError::Record {
                                        monitor: name.clone(),
                                        message: format!(
                                            "index {n} is out of range: the {role} of `{}` is \
                                             `{}`, which has {len} synapses",
                                            plan.name, program.synapses[o].name,
                                        ),
                                    });
                                }
                            }
                        }
                        // A side made of synapses is compared by global
                        // synapse index on one rank of several (its
                        // elements here are this rank's).
                        let global = |side: Option<usize>, e: u32| match (partition.as_ref(), side)
                        {
                            (Some(p), Some(o)) => {
                                p.side_global(o, synapses[o].len(), e as usize) as usize
                            }
                            _ => e as usize,
                        };
                        let selected: Vec<usize> = (0..state.pairs.len())
                            .filter(|&k| {
                                let from = global(plan.source_synapses, state.pairs.pre()[k])
                                    - plan.source_start;
                                let onto = global(plan.target_synapses, state.pairs.post()[k])
                                    - plan.target_start;
                                pre.is_none_or(|i| i == from) && post.is_none_or(|j| j == onto)
                            })
                            .collect();
                        // On one rank of several, each rank holds only the
                        // synapses onto its own neurons: the selection is
                        // every rank's, in the global (creation) order
                        // Brian2 numbers them by.
                        let selected = match partition.as_mut() {
                            Some(p) => p.gather_selected(*s, &selected),
                            None => selected,
                        };
                        data.set_record(selected);
                    }
                    if !*checked {
                        let recorded: &[usize] = match &*data {
                            MonitorData::State { record, .. } => record,
                            _ => record,
                        };
                        if let Some(&i) = recorded.iter().find(|&&i| i >= total) {
                            return Err(RuntimeError::Record {
                                monitor: name.clone(),
                                message: format!(
                                    "it records synapse {i} of `{}`, which has {total} synapses",
                                    program.synapses[*s].name,
                                ),
                            });
                        }
                        if let Some(p) = partition.as_mut() {
                            p.find_columns(m, *s, recorded);
                        }
                        *checked = true;
                    }
                    if let Some(kernel) = *prepare {
                        if let Some(p) = partition.as_mut() {
                            p.share_for_monitor(m, program, store);
                        }
                        run_synapse_range_in(
                            exec,
                            partition.as_ref(),
                            kernel,
                            store,
                            0..state.len(),
                            clock,
                            (*s, &state.pairs),
                        );
                    }
                    if let Some(columns) = partition.as_ref().and_then(|p| p.columns[m].as_ref()) {
                        data.record_state_at(store, clock.t, variables, &columns.local);
                        return Ok(());
                    }
                }
            }
            data.record_state(store, clock.t, variables);
        }
    }
    Ok(())
}

/// At the end of an exchange window, after its exchange: the spike
/// lists of each group's last step in the window become every rank's,
/// the synapses that wait for the exchange are queued with their spike's
/// (or event's) step, and the monitors of exchanged groups record the
/// window's steps, in step order. A trigger's lists are those of the
/// ticks where its group's clock is due, delivered at that clock's step
/// and time (`partition::clocks`).
fn deliver_window(
    p: &PartitionState,
    program: &Program,
    store: &ArrayStore,
    groups: &mut [GroupState],
    synapses: &mut [SynapsesState],
    monitors: &mut [MonitorData],
    pre_order: &[(usize, Option<usize>)],
) {
    let end = p.window_step_end();
    for (tick, neurons, x) in p.window_steps() {
        let trigger = p.triggers[x];
        let c = program.groups[trigger.group].clock;
        // At the ticks where the group's clock is not due its list is
        // empty.
        let Some((t, dt, step)) = clock_at(program, c, tick) else {
            continue;
        };
        let split = p.split_in(c);
        for &(s, which) in pre_order {
            let plan = &program.synapses[s];
            let event = match which {
                None => plan.pre_event,
                Some(w) => plan.pathways[w].event,
            };
            if plan.source == trigger.group && event == trigger.event {
                // A pathway placed before its source's thresholder queues
                // a step's spikes in its clock's next step, as one process
                // does; when that step is after the window, then, at the
                // pathway (a new run empties the list first, and they are
                // never queued).
                let push = if p.shifted.contains(&(s, which)) {
                    if tick + p.trigger_every(x) >= end {
                        continue;
                    }
                    step + 1
                } else {
                    step
                };
                synapses[s].push(plan, which, neurons, push, Delays::AtLeast(split));
            }
        }
        if trigger.event.is_some() {
            continue;
        }
        let k = trigger.group;
        if let Some(spike) = &mut groups[k].spike {
            spike.total += neurons.len() as u64;
        }
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if !plan.active_at(tick) {
                continue;
            }
            match plan {
                MonitorPlan::Spike {
                    group,
                    start,
                    stop,
                    variables,
                    event: None,
                    schedule: None,
                    ..
                } if *group == k && variables.is_empty() => {
                    data.record_spikes(store, t, neurons, *start, *stop, variables);
                }
                MonitorPlan::Rate {
                    group, start, stop, ..
                } if *group == k => data.record_rate(t, dt, neurons, *start, *stop),
                _ => {}
            }
        }
    }
    record_window(p, program, monitors);
    for (x, trigger) in p.triggers.iter().enumerate() {
        if trigger.event.is_some() {
            continue;
        }
        // A group not due in the window keeps the list of its last step.
        let Some((all, own)) = p.last_due_step(x) else {
            continue;
        };
        let g = &mut groups[trigger.group];
        if let Some(spike) = &mut g.spike {
            spike.list[..all.len()].copy_from_slice(all);
            spike.len = all.len();
        }
        g.own_spikes = own;
    }
}

/// Records, in the order they were made, what the monitors each rank
/// records for its own neurons (`PartitionState::recorded`) recorded
/// since the exchange before the last: every rank's neurons and values,
/// merged in rank order, at the time of their group's clock.
pub(super) fn record_window(p: &PartitionState, program: &Program, monitors: &mut [MonitorData]) {
    for (tick, m, neurons, values) in p.window_recorded() {
        let plan = &program.monitors[m];
        let MonitorPlan::Spike {
            group, start, stop, ..
        } = plan
        else {
            continue;
        };
        let Some((t, _, _)) = clock_at(program, program.groups[*group].clock, tick) else {
            continue;
        };
        if plan.active_at(tick) {
            monitors[m].record_spikes_with(t, neurons, *start, *stop, values);
        }
    }
}

/// A state updater of the `groups` slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Updater {
    Group(usize),
    Synapses(usize),
}

/// The pathways triggered from `side` of every Synapses object, as
/// `(synapses, pathway)`, sorted by the pathway's Brian2 name (`S_pre`,
/// `S_up`); equal names keep declaration order.
pub(super) fn pathway_order(program: &Program, side: PathwaySide) -> Vec<(usize, Option<usize>)> {
    let mut named: Vec<(String, (usize, Option<usize>))> = program
        .synapses
        .iter()
        .enumerate()
        .flat_map(|(k, s)| {
            s.pathway_names(side)
                .into_iter()
                .map(move |(name, which)| (name, (k, which)))
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, k)| k).collect()
}

/// Brian2's name of the summed variable `summed` of the Synapses object
/// `s` (`S_summed_variable_Isyn_post`), which orders it among the objects
/// of its slot.
pub(super) fn summed_name(program: &Program, s: usize, summed: usize) -> String {
    let plan = &program.synapses[s];
    let array = &program.arrays[plan.summed[summed].target.0 as usize].name;
    let var = array.rsplit('.').next().unwrap_or("");
    format!("{}_summed_variable_{var}_post", plan.name)
}

/// Every object of the step with its Brian2 name, at its place in run
/// number `run` ([`Program::place_in_run`]), in no particular order.
pub(super) fn placed_objects(program: &Program, run: usize) -> Vec<(Slot, String, Step)> {
    let place = |part: Part| program.place_in_run(part, run);
    let mut all = Vec::new();
    for (m, plan) in program.monitors.iter().enumerate() {
        let name = plan.name().to_string();
        let (slot, step) = match (plan, plan.schedule()) {
            (MonitorPlan::Rate { .. }, _) => (Slot::new(Slot::END, 0), Step::Rate(m)),
            (_, Some(slot)) => (slot, Step::Monitor(m)),
            (MonitorPlan::State { .. }, None) => (Slot::new(Slot::START, 0), Step::Monitor(m)),
            (MonitorPlan::Spike { event: None, .. }, None) => {
                (Slot::new(Slot::THRESHOLDS, 1), Step::EventMonitor(m))
            }
            (MonitorPlan::Spike { event: Some(e), .. }, None) if e.before_evaluation => {
                (Slot::new(Slot::THRESHOLDS, 2), Step::EventMonitor(m))
            }
            (MonitorPlan::Spike { .. }, None) => {
                (Slot::new(Slot::AFTER_THRESHOLDS, 1), Step::EventMonitor(m))
            }
        };
        all.push((slot, name, step));
    }
    for (k, g) in program.groups.iter().enumerate() {
        if g.state_update.is_some() {
            all.push((
                place(Part::GroupStateUpdater(k)),
                format!("{}_stateupdater", g.name),
                Step::StateUpdater(Updater::Group(k)),
            ));
        }
        let thresholder = place(Part::Thresholder(k, None));
        if g.spike.is_some() {
            all.push((
                thresholder,
                format!("{}_spike_thresholder", g.name),
                Step::Thresholder(k),
            ));
        }
        // A SpikeGeneratorGroup is its own thresholder in Brian2.
        if g.generator.is_some() {
            all.push((thresholder, g.name.clone(), Step::Thresholder(k)));
        }
        if g.spike.as_ref().is_some_and(|s| s.effect.is_some()) {
            all.push((
                place(Part::Resetter(k, None)),
                format!("{}_spike_resetter", g.name),
                Step::Resetter(k),
            ));
        }
        for (e, event) in g.events.iter().enumerate() {
            all.push((
                place(Part::Thresholder(k, Some(e))),
                format!("{}_{}_thresholder", g.name, event.name),
                Step::EventThresholder(k, e),
            ));
            if event.effect.is_some() {
                all.push((
                    place(Part::Resetter(k, Some(e))),
                    format!("{}_{}_resetter", g.name, event.name),
                    Step::EventResetter(k, e),
                ));
            }
        }
    }
    for (k, s) in program.synapses.iter().enumerate() {
        if s.state_update.is_some() {
            all.push((
                place(Part::SynapsesStateUpdater(k)),
                format!("{}_stateupdater", s.name),
                Step::StateUpdater(Updater::Synapses(k)),
            ));
        }
        for m in 0..s.summed.len() {
            all.push((
                place(Part::Summed(k, m)),
                summed_name(program, k, m),
                Step::Summed(k, m),
            ));
        }
        for side in [PathwaySide::Pre, PathwaySide::Post] {
            for (name, which) in s.pathway_names(side) {
                all.push((
                    place(Part::Pathway(k, side, which)),
                    name,
                    Step::Pathway(k, side, which),
                ));
            }
        }
    }
    for (x, input) in program.poisson_inputs.iter().enumerate() {
        all.push((
            Slot::new(Slot::SYNAPSES, 0),
            input.brian_name.clone(),
            Step::PoissonInput(x),
        ));
    }
    for (r, plan) in program.regular.iter().enumerate() {
        all.push((plan.slot, plan.name.clone(), Step::Regular(r)));
    }
    all
}

/// The objects of a step of run number `run` (counting from 0) in the
/// order Brian2 runs them: sorted by slot, order and name (byte-wise, so
/// `S_stateupdater` comes before `neurons_stateupdater`; a stable sort
/// keeps declaration order for equal names). The steps a run split over
/// ranks adds, which do nothing on one process, go where the scheme of
/// `partition` needs them: the spikes are buffered after every
/// thresholder (before `thresholds` order 1, the SpikeMonitors), the
/// events of EventMonitors where they record, and the window's exchange
/// ends `after_thresholds`.
pub(super) fn step_order(program: &Program, run: usize) -> Vec<Step> {
    let mut all: Vec<(Slot, String, Step)> = placed_objects(program, run);
    all.extend([
        (
            Slot::new(Slot::THRESHOLDS, 1),
            String::new(),
            Step::BufferSpikes,
        ),
        (
            Slot::new(Slot::THRESHOLDS, 2),
            String::new(),
            Step::BufferEventsBefore,
        ),
        (
            Slot::new(Slot::AFTER_THRESHOLDS, 1),
            String::new(),
            Step::BufferEventsAfter,
        ),
        (
            Slot::new(Slot::AFTER_THRESHOLDS, i64::MAX),
            char::MAX.to_string(),
            Step::Exchange,
        ),
    ]);
    all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    all.into_iter().map(|(_, _, step)| step).collect()
}
