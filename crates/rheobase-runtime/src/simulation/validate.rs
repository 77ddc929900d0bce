//! The program validator: checks a lowered [`Program`] before anything
//! runs, so that the runtime and the compiled kernels may assume it is
//! consistent (every index in range, every kernel used as its iteration
//! says, every array of the right kind). Like a compiler back end that
//! takes only validated input, the runtime never runs a program this pass
//! has not accepted.

use super::*;
use rheobase_kernel::program::RegularTarget;

/// Checks the indices and ranges of a program that do not need the
/// compiled kernels, so that a broken program fails before compiling.
pub(super) fn check_structure(program: &Program) -> Result<(), String> {
    if !(program.dt.is_finite() && program.dt > 0.0) {
        return Err(format!("the time step is {} s", program.dt));
    }
    // Every object's clock exists and ticks at a whole number of ticks;
    // clock 0 is `defaultclock`.
    if program.clocks.is_empty() {
        return Err("the program has no clock".into());
    }
    for (c, clock) in program.clocks.iter().enumerate() {
        if !(clock.dt.is_finite() && clock.dt > 0.0) || clock.every == 0 {
            return Err(format!(
                "clock #{c} has time step {} s every {} ticks",
                clock.dt, clock.every
            ));
        }
    }
    let clocks = program.groups.iter().map(|g| (&g.name, g.clock));
    let clocks = clocks.chain(program.synapses.iter().map(|s| (&s.name, s.clock)));
    for (name, c) in clocks {
        if c >= program.clocks.len() {
            return Err(format!(
                "`{name}` runs on clock #{c} of {}",
                program.clocks.len()
            ));
        }
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
        // A side made of the synapses of an earlier object: its range is
        // all of them, set by the runtime before the first connection.
        for side in [s.source_synapses, s.target_synapses].into_iter().flatten() {
            if side >= index {
                return Err(format!(
                    "{what} connects synapses of Synapses #{side}, which is not declared before it"
                ));
            }
        }
        if s.source_synapses.is_some() && s.source_start != 0 {
            return Err(format!("{what} connects from a slice of synapses"));
        }
        if s.target_synapses.is_some() && s.target_start != 0 {
            return Err(format!("{what} connects to a slice of synapses"));
        }
        if s.source_synapses.is_none()
            && (s.source_start > s.source_stop || s.source_stop > source.size)
        {
            return Err(format!(
                "{what} connects from neurons {}..{} of {}",
                s.source_start, s.source_stop, source.size
            ));
        }
        if s.target_synapses.is_none()
            && (s.target_start > s.target_stop || s.target_stop > target.size)
        {
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
        // A pathway's trigger is an event of the neurons on its side.
        let events_of = |side: PathwaySide| match side {
            PathwaySide::Pre => source.events.len(),
            PathwaySide::Post => target.events.len(),
        };
        let triggers = [
            (PathwaySide::Pre, s.pre_event),
            (PathwaySide::Post, s.post_event),
        ]
        .into_iter()
        .chain(s.pathways.iter().map(|p| (p.side, p.event)));
        for (side, event) in triggers {
            if event.is_some_and(|e| e >= events_of(side)) {
                return Err(format!(
                    "{what}: a pathway is triggered by an event that does not exist"
                ));
            }
        }
        for p in &s.pathways {
            kernel(p.kernel, &what)?;
            let delay = array(p.delay, &what)?;
            if delay.synapses != Some(index) && !(delay.synapses.is_none() && delay.len == 1) {
                return Err(format!(
                    "{what}: the delay `{}` is not per synapse",
                    delay.name
                ));
            }
        }
        for summed in &s.summed {
            kernel(summed.kernel, &what)?;
            synaptic(summed.scratch, index, &what)?;
            if let Some(k) = s.target_synapses {
                synaptic(summed.target, k, &what)?;
            } else {
                neuron_array(summed.target, s.target_stop, &what)?;
            }
            if array(summed.target, &what)?.group != s.target {
                return Err(format!(
                    "{what}: a summed variable's target is not in the target group"
                ));
            }
        }
        for id in [s.n_incoming, s.n_outgoing].into_iter().flatten() {
            synaptic(id, index, &what)?;
        }
        if let Some(id) = s.n_synapses {
            if array(id, &what)?.len != 1 {
                return Err(format!("{what}: `N` is not a one-element array"));
            }
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
                    match s.source_synapses {
                        Some(k) => synaptic(*scratch, k, &what)?,
                        None => neuron_array(*scratch, s.source_stop, &what)?,
                    }
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
                    // Candidates need a placeholder neuron on each side (a
                    // side made of synapses gets its range at run time, and
                    // the runtime makes nothing when it is empty).
                    let empty =
                        |start, stop, synapses: Option<usize>| synapses.is_none() && start == stop;
                    if empty(s.source_start, s.source_stop, s.source_synapses)
                        || empty(s.target_start, s.target_stop, s.target_synapses)
                    {
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
    for r in &program.regular {
        let what = format!("`{}`", r.name);
        kernel(r.kernel, &what)?;
        if r.every == 0 {
            return Err(format!("{what} runs every 0 steps"));
        }
        match r.target {
            RegularTarget::Group(g) => drop(group(g, &what)?),
            RegularTarget::Synapses(s) => drop(synapses(s, &what)?),
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
                event,
                ..
            } => {
                let size = group(*g, &what)?.size;
                if event.is_some_and(|e| e.index >= program.groups[*g].events.len()) {
                    return Err(format!("{what} records an event its group does not have"));
                }
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
            Action::CheckSynapseCount { synapses: s, .. } => {
                synapses(*s, "a length check of an array of values")?;
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
pub(super) fn check_kernel_use(
    program: &Program,
    exec: &Executor,
    store: &ArrayStore,
) -> Result<(), String> {
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
            let sides = [
                (pre, plan.source_stop, plan.source_synapses),
                (post, plan.target_stop, plan.target_synapses),
            ];
            for (arrays, len, synapses) in sides {
                // Through a side made of synapses, every array read is one
                // of theirs (its length is their number, the side's range).
                let wrong = |a: &&ArrayId| match synapses {
                    Some(k) => decl(a).synapses != Some(k),
                    None => decl(a).synapses.is_some() || decl(a).len < len,
                };
                if let Some(a) = arrays.iter().find(wrong) {
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
            // A rule over a side made of synapses runs over them: every
            // array it keeps per element is one of theirs.
            Context::Sources(s) => match program.synapses[s].source_synapses {
                Some(k) => match own.iter().find(|a| decl(a).synapses != Some(k)) {
                    Some(a) => Err(format!(
                        "kernel `{name}` over synapses of `{}` uses `{}`, which is not one of \
                         their per-synapse arrays",
                        program.synapses[k].name,
                        decl(a).name
                    )),
                    None if exec.uses_pairs(id) => Err(format!(
                        "kernel `{name}` uses presynaptic or postsynaptic indices, which a \
                         connection rule's kernel cannot"
                    )),
                    None => Ok(()),
                },
                None => neurons(program.synapses[s].source_stop),
            },
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
        let named = plan.pathways.iter().map(|p| p.kernel);
        for k in [plan.on_pre, plan.on_post]
            .into_iter()
            .flatten()
            .chain(named)
        {
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
    for r in &program.regular {
        let context = match r.target {
            RegularTarget::Group(g) => Context::Neurons(g),
            RegularTarget::Synapses(s) => Context::Synapses(s),
        };
        check(r.kernel, Iteration::Range, context)?;
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
            Action::Run { .. } | Action::Connect { .. } | Action::CheckSynapseCount { .. } => {}
        }
    }
    Ok(())
}
