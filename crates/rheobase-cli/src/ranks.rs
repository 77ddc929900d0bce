//! `rheo run` as one of several MPI ranks (`mpirun -n K rheo run ...`):
//! which rank this process is, joining the split simulation, the refusal
//! of what cannot run split yet, and the per-rank figures of run.json.
//!
//! Only rank 0 writes files and prints; every rank runs the same
//! simulation steps (see `rheobase_runtime::Exchange`). Without the `mpi`
//! feature, or when not started by an MPI launcher, the process is the
//! only rank.

use rheobase::runtime::{unsupported, Exchange, Simulation};
use rheobase::syntax::ast::{Item, Model};
use rheobase::syntax::{Diagnostic, Span};
use serde_json::{json, Value};

/// This process's place among the ranks of one run.
pub struct Ranks {
    pub rank: usize,
    pub ranks: usize,
    exchange: Option<Box<dyn Exchange>>,
    /// Keeps MPI initialised until the run is over (dropped last).
    #[cfg(feature = "mpi")]
    _world: Option<rheobase_mpi::MpiWorld>,
}

/// Whether an MPI launcher started this process (Open MPI, MPICH/Hydra
/// and PMIx set one of these), so that a plain `rheo run` never starts
/// MPI.
#[cfg(feature = "mpi")]
fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

impl Ranks {
    /// The ranks of this run: MPI's world when built with the `mpi`
    /// feature and started by `mpirun`, else this process alone.
    pub fn start() -> Result<Ranks, String> {
        #[cfg(feature = "mpi")]
        if launched_by_mpi() {
            let (world, exchange) = rheobase_mpi::init()?;
            let (rank, ranks) = (exchange.rank(), exchange.ranks());
            return Ok(Ranks {
                rank,
                ranks,
                exchange: (ranks > 1).then(|| Box::new(exchange) as Box<dyn Exchange>),
                _world: Some(world),
            });
        }
        Ok(Ranks {
            rank: 0,
            ranks: 1,
            exchange: None,
            #[cfg(feature = "mpi")]
            _world: None,
        })
    }

    /// Whether this process writes the outputs and prints (rank 0).
    pub fn primary(&self) -> bool {
        self.rank == 0
    }

    /// Makes `sim` this rank's part of the split simulation.
    pub fn attach(&mut self, sim: &mut Simulation) -> Result<(), String> {
        match self.exchange.take() {
            Some(exchange) => sim.set_exchange(exchange),
            None => Ok(()),
        }
    }

    /// Rank 0's `seed`, on every rank: a seed taken from the clock (no
    /// `--seed`, no `seed(...)`) differs between processes, and ranks
    /// drawing from different seeds would give numbers no one-process run
    /// gives. Collective, before the simulation is made (every rank gets
    /// here: they check the same model the same way).
    pub fn same_seed(&mut self, seed: u64) -> u64 {
        let Some(exchange) = self.exchange.as_mut() else {
            return seed;
        };
        let (mut counts, mut all) = (Vec::new(), Vec::new());
        exchange.all_gather(&[seed as u32, (seed >> 32) as u32], &mut counts, &mut all);
        match all.get(..2) {
            Some(&[low, high]) => u64::from(low) | (u64::from(high) << 32),
            _ => seed,
        }
    }

    /// The diagnostics, rendered, for what `program` uses that cannot run
    /// on these ranks yet; `None` when it can (or there is one rank).
    pub fn refusals(
        &self,
        file_name: &str,
        source: &str,
        program: &rheobase::Program,
    ) -> Option<String> {
        refusals(self.ranks, file_name, source, program)
    }

