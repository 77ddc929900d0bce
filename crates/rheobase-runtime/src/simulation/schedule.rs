//! The step schedule: what one time step does, in Brian2's order, and the
//! order of objects within a slot.

use super::ranks::{run_synapse_list, run_synapse_range_in};
use super::regular::{run_one, run_regular};
use super::*;
use crate::partition::PartitionState;
use crate::synapses::Delays;
use rheobase_kernel::program::{PathwaySide, SchedulePoint, ScheduledAt};

/// Synapses per piece of a summed variable's update: 256 KiB of terms,
/// which stay in the L2 cache between being written and being added.
const SUMMED_PIECE: usize = 32 * 1024;

impl Simulation {
    /// One time step, in Brian2's schedule: start, groups, thresholds,
    /// after_thresholds, synapses, resets, after_resets, end. Within a
    /// slot, objects run in program order; code and monitors given a
    /// `when:`/`order:` run at the [`SchedulePoint`] their sort gave them.
    pub(super) fn one_step(&mut self) -> Result<(), RuntimeError> {
        let clock = self.clock();
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
            update_order,
            pre_order,
            post_order,
            ..
        } = self;
        // `run_regularly` code due at a point of the schedule, and the
        // StateMonitors that a `when:`/`order:` puts there.
        macro_rules! regular {
            ($point:ident) => {
                at_point(
                    program,
                    exec,
                    store,
                    groups,
                    synapses,
                    (&mut *monitors, &mut *monitor_checked),
                    partition,
                    clock,
                    SchedulePoint::$point,
                )?
            };
        }

        // start: StateMonitors sample the state before this step changes it.
        regular!(StartBegin);
        record_states(
            program,
            exec,
            store,
            groups,
            synapses,
            (&mut *monitors, &mut *monitor_checked),
            partition,
            clock,
            None,
        )?;

