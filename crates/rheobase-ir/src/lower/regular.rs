//! `run_regularly:` blocks (Brian2's `G.run_regularly(code, dt=...,
//! when=..., order=...)`): the code becomes a Range kernel over the group's
//! neurons or the Synapses object's synapses, and its `when`/`order` its
//! [`Slot`]; also the `when:`/`order:` of monitors and PoissonInputs.
//!
//! Brian2 runs the objects of one time step sorted by slot (`when`), then
//! `order`, then name; the runtime sorts them so (its `step_order`).

use super::*;
use rheobase_kernel::program::{Part, PathwaySide, RegularPlan, RegularTarget, Slot, SLOT_NAMES};

/// The index of the slot `name` in [`SLOT_NAMES`].
pub(super) fn slot(name: &str) -> usize {
    SLOT_NAMES.iter().position(|s| *s == name).unwrap_or(0)
}

/// A `run_regularly` whose schedule point is decided once every object of
/// the file is known (Brian2 sorts the whole network when a run starts).
pub(super) struct PendingRegular {
    pub plan: RegularPlan,
    /// Index into [`SLOT_NAMES`].
    pub slot: usize,
    pub order: i64,
    /// The declared name of a PoissonInput run this way (its plan has
    /// Brian2's name, `poissoninput_1`), for messages.
    pub input: Option<String>,
}

