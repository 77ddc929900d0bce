//! Will a run of a model fit on this machine? Estimated before anything
//! is allocated, so that a model too large is refused with an explanation
//! instead of being killed by the operating system halfway through.

use rheobase_kernel::program::{
    Action, ArrayDecl, ConnectPlan, MonitorPlan, Multiplicity, Program,
};
use rheobase_syntax::ast::{self, Item};
use rheobase_syntax::{Diagnostic, Span};

/// What a run may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    /// Bytes of memory the simulation may use.
    pub memory_limit: u64,
    /// Where the monitors' recordings go.
    pub recordings: Recordings,
    /// The MPI ranks the run is split over (1: one process). The limit is
    /// each rank's: every rank holds every neuron's state, the monitors'
    /// samples and the tables, but only its share of the synapses (those
    /// onto its own neurons).
    pub ranks: usize,
}

/// Where a run keeps what its monitors record.
#[derive(Debug, Clone, PartialEq)]
pub enum Recordings {
    /// In memory until the end of the run (the library's default).
    InMemory,
    /// Written to disk as the run goes (see the runtime's
    /// `RecordingSink`): memory holds at most `buffer_bytes` of them, and
    /// the disk at `place` has `free_disk` bytes available, if known.
    Streamed {
        buffer_bytes: u64,
        free_disk: Option<u64>,
        place: String,
    },
}

impl Resources {
    /// `memory_limit` bytes of memory, recordings held in memory.
    pub fn in_memory(memory_limit: u64) -> Resources {
        Resources {
            memory_limit,
            recordings: Recordings::InMemory,
            ranks: 1,
        }
    }

