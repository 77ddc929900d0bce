//! Recordings streamed to disk during a run: the archives must not depend
//! on when samples were written out, a recording larger than the memory
//! budget must not be held in memory, and an interrupted streamed run
//! must still leave complete, consistent archives.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rheo-stream-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn rheo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(args)
        .output()
        .expect("rheo runs")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Names of the entries of `dir` that are not results: spill directories
/// or temporary files left behind.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read out dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// One `.npy` entry of an archive: (descr, fortran_order, shape, data).
fn npy(archive: &Path, name: &str) -> (String, bool, Vec<usize>, Vec<u8>) {
    let file = std::fs::File::open(archive).expect("open npz");
    let mut zip = zip::ZipArchive::new(file).expect("valid zip");
    let mut entry = zip.by_name(&format!("{name}.npy")).expect("entry");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).expect("read entry");
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii header");
    let descr = header
        .split("'descr': '")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("descr")
        .to_string();
    let fortran = header.contains("'fortran_order': True");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("shape");
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("dimension"))
        .collect();
    (descr, fortran, shape, bytes[10 + header_len..].to_vec())
}

fn f64s(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Writing samples out every step, every few steps or only at the end
/// gives byte-identical archives, for every kind of monitor and value type.
#[test]
fn archives_do_not_depend_on_the_buffer_size() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for model in [
        "spec-examples/cuba.model",
        "tests/models/integer_bool.model",
        "tests/models/statemonitor_dt.model",
        "tests/models/stdp_spikegen.model",
        "tests/models/spike_monitor_no_record.model",
    ] {
        let model_path = root.join(model);
        let stem = Path::new(model)
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("stem");
        let dir = scratch(stem);
        let mut outs = Vec::new();
        for buffer in ["0", "1", "64"] {
            let out = dir.join(format!("buffer-{buffer}"));
            let result = rheo(&[
                "run",
                path_str(&model_path),
                "--out",
                path_str(&out),
                "--buffer-mb",
                buffer,
                "--seed",
                "3",
            ]);
            assert!(
                result.status.success(),
                "{model} with --buffer-mb {buffer}: {}",
                String::from_utf8_lossy(&result.stderr)
            );
            assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
            outs.push(out);
        }
        let mut archives: Vec<String> = std::fs::read_dir(&outs[0])
            .expect("out dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".npz"))
            .collect();
        archives.sort();
        assert!(!archives.is_empty(), "{model} wrote no monitors");
        for name in &archives {
            let reference = std::fs::read(outs[0].join(name)).expect("archive");
            for other in &outs[1..] {
                let bytes = std::fs::read(other.join(name)).expect("archive");
                assert!(
                    bytes == reference,
                    "{model}: {name} differs between {} and {}",
                    outs[0].display(),
                    other.display()
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// 1000 neurons × 2 variables × 20001 samples × 8 bytes = 320 MB recorded
/// through a 4 MiB buffer: the process's peak memory stays far below the
/// recording, and the archive holds every sample in Brian2's
/// (neurons, times) shape with the right values.
#[cfg(target_os = "linux")]
#[test]
fn a_recording_larger_than_the_buffer_is_not_held_in_memory() {
    let dir = scratch("large");
    let model = dir.join("large.model");
    std::fs::write(
        &model,
        "\
NeuronGroup G(1000):
    model:
        dv/dt = 1/second : 1
        dw/dt = -1/second : 1
    init: v = i
StateMonitor trace(G):
    variables: v, w
    record: all
run 2*second
",
    )
    .expect("write model");
    let out = dir.join("out");
    let result = rheo(&[
        "run",
        path_str(&model),
        "--out",
        path_str(&out),
        "--buffer-mb",
        "4",
        "--threads",
        "1",
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));

    let archive = out.join("trace.npz");
    let (_, _, t_shape, t_data) = npy(&archive, "t");
    assert_eq!(t_shape, [20000]);
    let t = f64s(&t_data);
    let (descr, fortran, shape, data) = npy(&archive, "v");
    assert_eq!(
        (descr.as_str(), shape.as_slice()),
        ("<f8", &[1000, 20000][..])
    );
    assert!(fortran, "time-major samples are declared column-major");
    let v = f64s(&data);
    // Column-major: element (neuron n, sample k) is at k * 1000 + n, and
    // v of neuron n at time t is n + t (t in seconds).
    for (n, k) in [(0, 0), (999, 0), (0, 19_999), (517, 12_345), (999, 19_999)] {
        let got = v[k * 1000 + n];
        let want = n as f64 + t[k];
        assert!(
            (got - want).abs() < 1e-9,
            "v[{n}][{k}] = {got}, want {want}"
        );
    }

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json"))
            .expect("valid json");
    let peak = summary["peak_memory_bytes"]
        .as_u64()
        .expect("peak memory reported on Linux");
    let recorded = 1000 * 2 * 20_000 * 8;
    assert!(
        peak < recorded / 3,
        "peak memory {peak} bytes for a recording of {recorded} bytes"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C while samples are being streamed: the archives are assembled
/// from what reached the disk plus what was still in memory, and every
/// recorded array has the same number of samples.
#[cfg(unix)]
#[test]
fn interrupted_streamed_run_leaves_consistent_archives() {
    let dir = scratch("interrupt");
    let model = dir.join("long.model");
    // The run must outlast the 1.5 s before the interrupt, but a full run
    // must also fit the free disk, which rheo checks before it starts
    // (a 1000 s recording of 50 neurons needed 4.5 GB and was refused on
    // a CI machine): the silent group H makes each step slow instead, and
    // the whole recording needs about 300 MB.
    std::fs::write(
        &model,
        "\
NeuronGroup G(200):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
    init: v = i/200
NeuronGroup H(50000):
    model:
        du/dt = -u/(10*ms) : 1
SpikeMonitor spikes(G)
StateMonitor trace(G):
    variables: v
    record: 0:20
PopulationRateMonitor rate(G)
run 100*second
",
    )
    .expect("write model");
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args([
            "run",
            path_str(&model),
            "--out",
            path_str(&out),
            "--buffer-mb",
            "0",
            "--threads",
            "1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("rheo starts");
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let sent = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "rheo did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    if code != Some(130) {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        panic!("exit code {code:?}, want Some(130); stderr:\n{stderr}");
    }
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json"))
            .expect("valid json");
    assert_eq!(summary["status"], "interrupted");
    let steps = summary["steps"].as_u64().expect("steps") as usize;
    assert!(steps > 0);

    let (_, _, t_shape, _) = npy(&out.join("trace.npz"), "t");
    assert_eq!(t_shape, [steps], "one sample per simulated step");
    let (_, _, v_shape, v_data) = npy(&out.join("trace.npz"), "v");
    assert_eq!(v_shape, [20, steps]);
    assert_eq!(v_data.len(), 20 * steps * 8);
    let (_, _, rate_shape, _) = npy(&out.join("rate.npz"), "rate");
    assert_eq!(rate_shape, [steps]);
    let (_, _, i_shape, _) = npy(&out.join("spikes.npz"), "i");
    let (_, _, st_shape, _) = npy(&out.join("spikes.npz"), "t");
    let (_, _, count_shape, count) = npy(&out.join("spikes.npz"), "count");
    assert_eq!(i_shape, st_shape);
    assert_eq!(count_shape, [200]);
    let total: i64 = count
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .sum();
    assert_eq!(
        total as usize, i_shape[0],
        "count agrees with the spike list"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// More recorded arrays than the process may keep files open (1200 here,
/// with the limit lowered to 256): spill files are opened per append, so
/// streaming still works and every archive is complete.
#[cfg(unix)]
#[test]
fn many_monitors_stream_without_running_out_of_files() {
    let dir = scratch("many");
    let mut model = String::from(
        "\
NeuronGroup G(400):
    model:
        dv/dt = 1/second : 1
        dw/dt = -1/second : 1
    init: v = i
",
    );
    for k in 0..400 {
        model.push_str(&format!(
            "StateMonitor m{k}(G):\n    variables: v, w\n    record: {k}\n"
        ));
    }
    model.push_str("run 2*ms\n");
    let path = dir.join("many.model");
    std::fs::write(&path, model).expect("write model");
    let out = dir.join("out");
    let result = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rheo"))
        .args([
            "run",
            path_str(&path),
            "--out",
            path_str(&out),
            "--buffer-mb",
            "0",
        ])
        .output()
        .expect("sh runs rheo");
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
    for k in [0, 217, 399] {
        let (_, _, shape, data) = npy(&out.join(format!("m{k}.npz")), "v");
        assert_eq!(shape, [1, 20]);
        let v = f64s(&data);
        assert!(
            (v[0] - k as f64).abs() < 1e-12,
            "m{k}: v starts at {}",
            v[0]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
