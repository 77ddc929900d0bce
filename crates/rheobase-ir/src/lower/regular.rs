//! `run_regularly:` blocks (Brian2's `G.run_regularly(code, dt=...,
//! when=..., order=...)`): the code becomes a Range kernel over the group's
//! neurons or the Synapses object's synapses, and its `when`/`order` a
//! point of the runtime's step schedule.
//!
//! Brian2 runs the objects of one time step sorted by slot (`when`), then
//! `order`, then name. The runtime's schedule has fixed points between
//! its groups of objects ([`SchedulePoint`]); a `run_regularly` is placed
//! at the point where Brian2's sort puts it. Where that would fall between
//! two objects of the same slot and order that the runtime runs together
//! (decided by their names), the model is refused with the `order:` that
//! places it unambiguously, rather than run in a different order.

use super::*;
use rheobase_kernel::program::{
    PathwaySide, RegularPlan, RegularTarget, SchedulePoint, ScheduledAt, SynapsesPlan,
};

/// Brian2's schedule: the slots and their `before_`/`after_` neighbours.
const SLOTS: [&str; 18] = [
    "before_start",
    "start",
    "after_start",
    "before_groups",
    "groups",
    "after_groups",
    "before_thresholds",
    "thresholds",
    "after_thresholds",
    "before_synapses",
    "synapses",
    "after_synapses",
    "before_resets",
    "resets",
    "after_resets",
    "before_end",
    "end",
    "after_end",
];

/// The index of the slot `name` in [`SLOTS`].
pub(super) fn slot(name: &str) -> usize {
    SLOTS.iter().position(|s| *s == name).unwrap_or(0)
}

/// The names of the SpikeMonitors and EventMonitors at their default
/// place (not among `scheduled`, the indices of monitors given a
/// `when:`) whose event (`None`: spikes) passes `keep`.
fn unscheduled_event_monitors(
    program: &Program,
    scheduled: &[ScheduledMonitor],
    keep: impl Fn(Option<&MonitoredEvent>) -> bool,
) -> Vec<String> {
    program
        .monitors
        .iter()
        .enumerate()
        .filter(|(k, m)| match m {
            MonitorPlan::Spike { event, .. } => {
                keep(event.as_ref()) && !scheduled.iter().any(|s| s.monitor == *k)
            }
            _ => false,
        })
        .map(|(_, m)| m.name().to_string())
        .collect()
}

/// A monitor given `when:`/`order:`, placed once every object of the
/// file is known.
pub(super) struct ScheduledMonitor {
    /// Index into `Program::monitors`.
    pub monitor: usize,
    pub slot: usize,
    pub order: i64,
    pub span: Span,
}

/// A `run_regularly` whose schedule point is decided once every object of
/// the file is known (Brian2 sorts the whole network when a run starts).
pub(super) struct PendingRegular {
    pub plan: RegularPlan,
    /// Index into [`SLOTS`].
    pub slot: usize,
    pub order: i64,
    /// Where `when:` (or the block, without one) was written.
    pub span: Span,
    /// The declared name of a PoissonInput run this way (its plan has
    /// Brian2's name, `poissoninput_1`), for messages.
    pub input: Option<String>,
}

