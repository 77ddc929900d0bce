//! What `rheo run` tells the user while and after it runs (progress,
//! the closing summary), what its archives say about themselves (units,
//! the recorded group), its pictures, and `rheo compile --emit`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Records every kind of monitor; the unmonitored group `load` makes the
/// run last a few tenths of a second even with the JIT's fastest code, so
/// that several progress lines appear at the test's interval.
const MODEL: &str = "\
tau = 10*ms
NeuronGroup G(50):
    model:
        dv/dt = (-70*mV + 25*mV*(1 + i/N) - v)/tau : volt
        I = (v + 70*mV)/(100*Mohm) : amp
    threshold: v > -50*mV
    reset: v = -70*mV
    method: exact
    init:
        v = -70*mV + rand()*20*mV
NeuronGroup load(4000):
    model:
        du/dt = (1 - u)/tau : 1
    method: euler
SpikeMonitor spikes(G)
StateMonitor trace(G):
    variables: v, I
    record: 0, 10, 49
PopulationRateMonitor rate(G)
run 10*second
";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rheo-reporting-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write_model(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("m.model");
    std::fs::write(&path, text).expect("write model");
    path
}

fn rheo(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rheo"));
    command.args(args).env_remove("RHEO_PROGRESS_INTERVAL");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("rheo runs");
    assert!(
        output.status.success(),
        "rheo {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn run_model(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (PathBuf, String) {
    let model = write_model(dir, MODEL);
    let out = dir.join("out");
    let mut args = vec![
        "run",
        model.to_str().unwrap_or(""),
        "--out",
        out.to_str().unwrap_or(""),
        "--threads",
        "1",
        "--seed",
        "1",
    ];
    args.extend_from_slice(extra);
    let output = rheo(&args, env);
    (out, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn progress_without_a_terminal_is_brian2s_text_report() {
    let dir = scratch("progress");
    let (_, stderr) = run_model(&dir, &[], &[("RHEO_PROGRESS_INTERVAL", "0.02")]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("Starting simulation at t=0 s for a duration of 10 s"),
        "{stderr}"
    );
    // Lines such as `0.5 s (25%) simulated in < 1s, estimated < 1s remaining.`
    let middle: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("%) simulated in ") && l.ends_with(" remaining."))
        .collect();
    assert!(!middle.is_empty(), "no progress line:\n{stderr}");
    for line in &middle {
        let (time, rest) = line.split_once(" s (").expect("`T s (P%)`");
        let t: f64 = time.parse().expect("simulated time in seconds");
        let percent: f64 = rest
            .split_once('%')
            .and_then(|(p, _)| p.parse().ok())
            .expect("percent");
        assert!((0.0..=10.0).contains(&t), "{line}");
        assert!(
            (t / 10.0 * 100.0 - percent).abs() <= 1.0,
            "time and percent disagree: {line}"
        );
        assert!(rest.contains(", estimated "), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("10 s (100%) simulated in ")),
        "no closing progress line:\n{stderr}"
    );
    assert_closing_summary(&stderr);
}

fn assert_closing_summary(stderr: &str) {
    assert!(
        stderr.contains("completed: 10 s of simulated time in "),
        "{stderr}"
    );
    let spikes = stderr
        .lines()
        .find(|l| l.starts_with("  spikes: G "))
        .unwrap_or_else(|| panic!("no spike line:\n{stderr}"));
    assert!(spikes.contains("Hz per neuron"), "{spikes}");
    let wall = stderr
        .lines()
        .find(|l| l.starts_with("  wall time: "))
        .unwrap_or_else(|| panic!("no wall time line:\n{stderr}"));
    for phase in ["parse", "check", "JIT", "simulate", "write"] {
        assert!(wall.contains(phase), "{wall}");
    }
    let results = stderr
        .lines()
        .find(|l| l.starts_with("  results: "))
        .unwrap_or_else(|| panic!("no results line:\n{stderr}"));
    for file in ["run.json", "spikes.npz", "trace.npz", "rate.npz"] {
        assert!(results.contains(file), "{results}");
    }
}

#[test]
fn a_short_run_shows_no_progress_but_its_summary() {
    let dir = scratch("short");
    let (_, stderr) = run_model(&dir, &[], &[]);
    // Whatever the machine, the default delay is a second: a run this
    // short may or may not reach it, but never prints a line before it.
    assert_closing_summary(&stderr);
}

#[test]
fn quiet_prints_nothing() {
    let dir = scratch("quiet");
    let (out, stderr) = run_model(&dir, &["--quiet"], &[("RHEO_PROGRESS_INTERVAL", "0.02")]);
    assert_eq!(stderr, "");
    assert!(out.join("spikes.npz").exists());
}

/// The member `name` of an archive, as bytes after its `.npy` header, and
/// the header.
fn member(archive: &Path, name: &str) -> (String, Vec<u8>) {
    let file = std::fs::File::open(archive).expect("open npz");
    let mut zip = zip::ZipArchive::new(file).expect("valid zip");
    let mut entry = zip.by_name(&format!("{name}.npy")).expect("entry");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).expect("read entry");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]).into_owned();
    (header, bytes[10 + header_len..].to_vec())
}