impl Builder<'_> {
    /// The period in ticks of `run_regularly` code with the time step `v`
    /// (its `dt:`, or its `clock:`'s at `span`).
    fn regular_every(&mut self, v: f64, span: Span, tick: f64) -> Result<u64, Failed> {
        let steps = (v / tick).round();
        if v <= 0.0 || steps < 1.0 || ((steps * tick - v) / tick).abs() > 1e-6 {
            return Err(self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "`dt:` of `run_regularly` must be a positive whole multiple of \
                         the time step ({} s), but it is {} s",
                        tick, v
                    ),
                )
                .with_note(
                    "Brian2 would run it on a clock of its own whose ticks fall \
                     between the time steps; here it runs every few steps",
                ),
            ));
        }
        Ok(steps as u64)
    }

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
            // Brian2 runs it on its group's clock unless it has a `dt:`
            // (a clock of its own); either counts ticks.
            let tick = self.program.dt;
            // A `clock:` is the named Clock's time step (one naming no
            // Clock was reported ahead, or is reported here).
            let clock_dt = match (&r.dt, &r.clock) {
                (Some(_), Some(c)) => {
                    return Err(self.error(
                        Diagnostic::error(
                            c.span,
                            "`run_regularly` takes `dt:` or `clock:`, not both",
                        )
                        .with_note(
                            "Brian2 says \"Can only specify either a dt or a clock, not both\"",
                        ),
                    ))
                }
                (None, Some(c)) => match self.clock_dts.get(&c.name) {
                    Some(&v) => Some((v, c.span)),
                    None => {
                        return Err(self.error(Diagnostic::error(
                            c.span,
                            format!("`{}` is not a Clock declared in this file", c.name),
                        )))
                    }
                },
                _ => None,
            };
            let every = match (&r.dt, clock_dt) {
                (None, Some((v, span))) => self.regular_every(v, span, tick)?,
                (None, None) => {
                    let clock = match target {
                        RegularTarget::Group(g) => self.program.groups[g].clock,
                        RegularTarget::Synapses(s) => self.program.synapses[s].clock,
                    };
                    self.program.clocks[clock].every
                }
                (Some(e), _) => {
                    let v =
                        self.constant_value(e, Dimension::SECOND, "`dt:` of `run_regularly`")?;
                    self.regular_every(v, e.span, tick)?
                }
            };
            let (slot, order, _) = self.when_order(r.when.as_ref(), r.order.as_ref(), r.span)?;
            self.regular.push(PendingRegular {
                plan: RegularPlan {
                    name,
                    kernel,
                    target,
                    every,
                    from_step: self.steps_so_far,
                    slot: Slot::new(Slot::START, 0),
                },
                slot,
                order,
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
        // Brian2's `S.run_regularly(...)` on a Synapses object: the same as
        // a block in its body, from where it is written.
        if let Some(si) = self.synapse_index(&target.group.name) {
            if let Some(slice) = &target.slice {
                return Err(self.error(
                    Diagnostic::error(
                        slice.span,
                        format!(
                            "`{}` is a Synapses object, whose synapses cannot be sliced here",
                            target.group.name
                        ),
                    )
                    .with_note("`run_regularly` on a Synapses object runs for all its synapses"),
                ));
            }
            let info = &self.synapse_infos[si];
            let (owner, scope) = (info.name.clone(), info.scope.clone());
            return self.run_regularly(
                std::slice::from_ref(block),
                &owner,
                RegularTarget::Synapses(si),
                &scope,
                None,
            );
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
    /// into [`SLOT_NAMES`] and a number, with where `when:` (or else
    /// `default_span`) was written.
    pub(super) fn when_order(
        &mut self,
        when: Option<&ast::Ident>,
        order: Option<&ast::Expr>,
        default_span: Span,
    ) -> Result<(usize, i64, Span), Failed> {
        let (slot, span) = match when {
            None => (1, default_span),
            Some(w) => match SLOT_NAMES.iter().position(|s| *s == w.name) {
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
                    if let Some(s) = check::suggest(0, &w.name, SLOT_NAMES.iter().copied()) {
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

    /// Gives every `run_regularly` (and moved PoissonInput) its place; the
    /// runtime sorts the step's objects by place and name as Brian2 does.
    pub(super) fn place_regular(&mut self) {
        let pending = std::mem::take(&mut self.regular);
        self.program.regular = pending
            .into_iter()
            .map(|p| RegularPlan {
                slot: Slot::new(p.slot as u8, p.order),
                ..p.plan
            })
            .collect();
    }
}

impl Builder<'_> {
    /// The place `part` has at this point of the file: where Brian2's
    /// object is now (an object made later, such as a SpikeMonitor,
    /// takes its default place from it).
    pub(super) fn part_place(&self, part: Part) -> Slot {
        self.program.place_in_run(part, usize::MAX)
    }

    /// The `order:` of the NeuronGroup or Synapses object `name` (0
    /// without one).
    pub(super) fn object_order(&self, name: &str) -> i64 {
        self.object_orders.get(name).copied().unwrap_or(0)
    }

    /// A NeuronGroup's `order:` (Brian2's `order=`): the order of each of
    /// its parts (state updater, thresholders, resetters) in its slot.
    pub(super) fn group_order(
        &mut self,
        g: usize,
        order: Option<&ast::Expr>,
    ) -> Result<(), Failed> {
        let Some(order) = order else { return Ok(()) };
        let order = self.whole_number(order, "`order:`")?;
        if order == 0 {
            return Ok(());
        }
        let plan = &self.program.groups[g];
        self.object_orders.insert(plan.name.clone(), order);
        let mut parts = vec![
            Part::GroupStateUpdater(g),
            Part::Thresholder(g, None),
            Part::Resetter(g, None),
        ];
        for e in 0..plan.events.len() {
            parts.extend([Part::Thresholder(g, Some(e)), Part::Resetter(g, Some(e))]);
        }
        for part in parts {
            let when = part.default_slot().when;
            self.program.places.push((part, Slot::new(when, order)));
        }
        Ok(())
    }

    /// A Synapses object's `order:` (the order of its state updater; its
    /// pathways keep orders -1 and +1, as in Brian2), and the place of
    /// its summed variables, which Brian2 runs in `groups` at the target
    /// group's order - 1.
    pub(super) fn synapses_order(
        &mut self,
        s: usize,
        order: Option<&ast::Expr>,
    ) -> Result<(), Failed> {
        let plan = &self.program.synapses[s];
        let target_order = self.object_order(&self.program.groups[plan.target].name);
        if target_order != 0 {
            for m in 0..plan.summed.len() {
                self.program.places.push((
                    Part::Summed(s, m),
                    Slot::new(Slot::GROUPS, target_order - 1),
                ));
            }
        }
        let Some(order) = order else { return Ok(()) };
        let order = self.whole_number(order, "`order:`")?;
        if order != 0 {
            let name = self.program.synapses[s].name.clone();
            self.object_orders.insert(name, order);
            self.program.places.push((
                Part::SynapsesStateUpdater(s),
                Slot::new(Slot::GROUPS, order),
            ));
        }
        Ok(())
    }

    /// `G.thresholder['spike'].when = 'before_groups'`, `S.pre.order = 1`
    /// and the like: moves one part of a group or Synapses object, as
    /// setting the attribute of Brian2's object does before a run.
    pub(super) fn set_schedule(&mut self, d: &ast::SetSchedule) -> Result<(), Failed> {
        let (object, part_name) = (&d.object.name, d.part.name.as_str());
        let written = self
            .source
            .get(d.target.start..d.target.end)
            .unwrap_or(part_name)
            .to_string();
        let part = if let Some(g) = self.program.groups.iter().position(|g| &g.name == object) {
            self.group_part(g, d, &written)?
        } else if let Some(s) = self.program.synapses.iter().position(|s| &s.name == object) {
            self.synapses_part(s, d, &written)?
        } else {
            let what = match self.program.monitors.iter().any(|m| m.name() == object) {
                true => {
                    format!("`{object}` is a monitor: give it `when:`/`order:` in its declaration")
                }
                false => format!(
                    "no NeuronGroup or Synapses object is named `{object}` (declared above)"
                ),
            };
            return Err(self.error(
                Diagnostic::error(
                    d.object.span,
                    format!("`{written}` is not a part of a group"),
                )
                .with_note(what),
            ));
        };
        let now = self.part_place(part);
        let slot = match &d.value {
            ast::ScheduleValue::When(w) => {
                let (slot, _, _) = self.when_order(Some(w), None, w.span)?;
                Slot::new(slot as u8, now.order)
            }
            ast::ScheduleValue::Order(e) => {
                Slot::new(now.when, self.whole_number(e, &format!("`{written}`"))?)
            }
        };
        // After a `run`, the place holds from the next run on: Brian2
        // sorts its objects again when each run starts.
        let runs = self
            .program
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Run { .. }))
            .count();
        match runs {
            0 => self.program.places.push((part, slot)),
            run => self.program.later_places.push((run, part, slot)),
        }
        Ok(())
    }

    /// The part of group `g` that `d` names: `state_updater`,
    /// `thresholder[EVENT]` or `resetter[EVENT]`.
    fn group_part(
        &mut self,
        g: usize,
        d: &ast::SetSchedule,
        written: &str,
    ) -> Result<Part, Failed> {
        let plan = &self.program.groups[g];
        let name = plan.name.clone();
        let part = d.part.name.as_str();
        let event = match (part, &d.event) {
            ("state_updater", None) => return Ok(Part::GroupStateUpdater(g)),
            ("thresholder" | "resetter", Some(e)) => e,
            ("thresholder" | "resetter", None) => {
                return Err(self.error(
                    Diagnostic::error(
                        d.part.span,
                        format!("`{name}.{part}` holds one {part} per event"),
                    )
                    .with_note(format!(
                        "help: name the event, as in Brian2: `{name}.{part}['spike'].{}`",
                        match d.value {
                            ast::ScheduleValue::When(_) => "when = ...",
                            ast::ScheduleValue::Order(_) => "order = ...",
                        }
                    )),
                ))
            }
            _ => {
                let mut diag = Diagnostic::error(
                    d.part.span,
                    format!("`{name}` has no part `{part}` whose schedule can be set"),
                )
                .with_note(
                    "a NeuronGroup's parts are `state_updater`, `thresholder['EVENT']` and \
                     `resetter['EVENT']`",
                );
                if let Some(s) = check::suggest(
                    self.diagnostics.len(),
                    part,
                    ["state_updater", "thresholder", "resetter"].into_iter(),
                ) {
                    diag = diag.with_note(format!("help: did you mean `{s}`?"));
                }
                return Err(self.error(diag));
            }
        };
        let index = match event.name.as_str() {
            "spike" => None,
            e => match plan.events.iter().position(|x| x.name == e) {
                Some(k) => Some(k),
                None => {
                    let mut names = vec!["spike".to_string()];
                    names.extend(plan.events.iter().map(|x| x.name.clone()));
                    return Err(self.error(
                        Diagnostic::error(event.span, format!("`{name}` has no event `{e}`"))
                            .with_note(format!(
                                "its events are {}",
                                names
                                    .iter()
                                    .map(|n| format!("`{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                    ));
                }
            },
        };
        let exists = match (part, index) {
            // Brian2's SpikeGeneratorGroup emits its spikes itself (it is
            // the object scheduled in `thresholds`), so it has no
            // thresholder: `gen.thresholder` raises "No attribute with name
            // thresholder" there.
            ("thresholder", None) => plan.spike.is_some() && plan.generator.is_none(),
            ("resetter", None) => plan.spike.as_ref().is_some_and(|s| s.effect.is_some()),
            ("resetter", Some(k)) => plan.events[k].effect.is_some(),
            _ => true,
        };
        if !exists {
            let why = match (part, index) {
                ("thresholder", _) if plan.generator.is_some() => format!(
                    "`{name}` is a SpikeGeneratorGroup, which emits its spikes itself \
                     (Brian2: \"No attribute with name thresholder\")"
                ),
                ("thresholder", _) => format!("`{name}` has no `threshold:`"),
                (_, None) => format!("`{name}` has no `reset:`"),
                (_, Some(_)) => format!("`{name}` has no `on_event {}:` code", event.name),
            };
            return Err(self.error(
                Diagnostic::error(
                    Span::new(d.part.span.start, event.span.end),
                    format!("`{written}` names a {part} that does not exist"),
                )
                .with_note(format!("{why}, so Brian2 has no such object either")),
            ));
        }
        Ok(match part {
            "thresholder" => Part::Thresholder(g, index),
            _ => Part::Resetter(g, index),
        })
    }

    /// The part of Synapses object `s` that `d` names: `state_updater`,
    /// or a pathway (`pre`, `post` or a named one).
    fn synapses_part(
        &mut self,
        s: usize,
        d: &ast::SetSchedule,
        written: &str,
    ) -> Result<Part, Failed> {
        let plan = &self.program.synapses[s];
        let name = plan.name.clone();
        let part = d.part.name.as_str();
        if let Some(e) = &d.event {
            return Err(self.error(
                Diagnostic::error(
                    Span::new(d.part.span.start, e.span.end + 1),
                    format!("`{written}`: a part of a Synapses object takes no event"),
                )
                .with_note(format!("write `{name}.{part}.` and the attribute")),
            ));
        }
        if part == "state_updater" {
            return Ok(Part::SynapsesStateUpdater(s));
        }
        let pathways: Vec<(String, PathwaySide, Option<usize>)> =
            [PathwaySide::Pre, PathwaySide::Post]
                .into_iter()
                .flat_map(|side| {
                    plan.pathway_names(side)
                        .into_iter()
                        .map(move |(n, which)| (n, side, which))
                })
                .collect();
        let prefix = format!("{name}_");
        if let Some((_, side, which)) = pathways
            .iter()
            .find(|(n, _, _)| n.strip_prefix(&prefix) == Some(part))
        {
            return Ok(Part::Pathway(s, *side, *which));
        }
        let mut names: Vec<String> = vec!["state_updater".to_string()];
        names.extend(
            pathways
                .iter()
                .filter_map(|(n, _, _)| n.strip_prefix(&prefix).map(str::to_string)),
        );
        let mut diag = Diagnostic::error(
            d.part.span,
            format!("`{name}` has no part `{part}` whose schedule can be set"),
        )
        .with_note(format!(
            "its parts are {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(x) = check::suggest(
            self.diagnostics.len(),
            part,
            names.iter().map(String::as_str),
        ) {
            diag = diag.with_note(format!("help: did you mean `{x}`?"));
        }
        Err(self.error(diag))
    }
}
