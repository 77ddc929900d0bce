//! The library facade: models by name, runs in slices, state by group and
//! variable name, monitors, reset and overrides.

use rheobase::{DiagnosticKind, Error, Model, MonitorData, Options};

fn lif() -> Model {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec-examples/lif.model");
    Model::load(path).expect("lif.model compiles")
}

/// Everything the monitors recorded, for comparing two runs exactly.
fn recorded(sim: &rheobase::Simulation) -> Vec<MonitorData> {
    sim.monitors().to_vec()
}

#[test]
fn sliced_run_matches_the_file_run_bit_for_bit() {
    let model = lif();
    let mut whole = model.simulation(Options::seed(1)).expect("starts");
    whole.run_script().expect("runs");
    let mut sliced = model.simulation(Options::seed(1)).expect("starts");
    // The file runs 100 ms; the same 100 ms as four `run` calls.
    let mut calls = 0;
    for _ in 0..4 {
        sliced
            .run_with(0.025, &mut || {
                calls += 1;
                true
            })
            .expect("runs");
    }
    assert!(calls >= 4);
    assert_eq!(sliced.t(), whole.t());
    assert_eq!(recorded(&sliced), recorded(&whole));
    assert_eq!(
        sliced.get("neurons", "v").expect("v"),
        whole.get("neurons", "v").expect("v")
    );
}

#[test]
fn an_interrupted_script_resumes_where_it_stopped() {
    let model = lif();
    let mut whole = model.simulation(Options::seed(1)).expect("starts");
    whole.run_script().expect("runs");
    let mut sim = model.simulation(Options::seed(1)).expect("starts");
    let mut calls = 0;
    let err = sim
        .run_script_with(&mut || {
            calls += 1;
            calls < 3
        })
        .expect_err("stopped by the callback");
    assert!(err.is_interrupted(), "{err}");
    let stopped_at = sim.t();
    assert!(stopped_at > 0.0 && stopped_at < 0.1, "{stopped_at}");
    sim.run_script().expect("resumes");
    assert_eq!(sim.t(), whole.t());
    assert_eq!(recorded(&sim), recorded(&whole));
}

#[test]
fn state_is_read_and_written_by_name_with_checked_lengths() {
    let model = lif();
    let mut sim = model.simulation(Options::seed(1)).expect("starts");
    sim.run(0.0).expect("set-up runs");
    // `init:` ran: v = El = -70 mV, in volts.
    assert!(sim
        .get("neurons", "v")
        .expect("v")
        .iter()
        .all(|&v| v == -0.07));
    let values: Vec<f64> = (0..50).map(|k| -0.07 + 1e-4 * k as f64).collect();
    sim.set("neurons", "v", &values).expect("set");
    assert_eq!(sim.get("neurons", "v").expect("v"), values.as_slice());

    let err = sim
        .set("neurons", "v", &[0.0; 3])
        .expect_err("wrong length");
    assert_eq!(
        err.to_string(),
        "error: `neurons.v` holds 50 values, but 3 were given"
    );
    let err = sim.get("neuron", "v").expect_err("no such group");
    assert_eq!(
        err.to_string(),
        "error: there is no group or Synapses object `neuron`; did you mean `neurons`?"
    );
    let err = sim.get("neurons", "V").expect_err("no such variable");
    assert_eq!(
        err.to_string(),
        "error: there is no variable `V` in `neurons`; did you mean `v`?"
    );
    assert!(sim.variables("neurons").expect("names").contains(&"I"));
}

#[test]
fn monitors_are_read_cleared_and_reset() {
    let model = lif();
    let mut sim = model.simulation(Options::seed(1)).expect("starts");
    sim.run(0.05).expect("runs");
    let first: Vec<f64> = sim.spikes("spikes").expect("spikes").t.to_vec();
    assert!(!first.is_empty());
    sim.clear_monitors();
    assert!(sim.spikes("spikes").expect("spikes").t.is_empty());
    assert!(sim
        .spikes("spikes")
        .expect("spikes")
        .count
        .iter()
        .all(|&c| c == 0));
    let err = sim.spikes("trace").expect_err("a StateMonitor");
    assert_eq!(err.to_string(), "error: `trace` is not a SpikeMonitor");
    assert!(sim.monitor("spiks").is_err());

    sim.reset().expect("resets");
    assert_eq!(sim.t(), 0.0);
    sim.run(0.05).expect("runs again");
    assert_eq!(sim.spikes("spikes").expect("spikes").t, first.as_slice());
}

#[test]
fn overrides_change_a_constant_and_are_checked() {
    let model = lif();
    assert_eq!(model.constant("Vt"), Some(-0.05));
    let lower = model.with_overrides(&[("Vt", "-60*mV")]).expect("valid");
    assert_eq!(lower.constant("Vt"), Some(-0.06));
    assert!(lower.source().contains("Vt = (-60*mV)"));
    let spikes = |m: &Model| {
        let mut sim = m.simulation(Options::seed(1)).expect("starts");
        sim.run_script().expect("runs");
        sim.spikes("spikes").expect("spikes").t.len()
    };
    assert!(spikes(&lower) > spikes(&model));

    let Err(Error::Override(e)) = model.with_overrides(&[("vt", "-60*mV")]) else {
        panic!("an unknown name is an override error");
    };
    assert_eq!(e.message, "the model has no top-level constant `vt`");
    assert_eq!(e.help, "did you mean `Vt`?");

    // A constant used in the equations: the equations no longer check.
    let Err(Error::Model(e)) = model.with_overrides(&[("Vt", "-60*nA")]) else {
        panic!("a wrong unit is a model error");
    };
    assert_eq!(e.kind(), DiagnosticKind::Override);
    assert!(
        e.to_string().contains(
            "lif.model:24:6: error: the model checks as written, but not with the override `Vt=-60*nA`"
        ),
        "{e}"
    );
    // The line shown is the substituted one, so the label quotes the
    // file's own value.
    assert!(
        e.to_string()
            .contains("value set from outside the file (the file has `-50*mV`)"),
        "{e}"
    );
}

