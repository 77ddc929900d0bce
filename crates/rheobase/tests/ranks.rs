//! The same model split over 1, 2 and 3 ranks (threads standing in for
//! MPI processes, `ThreadExchange`) gives the same numbers as one
//! process: every monitor's recording, the spike counts, the number of
//! synapses and every neuron's final state, bit for bit, with one and two
//! worker threads per rank.

use std::path::{Path, PathBuf};

use rheobase::runtime::{unsupported, Simulation, ThreadExchange};
use rheobase::{compile, MonitorData, RunConfig};

/// Per group and variable, the bits of the neurons a rank owns.
type OwnedState = Vec<(String, Vec<u64>)>;

/// Everything a run produced that must not depend on the rank count.
#[derive(Debug, PartialEq)]
struct Outcome {
    monitors: String,
    spike_counts: Vec<(String, u64)>,
    synapses: Vec<u64>,
    /// Per group and variable, the final values of the neurons a rank
    /// owns (all of them on one process).
    state: Vec<(String, Vec<u64>)>,
}

fn bits(monitors: &[MonitorData]) -> String {
    // `{:?}` of an f64 is the shortest text that reads back to the same
    // bits, so equal text means equal values to the last bit.
    format!("{monitors:?}")
}

/// Runs `program` on `ranks` ranks; returns rank 0's recordings, per
/// rank its owned state, and the number of spike exchanges (windows).
fn run_split(
    program: &rheobase::Program,
    ranks: usize,
    threads: usize,
) -> (Outcome, Vec<OwnedState>, u64) {
    let handles: Vec<_> = ThreadExchange::group(ranks)
        .into_iter()
        .map(|exchange| {
            let program = program.clone();
            std::thread::spawn(move || {
                let mut sim =
                    Simulation::new(program, RunConfig { seed: 7, threads }).expect("simulation");
                if ranks > 1 {
                    sim.set_exchange(Box::new(exchange)).expect("split");
                }
                sim.run_all().expect("run");
                let merged = sim.gather_recordings();
                let state = owned_state(&sim);
                let outcome = Outcome {
                    monitors: if merged {
                        bits(sim.monitors())
                    } else {
                        String::new()
                    },
                    spike_counts: sim.spike_counts(),
                    synapses: sim.global_synapse_counts(),
                    state: Vec::new(),
                };
                // One collective per window, and a second round only in
                // the few windows whose message outgrew the agreed block
                // (it grows geometrically and shrinks only after a long
                // quiet stretch).
                assert_eq!(
                    sim.window_collectives(),
                    sim.exchanges() + sim.second_rounds(),
                    "collectives of the windows' exchanges"
                );
                assert!(
                    sim.second_rounds() <= 8 + sim.exchanges() / 128,
                    "{} second rounds in {} windows",
                    sim.second_rounds(),
                    sim.exchanges()
                );
                (outcome, state, sim.exchanges())
            })
        })
        .collect();
    let mut results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("rank panicked"))
        .collect();
    let states = results.iter().map(|(_, s, _)| s.clone()).collect();
    let (outcome, _, exchanges) = results.swap_remove(0);
    (outcome, states, exchanges)
}

fn owned_state(sim: &Simulation) -> OwnedState {
    let program = sim.program();
    let mut out = Vec::new();
    for (k, g) in program.groups.iter().enumerate() {
        let owned = sim.owned_neurons(k);
        for (name, id) in &g.variables {
            let values = sim.array(*id);
            if values.len() != g.size {
                continue;
            }
            out.push((
                format!("{}.{name}", g.name),
                values[owned.clone()].iter().map(|v| v.to_bits()).collect(),
            ));
        }
    }
    out
}

fn models() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["spec-examples", "tests/models", "tests/ranks"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "model") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Models that use what cannot yet run split, refused by
/// `unsupported` (checked below, so this list cannot go stale).
/// In the order of `models()` (spec-examples, tests/models, then
/// tests/ranks; each sorted by name). None is refused now.
const REFUSED: &[&str] = &[];

/// Spike exchanges on 2 and 3 ranks of models whose windows are known:
/// a window lasts one step more than the shortest delay between ranks (at
/// most `MAX_WINDOW_STEPS`) and ends at the end of each run and every 256
/// steps (the divergence checks). See each model's comment.
const WINDOWS: &[(&str, u64)] = &[
    // Windows of 14 ticks (`up`'s 13 ticks): 93 ticks are 6 of 14 and
    // one of 9, 60 are 4 of 14 and one of 4, then 30 of one tick (a
    // delay of 0 steps); each run ends with one more exchange for its
    // SpikeMonitor at `when: end`.
    ("clocks_split", 45),
    // 373 steps, windows of 16: 16 up to step 256, then 8.
    ("delays_local_and_far", 24),
    // 137 windows of one step (zero delay), 56 of two steps (111 steps),
    // then 8 steps up to step 256 and 11 windows of 21 (219 steps).
    ("delays_zero_and_changed", 205),
    // 400 steps, windows of 7 (E's 0.6 ms): 36 of 7 and one of 4 up to
    // step 256, then 20 of 7 and one of 4.
    ("events_and_pathways", 58),
];