        regular!(StartEnd);
        // groups: summed variables (order -1), then the groups' state
        // updates, then the synapses' (order 0).
        for (k, (plan, state)) in program.synapses.iter().zip(synapses.iter()).enumerate() {
            for (m, summed) in plan.summed.iter().enumerate() {
                if clock.step < summed.from_step {
                    continue;
                }
                // On one rank of several, the presynaptic values the terms
                // read (a gap junction's `v_pre`) are made current first.
                if let Some(p) = partition.as_mut() {
                    p.share(&pre_reads[k].summed[m], program, store);
                }
                let (_, target) = store.read_write(summed.scratch, summed.target);
                target[plan.target_start..plan.target_stop].fill(0.0);
                // The terms are computed and added a piece at a time, so
                // that the scratch array is read back from the cache
                // instead of from memory; the additions are made in
                // synapse order all the same, so the sums do not change.
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
        }
        regular!(GroupsAfterSummed);
        for updater in update_order.iter() {
            match *updater {
                Updater::Group(k) => {
                    let g = &groups[k];
                    if let Some(kernel) = g.state_update {
                        share_for(partition, kernel, program, store);
                        exec.run_range(kernel, store, g.owned.clone(), clock, None, None);
                    }
                }
                Updater::Synapses(k) => {
                    let state = &synapses[k];
                    if let Some(kernel) = program.synapses[k].state_update {
                        if let Some(p) = partition.as_mut() {
                            p.share(&pre_reads[k].state_update, program, store);
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
            }
        }

        regular!(GroupsEnd);
        // thresholds: find the spiking neurons (or take a generator's),
        // then (order 1) SpikeMonitors record them with the state after
        // the threshold, before the reset.
        for g in groups.iter_mut() {
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
            }
            if let Some(generator) = &mut g.generator {
                generator.fire(clock.step);
            }
        }
        // On one rank of several, each rank buffers its own spikes (and
        // below its custom events), and at the end of an exchange window,
        // once this step's custom events are found, every rank learns
        // every group's spikes and events of the window's steps (a
        // generator's spikes are the same on all ranks already).
        // `partition` describes the scheme.
        let split = partition.is_some();
        if !split {
            for g in groups.iter_mut() {
                if let Some(spike) = &mut g.spike {
                    spike.total += spike.len as u64;
                }
            }
        }
        regular!(ThresholdsAfterThresholders);
        if let Some(p) = partition.as_mut() {
            // SpikeMonitors' variables are read now, where one process's
            // SpikeMonitors record them (after the thresholders and any
            // code placed right after them, before the reset), by the
            // rank owning the neuron.
            buffer_recorded(p, program, store, groups, Recorded::Spikes);
            p.buffer(groups.iter().filter(|g| g.exchanged()).map(|g| g.spikes()));
        }
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if let MonitorPlan::Spike {
                group,
                event: None,
                schedule: None,
                ..
            } = plan
            {
                // A split run records exchanged groups at the exchange.
                if !(split && groups[*group].exchanged()) {
                    record_spike_monitor(plan, data, groups, store, clock);
                }
            }
        }
        // EventMonitors of a subgroup come next in Brian2 2.9 (its order
        // 2 of `thresholds`), before this step's custom events are found:
        // they record the previous step's events.
        record_events(program, monitors, groups, store, partition, clock, true);

        regular!(ThresholdsAfterMonitors);

        // after_thresholds: custom event conditions.
        for g in groups.iter_mut() {
            for event in &mut g.events {
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
        }
        regular!(ThresholdsAfterEvents);
        // EventMonitors of whole groups record their event right after it
        // is found (Brian2's order: the event's thresholder's order + 1).
        record_events(program, monitors, groups, store, partition, clock, false);
        if let Some(p) = partition.as_mut() {
            p.buffer_events(|g, e| groups[g].events[e].occurred());
            p.end_step();
            if p.ends_window(clock.step) {
                p.exchange_window();
                deliver_window(
                    p, program, store, groups, synapses, monitors, pre_order, clock.dt,
                );
            }
        }

        regular!(ThresholdsEnd);
        // synapses: `pre` pathways (order -1), PoissonInputs (0), `post`
        // pathways (+1).
        for &(k, which) in pre_order.iter() {
            let (plan, state) = (&program.synapses[k], &mut synapses[k]);
            let (kernel, event) = match which {
                None => (plan.on_pre, plan.pre_event),
                Some(p) => (Some(plan.pathways[p].kernel), plan.pathways[p].event),
            };
            if let Some(kernel) = kernel {
                let source = &groups[plan.source];
                let due = match partition {
                    // This rank's spikes or events reach its synapses of
                    // shorter delays than the window's now; the other
                    // ranks', and the longer delays, were queued at the
                    // exchange (a generator's spikes are every rank's).
                    Some(p) if event.is_some() || source.exchanged() => {
                        let own = match event {
                            None => &source.spikes()[source.own_spikes.clone()],
                            Some(e) => source.events[e].occurred(),
                        };
                        state.push(plan, which, own, clock.step, Delays::Below(p.split));
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
                    p.share(reads, program, store);
                }
                run_synapse_list(
                    exec,
                    partition.as_ref(),
                    kernel,
                    store,
                    &due,
                    clock,
                    (k, &state.pairs),
                );
                state.clear_due(which, due, clock.step);
            }
        }
        regular!(SynapsesAfterPre);
        for input in &program.poisson_inputs {
            let owned = groups[input.group].owned.clone();
            share_for(partition, input.kernel, program, store);
            exec.run_range(input.kernel, store, owned, clock, None, None);
        }
        regular!(SynapsesAfterPoisson);
        for &(k, which) in post_order.iter() {
            let (plan, state) = (&program.synapses[k], &mut synapses[k]);
            let target = &groups[plan.target];
            match which {
                None => {
                    if let Some(kernel) = plan.on_post {
                        let triggered = match plan.post_event {
                            None => target.spikes(),
                            Some(e) => target.events[e].occurred(),
                        };
                        let list = state.post_synapses(plan, triggered);
                        state.events += list.len() as u64;
                        if let Some(p) = partition.as_mut() {
                            p.share(&pre_reads[k].on_post, program, store);
                        }
                        run_synapse_list(
                            exec,
                            partition.as_ref(),
                            kernel,
                            store,
                            &list,
                            clock,
                            (k, &state.pairs),
                        );
                        state.return_post_list(list);
                    }
                }
                // A named `post` pathway may have a delay, so it goes
                // through its own queue.
                Some(w) => {
                    let pathway = &plan.pathways[w];
                    let triggered = match pathway.event {
                        None => target.spikes(),
                        Some(e) => target.events[e].occurred(),
                    };
                    // Its synapses are onto this rank's neurons, whose
                    // spikes and events this rank found itself.
                    let due = state.push_and_take_due(plan, which, triggered, clock.step);
                    state.events += due.len() as u64;
                    if let Some(p) = partition.as_mut() {
                        p.share(&pre_reads[k].pathways[w], program, store);
                    }
                    run_synapse_list(
                        exec,
                        partition.as_ref(),
                        pathway.kernel,
                        store,
                        &due,
                        clock,
                        (k, &state.pairs),
                    );
                    state.clear_due(which, due, clock.step);
                }
            }
        }

        regular!(SynapsesEnd);
        // resets: spike effects over this step's spikes.
        for g in groups.iter() {
            if let Some(spike) = &g.spike {
                if let Some(kernel) = spike.effect {
                    share_for(partition, kernel, program, store);
                    // Each rank resets its own neurons.
                    let own = &spike.occurred()[g.own_spikes.clone()];
                    exec.run_list(kernel, store, own, clock, None, None);
                }
            }
        }

        regular!(ResetsAfterSpikes);
        // after_resets: custom event effects.
        for g in groups.iter() {
            for event in &g.events {
                if let Some(kernel) = event.effect {
                    share_for(partition, kernel, program, store);
                    exec.run_list(kernel, store, event.occurred(), clock, None, None);
                }
            }
        }

        regular!(ResetsEnd);
        // end: population rates.
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if let MonitorPlan::Rate {
                group, start, stop, ..
            } = plan
            {
                if !plan.active_at(clock.step) || (split && groups[*group].exchanged()) {
                    continue;
                }
                data.record_rate(clock.t, clock.dt, groups[*group].spikes(), *start, *stop);
            }
        }

        regular!(EndEnd);
        self.step += 1;
        Ok(())
    }
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

/// Records the EventMonitors at their default place whose
/// `before_evaluation` is `before`: the events each group's lists hold now. On one rank of several, each rank
/// buffers its own neurons' events instead, merged at the window's
/// exchange.
fn record_events(
    program: &Program,
    monitors: &mut [MonitorData],
    groups: &[GroupState],
    store: &mut ArrayStore,
    partition: &mut Option<PartitionState>,
    clock: Clock,
    before: bool,
) {
    if let Some(p) = partition.as_mut() {
        let kind = if before {
            Recorded::EventsBefore
        } else {
            Recorded::EventsAfter
        };
        buffer_recorded(p, program, store, groups, kind);
        return;
    }
    for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
        if let MonitorPlan::Spike {
            event: Some(e),
            schedule: None,
            ..
        } = plan
        {
            if e.before_evaluation == before {
                record_spike_monitor(plan, data, groups, store, clock);
            }
        }
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
    if !plan.active_at(clock.step) {
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
}

/// Buffers, for the window's exchange, this rank's recording of each
/// monitor of `p.recorded` of kind `kind`: its own neurons' spikes or
/// events in the monitor's range and their variables' values now. Every
/// step buffers every such monitor, recording or not (whether it records
/// is decided at the exchange), so the message's layout is fixed.
fn buffer_recorded(
    p: &mut PartitionState,
    program: &Program,
    store: &mut ArrayStore,
    groups: &[GroupState],
    kind: Recorded,
) {
    for x in 0..p.recorded.len() {
        let MonitorPlan::Spike {
            group,
            start,
            stop,
            variables,
            event,
            ..
        } = &program.monitors[p.recorded[x]]
        else {
            continue;
        };
        let due = match (event, kind) {
            (None, Recorded::Spikes) => true,
            (Some(e), Recorded::EventsBefore) => e.before_evaluation,
            (Some(e), Recorded::EventsAfter) => !e.before_evaluation,
            _ => false,
        };
        if !due {
            continue;
        }
        p.share_for_monitor(p.recorded[x], program, store);
        let g = &groups[*group];
        let own = match event {
            None => &g.spikes()[g.own_spikes.clone()],
            Some(e) => g.events[e.index].occurred(),
        };
        p.buffer_recorded(store, own, (*start, *stop), variables);
    }
}

/// Records the StateMonitors scheduled at `at` (`None`: the usual place
/// at the start of the step), and the SpikeMonitors and EventMonitors a
/// `when:` puts there.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
fn record_states(
    program: &Program,
    exec: &mut Executor,
    store: &mut ArrayStore,
    groups: &[GroupState],
    synapses: &[SynapsesState],
    (monitors, monitor_checked): (&mut [MonitorData], &mut [bool]),
    partition: &mut Option<PartitionState>,
    clock: Clock,
    at: Option<ScheduledAt>,
) -> Result<(), RuntimeError> {
    for (m, ((plan, data), checked)) in program
        .monitors
        .iter()
        .zip(monitors.iter_mut())
        .zip(monitor_checked.iter_mut())
        .enumerate()
    {
        if at.is_some() && plan.schedule() == at && matches!(plan, MonitorPlan::Spike { .. }) {
            record_spike_monitor(plan, data, groups, store, clock);
            continue;
        }
        if let MonitorPlan::State {
            name,
            group,
            synapses: recorded_synapses,
            variables,
            record,
            every,
            prepare,
            record_all_synapses,
            schedule,
            ..
        } = plan
        {
            if *schedule != at || clock.step % every != 0 || !plan.active_at(clock.step) {
                continue;
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
                        continue;
                    }
                }
            }
            data.record_state(store, clock.t, variables);
        }
    }
    Ok(())
}

/// Runs what is due at `point`: the `run_regularly` code there, in order,
/// and the StateMonitors given that point, each after the kernels Brian2
/// runs before it.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
fn at_point(
    program: &Program,
    exec: &mut Executor,
    store: &mut ArrayStore,
    groups: &[GroupState],
    synapses: &[SynapsesState],
    (monitors, monitor_checked): (&mut [MonitorData], &mut [bool]),
    partition: &mut Option<PartitionState>,
    clock: Clock,
    point: SchedulePoint,
) -> Result<(), RuntimeError> {
    let monitored = program
        .monitors
        .iter()
        .any(|m| m.schedule().is_some_and(|s| s.point == point));
    if !monitored {
        run_regular(
            program, exec, store, groups, synapses, partition, clock, point,
        );
        return Ok(());
    }
    // Before each run_regularly kernel of this point, and after the last,
    // the monitors Brian2 sorts there.
    let mut plans = program.regular.iter().filter(|r| r.point == point);
    let mut done = 0;
    loop {
        let at = Some(ScheduledAt {
            point,
            after_regular: done,
        });
        record_states(
            program,
            exec,
            store,
            groups,
            synapses,
            (&mut *monitors, &mut *monitor_checked),
            partition,
            clock,
            at,
        )?;
        match plans.next() {
            Some(plan) => run_one(
                program, plan, exec, store, groups, synapses, partition, clock,
            ),
            None => return Ok(()),
        }
        done += 1;
    }
}

/// At the end of an exchange window, after its exchange: the last step's
/// spike lists become every rank's, the synapses that wait for the
/// exchange are queued with their spike's (or event's) step, and the
/// monitors of exchanged groups record the window's steps, in step order.
#[allow(clippy::too_many_arguments)]
fn deliver_window(
    p: &PartitionState,
    program: &Program,
    store: &ArrayStore,
    groups: &mut [GroupState],
    synapses: &mut [SynapsesState],
    monitors: &mut [MonitorData],
    pre_order: &[(usize, Option<usize>)],
    dt: f64,
) {
    for (step, neurons, x) in p.window_steps() {
        let trigger = p.triggers[x];
        for &(s, which) in pre_order {
            let plan = &program.synapses[s];
            let event = match which {
                None => plan.pre_event,
                Some(w) => plan.pathways[w].event,
            };
            if plan.source == trigger.group && event == trigger.event {
                synapses[s].push(plan, which, neurons, step, Delays::AtLeast(p.split));
            }
        }
        if trigger.event.is_some() {
            continue;
        }
        let k = trigger.group;
        if let Some(spike) = &mut groups[k].spike {
            spike.total += neurons.len() as u64;
        }
        let t = step as f64 * dt;
        for (plan, data) in program.monitors.iter().zip(monitors.iter_mut()) {
            if !plan.active_at(step) {
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
    record_window(p, program, monitors, dt);
    for (x, trigger) in p.triggers.iter().enumerate() {
        let g = &mut groups[trigger.group];
        if trigger.event.is_some() {
            continue;
        }
        if let Some(spike) = &mut g.spike {
            let all = p.last_step(x);
            spike.list[..all.len()].copy_from_slice(all);
            spike.len = all.len();
        }
        g.own_spikes = p.own[x].clone();
    }
}

/// Records, step by step, what the monitors each rank records for its own
/// neurons (`PartitionState::recorded`) recorded in the last window: every
/// rank's neurons and values, merged in rank order.
fn record_window(p: &PartitionState, program: &Program, monitors: &mut [MonitorData], dt: f64) {
    for step in p.window_step_range() {
        let t = step as f64 * dt;
        for &m in &p.recorded {
            let plan = &program.monitors[m];
            let MonitorPlan::Spike { start, stop, .. } = plan else {
                continue;
            };
            if plan.active_at(step) {
                let (neurons, values) = p.window_recorded(step, m);
                monitors[m].record_spikes_with(t, neurons, *start, *stop, values);
            }
        }
    }
}

/// A state updater of the `groups` slot.
#[derive(Debug, Clone, Copy)]
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

/// The state updaters sorted as Brian2 sorts objects with the same slot
/// and order: by object name, byte-wise (so `S_stateupdater` comes before
/// `neurons_stateupdater`).
pub(super) fn update_order(program: &Program) -> Vec<Updater> {
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
