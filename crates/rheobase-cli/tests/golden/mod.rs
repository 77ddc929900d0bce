//! What the golden-file tests (`diagnostics.rs`, `runtime_errors.rs`)
//! share: the workspace root, the models of a folder, and the comparison
//! of a run's stderr with its `NAME.stderr` (or, with `RHEO_BLESS=1`, its
//! rewriting).

use std::path::{Path, PathBuf};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The `.model` files of `folder` (relative to the workspace root), sorted.
pub fn models_in(folder: &str) -> Vec<PathBuf> {
    let dir = workspace_root().join(folder);
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "model"))
        .collect();
    models.sort();
    models
}

/// Whether the golden files are to be rewritten (`RHEO_BLESS=1`).
pub fn blessing() -> bool {
    std::env::var_os("RHEO_BLESS").is_some_and(|v| v != "0")
}

/// Compares `stderr` of `model` (shown as `relative`) with the model's
/// `.stderr` file, or rewrites that file when `bless`; a difference or a
/// missing file is pushed onto `failures`.
pub fn compare(
    model: &Path,
    relative: &str,
    stderr: &str,
    bless: bool,
    failures: &mut Vec<String>,
) {
    let golden = model.with_extension("stderr");
    if bless {
        std::fs::write(&golden, stderr).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        return;
    }
    match std::fs::read_to_string(&golden) {
        Ok(expected) if expected == stderr => {}
        Ok(expected) => failures.push(format!(
            "{relative}: stderr differs from {}\n--- actual ---\n{stderr}--- expected ---\n{expected}",
            golden.display()
        )),
        Err(e) => failures.push(format!(
            "{}: {e} (run with RHEO_BLESS=1 to create it)",
            golden.display()
        )),
    }
}