#[test]
fn split_runs_match_one_process_bit_for_bit() {
    let mut refused = Vec::new();
    let mut compared = 0;
    let mut windows_checked: Vec<String> = Vec::new();
    for path in models() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let model = match compile(&source) {
            Ok(model) => model,
            // Models reading data files are run by the CLI tests; the
            // models written for this test must compile.
            Err(e) => {
                assert!(
                    !path.parent().is_some_and(|d| d.ends_with("tests/ranks")),
                    "{name}: {e:?}"
                );
                continue;
            }
        };
        if !unsupported(&model.program).is_empty() {
            refused.push(name);
            continue;
        }
        let (single, single_states, _) = run_split(&model.program, 1, 1);
        let single_state = &single_states[0];
        for ranks in [2, 3] {
            for threads in [1, 2] {
                let (split, states, exchanges) = run_split(&model.program, ranks, threads);
                let steps = model.program.actions.iter().map(|a| match a {
                    rheobase::kernel::program::Action::Run { steps } => *steps,
                    _ => 0,
                });
                let steps: u64 = steps.sum();
                match WINDOWS.iter().find(|(n, _)| *n == name) {
                    Some(&(_, expected)) => {
                        assert_eq!(exchanges, expected, "{name}: windows");
                        windows_checked.push(name.clone());
                    }
                    None => assert!(exchanges <= steps, "{name}: {exchanges} exchanges"),
                }
                if split != single {
                    let at = split
                        .monitors
                        .bytes()
                        .zip(single.monitors.bytes())
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    let around = |m: &str| {
                        m.get(at.saturating_sub(150)..(at + 150).min(m.len()))
                            .unwrap_or("")
                            .to_string()
                    };
                    panic!(
                        "{name}: {ranks} ranks, {threads} threads differ from one process:\n\
                         split:  ...{}...\nsingle: ...{}...\ncounts {:?} vs {:?}, synapses {:?} vs {:?}",
                        around(&split.monitors),
                        around(&single.monitors),
                        split.spike_counts,
                        single.spike_counts,
                        split.synapses,
                        single.synapses
                    );
                }
                // Each rank's own neurons end as on one process.
                let joined: Vec<(String, Vec<u64>)> = single_state
                    .iter()
                    .enumerate()
                    .map(|(v, (n, _))| {
                        let all = states.iter().flat_map(|s| s[v].1.clone()).collect();
                        (n.clone(), all)
                    })
                    .collect();
                assert_eq!(&joined, single_state, "{name}: final state");
            }
        }
        compared += 1;
    }
    eprintln!("compared {compared} models; refused {refused:?}");
    assert!(compared >= 20, "only {compared} models compared");
    assert_eq!(refused, REFUSED, "models refused on several ranks");
    for (name, _) in WINDOWS {
        assert!(
            windows_checked.iter().any(|n| n == name),
            "{name}: its windows were not checked"
        );
    }
}

/// A group whose first neurons receive plastic synapses and the rest
/// static ones is split so that each rank holds about the same synapse
/// memory, not the same number of neurons (its results are compared with
/// one process's above).
#[test]
fn a_group_is_split_by_the_synapses_expected_onto_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let source = std::fs::read_to_string(root.join("tests/ranks/balanced_split.model"))
        .expect("the model is readable");
    let program = compile(&source).expect("the model compiles").program;
    let handles: Vec<_> = ThreadExchange::group(2)
        .into_iter()
        .map(|exchange| {
            let program = program.clone();
            std::thread::spawn(move || {
                let mut sim = Simulation::new(
                    program,
                    RunConfig {
                        seed: 7,
                        threads: 1,
                    },
                )
                .expect("simulation");
                sim.set_exchange(Box::new(exchange)).expect("split");
                sim.run_all().expect("run");
                let bytes: usize = sim.synapse_stats().iter().map(|s| s.bytes).sum();
                (sim.owned_neurons(0), bytes)
            })
        })
        .collect();
    let ranks: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("rank"))
        .collect();
    // The 160 excitatory neurons expect 32 plastic and 8 static synapses
    // each, the 40 inhibitory ones 40 static: rank 0 takes fewer than
    // half the neurons.
    assert!(ranks[0].0.end < 100, "{ranks:?}");
    assert_eq!(ranks[0].0.end, ranks[1].0.start);
    let (a, b) = (ranks[0].1 as f64, ranks[1].1 as f64);
    assert!((a - b).abs() / (a + b) < 0.1, "synapse bytes {a} vs {b}");
}