fn metadata(archive: &Path) -> serde_json::Value {
    let (header, data) = member(archive, "metadata");
    assert!(header.contains("'descr': '<U"), "{header}");
    assert!(header.contains("'shape': ()"), "{header}");
    let text: String = data
        .chunks_exact(4)
        .filter_map(|c| char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .filter(|&c| c != '\0')
        .collect();
    serde_json::from_str(&text).expect("metadata is JSON")
}

#[test]
fn archives_and_run_json_say_units_and_what_they_record() {
    let dir = scratch("units");
    let (out, _) = run_model(&dir, &["--quiet"], &[]);
    let trace = metadata(&out.join("trace.npz"));
    assert_eq!(trace["type"], "StateMonitor");
    assert_eq!(trace["source"]["group"], "G");
    assert_eq!(trace["units"]["v"], "volt");
    assert_eq!(trace["units"]["I"], "amp");
    assert_eq!(trace["units"]["t"], "second");
    let spikes = metadata(&out.join("spikes.npz"));
    assert_eq!(spikes["type"], "SpikeMonitor");
    assert_eq!(spikes["source"]["start"], 0);
    assert_eq!(spikes["source"]["stop"], 50);
    assert_eq!(spikes["units"]["i"], "1");
    let rate = metadata(&out.join("rate.npz"));
    assert_eq!(rate["units"]["rate"], "hertz");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).expect("run.json"))
            .expect("JSON");
    assert_eq!(manifest["recordings"]["trace"], trace);
    assert_eq!(manifest["recordings"]["spikes"], spikes);
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let word = |k: usize| u32::from_be_bytes([bytes[k], bytes[k + 1], bytes[k + 2], bytes[k + 3]]);
    (word(16), word(20))
}

#[test]
fn plots_are_drawn_after_the_run_and_again_from_the_results() {
    let dir = scratch("plot");
    let (out, stderr) = run_model(&dir, &["--plot"], &[]);
    for name in ["spikes", "trace", "rate"] {
        let png = out.join(format!("{name}.png"));
        let (w, h) = png_size(&png);
        assert!(w >= 800 && h >= 400, "{name}.png is {w}×{h}");
        assert!(stderr.contains(&format!("{name}.png")), "{stderr}");
    }
    let first = std::fs::read(out.join("trace.png")).expect("trace.png");
    let again = rheo(&["plot", out.to_str().unwrap_or("")], &[]);
    let listed = String::from_utf8_lossy(&again.stdout);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert_eq!(
        std::fs::read(out.join("trace.png")).expect("trace.png"),
        first,
        "drawing the same results twice gives the same picture"
    );
}

#[test]
fn plot_of_a_directory_without_results_is_an_error() {
    let dir = scratch("plot-empty");
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["plot", dir.to_str().unwrap_or("")])
        .output()
        .expect("rheo runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run.json"), "{stderr}");
}

#[test]
fn compile_emits_each_kernel_in_three_notations() {
    let dir = scratch("emit");
    let model = write_model(&dir, MODEL);
    let path = model.to_str().unwrap_or("");
    let ir = rheo(&["compile", path, "--emit", "ir"], &[]);
    let ir = String::from_utf8_lossy(&ir.stdout);
    assert!(
        ir.contains("# kernel G.state_update (over G, 50 neurons), method: exact"),
        "{ir}"
    );
    // The threshold in the user's unit, not as -0.05.
    assert!(ir.contains("v > -50*mV"), "{ir}");
    let one = rheo(
        &[
            "compile",
            path,
            "--emit",
            "clif",
            "--kernel",
            "G.state_update",
        ],
        &[],
    );
    let clif = String::from_utf8_lossy(&one.stdout);
    assert_eq!(clif.matches("; kernel ").count(), 1, "{clif}");
    assert!(clif.contains("function u0:0(i64) -> i64"), "{clif}");
    let asm = rheo(&["compile", path, "--emit", "asm", "--kernel", "G"], &[]);
    let asm = String::from_utf8_lossy(&asm.stdout);
    assert!(asm.contains("bytes of machine code"), "{asm}");
    assert!(asm.contains("ret"), "{asm}");
    let unknown = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["compile", path, "--kernel", "H"])
        .output()
        .expect("rheo runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no kernel is named `H`"));
}

/// Hodgkin-Huxley's rate functions read in the model's units: a
/// constant dividing a voltage inside `exprel` is a voltage (in
/// parentheses, since `x / 4*mV` would mean `(x / 4)*mV`), and no sign is
/// doubled (`v - VT` with `VT = -63*mV` prints `v + 63*mV`).
#[test]
fn emitted_ir_shows_the_units_and_signs_of_the_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .current_dir(&root)
        .args([
            "compile",
            "spec-examples/hh.model",
            "--emit",
            "ir",
            "--kernel",
            "neurons",
        ])
        .output()
        .expect("rheo runs");
    assert!(output.status.success());
    let ir = String::from_utf8_lossy(&output.stdout);
    assert!(ir.contains("exprel((13*mV - v - 63*mV) / (4*mV))"), "{ir}");
    assert!(ir.contains("exprel((v + 63*mV - 40*mV) / (5*mV))"), "{ir}");
    assert!(!ir.contains("- -") && !ir.contains("+ -"), "{ir}");
    assert!(!ir.contains("-1 *"), "{ir}");
}

