//! `file:` keys: spike lists and TimedArray values read from CSV and .npy
//! files next to the model, and bad files reported by name.

use std::path::Path;
use std::process::Command;

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/files")
}

#[test]
fn spikes_and_stimulus_come_from_files() {
    let out = std::env::temp_dir().join(format!("rheo-files-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["run", "from_files.model", "--out"])
        .arg(&out)
        .current_dir(data())
        .status()
        .expect("rheo runs");
    assert!(status.success());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json"))
            .expect("json");
    // spikes.csv holds three spikes of the generator.
    let inp = summary["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "inp"))
        .expect("group inp");
    assert_eq!(inp["spikes"], 3);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_bad_file_is_named_with_what_is_wrong() {
    let model = std::fs::read_to_string(data().join("from_files.model"))
        .expect("model")
        .replace("spikes.csv", "bad.csv");
    let dir = std::env::temp_dir().join(format!("rheo-badfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("g.model"), model).expect("write");
    std::fs::copy(data().join("bad.csv"), dir.join("bad.csv")).expect("copy");
    std::fs::copy(data().join("stim.npy"), dir.join("stim.npy")).expect("copy");
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["check", "g.model"])
        .current_dir(&dir)
        .output()
        .expect("rheo runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "g.model:2:11: error: cannot use `bad.csv`: line 1, column 2: `abc` is not a number"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("unknown group"), "{stderr}");
    let missing = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["check", "from_files.model"])
        .current_dir(&dir)
        .output()
        .expect("rheo runs");
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