/// A part moved between runs is checked as one moved before them: a
/// spike thresholder moved after the window's exchange after the first
/// `run` is refused for split runs, naming it (the models above move only
/// parts that run split between their runs).
#[test]
fn a_part_moved_between_runs_is_refused_where_its_place_is() {
    let source = "\
NeuronGroup G(2):
    model:
        dv/dt = (1.5 - v)/(4*ms) : 1
    threshold: v > 1
    reset: v = 0
NeuronGroup H(2):
    model:
        dv/dt = -v/(5*ms) : 1
Synapses S(G -> H):
    on_pre: v_post += 0.5
    connect: j='i'
run 1*ms
G.thresholder['spike'].when = 'after_synapses'
run 1*ms
";
    let model = compile(source).expect("the model compiles");
    let refused = unsupported(&model.program);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        (refused[0].object.as_str(), refused[0].part),
        ("G", "schedule")
    );
    assert!(
        refused[0].what.contains("thresholder"),
        "{}",
        refused[0].what
    );
}

/// What cannot run split among presynaptic writes and moved parts is
/// refused, naming what: an update of `x_pre` from its own value other
/// than `+=`, `-=` and `*=` (a division, a `clip` of a sum), a kernel
/// that reads the variable it changes elsewhere (or before assigning
/// it) or changes it twice, a source-side
/// pathway placed between its thresholder and the exchange, and a
/// thresholder moved past where its default SpikeMonitor's variables are
/// read.
#[test]
fn unsplittable_writes_and_moves_are_refused_naming_them() {
    let model = |synapses: &str, after: &str| {
        format!(
            "\
NeuronGroup G(4):
    model:
        dv/dt = (1.5 - v)/(4*ms) : 1
        x : 1
    threshold: v > 1
    reset: v = 0
Synapses S(G -> G):
    model:
        w : 1
{synapses}
    connect: i != j
SpikeMonitor sm(G):
    variables: v
{after}
run 1*ms
"
        )
    };
    let cases = [
        (
            "    on_post: x_pre = clip(x_pre + w, 0, 1)",
            "",
            "writes the presynaptic variable `x_pre` other than by",
        ),
        ("    on_pre: x_pre /= 1 + w", "", "writes the presynaptic variable `x_pre` other than by"),
        (
            "    on_pre:\n        w = x_pre\n        x_pre = 1",
            "",
            "reads `x`, which it changes as the presynaptic variable `x_pre`",
        ),
        (
            "    on_pre:\n        x_pre = w\n        x_pre *= 2",
            "",
            "changes the presynaptic variable `x_pre` more than once",
        ),
        (
            "    on_pre:\n        x_pre += 1\n        w = x_pre",
            "",
            "reads `x`, which it changes as the presynaptic variable `x_pre`",
        ),
        (
            "    on_pre:\n        x_pre += 1\n        x_pre += w",
            "",
            "changes the presynaptic variable `x_pre` more than once",
        ),
        (
            "    on_pre: v_post += 0.1",
            "S.pre.when = 'after_thresholds'",
            "after its source's thresholder and before the place where a split run exchanges spikes",
        ),
        (
            "    on_pre: v_post += 0.1",
            "G.thresholder['spike'].order = 1",
            "after the place where a split run reads its SpikeMonitor's `variables:`",
        ),
    ];
    // A reset updating a shared variable from its own value other than
    // by `+=`, `-=` or `*=`.
    let shared = "\
NeuronGroup G(4):
    model:
        dv/dt = (1.5 - v)/(4*ms) : 1
        s : 1 (shared)
    threshold: v > 1
    reset:
        v = 0
        s = s*v + 1
run 1*ms
";
    let refused = unsupported(&compile(shared).expect("the model compiles").program);
    assert!(
        refused.iter().any(|u| u
            .what
            .contains("writes the shared variable `s` other than by `s += ...`")),
        "{refused:?}"
    );
    for (synapses, after, expected) in cases {
        let source = model(synapses, after);
        let compiled = compile(&source).unwrap_or_else(|e| panic!("{source}: {e:?}"));
        let refused = unsupported(&compiled.program);
        assert!(
            refused.iter().any(|u| u.what.contains(expected)),
            "{source}\nexpected `{expected}`, found {refused:?}"
        );
    }
}