/// The `rheo compile` example of docs/cli.md is what rheo prints.
#[test]
fn the_documented_emit_example_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/cli.md")).expect("docs/cli.md");
    let command = "$ rheo compile spec-examples/hh.model --emit ir --kernel neurons.threshold\n";
    let start = doc.find(command).expect("the example is in docs/cli.md") + command.len();
    let expected = &doc[start..start + doc[start..].find("```").expect("end of the example")];
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .current_dir(&root)
        .args([
            "compile",
            "spec-examples/hh.model",
            "--emit",
            "ir",
            "--kernel",
            "neurons.threshold",
        ])
        .output()
        .expect("rheo runs");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(printed.trim_end(), expected.trim_end());
}

/// docs/tutorial.md shows docs/examples/first.model and what `rheo check`
/// prints for it, as written and with `v_th` given the wrong unit.
#[test]
fn the_tutorial_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/tutorial.md")).expect("docs/tutorial.md");
    let model =
        std::fs::read_to_string(root.join("docs/examples/first.model")).expect("first.model");
    assert!(
        doc.contains(&format!("```text\n{model}```")),
        "the model in the tutorial"
    );

    let dir = scratch("tutorial");
    let path = dir.join("first.model");
    std::fs::write(&path, &model).expect("write the model");
    let check = |dir: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rheo"))
            .current_dir(dir)
            .args(args)
            .output()
            .expect("rheo runs")
    };
    let ok = check(&dir, &["check", "first.model"]);
    assert!(ok.status.success());
    let printed = String::from_utf8_lossy(&ok.stdout);
    assert!(doc.contains(&format!("```text\n{printed}```")), "{printed}");

    let wrong = check(&dir, &["check", "first.model", "--set", "v_th=2*ms"]);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    let line = "first.model:10:16: error: dimension mismatch: cannot compare `v` (volt) and `v_th` (second)";
    assert!(stderr.contains(line), "{stderr}");
    assert!(doc.contains(line));
}

/// The example of "More of Brian2, as written" in docs/language.md runs.
#[test]
fn the_brian2_habits_example_of_the_language_reference_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/language.md")).expect("docs/language.md");
    let section = doc
        .find("## More of Brian2, as written")
        .expect("the section");
    let start = section + doc[section..].find("```\n").expect("the example") + 4;
    let end = start + doc[start..].find("```").expect("its end");
    let dir = scratch("habits");
    let model = dir.join("habits.model");
    std::fs::write(&model, &doc[start..end]).expect("write the model");
    let out = dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args([
            "run",
            model.to_str().unwrap_or(""),
            "--out",
            out.to_str().unwrap_or(""),
            "--quiet",
        ])
        .output()
        .expect("rheo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("trace.npz").is_file() && out.join("spikes.npz").is_file());
}

#[test]
fn perf_map_names_every_kernel_with_its_code_range() {
    let dir = scratch("perf-map");
    let model = write_model(
        &dir,
        "NeuronGroup G(10):\n    model:\n        dv/dt = -v/(10*ms) : 1\n    threshold: v > 1\n    reset: v = 0\n    method: exact\nrun 1*ms\n",
    );
    let out = dir.join("out");
    let args = [
        "run",
        model.to_str().unwrap_or(""),
        "--out",
        out.to_str().unwrap_or(""),
        "--quiet",
        "--perf-map",
    ];
    rheo(&args, &[]);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).expect("run.json"))
            .expect("run.json is JSON");
    let pid = summary["pid"].as_u64().expect("run.json names the pid");
    let map = std::env::temp_dir().join(format!("perf-{pid}.map"));
    let text = std::fs::read_to_string(&map).expect("the perf map was written");
    let _ = std::fs::remove_file(&map);
    let mut names = Vec::new();
    for line in text.lines() {
        // perf's format: hexadecimal start and size, then the name.
        let mut parts = line.splitn(3, ' ');
        let start = u64::from_str_radix(parts.next().unwrap_or(""), 16);
        let size = u64::from_str_radix(parts.next().unwrap_or(""), 16);
        assert!(start.is_ok_and(|s| s > 0), "bad start in {line:?}");
        assert!(size.is_ok_and(|s| s > 0), "bad size in {line:?}");
        names.push(parts.next().unwrap_or("").to_string());
    }
    for kernel in ["rheo:G.state_update", "rheo:G.threshold", "rheo:G.reset"] {
        assert!(
            names.iter().any(|n| n == kernel),
            "{kernel} not in {names:?}"
        );
    }
}
