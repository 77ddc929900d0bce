//! Ctrl-C during a run: the run stops within a second, writes what was
//! recorded, marks run.json as interrupted and exits with 130.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LONG_MODEL: &str = "\
NeuronGroup G(100):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
SpikeMonitor spikes(G)
StateMonitor trace(G):
    variables: v
    record: 0
run 1000*second
";

#[cfg(unix)]
#[test]
fn sigint_stops_the_run_and_keeps_the_results() {
    interrupt_with("-INT");
}

/// SIGTERM (what `kill` and job schedulers send) is handled like Ctrl-C.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_run_and_keeps_the_results() {
    interrupt_with("-TERM");
}

#[cfg(unix)]
fn interrupt_with(signal: &str) {
    let dir = std::env::temp_dir().join(format!("rheo-interrupt-{}{signal}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let model = dir.join("long.model");
    std::fs::write(&model, LONG_MODEL).expect("write model");
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args([
            "run",
            model.to_str().unwrap_or(""),
            "--out",
            out.to_str().unwrap_or(""),
            "--threads",
            "1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("rheo starts");
    // Let it compile and simulate for a moment.
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "rheo did not stop after {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(130), "exit code after Ctrl-C");
    let summary = std::fs::read_to_string(out.join("run.json")).expect("run.json written");
    let json: serde_json::Value = serde_json::from_str(&summary).expect("valid json");
    assert_eq!(json["status"], "interrupted");
    assert!(json["steps"].as_u64().unwrap_or(0) > 0, "some steps ran");
    for name in ["spikes.npz", "trace.npz"] {
        let bytes = std::fs::read(out.join(name)).expect("monitor written");
        assert!(bytes.starts_with(b"PK"), "{name} is a zip archive");
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
