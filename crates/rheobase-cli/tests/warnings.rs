//! Golden warnings: `rheo check` on every model in `tests/warnings/` (at
//! the workspace root) must succeed (exit 0) and print exactly the
//! matching `NAME.stderr`; and the models of the other test folders and
//! the examples must check without a warning, but for the few listed
//! here, so that a warning that fires on ordinary models is noticed.
//!
//! With `RHEO_BLESS=1` the `.stderr` files are (re)written instead; review
//! the change with `git diff tests/warnings` before keeping it.

use std::process::Command;

mod golden;
use golden::{models_in, workspace_root};

/// Models outside `tests/warnings/` that warn, and why that is right.
const EXPECTED: &[&str] = &[
    // Brian2's example: on_post raises `v_lowpass2` and reads
    // `v_lowpass2_post`. Each neuron has one synapse onto it here (two
    // neurons, `i != j`), so the order cannot show, but with more
    // neurons it would (see docs/language.md, "When synapses share a
    // neuron").
    "tests/models/ex_Clopath_et_al_2010_no_homeostasis.model",
    // Its pathways join groups on different clocks on purpose, as Brian2's
    // `synapses_dt_mismatch` warns for the same model.
    "tests/models/two_clocks.model",
    // Likewise: split runs of pathways between groups on different clocks.
    "tests/ranks/clocks_split.model",
    // On purpose: a constant `N` beside a Synapses object whose code reads
    // its own `N` (the synapse count), which wins, as in Brian2.
    "tests/models/synapse_counts.model",
    // On purpose: `on_pre` assigns `x_pre` a value that differs per
    // synapse and reads it back, so the last synapse in one process's
    // order decides it, which split runs must reproduce bit for bit.
    "tests/ranks/presynaptic_writes_assign_scale.model",
];

/// `rheo check` of `relative` (from the workspace root): exit code and
/// standard error.
fn check(relative: &str) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["check", relative])
        .current_dir(workspace_root())
        .output()
        .expect("run rheo");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn golden_warnings() {
    let models = models_in("tests/warnings");
    assert!(models.len() >= 5, "expected the models of tests/warnings");
    let bless = golden::blessing();
    let mut failures = Vec::new();
    for model in &models {
        let name = model.file_stem().expect("stem").to_string_lossy();
        let relative = format!("tests/warnings/{name}.model");
        let (code, stderr) = check(&relative);
        if code != Some(0) {
            failures.push(format!(
                "{relative}: expected exit code 0 (a warning is not an error), got {code:?}\n{stderr}"
            ));
            continue;
        }
        if !stderr.starts_with(&format!("{relative}:")) || !stderr.contains(": warning: ") {
            failures.push(format!("{relative}: expected a located warning:\n{stderr}"));
        }
        golden::compare(model, &relative, &stderr, bless, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn other_models_do_not_warn() {
    let mut unexpected = Vec::new();
    for folder in [
        "tests/models",
        "tests/ranks",
        "spec-examples",
        "benches/models",
    ] {
        for model in models_in(folder) {
            let name = model.file_name().expect("name").to_string_lossy();
            let relative = format!("{folder}/{name}");
            let (code, stderr) = check(&relative);
            let warns = stderr.contains(": warning: ");
            if code == Some(0) && warns != EXPECTED.contains(&relative.as_str()) {
                unexpected.push(format!("{relative}:\n{stderr}"));
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "these models should warn exactly when listed in EXPECTED:\n{}",
        unexpected.join("\n")
    );
}

#[test]
fn a_run_keeps_its_warnings_in_run_json() {
    let out = std::env::temp_dir().join(format!("rheo-warnings-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args([
            "run",
            "tests/warnings/read_after_change.model",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .current_dir(workspace_root())
        .output()
        .expect("run rheo");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(": warning: `on_post` reads `x_post`"),
        "{stderr}"
    );
    let summary = std::fs::read_to_string(out.join("run.json")).expect("run.json");
    let _ = std::fs::remove_dir_all(&out);
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("JSON");
    let warnings = summary["warnings"].as_array().expect("a warnings list");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0]
        .as_str()
        .is_some_and(|w| w.starts_with("`on_post` reads `x_post`")));
}
