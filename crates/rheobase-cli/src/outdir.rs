//! The output directory of one run and `run.json`, its manifest.
//!
//! A reader of `OUT` must be able to tell from `run.json` alone which
//! files belong to the run and that each is complete. So:
//!
//! - before anything runs, the files an earlier run left in `OUT` (the
//!   archives its `run.json` lists, and those this run will write) are
//!   removed, and `run.json` is replaced by one saying `"status":
//!   "running"` with no files;
//! - every archive is written atomically, and once it is in place its
//!   size and SHA-256 (read back from the disk) are added to the list;
//! - `run.json` is written last, atomically, with the final status and
//!   `files`: every file of this run and nothing else.
//!
//! A process killed at any point therefore leaves either a `run.json`
//! saying "running" (the run did not finish; files not listed are not
//! vouched for) or the final one, never an earlier run's `run.json`
//! beside this run's archives.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::npz::{self, Written};

/// Largest earlier `run.json` read when superseding it; real ones are a
/// few kilobytes.
const MAX_OLD_MANIFEST: u64 = 16 << 20;

/// One file written by this run.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub monitor: String,
    pub written: Written,
}

/// A monitor whose archive could not be written, and why.
#[derive(Debug, Clone)]
pub struct Missing {
    pub monitor: String,
    pub name: String,
    pub error: String,
}

/// What this run has written into its output directory so far.
#[derive(Debug, Default)]
pub struct Manifest {
    pub files: Vec<Entry>,
    pub missing: Vec<Missing>,
}

impl Manifest {
    /// The `files` and `not_written` members of run.json.
    pub fn to_json(&self) -> (Value, Value) {
        let files = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "monitor": f.monitor,
                    "bytes": f.written.bytes,
                    "sha256": f.written.sha256,
                })
            })
            .collect::<Vec<_>>();
        let missing = self
            .missing
            .iter()
            .map(|m| json!({ "name": m.name, "monitor": m.monitor, "error": m.error }))
            .collect::<Vec<_>>();
        (Value::Array(files), Value::Array(missing))
    }
}

/// The archive a monitor named `monitor` is written to.
pub fn archive_name(monitor: &str) -> String {
    format!("{monitor}.npz")
}

/// Whether `name` is a file this program could have written into `OUT`:
/// a plain `NAME.npz`, no directory part, not hidden. Only such names are
/// ever removed, whatever an old `run.json` says.
fn is_archive_name(name: &str) -> bool {
    name.ends_with(".npz")
        && name.len() > 4
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
}

/// The archives an earlier run's `run.json` in `out` lists (`files`, or
/// for older versions `monitors`).
fn listed_by_old_manifest(out: &Path) -> Vec<String> {
    let path = out.join("run.json");
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Vec::new();
    };
    if !meta.is_file() {
        return Vec::new();
    }
    let mut text = String::new();
    let read =
        std::fs::File::open(&path).and_then(|f| f.take(MAX_OLD_MANIFEST).read_to_string(&mut text));
    if read.is_err() {
        return Vec::new();
    }
    let Ok(old) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Some(files) = old.get("files").and_then(Value::as_array) {
        names.extend(
            files
                .iter()
                .filter_map(|f| f.get("name").and_then(Value::as_str))
                .map(str::to_string),
        );
    }
    if let Some(monitors) = old.get("monitors").and_then(Value::as_array) {
        names.extend(monitors.iter().filter_map(Value::as_str).map(archive_name));
    }
    names
}

/// Removes from `out` the archives of an earlier run (those its run.json
/// lists) and any archive this run will write (`monitors`), so that none
/// of them can pass for this run's. Returns the files that could not be
/// removed, with the reason.
pub fn remove_stale(out: &Path, monitors: &[String]) -> Vec<(PathBuf, String)> {
    let mut names = listed_by_old_manifest(out);
    names.extend(monitors.iter().map(|m| archive_name(m)));
    names.sort();
    names.dedup();
    let mut failed = Vec::new();
    for name in names.into_iter().filter(|n| is_archive_name(n)) {
        // An archive's picture (`rheo plot`) goes with it: a picture of
        // an earlier run beside this run's results would mislead.
        let archive = out.join(&name);
        let picture = archive.with_extension("png");
        for path in [archive, picture] {
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if !meta.is_dir() => {
                    if let Err(e) = std::fs::remove_file(&path) {
                        failed.push((path, e.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    failed
}

/// Writes `summary` as `out/run.json`, atomically, and makes the rename
/// durable.
pub fn write_summary(out: &Path, summary: &Value) -> std::io::Result<Written> {
    let text = serde_json::to_string_pretty(summary).unwrap_or_else(|_| "{}".to_string());
    let path = out.join("run.json");
    let written = npz::write_atomically(&path, text.as_bytes())?;
    npz::sync_parent_dir(&path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_archive_names_are_removable() {
        for ok in ["spikes.npz", "a.b.npz"] {
            assert!(is_archive_name(ok), "{ok}");
        }
        for bad in [
            ".npz",
            "../x.npz",
            "/etc/x.npz",
            "run.json",
            ".hidden.npz",
            "a/b.npz",
            "model.model",
        ] {
            assert!(!is_archive_name(bad), "{bad}");
        }
    }

    #[test]
    fn stale_archives_are_removed_and_others_kept() {
        let dir = std::env::temp_dir().join(format!("rheo-outdir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        for name in [
            "old.npz",
            "old.png",
            "legacy.npz",
            "new.npz",
            "new.png",
            "mine.npz",
            "mine.png",
            "notes.txt",
        ] {
            std::fs::write(dir.join(name), b"x").expect("file");
        }
        std::fs::write(
            dir.join("run.json"),
            r#"{"files": [{"name": "old.npz"}, {"name": "../escape.npz"}], "monitors": ["legacy"]}"#,
        )
        .expect("run.json");
        let failed = remove_stale(&dir, &["new".to_string()]);
        assert!(failed.is_empty(), "{failed:?}");
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("read")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        // Pictures go with their archives; others' stay.
        assert_eq!(left, ["mine.npz", "mine.png", "notes.txt", "run.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
