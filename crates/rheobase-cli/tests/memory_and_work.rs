//! Bounds that hold whatever the input: `--memory-gb` against the peak
//! resident memory of runs whose bulk is data (a TimedArray from a large
//! `.npy`, a SpikeGeneratorGroup from a long CSV, values from `linspace`),
//! check time against files with thousands of errors and names, and the
//! plot's smoothing window against absurd widths. Found by the hostile
//! battery of issue 9 (`benches/hostile_battery.py`, classes 2 and 4).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("memory_and_work")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn rheo(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(args)
        .output()
        .expect("run rheo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

fn text(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Runs `model` under `--memory-gb gb`: either refused before running
/// (exit 1) or completed with a peak within 10% of the limit.
fn peak_within(model: &Path, gb: f64) -> Option<f64> {
    let out = model.with_extension(format!("out{gb}"));
    let output = rheo(&[
        "run",
        text(model),
        "--out",
        text(&out),
        "--quiet",
        "--memory-gb",
        &gb.to_string(),
    ]);
    match output.status.code() {
        Some(1) => None,
        Some(0) => {
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join("run.json")).expect("run.json"),
            )
            .expect("JSON");
            let peak = summary["peak_memory_bytes"].as_f64().expect("peak memory");
            assert!(
                peak <= 1.1 * gb * 1e9,
                "{}: peak {peak} bytes over --memory-gb {gb}",
                model.display()
            );
            Some(peak)
        }
        code => panic!(
            "{}: exit code {code:?}\n{}",
            model.display(),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// A `.npy` of `rows × cols` zeros, written sparsely.
fn npy(path: &Path, rows: usize, cols: usize) {
    use std::io::Write;
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (header.len() + 11) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::fs::File::create(path).expect("create .npy");
    f.write_all(b"\x93NUMPY\x01\x00").expect("write");
    f.write_all(&(header.len() as u16).to_le_bytes())
        .expect("write");
    f.write_all(header.as_bytes()).expect("write");
    let start = 10 + header.len() as u64;
    f.set_len(start + (rows * cols * 8) as u64).expect("size");
}

/// Every table and spike list is counted, and the front end keeps no
/// third copy: each model runs within 10% of a limit just above its
/// estimate, and is refused below it.
#[test]
fn memory_gb_bounds_runs_whose_bulk_is_data() {
    let dir = scratch("data");
    // 40 MB of TimedArray values.
    npy(&dir.join("stim.npy"), 1_000_000, 5);
    let table = dir.join("table.model");
    std::fs::write(
        &table,
        "TimedArray stim:\n    dt: 1*ms\n    file: stim.npy\nNeuronGroup G(5):\n    model:\n        dv/dt = (stim(t, i) - v)/(10*ms) : 1\nrun 1*ms\n",
    )
    .expect("model");
    // 500,000 spikes from a CSV file.
    let csv: String = (0..500_000)
        .map(|k| format!("{}, {}\n", k % 1000, k as f64 * 1e-6))
        .collect();
    std::fs::write(dir.join("spikes.csv"), csv).expect("csv");
    let generator = dir.join("generator.model");
    std::fs::write(
        &generator,
        "SpikeGeneratorGroup g(1000):\n    file: spikes.csv\nrun 1*ms\n",
    )
    .expect("model");
    // 5 million values from linspace (their table was not counted).
    let values = dir.join("values.model");
    std::fs::write(
        &values,
        "NeuronGroup G(5000000):\n    model:\n        dv/dt = -v/(10*ms) : 1\nG.v = linspace(0, 1, 5000000)\nrun 0.1*ms\n",
    )
    .expect("model");
    for (model, limits) in [
        (&table, [0.06, 0.1, 0.15]),
        (&generator, [0.02, 0.04, 0.06]),
        (&values, [0.1, 0.15, 0.2]),
    ] {
        let outcomes: Vec<Option<f64>> = limits.iter().map(|&gb| peak_within(model, gb)).collect();
        assert!(
            outcomes.iter().any(Option::is_some),
            "{}: refused under every limit {limits:?}",
            model.display()
        );
    }
    // Below what the values need, the model is refused at the setting.
    let output = rheo(&[
        "run",
        text(&values),
        "--out",
        text(&dir.join("refused")),
        "--memory-gb",
        "0.05",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("values.model:4:7: error: this model needs about"),
        "{stderr}"
    );
}

/// Hints ("did you mean") compare a name with every other name; past
/// the first hundred diagnostics none is computed, so 8,000 near-miss
/// names beside 8,000 constants are reported in seconds, not minutes.
#[test]
fn many_errors_beside_many_names_are_reported_in_linear_time() {
    let dir = scratch("hints");
    let mut model: String = (0..8000).map(|k| format!("c{k} = {k}*mV\n")).collect();
    model.extend((0..8000).map(|k| format!("y{k} = c{k}x\n")));
    let path = dir.join("errors.model");
    std::fs::write(&path, model).expect("model");
    let start = Instant::now();
    let output = rheo(&["check", text(&path)]);
    let elapsed = start.elapsed();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches(": error: unknown name").count(), 8000);
    // The first errors still get their hint.
    assert!(
        stderr.contains("help: did you mean `c0`?"),
        "{}",
        &stderr[..2000]
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "8,000 errors took {elapsed:?}"
    );
}

/// A smoothing width whose window would not fit is refused with a
/// message, while the run's results stay written and the run succeeds.
#[test]
fn an_absurd_smoothing_width_is_refused_before_allocating() {
    let dir = scratch("plot");
    let path = dir.join("rate.model");
    std::fs::write(
        &path,
        "NeuronGroup G(10):\n    model:\n        dv/dt = (1.2 - v)/(10*ms) : 1\n    threshold: v > 1\n    reset: v = 0\nPopulationRateMonitor r(G)\nrun 10*ms\n",
    )
    .expect("model");
    let out = dir.join("out");
    let output = rheo(&[
        "run",
        text(&path),
        "--out",
        text(&out),
        "--quiet",
        "--plot",
        "--rate-width-ms",
        "100000000",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The results are complete, so the run does not fail: run.json and
    // the exit code agree. `rheo plot` alone fails.
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("too wide for 100 samples"), "{stderr}");
    assert!(
        stderr.contains("warning: not every picture could be drawn"),
        "{stderr}"
    );
    assert!(out.join("r.npz").exists());
    let again = rheo(&["plot", text(&out), "--rate-width-ms", "100000000"]);
    assert_eq!(again.status.code(), Some(3));
}