    /// Each rank's figures (memory, time, synapses held), gathered on rank
    /// 0 for run.json; `Value::Null` on the other ranks. Collective.
    pub fn per_rank(&self, sim: &mut Simulation, peak_memory: Option<u64>) -> Value {
        if self.ranks < 2 {
            return Value::Null;
        }
        let timings = sim.timings();
        let mine = json!({
            "rank": self.rank,
            "peak_memory_bytes": peak_memory,
            "simulate_seconds": timings.simulate_seconds,
            "connect_seconds": timings.connect_seconds,
            "exchange_seconds": sim.exchange_seconds(),
            "exchanges": sim.exchanges(),
            "window_collectives": sim.window_collectives(),
            "second_rounds": sim.second_rounds(),
            "overlap": sim.overlap(),
            "overlapped_windows": sim.window_wait().2,
            "window_wait_seconds": sim.window_wait().0,
            "window_in_flight_seconds": sim.window_wait().1,
            "share_bytes": sim.share_bytes().0,
            "share_bytes_if_full": sim.share_bytes().1,
            "pre_write_bytes": sim.pre_write_bytes(),
            "synapses": sim.synapse_stats().iter().map(|s| s.synapses).sum::<usize>(),
            "synapse_bytes": sim.synapse_stats().iter().map(|s| s.bytes).sum::<usize>(),
            "neurons": neuron_ranges(sim),
        });
        match sim.gather_bytes(mine.to_string().into_bytes()) {
            Some(all) => Value::Array(
                all.iter()
                    .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
                    .collect(),
            ),
            None => Value::Null,
        }
    }
}

/// The diagnostics, rendered, for what `program` uses that cannot run on
/// `ranks` ranks yet; `None` when it can (or `ranks` is 1): what `rheo
/// run` under mpirun refuses, and `rheo check --ranks` reports.
pub fn refusals(
    ranks: usize,
    file_name: &str,
    source: &str,
    program: &rheobase::Program,
) -> Option<String> {
    if ranks < 2 {
        return None;
    }
    let found = unsupported(program);
    if found.is_empty() {
        return None;
    }
    let ast = rheobase::syntax::parse(source).ok();
    let diagnostics: Vec<Diagnostic> = found
        .iter()
        .map(|u| {
            let span = ast
                .as_ref()
                .and_then(|m| span_of(m, &u.object, u.part))
                .unwrap_or(Span::new(0, 0));
            Diagnostic::error(
                span,
                format!(
                    "`{}` cannot run on {} MPI ranks yet: its {} {}",
                    u.object,
                    ranks,
                    subject(u.part),
                    u.what
                ),
            )
            .with_note(
                "run this model on one process (without mpirun); docs/scaling.md \
                 lists what runs split",
            )
        })
        .collect();
    Some(rheobase::syntax::render::render(
        file_name,
        source,
        &diagnostics,
    ))
}

impl Ranks {
    /// The error of the lowest rank that failed on its own (not only
    /// because another rank did), as `(message, rendered)`: on rank 0,
    /// which prints it and writes it into run.json as one process would;
    /// `None` elsewhere, on one rank, or when no rank failed on its own.
    /// `own` is this rank's, the same pair, if it failed on its own.
    /// Collective.
    pub fn first_error(
        &self,
        sim: &mut Simulation,
        own: Option<(String, String)>,
    ) -> Option<(String, String)> {
        if self.ranks < 2 {
            return own;
        }
        // The message and its rendering, separated by a NUL, which
        // neither contains (both are text about the model).
        let local = own
            .map(|(message, rendered)| format!("{message}\0{rendered}").into_bytes())
            .unwrap_or_default();
        let all = sim.gather_bytes(local)?;
        all.into_iter().find(|b| !b.is_empty()).and_then(|b| {
            let text = String::from_utf8_lossy(&b).into_owned();
            let (message, rendered) = text.split_once('\0')?;
            Some((message.to_string(), rendered.to_string()))
        })
    }
}

/// Per group, by name, the neurons this rank updates, `[start, stop)`.
fn neuron_ranges(sim: &Simulation) -> serde_json::Map<String, Value> {
    let names = sim.program().groups.iter().map(|g| g.name.clone());
    names
        .enumerate()
        .map(|(k, name)| {
            let r = sim.owned_neurons(k);
            (name, json!([r.start, r.end]))
        })
        .collect()
}

/// Where the construct `part` of object `name` is declared: its block
/// (`on_pre:`, `on_post:`), its first equation, or its name.
/// The part named in a refusal, as the singular subject of the
/// sentence `its {subject} {what}` (`what` starts with a verb in the
/// third person singular: "reads", "writes", "is"): "its state update
/// (`model:`) reads ...", not "its equations reads ...".
fn subject(part: &str) -> &str {
    match part {
        "equations" => "state update (`model:`)",
        "(summed)" => "summed variable",
        "run_regularly" => "`run_regularly` code",
        "PoissonInput" => "input",
        other => other,
    }
}

