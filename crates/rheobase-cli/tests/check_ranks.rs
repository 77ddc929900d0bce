//! `rheo check --ranks K`: what `mpirun -n K rheo run` would refuse before
//! the run is reported at check time, at its line, without MPI; and the
//! memory estimate is each rank's (every rank holds every neuron's state,
//! about a K-th of the synapses).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model(name: &str, source: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check_ranks");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join(name);
    std::fs::write(&path, source).expect("model file");
    path
}

fn check(path: &Path, ranks: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["check", "--ranks", ranks])
        .arg(path)
        .current_dir(path.parent().expect("folder"))
        .output()
        .expect("run rheo")
}

#[test]
fn what_cannot_run_split_is_refused_by_check_at_its_line() {
    // A shared variable changed from per-neuron values in a reset, and a
    // thresholder moved after the exchange by a statement: each refused
    // at its own line, not at the group's name.
    let path = model(
        "refused.model",
        "\
NeuronGroup G(8):
    model:
        dv/dt = (1.2 + 0.05*i - v)/(5*ms) : 1
        last : 1 (shared)
    threshold: v > 1
    reset:
        v = 0
        last = last*v + 1
NeuronGroup H(4):
    model:
        dv/dt = (1.2 - v)/(5*ms) : 1
    threshold: v > 1
    reset: v = 0
H.thresholder['spike'].when = 'after_synapses'
run 1*ms
",
    );
    let one = check(&path, "1");
    assert_eq!(one.status.code(), Some(0), "{one:?}");
    let two = check(&path, "2");
    let stderr = String::from_utf8_lossy(&two.stderr);
    assert_eq!(two.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused.model:7:9: error: `G` cannot run on 2 MPI ranks yet: its reset"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "refused.model:14:1: error: `H` cannot run on 2 MPI ranks yet: its schedule moves \
             its thresholder after the place where a split run exchanges spikes"
        ),
        "{stderr}"
    );
}

#[test]
fn check_on_ranks_says_so_and_gives_the_memory_of_each_rank() {
    let path = model(
        "split.model",
        "\
NeuronGroup G(1000):
    model:
        dv/dt = (1.2 - v)/(5*ms) : 1
    threshold: v > 1
    reset: v = 0
Synapses S(G -> G):
    on_pre: v_post += 0.01
    connect: p=0.5
run 1*ms
",
    );
    let out = check(&path, "2");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // 500,000 synapses × 20 bytes = 10 MB, halved on each of two ranks.
    assert!(
        stdout.contains("split.model: ok (runs split on 2 MPI ranks): G (1000 neurons, exact)"),
        "{stdout}"
    );
    assert!(stdout.contains("(5.0 MB on each rank)"), "{stdout}");
}
