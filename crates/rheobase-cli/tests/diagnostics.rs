//! Golden diagnostics: `rheo check` on every broken model in
//! `tests/diagnostics/` (at the workspace root) must exit with 1 and print
//! exactly the matching `NAME.stderr`.
//!
//! The binary runs with the workspace root as its current directory, so
//! messages name `tests/diagnostics/NAME.model` as a user would see them.
//! With `RHEO_BLESS=1` the `.stderr` files are (re)written instead; review
//! the change with `git diff tests/diagnostics` before keeping it.

use std::process::Command;

mod golden;
use golden::workspace_root;

#[test]
fn golden_diagnostics() {
    let root = workspace_root();
    let dir = root.join("tests/diagnostics");
    let models = golden::models_in("tests/diagnostics");
    assert!(
        models.len() >= 20,
        "expected the golden models in {}, found {}",
        dir.display(),
        models.len()
    );
    let bless = golden::blessing();
    let mut failures = Vec::new();
    for model in &models {
        let name = model.file_stem().expect("stem").to_string_lossy();
        let relative = format!("tests/diagnostics/{name}.model");
        let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
            .args(["check", &relative])
            .current_dir(&root)
            .output()
            .expect("run rheo");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !stderr.contains("panicked"),
            "{relative}: rheo panicked:\n{stderr}"
        );
        if output.status.code() != Some(1) {
            failures.push(format!(
                "{relative}: expected exit code 1 (model error), got {:?}\nstdout:\n{}\nstderr:\n{stderr}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout)
            ));
            continue;
        }
        // Every message names the file, line and column.
        if !stderr.starts_with(&format!("{relative}:")) {
            failures.push(format!(
                "{relative}: stderr does not start with the file name:\n{stderr}"
            ));
        }
        golden::compare(model, &relative, &stderr, bless, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden diagnostics failed:\n\n{}",
        failures.len(),
        models.len(),
        failures.join("\n\n")
    );
}

/// Every `.stderr` file has its model: a renamed or deleted model must not
/// leave a stale expectation behind.
#[test]
fn no_orphaned_golden_files() {
    let dir = workspace_root().join("tests/diagnostics");
    for entry in std::fs::read_dir(&dir).expect("read tests/diagnostics") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "stderr") {
            assert!(
                path.with_extension("model").exists(),
                "{} has no matching .model file",
                path.display()
            );
        }
    }
}