fn span_of(model: &Model, name: &str, part: &str) -> Option<Span> {
    if part == "schedule" {
        // A part moved by a statement (`G.thresholder['spike'].when =
        // ...`), else by the object's `order:`, else the object.
        let moved = model.items.iter().find_map(|item| match item {
            Item::SetSchedule(set) if set.object.name == name => Some(set.span),
            _ => None,
        });
        if moved.is_some() {
            return moved;
        }
    }
    model.items.iter().find_map(|item| {
        let (ident, specific) = match item {
            Item::Synapses(s) => {
                let block = match part {
                    "on_pre" => s.on_pre.as_ref().map(|b| b.span),
                    "on_post" => s.on_post.as_ref().map(|b| b.span),
                    "equations" | "(summed)" => s.model.first().map(|e| e.span),
                    "connect" => s.connect.first().map(|c| c.span),
                    "source" => Some(s.source.span),
                    "target" => Some(s.target.span),
                    _ => None,
                };
                (&s.name, block)
            }
            Item::NeuronGroup(g) => {
                let block = match part {
                    "equations" => g.model.first().map(|e| e.span),
                    "threshold" => g.threshold.as_ref().map(|e| e.span),
                    // A reset, or else the code of a custom event.
                    "reset" => g
                        .reset
                        .as_ref()
                        .map(|b| b.span)
                        .or_else(|| g.on_event.first().map(|e| e.statements.span)),
                    "run_regularly" => g.run_regularly.first().map(|r| r.span),
                    "schedule" => g.order.as_ref().map(|e| e.span),
                    _ => None,
                };
                (&g.name, block)
            }
            Item::PoissonGroup(g) => (&g.name, None),
            Item::SpikeGeneratorGroup(g) => (&g.name, None),
            Item::PoissonInput(g) => (&g.name, None),
            Item::SpikeMonitor(m) => (&m.name, None),
            Item::StateMonitor(m) => (&m.name, None),
            Item::PopulationRateMonitor(m) => (&m.name, None),
            _ => return None,
        };
        (ident.name == name).then(|| specific.unwrap_or(ident.span))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ranks without MPI: enough to ask what would be refused.
    fn two_ranks() -> Ranks {
        Ranks {
            rank: 0,
            ranks: 2,
            exchange: None,
            #[cfg(feature = "mpi")]
            _world: None,
        }
    }

    #[test]
    fn a_presynaptic_write_is_refused_at_its_block() {
        let source = "\
NeuronGroup G(4):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
    method: euler
Synapses S(G -> G):
    on_post: v_pre = clip(v_pre*0.9 + 0.1, 0, 1)
    connect: i != j
run 1*ms
";
        let program = rheobase::compile(source).expect("model").program;
        let text = two_ranks()
            .refusals("pre.model", source, &program)
            .expect("refused");
        assert!(
            text.starts_with(
                "pre.model:8:14: error: `S` cannot run on 2 MPI ranks yet: its on_post \
                 writes the presynaptic variable `v_pre` other than by `v_pre += ...`, `-=`, \
                 `*=` or an assignment `v_pre = ...` of a value that does not read it"
            ),
            "{text}"
        );
        // It says what to do.
        assert!(
            text.contains("run this model on one process (without mpirun)"),
            "{text}"
        );
        assert_eq!(Ranks::start().map(|r| r.ranks).ok(), Some(1));
    }

    /// A pathway that changes a presynaptic variable orders the changes
    /// by the step of each spike, which its queue keeps: a delay set
    /// between runs (`S.delay` or a named pathway's `S.NAME.delay`) is
    /// not refused, before the first run or after it.
    #[test]
    fn a_delay_changed_between_runs_under_presynaptic_writes_runs_split() {
        let model = |after: &str| {
            format!(
                "\
NeuronGroup G(4):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
        x : 1
    threshold: v > 1
    reset: v = 0
    method: euler
Synapses S(G -> G):
    on_pre: x_pre += 0.5
    on_pre late:
        x_pre += 0.25
    delay late: 1*ms
    connect: i != j
S.delay = 0.5*ms
run 1*ms
{after}
run 1*ms
"
            )
        };
        for after in ["S.delay = 2*ms", "S.late.delay = 2*ms", ""] {
            let source = model(after);
            let program = rheobase::compile(&source).expect("model").program;
            assert_eq!(
                two_ranks().refusals("delays.model", &source, &program),
                None,
                "{after}"
            );
        }
    }

    /// Each refused part is the singular subject of its sentence (the
    /// `what` of a refusal starts with a verb in the singular): a group's
    /// equations are its state update, a summed variable is named as
    /// one, and keys are written as in a model.
    #[test]
    fn refusals_name_their_part_as_the_subject_of_a_sentence() {
        let cases = [
            ("equations", "state update (`model:`)"),
            ("(summed)", "summed variable"),
            ("run_regularly", "`run_regularly` code"),
            ("PoissonInput", "input"),
            ("on_post", "on_post"),
            ("delay", "delay"),
        ];
        for (part, expected) in cases {
            assert_eq!(subject(part), expected);
        }
    }

    #[test]
    fn objects_on_clocks_of_their_own_run_split() {
        // Exchange windows count ticks of the network's clocks, so a
        // group on a clock of its own, spiking across ranks, is not
        // refused (`tests/ranks/clocks_split.model` compares the runs).
        let source = "\
NeuronGroup G(2):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
NeuronGroup H(2):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
    dt: 0.5*ms
Synapses S(H -> G):
    on_pre: v_post += 0.1
    delay: 1*ms
    connect: True
run 1*ms
";
        let program = rheobase::compile(source).expect("model").program;
        assert_eq!(two_ranks().refusals("clock.model", source, &program), None);
    }

    #[test]
    fn synapses_onto_synapses_run_split_unless_code_uses_their_index() {
        let source = "\
NeuronGroup G(2):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
    method: euler
Synapses S(G -> G):
    model:
        w : 1
    on_pre: v_post += w
    connect: i != j
Synapses R(G -> S):
    on_pre: w_post += 0.1
    connect: True
run 1*ms
";
        let program = rheobase::compile(source).expect("model").program;
        assert_eq!(two_ranks().refusals("syn.model", source, &program), None);
        // A condition on the target synapses' variables and index reads
        // every rank's synapses, numbered globally, while they are made.
        let source = source.replace("connect: True", "connect: 'w_post > 0 and j != 1'");
        let program = rheobase::compile(&source).expect("model").program;
        assert_eq!(two_ranks().refusals("syn.model", &source, &program), None);
        // Other code using `j`, a target synapse's index, is refused:
        // after connecting, each rank numbers the synapses of `S` it holds.
        let source = source.replace("w_post += 0.1", "w_post += 0.1*j");
        let program = rheobase::compile(&source).expect("model").program;
        let text = two_ranks()
            .refusals("syn.model", &source, &program)
            .expect("refused");
        assert!(
            text.starts_with(
                "syn.model:12:17: error: `R` cannot run on 2 MPI ranks yet: its target index `j` \
                 is used in its code, but on several ranks the synapses of `S` are numbered by \
                 each rank's own"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_thresholder_moved_after_the_exchange_is_refused_at_the_statement_moving_it() {
        let source = "\
NeuronGroup G(2):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
    method: euler
Synapses S(G -> G):
    on_pre: v_post += 0.1
    connect: i != j
G.thresholder['spike'].when = 'after_synapses'
run 1*ms
";
        let program = rheobase::compile(source).expect("model").program;
        let text = two_ranks()
            .refusals("moved.model", source, &program)
            .expect("refused");
        assert!(
            text.starts_with(
                "moved.model:10:1: error: `G` cannot run on 2 MPI ranks yet: its schedule moves \
                 its thresholder after the place where a split run exchanges spikes"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_model_without_such_constructs_is_not_refused() {
        let source = "\
NeuronGroup G(4):
    model:
        dv/dt = (1.2 - v + I_gap)/(10*ms) : 1
        I_gap : 1
    threshold: v > 1
    reset: v = 0
    method: exact
Synapses S(G -> G):
    on_pre: v_post += 0.1
    connect: i != j
Synapses gap(G -> G):
    model:
        I_gap_post = (v_pre - v_post) : 1 (summed)
    connect: i != j
StateMonitor m(G):
    variables: v
    record: all
StateMonitor syn(S):
    variables: v_post
    record: S[0, :]
SpikeMonitor early(G):
    when: start
G.resetter['spike'].when = 'after_groups'
run 1*ms
";
        let program = rheobase::compile(source).expect("model").program;
        assert_eq!(two_ranks().refusals("ok.model", source, &program), None);
    }
}