    /// No limit: for checking a model without regard to a machine.
    pub fn unlimited() -> Resources {
        Resources::in_memory(u64::MAX)
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Bytes in the unit a person would use for them: `512 bytes`, `12 kB`,
/// `3.4 MB`, `1.2 GB`. Never negative (`-0 kB`), whatever rounding did
/// to the estimate.
pub fn human_bytes(bytes: f64) -> String {
    human_bytes_with(bytes, 0)
}

/// [`human_bytes`] with `extra` more decimals.
fn human_bytes_with(bytes: f64, extra: usize) -> String {
    let bytes = if bytes > 0.0 { bytes } else { 0.0 };
    if bytes.is_infinite() {
        return "more bytes than can be counted".to_string();
    }
    let (scale, unit, decimals) = if bytes >= 1e12 {
        (1e12, "TB", 1)
    } else if bytes >= 1e9 {
        (1e9, "GB", 1)
    } else if bytes >= 1e6 {
        (1e6, "MB", usize::from(bytes < 1e7))
    } else if bytes >= 1e3 {
        (1e3, "kB", usize::from(bytes < 1e4))
    } else {
        return format!("{bytes:.0} bytes");
    };
    format!("{:.*} {unit}", decimals + extra, bytes / scale)
}

/// `need` and `have` for a message saying the first is more than the
/// second, with enough decimals that they do not read the same
/// ("needs 5 MB, more than the 5 MB free").
pub fn human_bytes_pair(need: f64, have: f64) -> (String, String) {
    for extra in 0..4 {
        let (a, b) = (human_bytes_with(need, extra), human_bytes_with(have, extra));
        if a != b {
            return (a, b);
        }
    }
    (format!("{need:.0} bytes"), format!("{have:.0} bytes"))
}

/// A list of `count` indices the model asks for (`record: 0:4000000000`
/// on synapses, whose number is known only at run time), refused at
/// `span` before it is made if its 8 bytes per index alone exceed the
/// memory limit, instead of aborting when the allocation fails.
pub(crate) fn list_too_large(span: Span, count: u64, limit: u64) -> Option<Diagnostic> {
    let bytes = count as f64 * 8.0;
    if bytes <= limit as f64 {
        return None;
    }
    let (need, have) = human_bytes_pair(bytes, limit as f64);
    Some(
        Diagnostic::error(
            span,
            format!(
                "recording {count} synapses needs about {need} of memory for their indices \
                 alone, more than the {have} available to it"
            ),
        )
        .with_label("too many indices")
        .with_note("help: record fewer synapses (a smaller range, or a step: `0:1000000:100`)"),
    )
}

/// One consumer of memory or disk: bytes, the declaration responsible and
/// how the bytes come about.
struct Use {
    bytes: f64,
    span: Span,
    explanation: String,
}

/// Estimates what a run of `program` needs — every state array (8 bytes
/// per element), the expected synapses, and what StateMonitors and
/// PopulationRateMonitors record over all `run`s — and, when it does not
/// fit in `resources`, explains where it goes, pointing at the largest
/// consumer. SpikeMonitors are not counted: how many spikes there will be
/// is not known before the run (streamed, they take at most the buffer).
pub fn resource_check(
    model: &ast::Model,
    program: &Program,
    resources: &Resources,
) -> Option<Diagnostic> {
    let (group_spans, monitor_spans, synapse_spans) = declaration_spans(model, program)?;
    let mut memory = state_uses(program, &group_spans);
    let ranks = resources.ranks.max(1);
    memory.extend(synapse_uses(program, &synapse_spans, ranks));
    memory.extend(table_uses(model, program));
    memory.extend(spike_count_uses(program, &monitor_spans));
    let recordings = recording_uses(program, &monitor_spans);
    match &resources.recordings {
        Recordings::InMemory => {
            memory.extend(recordings);
            check_memory(
                memory,
                resources.memory_limit,
                ranks,
                "record fewer neurons or variables, record with a coarser `dt:`, ",
            )
        }
        Recordings::Streamed {
            buffer_bytes,
            free_disk,
            place,
        } => {
            // At most the buffer is held, and never more than the whole
            // recording; it is charged to the largest monitor.
            let recorded: f64 = recordings.iter().map(|u| u.bytes).sum();
            let held = (*buffer_bytes as f64).min(recorded);
            if let Some(largest) = recordings.iter().max_by(|a, b| a.bytes.total_cmp(&b.bytes)) {
                memory.push(Use {
                    bytes: held,
                    span: largest.span,
                    explanation: format!(
                        "recorded samples held in memory before they are written: up to {}",
                        human_bytes(held)
                    ),
                });
            }
            if let Some(d) = check_memory(memory, resources.memory_limit, ranks, "") {
                return Some(d);
            }
            free_disk.and_then(|free| check_disk(recordings, free, place))
        }
    }
}

/// What a run of a model is expected to need, in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Every group's state arrays and per-neuron lists, TimedArrays and
    /// spike counts.
    pub state: f64,
    /// The synapses whose number is known before connecting (lists,
    /// constant probabilities, one target per source, fixed-size samples).
    pub synapses: f64,
    /// What StateMonitors and PopulationRateMonitors record over all runs.
    pub recordings: f64,
    /// At most what the synapses of `connect:` lines with a condition
    /// (`connect: condition='i != j'`) take: every candidate pair kept.
    /// How many a condition keeps is known only while connecting, where a
    /// connection beyond the memory limit is refused before it is made.
    pub conditional_synapses: f64,
}

/// The estimate [`resource_check`] works from, for reports.
pub fn estimate(model: &ast::Model, program: &Program) -> Option<Estimate> {
    let (group_spans, monitor_spans, synapse_spans) = declaration_spans(model, program)?;
    let total = |uses: Vec<Use>| uses.iter().map(|u| u.bytes).sum::<f64>();
    let mut state = state_uses(program, &group_spans);
    state.extend(table_uses(model, program));
    state.extend(spike_count_uses(program, &monitor_spans));
    Some(Estimate {
        state: total(state),
        synapses: total(synapse_uses(program, &synapse_spans, 1)),
        recordings: total(recording_uses(program, &monitor_spans)),
        conditional_synapses: conditional_synapse_bytes(program),
    })
}

/// At most the bytes of the synapses made by `connect:` lines whose count
/// depends on a condition: every candidate pair of `condition=` (times a
/// constant `p` and `n`), in the same bytes per synapse as
/// [`synapse_uses`].
fn conditional_synapse_bytes(program: &Program) -> f64 {
    program
        .synapses
        .iter()
        .enumerate()
        .map(|(k, syn)| {
            let pairs_source = (syn.source_stop - syn.source_start) as f64;
            let pairs_target = (syn.target_stop - syn.target_start) as f64;
            let times = |n: &Multiplicity| f64::from(n.constant().unwrap_or(1));
            let at_most: f64 = syn
                .connect
                .iter()
                .map(|c| match c {
                    ConnectPlan::AllPairs {
                        p,
                        filter: Some(_),
                        n,
                    } => pairs_source * pairs_target * p.unwrap_or(1.0) * times(n),
                    _ => 0.0,
                })
                .sum();
            at_most * bytes_per_synapse(program, k)
        })
        .sum()
}

/// The declarations that produced `program.groups`, `program.monitors` and
/// `program.synapses`, in the same order (lowering succeeded, so every one
/// of them produced exactly one); `None` if they do not line up.
fn declaration_spans(
    model: &ast::Model,
    program: &Program,
) -> Option<(Vec<Span>, Vec<Span>, Vec<Span>)> {
    // The declarations that produced `program.groups` and
    // `program.monitors`, in the same order (lowering succeeded, so every
    // one of them produced exactly one).
    let mut group_spans = Vec::new();
    let mut monitor_spans = Vec::new();
    let mut synapse_spans = Vec::new();
    for item in &model.items {
        match item {
            Item::NeuronGroup(g) => group_spans.push(g.size.span),
            Item::PoissonGroup(g) => group_spans.push(g.size.span),
            Item::SpikeGeneratorGroup(g) => group_spans.push(g.size.span),
            Item::SpikeMonitor(m) => monitor_spans.push(m.name.span),
            Item::StateMonitor(m) => monitor_spans.push(m.name.span),
            Item::PopulationRateMonitor(m) => monitor_spans.push(m.name.span),
            Item::Synapses(d) => synapse_spans.push(d.name.span),
            _ => {}
        }
    }
    if group_spans.len() != program.groups.len() || monitor_spans.len() != program.monitors.len() {
        return None;
    }
    Some((group_spans, monitor_spans, synapse_spans))
}

/// Every group's state arrays, and the per-neuron lists the simulation
/// keeps beside them: 4 bytes per neuron for each event (spikes and custom
/// events: the neurons that had it this step) and, once for the largest
/// group, the scratch list of the kernels that filter neurons (4 bytes
/// per neuron). A SpikeGeneratorGroup also holds its spikes (12 bytes
/// each). A PoissonGroup of 150 million neurons has no state arrays but
/// needs 600 MB for its spike list; it must not read "0 bytes".
fn state_uses(program: &Program, group_spans: &[Span]) -> Vec<Use> {
    let largest = program
        .groups
        .iter()
        .enumerate()
        .max_by_key(|(_, g)| g.size)
        .map(|(k, _)| k);
    program
        .groups
        .iter()
        .enumerate()
        .map(|(k, g)| {
            // Per-synapse arrays are sized by connections made at run time.
            let own = |a: &&ArrayDecl| a.group == k && a.synapses.is_none();
            let elements: f64 = program
                .arrays
                .iter()
                .filter(own)
                .map(|a| a.len as f64)
                .sum();
            let arrays = program.arrays.iter().filter(own).count();
            let lists =
                usize::from(g.spike.is_some()) + g.events.len() + usize::from(largest == Some(k));
            let generated = g.generator.as_ref().map_or(0, |p| p.spikes.len());
            // A spike is a (step, neuron) pair of 16 bytes, held by the
            // program and by the simulation's generator.
            let bytes = elements * 8.0
                + g.size as f64 * lists as f64 * 4.0
                + generated as f64 * SPIKE_BYTES;
            let mut parts = Vec::new();
            if arrays > 0 {
                parts.push(format!("{} × 8 bytes", plural(arrays, "state array")));
            }
            if lists > 0 {
                parts.push(format!("{} × 4 bytes", plural(lists, "neuron list")));
            }
            let mut explanation = format!("`{}`: {} neurons", g.name, g.size);
            if !parts.is_empty() {
                explanation += &format!(" × ({})", parts.join(" + "));
            }
            if generated > 0 {
                explanation += &format!(
                    ", {} × {SPIKE_BYTES} bytes (the program's and the simulation's copy)",
                    plural(generated, "spike")
                );
            }
            Use {
                bytes,
                span: group_spans[k],
                explanation: format!("{explanation} = {}", human_bytes(bytes)),
            }
        })
        .collect()
}

/// TimedArrays: their values, held by the program and by the
/// simulation's table (8 bytes each, twice).
fn table_uses(model: &ast::Model, program: &Program) -> Vec<Use> {
    // TimedArrays by name; the tables of values from data
    // (`G.v = linspace(...)`, named `G.v.values.K`) at the first setting
    // of that variable. Every table is counted, whatever made it.
    let span_of = |name: &str| -> Option<Span> {
        model.items.iter().find_map(|item| match item {
            Item::TimedArray(t) if t.name.name == name => Some(t.name.span),
            Item::SetVariable {
                group,
                variable,
                value,
                ..
            }
            | Item::SetVariableWhere {
                group,
                variable,
                value,
                ..
            } if name.starts_with(&format!("{}.{}.values.", group.name, variable.name)) => {
                Some(value.span)
            }
            _ => None,
        })
    };
    let fallback = model.items.first().map(item_span);
    program
        .tables
        .iter()
        .filter_map(|t| span_of(&t.name).or(fallback).map(|span| (t, span)))
        .map(|(t, span)| {
            let bytes = t.values.len() as f64 * 16.0;
            Use {
                bytes,
                span,
                explanation: format!(
                    "{}: {} values × 16 bytes (the table and the simulation's copy) = {}",
                    match t.name.split_once(".values.") {
                        Some((variable, _)) => format!("the values given to `{variable}`"),
                        None => format!("`{}`", t.name),
                    },
                    t.values.len(),
                    human_bytes(bytes)
                ),
            }
        })
        .collect()
}

/// Bytes of one SpikeGeneratorGroup spike, counted twice (see
/// [`state_uses`]).
const SPIKE_BYTES: f64 = 32.0;

/// The span of a top-level item.
fn item_span(item: &Item) -> Span {
    match item {
        Item::Constant { span, .. }
        | Item::Subgroup { span, .. }
        | Item::SetDt { span, .. }
        | Item::Seed { span, .. }
        | Item::SetVariable { span, .. }
        | Item::SetVariableWhere { span, .. }
        | Item::LinkVariable { span, .. }
        | Item::SetPathwayDelay { span, .. }
        | Item::RunRegularly { span, .. }
        | Item::Run { span, .. } => *span,
        Item::SetSchedule(d) => d.span,
        Item::NeuronGroup(d) => d.name.span,
        Item::Synapses(d) => d.name.span,
        Item::PoissonGroup(d) => d.name.span,
        Item::PoissonInput(d) => d.name.span,
        Item::SpikeGeneratorGroup(d) => d.name.span,
        Item::TimedArray(d) => d.name.span,
        Item::Clock(d) => d.name.span,
        Item::SpikeMonitor(d) => d.name.span,
        Item::StateMonitor(d) => d.name.span,
        Item::PopulationRateMonitor(d) => d.name.span,
    }
}

/// SpikeMonitors' spike counts: 8 bytes per recorded neuron. (The spikes
/// themselves are not known before the run; see [`resource_check`].)
fn spike_count_uses(program: &Program, monitor_spans: &[Span]) -> Vec<Use> {
    program
        .monitors
        .iter()
        .zip(monitor_spans)
        .filter_map(|(m, &span)| match m {
            MonitorPlan::Spike {
                name, start, stop, ..
            } => {
                let n = stop.saturating_sub(*start);
                let bytes = n as f64 * 8.0;
                Some(Use {
                    bytes,
                    span,
                    explanation: format!(
                        "`{name}` counts the spikes of {} × 8 bytes = {}",
                        plural(n, "neuron"),
                        human_bytes(bytes)
                    ),
                })
            }
            _ => None,
        })
        .collect()
}

/// Synapses: the expected count where it is known before connecting
/// (lists, constant probabilities, one target per source, fixed-size
/// samples); filtered connections are only known at run time. On `ranks`
/// ranks each holds the synapses onto its own neurons, about a `ranks`-th
/// of them (the limit enforced while connecting is exact per rank), and
/// a whole spike queue.
fn synapse_uses(program: &Program, synapse_spans: &[Span], ranks: usize) -> Vec<Use> {
    let mut uses = Vec::new();
    for (k, syn) in program.synapses.iter().enumerate() {
        let Some(&span) = synapse_spans.get(k) else {
            break;
        };
        let pairs_source = (syn.source_stop - syn.source_start) as f64;
        let pairs_target = (syn.target_stop - syn.target_start) as f64;
        // A per-pair `n=` counts as 1: its values are known only while
        // connecting.
        let times = |n: &Multiplicity| f64::from(n.constant().unwrap_or(1));
        let expected: f64 = syn
            .connect
            .iter()
            .map(|c| match c {
                ConnectPlan::Explicit { i, n, .. } => i.len() as f64 * f64::from(*n),
                ConnectPlan::AllPairs {
                    p, filter: None, n, ..
                } => pairs_source * pairs_target * p.unwrap_or(1.0) * times(n),
                ConnectPlan::Mapping { n, .. } => pairs_source * times(n),
                ConnectPlan::Generator {
                    over_targets,
                    sample_size: Some(size),
                    n,
                    ..
                } => {
                    let rows = if *over_targets {
                        pairs_target
                    } else {
                        pairs_source
                    };
                    rows * *size as f64 * times(n)
                }
                _ => 0.0,
            })
            .sum();
        let per_synapse = bytes_per_synapse(program, k);
        let mut bytes = expected * per_synapse / ranks as f64;
        let mut explanation = format!(
            "`{}`: about {expected:.0} synapses × {per_synapse} bytes",
            syn.name
        );
        if ranks > 1 {
            explanation += &format!(" / {ranks} ranks");
        }
        // The spike queue of the `pre` pathway is a ring with a slot (an
        // empty list, 24 bytes) per step of the longest delay: a delay of
        // 1677 s at 0.1 ms is 400 MB however few synapses there are. A
        // delay known here is the delay array's initial value (per-synapse
        // delays are computed while connecting, and the ring is then
        // checked at run time).
        if syn.on_pre.is_some() {
            let delay = program
                .arrays
                .get(syn.delay.0 as usize)
                .map_or(0.0, |a| a.initial);
            let slots = if delay.is_finite() && delay > 0.0 {
                (delay / program.dt + 0.5).floor() + 1.0
            } else {
                1.0
            };
            bytes += slots * 24.0;
            if slots > 1.0 {
                explanation += &format!(" + a spike queue of {slots:.0} steps × 24 bytes");
            }
        }
        uses.push(Use {
            bytes,
            span,
            explanation: format!("{explanation} = {}", human_bytes(bytes)),
        });
    }
    uses
}

/// What StateMonitors and PopulationRateMonitors record over all runs.
fn recording_uses(program: &Program, monitor_spans: &[Span]) -> Vec<Use> {
    let steps: f64 = program
        .actions
        .iter()
        .map(|a| match a {
            Action::Run { steps } => *steps as f64,
            _ => 0.0,
        })
        .sum();
    let mut uses = Vec::new();
    for (k, m) in program.monitors.iter().enumerate() {
        let (bytes, explanation) = match m {
            MonitorPlan::Spike { .. } => continue,
            MonitorPlan::State {
                name,
                variables,
                record,
                every,
                ..
            } => {
                let samples = (steps / *every as f64).ceil() + 1.0;
                let values = record.len() as f64 * variables.len() as f64 + 1.0;
                let bytes = samples * values * 8.0;
                (
                    bytes,
                    format!(
                        "`{name}` records {} × {} × {samples} time points × 8 bytes = {}",
                        plural(record.len(), "neuron"),
                        plural(variables.len(), "variable"),
                        human_bytes(bytes)
                    ),
                )
            }
            MonitorPlan::Rate { name, .. } => {
                let bytes = (steps + 1.0) * 16.0;
                (
                    bytes,
                    format!(
                        "`{name}` records {} time points × 16 bytes = {}",
                        steps + 1.0,
                        human_bytes(bytes)
                    ),
                )
            }
        };
        uses.push(Use {
            bytes,
            span: monitor_spans[k],
            explanation,
        });
    }
    uses
}

/// The largest use as the primary label, the others of at least 1% of
/// the total as secondary labels.
fn explain(mut uses: Vec<Use>, message: String) -> Option<Diagnostic> {
    let total: f64 = uses.iter().map(|u| u.bytes).sum();
    uses.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
    let mut uses = uses.into_iter();
    let first = uses.next()?;
    let mut d = Diagnostic::error(first.span, message)
        .with_kind(rheobase_syntax::DiagnosticKind::Resources)
        .with_label(first.explanation);
    for u in uses {
        if u.bytes >= total / 100.0 {
            d = d.with_secondary(u.span, u.explanation);
        }
    }
    Some(d)
}

fn check_memory(uses: Vec<Use>, limit: u64, ranks: usize, record_help: &str) -> Option<Diagnostic> {
    let total: f64 = uses.iter().map(|u| u.bytes).sum();
    if total <= limit as f64 {
        return None;
    }
    let (need, have) = human_bytes_pair(total, limit as f64);
    let message = if ranks > 1 {
        format!(
            "this model needs about {need} of memory on each of {ranks} MPI ranks, more \
             than the {have} available to each (every rank holds every neuron's state)"
        )
    } else {
        format!("this model needs about {need} of memory, more than the {have} available to it")
    };
    let d = explain(uses, message)?;
    Some(
        d.with_note(
            "the limit is `--memory-gb`, or else 75% of the memory this process may \
             use (the machine's, its cgroup's `memory.max` or its rlimits, whichever \
             is least); a simulation that does not fit would crash or make the \
             machine swap",
        )
        .with_note(format!(
            "help: use fewer neurons or synapses, {record_help}or shorten the run"
        )),
    )
}

/// Streamed recordings must fit on the disk, with room for the largest
/// monitor's archive, which is assembled from its spilled samples before
/// they are deleted.
fn check_disk(uses: Vec<Use>, free: u64, place: &str) -> Option<Diagnostic> {
    let total: f64 = uses.iter().map(|u| u.bytes).sum();
    let largest = uses.iter().map(|u| u.bytes).fold(0.0, f64::max);
    if total + largest <= free as f64 {
        return None;
    }
    let (need, have) = human_bytes_pair(total + largest, free as f64);
    let d = explain(
        uses,
        format!(
            "this model's recordings need about {need} of disk ({} recorded, plus room to \
             assemble the largest monitor's file), more than the {have} free in {place}",
            human_bytes(total),
        ),
    )?;
    Some(d.with_note(
        "help: record fewer neurons or variables, record with a coarser `dt:`, shorten \
         the run, or write the results (`--out`) to a disk with more space",
    ))
}

/// Bytes of one synapse of `program.synapses[k]`: its arrays, the pre/post
/// indices, the two indexes and the delay in steps (see ARCHITECTURE.md).
fn bytes_per_synapse(program: &Program, k: usize) -> f64 {
    let arrays = program
        .arrays
        .iter()
        .filter(|a| a.synapses == Some(k))
        .count();
    arrays as f64 * 8.0 + 20.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_a_person_would_write_them() {
        assert_eq!(human_bytes(-0.0), "0 bytes");
        assert_eq!(human_bytes(-3.0), "0 bytes");
        assert_eq!(human_bytes(512.0), "512 bytes");
        assert_eq!(human_bytes(1500.0), "1.5 kB");
        assert_eq!(human_bytes(334_000.0), "334 kB");
        assert_eq!(human_bytes(5.2e6), "5.2 MB");
        assert_eq!(human_bytes(64e6), "64 MB");
        assert_eq!(human_bytes(2.5e9), "2.5 GB");
        assert_eq!(human_bytes(240e12), "240.0 TB");
        assert_eq!(human_bytes(f64::INFINITY), "more bytes than can be counted");
    }

    #[test]
    fn a_need_and_a_limit_never_read_the_same() {
        let (a, b) = human_bytes_pair(50.04e6, 50.0e6);
        assert_ne!(a, b);
        assert_eq!((a.as_str(), b.as_str()), ("50.04 MB", "50.00 MB"));
        assert_eq!(
            human_bytes_pair(2e9, 1e9),
            ("2.0 GB".to_string(), "1.0 GB".to_string())
        );
    }
}