impl Builder<'_> {
    /// Lowers the `run_regularly:` blocks of the group or Synapses object
    /// `owner`, whose code sees `scope`; `within` restricts them to the
    /// neurons of a subgroup.
    pub(super) fn run_regularly(
        &mut self,
        blocks: &[ast::RunRegularly],
        owner: &str,
        target: RegularTarget,
        scope: &Scope,
        within: Option<(usize, usize)>,
    ) -> Result<(), Failed> {
        for r in blocks {
            let Some(code) = &r.code else { continue };
            // Brian2 names them `G_run_regularly`, `G_run_regularly_1`, ...
            // in the order they are made, in the body or at the top level.
            let count = self.regular_counts.entry(owner.to_string()).or_insert(0);
            let name = match *count {
                0 => format!("{owner}_run_regularly"),
                k => format!("{owner}_run_regularly_{k}"),
            };
            *count += 1;
            let scope = self.refreshed(scope);
            let kernel = self.block_kernel_within(
                &scope,
                code,
                name.clone(),
                Iteration::Range,
                "`run_regularly` code",
                within,
            )?;
            let every = match &r.dt {
                None => 1,
                Some(e) => {
                    let v =
                        self.constant_value(e, Dimension::SECOND, "`dt:` of `run_regularly`")?;
                    let steps = (v / self.dt).round();
                    if v <= 0.0 || steps < 1.0 || ((steps * self.dt - v) / self.dt).abs() > 1e-6 {
                        return Err(self.error(
                            Diagnostic::error(
                                e.span,
                                format!(
                                    "`dt:` of `run_regularly` must be a positive whole multiple of \
                                     the time step ({} s), but it is {} s",
                                    self.dt, v
                                ),
                            )
                            .with_note(
                                "Brian2 would run it on a clock of its own whose ticks fall \
                                 between the time steps; here it runs every few steps",
                            ),
                        ));
                    }
                    steps as u64
                }
            };
            let (slot, order, span) = self.when_order(r.when.as_ref(), r.order.as_ref(), r.span)?;
            self.regular.push(PendingRegular {
                plan: RegularPlan {
                    name,
                    kernel,
                    target,
                    every,
                    from_step: self.steps_so_far,
                    point: SchedulePoint::StartBegin,
                },
                slot,
                order,
                span,
                input: None,
            });
        }
        Ok(())
    }

    /// `G.run_regularly:` or `G[a:b].run_regularly:` at the top level:
    /// Brian2's `G.run_regularly(...)`, or `N_exc.run_regularly(...)` on a
    /// subgroup `N_exc = N[:Ne]`, whose code sees the subgroup's `i` and
    /// `N` and runs for its neurons only. It starts where it is written.
    pub(super) fn top_run_regularly(
        &mut self,
        target: &ast::GroupRef,
        block: &ast::RunRegularly,
    ) -> Result<(), Failed> {
        if target.slice.is_none() && self.synapse_index(&target.group.name).is_some() {
            return Err(self.error(
                Diagnostic::error(
                    target.group.span,
                    format!(
                        "`{}.run_regularly:` of a Synapses object is written in its body",
                        target.group.name
                    ),
                )
                .with_note("write the block as `run_regularly:` under the Synapses declaration"),
            ));
        }
        let (g, scope, within) = self.subgroup_scope(target)?;
        let group = self.groups[g].name.clone();
        // Brian2 names a subgroup `G_subgroup`, then `G_subgroup_1`, ...;
        // here each top-level block on a slice is one subgroup.
        let owner = match within {
            None => group,
            Some(_) => {
                let count = self.regular_counts.entry(format!("{group}[]")).or_insert(0);
                let owner = match *count {
                    0 => format!("{group}_subgroup"),
                    k => format!("{group}_subgroup_{k}"),
                };
                *count += 1;
                owner
            }
        };
        self.run_regularly(
            std::slice::from_ref(block),
            &owner,
            RegularTarget::Group(g),
            &scope,
            within,
        )
    }

    /// Brian2's `when` and `order` (defaults `start` and 0) as an index
    /// into [`SLOTS`] and a number, with where `when:` (or else
    /// `default_span`) was written.
    pub(super) fn when_order(
        &mut self,
        when: Option<&ast::Ident>,
        order: Option<&ast::Expr>,
        default_span: Span,
    ) -> Result<(usize, i64, Span), Failed> {
        let (slot, span) = match when {
            None => (1, default_span),
            Some(w) => match SLOTS.iter().position(|s| *s == w.name) {
                Some(k) => (k, w.span),
                None => {
                    let mut d = Diagnostic::error(
                        w.span,
                        format!("`{}` is not one of Brian2's schedule slots", w.name),
                    )
                    .with_note(
                        "`when:` is one of start, groups, thresholds, synapses, resets, end, \
                         or one of them with `before_` or `after_`",
                    );
                    if let Some(s) = check::suggest(0, &w.name, SLOTS.iter().copied()) {
                        d = d.with_note(format!("help: did you mean `{s}`?"));
                    }
                    return Err(self.error(d));
                }
            },
        };
        let order = match order {
            None => 0,
            Some(e) => self.whole_number(e, "`order:`")?,
        };
        Ok((slot, order, span))
    }

    /// Decides the schedule point of every `run_regularly` and puts them
    /// in Brian2's order (slot, order, name); then places the monitors
    /// given a `when:`/`order:` among them.
    pub(super) fn place_regular(&mut self) {
        let mut pending = std::mem::take(&mut self.regular);
        for p in &mut pending {
            match self.point(p.slot, p.order, &p.plan.name, p.span, false) {
                Ok(point) => p.plan.point = point,
                Err(d) => self.diagnostics.push(match &p.input {
                    Some(input) => d.with_note(format!(
                        "`{}` is Brian2's name of the PoissonInput `{input}`: Brian2 2.9's \
                         PoissonInput takes no name, and is named in the order of declaration",
                        p.plan.name
                    )),
                    None => d,
                }),
            }
        }
        pending
            .sort_by(|a, b| (a.slot, a.order, &a.plan.name).cmp(&(b.slot, b.order, &b.plan.name)));
        for m in std::mem::take(&mut self.scheduled_monitors) {
            let name = self.program.monitors[m.monitor].name().to_string();
            let point = match self.point(m.slot, m.order, &name, m.span, true) {
                Ok(point) => point,
                Err(d) => {
                    self.diagnostics.push(d);
                    continue;
                }
            };
            // Brian2 sorts the monitor with the `run_regularly` code of
            // the same point by slot, order and name.
            let key = (m.slot, m.order, &name);
            let after_regular = pending
                .iter()
                .filter(|p| p.plan.point == point && (p.slot, p.order, &p.plan.name) < key)
                .count();
            if let MonitorPlan::State { schedule, .. } | MonitorPlan::Spike { schedule, .. } =
                &mut self.program.monitors[m.monitor]
            {
                *schedule = Some(ScheduledAt {
                    point,
                    after_regular,
                });
            }
        }
        self.program.regular = pending.into_iter().map(|p| p.plan).collect();
    }

    /// Where Brian2's sort puts the object `name` of slot `slot` and
    /// order `order` among the runtime's objects. A `monitor` changes no
    /// state, so its place among other monitors does not matter and is
    /// never refused.
    fn point(
        &self,
        slot: usize,
        order: i64,
        name: &str,
        span: Span,
        monitor: bool,
    ) -> Result<SchedulePoint, Diagnostic> {
        use SchedulePoint::*;
        let prog = &self.program;
        let group_names = |f: &dyn Fn(&GroupPlan) -> Vec<String>| -> Vec<String> {
            prog.groups.iter().flat_map(f).collect()
        };
        let synapse_names = |suffix: &str, has: &dyn Fn(&SynapsesPlan) -> bool| -> Vec<String> {
            prog.synapses
                .iter()
                .filter(|s| has(s))
                .map(|s| format!("{}{suffix}", s.name))
                .collect()
        };
        // The objects of the slot at each order, and the points before and
        // after them; orders below (above) the listed ones go to the first
        // (last) point.
        let (levels, first, last): (Vec<(i64, Vec<String>, SchedulePoint)>, _, _) = match SLOTS
            [slot]
        {
            "before_start" => return Ok(StartBegin),
            "after_start" | "before_groups" => return Ok(StartEnd),
            "after_groups" | "before_thresholds" => return Ok(GroupsEnd),
            "before_synapses" => return Ok(ThresholdsEnd),
            "after_synapses" | "before_resets" => return Ok(SynapsesEnd),
            "before_end" => return Ok(ResetsEnd),
            "after_end" => return Ok(EndEnd),
            "start" => {
                // StateMonitors given a `when:`/`order:` are elsewhere.
                let monitors = prog
                    .monitors
                    .iter()
                    .enumerate()
                    .filter(|(k, m)| {
                        matches!(m, MonitorPlan::State { .. })
                            && !self.scheduled_monitors.iter().any(|s| s.monitor == *k)
                    })
                    .map(|(_, m)| m.name().to_string())
                    .collect();
                (vec![(0, monitors, StartEnd)], StartBegin, StartEnd)
            }
            "groups" => {
                let summed = prog
                    .synapses
                    .iter()
                    .flat_map(|s| {
                        s.summed.iter().map(move |m| {
                            let var = prog.arrays[m.target.0 as usize].name.clone();
                            let var = var.rsplit('.').next().unwrap_or("").to_string();
                            format!("{}_summed_variable_{var}_post", s.name)
                        })
                    })
                    .collect();
                let mut updaters = group_names(&|g| match g.state_update {
                    Some(_) => vec![format!("{}_stateupdater", g.name)],
                    None => vec![],
                });
                updaters.extend(synapse_names("_stateupdater", &|s| {
                    s.state_update.is_some()
                }));
                (
                    vec![(-1, summed, GroupsAfterSummed), (0, updaters, GroupsEnd)],
                    StartEnd,
                    GroupsEnd,
                )
            }
            "thresholds" => {
                let thresholders = group_names(&|g| {
                    let mut v = Vec::new();
                    if g.spike.is_some() {
                        v.push(format!("{}_spike_thresholder", g.name));
                    }
                    if g.generator.is_some() {
                        v.push(g.name.clone());
                    }
                    v
                });
                // SpikeMonitors at their default place (order 1) and
                // EventMonitors of subgroups (order 2).
                let monitors = |subgroup_events: bool| {
                    unscheduled_event_monitors(prog, &self.scheduled_monitors, |e| match e {
                        None => !subgroup_events,
                        Some(e) => subgroup_events && e.before_evaluation,
                    })
                };
                (
                    vec![
                        (0, thresholders, ThresholdsAfterThresholders),
                        (1, monitors(false), ThresholdsAfterMonitors),
                        (2, monitors(true), ThresholdsAfterMonitors),
                    ],
                    GroupsEnd,
                    ThresholdsAfterMonitors,
                )
            }
            "after_thresholds" => {
                let thresholders = group_names(&|g| {
                    g.events
                        .iter()
                        .map(|e| format!("{}_{}_thresholder", g.name, e.name))
                        .collect()
                });
                // EventMonitors of whole groups at their default place.
                let monitors = unscheduled_event_monitors(prog, &self.scheduled_monitors, |e| {
                    e.is_some_and(|e| !e.before_evaluation)
                });
                (
                    vec![
                        (0, thresholders, ThresholdsAfterEvents),
                        (1, monitors, ThresholdsEnd),
                    ],
                    ThresholdsAfterMonitors,
                    ThresholdsEnd,
                )
            }
            "synapses" => {
                let pathways = |side| -> Vec<String> {
                    prog.synapses
                        .iter()
                        .flat_map(|s| s.pathway_names(side))
                        .map(|(name, _)| name)
                        .collect()
                };
                let pre = pathways(PathwaySide::Pre);
                let inputs = self
                    .poisson_names
                    .iter()
                    .filter(|(_, default_place)| *default_place)
                    .map(|(name, _)| name.clone())
                    .collect();
                let post = pathways(PathwaySide::Post);
                (
                    vec![
                        (-1, pre, SynapsesAfterPre),
                        (0, inputs, SynapsesAfterPoisson),
                        (1, post, SynapsesEnd),
                    ],
                    ThresholdsEnd,
                    SynapsesEnd,
                )
            }
            "resets" => {
                let resetters = group_names(&|g| match &g.spike {
                    Some(e) if e.effect.is_some() => vec![format!("{}_spike_resetter", g.name)],
                    _ => vec![],
                });
                (
                    vec![(0, resetters, ResetsAfterSpikes)],
                    SynapsesEnd,
                    ResetsAfterSpikes,
                )
            }
            // Custom events' code runs here (Brian2's `run_on_event`
            // default), after the spikes' resets.
            "after_resets" => {
                let resetters = group_names(&|g| {
                    g.events
                        .iter()
                        .filter(|e| e.effect.is_some())
                        .map(|e| format!("{}_{}_resetter", g.name, e.name))
                        .collect()
                });
                (
                    vec![(0, resetters, ResetsEnd)],
                    ResetsAfterSpikes,
                    ResetsEnd,
                )
            }
            _ => {
                let monitors = prog
                    .monitors
                    .iter()
                    .filter(|m| matches!(m, MonitorPlan::Rate { .. }))
                    .map(|m| m.name().to_string())
                    .collect();
                (vec![(0, monitors, EndEnd)], ResetsEnd, EndEnd)
            }
        };
        // Walk the levels in order: the point before a level is the point
        // after the previous one.
        let mut before = first;
        let monitor_level = |names: &[String]| {
            names
                .iter()
                .all(|n| prog.monitors.iter().any(|m| m.name() == n))
        };
        for (level, names, after) in &levels {
            if order < *level {
                return Ok(before);
            }
            if order == *level {
                let earlier = names.iter().filter(|n| n.as_str() < name).count();
                if earlier == 0 {
                    return Ok(before);
                }
                if earlier == names.len() {
                    return Ok(*after);
                }
                if monitor && monitor_level(names) {
                    return Ok(before);
                }
                let mut sorted: Vec<&String> = names.iter().collect();
                sorted.sort();
                return Err(Diagnostic::error(
                    span,
                    format!(
                        "Brian2 runs `{name}` between `{}` and `{}` (objects of slot `{}` and \
                         order {order} run sorted by name), which is not supported",
                        sorted[earlier - 1],
                        sorted[earlier],
                        SLOTS[slot]
                    ),
                )
                .with_note(format!(
                    "give `order: {}` to run it before all of them, or `order: {}` to run it \
                     after them",
                    order - 1,
                    order + 1
                )));
            }
            before = *after;
        }
        Ok(last)
    }
}