#[test]
fn an_unused_constant_keeps_its_unit() {
    let model = Model::from_source(
        "m.model",
        "w = 1*mV\nNeuronGroup G(1):\n    model:\n        x : 1\n",
    )
    .expect("valid");
    let Err(Error::Override(e)) = model.with_overrides(&[("w", "2*nA")]) else {
        panic!("a wrong unit is refused even where nothing uses it");
    };
    assert_eq!(
        e.to_string(),
        "error: in the override `w=2*nA`: `w` has unit volt in the model, but `2*nA` has unit amp\n  = help: give the value in volt"
    );
    let Err(Error::Override(e)) = Model::compile("m.model", "a = 1\na = 2\n", &[("a", "3")]) else {
        panic!("a constant assigned twice cannot be overridden");
    };
    assert!(e.message.contains("assigned 2 times"), "{e}");
}

#[test]
fn model_errors_render_with_file_line_and_column() {
    let err =
        Model::from_source("bad.model", "tau = 10*ms\nx = tau + 1*mV\n").expect_err("bad units");
    let Error::Model(model_error) = &err else {
        panic!("a model error");
    };
    assert_eq!(model_error.kind(), DiagnosticKind::Model);
    let text = err.to_string();
    assert!(text.starts_with("bad.model:2:5: error: "), "{text}");
    assert!(text.contains("2 | x = tau + 1*mV"), "{text}");
    let std_error: &dyn std::error::Error = &err;
    assert!(std_error.source().is_some());

    let err = Model::from_source("bad.model", "NeuronGroup G(:\n").expect_err("syntax");
    let Error::Model(e) = err else {
        panic!("a model error")
    };
    assert_eq!(e.kind(), DiagnosticKind::Syntax);

    let err = Model::load("/nonexistent/x.model").expect_err("no file");
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn durations_are_checked() {
    let model = lif();
    let mut sim = model.simulation(Options::seed(1)).expect("starts");
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = sim.run(bad).expect_err("refused");
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
    assert_eq!(sim.t(), 0.0);
}

/// A delay given once for the object is one value, as Brian2's scalar
/// `delay=`; a delay set per synapse is one value per synapse. Both deliver
/// the same spikes when the per-synapse values are all equal.
#[test]
fn a_homogeneous_delay_is_one_value_and_delivers_as_a_per_synapse_one() {
    let network = |delay_lines: &str| {
        format!(
            "NeuronGroup src(3):\n    model:\n        dv/dt = 1/(1*ms) : 1\n    threshold: v > 1\n    reset: v = 0\n    method: euler\nNeuronGroup dst(4):\n    model:\n        dv/dt = -v/(5*ms) : 1\n    method: exact\nSynapses S(src -> dst):\n    on_pre: v_post += 0.5\n{delay_lines}    connect: True\nStateMonitor trace(dst):\n    variables: v\n    record: all\nrun 5*ms\n"
        )
    };
    let shared =
        Model::from_source("net.model", &network("    delay: 0.3*ms\n")).expect("compiles");
    let per_synapse = Model::from_source(
        "net.model",
        &network("    delay: 0.3*ms\n    init:\n        delay = 0.3*ms\n"),
    )
    .expect("compiles");
    let mut a = shared.simulation(Options::seed(1)).expect("starts");
    let mut b = per_synapse.simulation(Options::seed(1)).expect("starts");
    a.run_script().expect("runs");
    b.run_script().expect("runs");
    assert_eq!(*a.get("S", "delay").expect("delay"), [0.3e-3]);
    assert_eq!(*b.get("S", "delay").expect("delay"), [0.3e-3; 12]);
    assert_eq!(recorded(&a), recorded(&b));
}

/// `file:` data is read relative to the model file by `Model::load`, kept
/// through `with_overrides`, and refused with a clear sentence for a model
/// given as text.
#[test]
fn file_data_is_read_next_to_the_model() {
    let dir = std::env::temp_dir().join(format!("rheobase-facade-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("steps.csv"), "0\n2\n1\n").expect("write the table");
    let source = "\
scale = 1
TimedArray stim:
    dt: 1*ms
    file: steps.csv
NeuronGroup G(1):
    model:
        dx/dt = (scale*stim(t) - x)/(1*ms) : 1
    method: euler
StateMonitor trace(G):
    variables: x
    record: 0
";
    let path = dir.join("m.model");
    std::fs::write(&path, source).expect("write the model");
    let model = Model::load(&path).expect("compiles with its data");
    let mut sim = model.simulation(Options::seed(1)).expect("starts");
    sim.run(0.003).expect("runs");
    let x = sim.get("G", "x").expect("x")[0];
    assert!(x > 0.0, "driven by the table: {x}");

    let doubled = model
        .with_overrides(&[("scale", "2")])
        .expect("recompiles with its data");
    let mut sim2 = doubled.simulation(Options::seed(1)).expect("starts");
    sim2.run(0.003).expect("runs");
    assert!(sim2.get("G", "x").expect("x")[0] > x);

    let err = Model::from_source("text.model", source).expect_err("no folder to read from");
    assert!(
        err.to_string().contains("Model::compile_with_files"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
