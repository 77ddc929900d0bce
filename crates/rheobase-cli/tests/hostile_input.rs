//! `rheo` on input nobody should write but somebody will: missing files,
//! directories, binary junk, empty files, megabyte lines, absurd nesting,
//! absurd sizes, unwritable output directories.
//!
//! Every case checks the documented exit code (0 ok, 1 model error,
//! 2 usage error, 3 runtime failure) and that nothing panicked. Each run
//! has a deadline, so a hang fails the test instead of stalling CI.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXIT_OK: i32 = 0;
const EXIT_MODEL_ERROR: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_RUNTIME: i32 = 3;

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    fn describe(&self) -> String {
        let clip = |s: &str| -> String {
            if s.len() > 2000 {
                let mut end = 2000;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}… ({} bytes)", &s[..end], s.len())
            } else {
                s.to_string()
            }
        };
        format!(
            "exit code {:?} after {:.2?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.elapsed,
            clip(&self.stdout),
            clip(&self.stderr)
        )
    }

    /// The exit code is `expected` and nothing panicked.
    fn expect(&self, expected: i32) {
        assert!(!self.stderr.contains("panicked"), "{}", self.describe());
        assert_eq!(self.code, Some(expected), "{}", self.describe());
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("hostile_input")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

/// Runs `rheo ARGS` from the workspace root; kills it and fails the test
/// if it takes longer than `deadline`.
fn rheo(args: &[&str], deadline: Duration) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rheo");
    // Drain both pipes on threads so a large output cannot block the child.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for rheo") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rheo {args:?} did not finish within {deadline:?} (killed)\n--- stderr ---\n{}",
                String::from_utf8_lossy(&err_reader.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out_reader.join().expect("stdout reader")).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned(),
        elapsed,
    }
}

/// Generous: the test binary is a debug build and CI machines are busy.
const DEADLINE: Duration = Duration::from_secs(60);

fn check_file(path: &Path) -> Outcome {
    rheo(&["check", path.to_str().expect("UTF-8 path")], DEADLINE)
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write model");
    path
}

/// Bytes from a fixed xorshift sequence: "random", but the same every run.
fn pseudo_random_bytes(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn missing_file_is_a_usage_error_naming_the_path() {
    let path = "no/such/directory/missing.model";
    for args in [
        vec!["check", path],
        vec!["run", path, "--out", "target/never-written"],
    ] {
        let out = rheo(&args, DEADLINE);
        out.expect(EXIT_USAGE);
        assert!(out.stderr.contains(path), "{}", out.describe());
        assert!(out.stderr.contains("no such file"), "{}", out.describe());
    }
}

#[test]
fn directory_is_a_usage_error() {
    let dir = scratch("directory");
    let out = check_file(&dir);
    out.expect(EXIT_USAGE);
    assert!(out.stderr.contains("directory"), "{}", out.describe());
}

#[test]
fn binary_junk_is_refused_without_panicking() {
    let dir = scratch("binary");
    for seed in 1..=8u64 {
        let bytes = pseudo_random_bytes(4096, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let path = write(&dir, &format!("junk{seed}.model"), &bytes);
        let out = check_file(&path);
        assert!(!out.stderr.contains("panicked"), "{}", out.describe());
        assert!(
            matches!(out.code, Some(EXIT_MODEL_ERROR | EXIT_USAGE)),
            "{}",
            out.describe()
        );
    }
    // Invalid UTF-8 is named as such.
    let path = write(&dir, "latin1.model", b"tau = 10*ms # caf\xe9\n");
    let out = check_file(&path);
    out.expect(EXIT_USAGE);
    assert!(out.stderr.contains("not UTF-8"), "{}", out.describe());
}

#[test]
fn control_characters_and_foreign_letters_are_model_errors() {
    let dir = scratch("control");
    for (name, text) in [
        ("nul", "\0\0\0\n"),
        ("bell", "tau = 10*ms\n\x07\n"),
        ("euro", "€ = 2\n"),
        ("greek", "τ = 10*ms\n"),
        ("bom", "\u{feff}tau = 10*ms\n"),
        ("cr_only", "tau = 10*ms\rrun tau\r"),
    ] {
        let path = write(&dir, &format!("{name}.model"), text);
        let out = check_file(&path);
        out.expect(EXIT_MODEL_ERROR);
        assert!(
            out.stderr.starts_with(&format!("{}:", path.display())),
            "{name}: {}",
            out.describe()
        );
        assert!(
            !out.stderr.contains("something else"),
            "{name}: the message should say what is wrong: {}",
            out.describe()
        );
    }
}

#[test]
fn valid_utf8_junk_is_a_model_error() {
    let dir = scratch("text_junk");
    let alphabet: Vec<char> = "abcXYZ_019 ()[]:.,=+-*/<>#'\"\n\n    \té€😀\u{0}\u{7f}"
        .chars()
        .collect();
    for seed in 1..=8u64 {
        let text: String = pseudo_random_bytes(2000, seed.wrapping_mul(0x2545_F491_4F6C_DD1D))
            .into_iter()
            .map(|b| alphabet[b as usize % alphabet.len()])
            .collect();
        let path = write(&dir, &format!("junk{seed}.model"), &text);
        let out = check_file(&path);
        assert!(!out.stderr.contains("panicked"), "{}", out.describe());
        assert!(
            matches!(out.code, Some(EXIT_OK | EXIT_MODEL_ERROR)),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn empty_and_comment_only_files_are_valid_empty_models() {
    let dir = scratch("empty");
    for (name, text) in [
        ("empty", ""),
        ("blank", "\n\n   \n"),
        ("comments", "# nothing here\n    # indented comment\n"),
    ] {
        let path = write(&dir, &format!("{name}.model"), text);
        let out = check_file(&path);
        out.expect(EXIT_OK);
        assert!(out.stderr.is_empty(), "{name}: {}", out.describe());
    }
    // Running an empty model writes run.json and nothing else fails.
    let path = dir.join("empty.model");
    let results = dir.join("out");
    let out = rheo(
        &[
            "run",
            path.to_str().expect("UTF-8 path"),
            "--out",
            results.to_str().expect("UTF-8 path"),
        ],
        DEADLINE,
    );
    out.expect(EXIT_OK);
    assert!(results.join("run.json").exists(), "{}", out.describe());
}

#[test]
fn ten_megabyte_line_is_refused_quickly() {
    let dir = scratch("long_line");
    let mut expr = String::from("x = ");
    while expr.len() < 10_000_000 {
        expr.push_str("1+");
    }
    expr.push_str("1\n");
    let path = write(&dir, "sum.model", &expr);
    let out = check_file(&path);
    out.expect(EXIT_MODEL_ERROR);
    assert!(out.stderr.contains("longer than"), "{}", out.describe());
    assert!(
        out.elapsed < Duration::from_secs(30),
        "took {:?}",
        out.elapsed
    );

    // One long name, and one long comment (a valid empty model).
    let path = write(&dir, "name.model", "a".repeat(10_000_000));
    let out = check_file(&path);
    out.expect(EXIT_MODEL_ERROR);
    let path = write(
        &dir,
        "comment.model",
        format!("#{}\n", "x".repeat(10_000_000)),
    );
    let out = check_file(&path);
    out.expect(EXIT_OK);
    assert!(
        out.elapsed < Duration::from_secs(30),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn deep_nesting_is_refused() {
    let dir = scratch("nesting");
    let n = 100_000;
    let cases = [
        (
            "parens",
            format!("x = {}1{}\n", "(".repeat(n), ")".repeat(n)),
        ),
        (
            "brackets",
            format!("x = {}1{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        ("unclosed", format!("x = {}1\n", "(".repeat(n))),
        ("minus", format!("x = {}1\n", "-".repeat(n))),
        ("not", format!("x = {}True\n", "not ".repeat(n))),
        ("power", format!("x = {}1\n", "2**".repeat(n))),
        ("sum", format!("x = {}1\n", "1+".repeat(n))),
        (
            "calls",
            format!("x = {}1{}\n", "exp(".repeat(n), ")".repeat(n)),
        ),
        (
            "equation",
            format!(
                "NeuronGroup G(1):\n    model:\n        dv/dt = {}-v{}/(10*ms) : 1\n",
                "(".repeat(n),
                ")".repeat(n)
            ),
        ),
    ];
    for (name, text) in cases {
        let path = write(&dir, &format!("{name}.model"), &text);
        let out = check_file(&path);
        out.expect(EXIT_MODEL_ERROR);
        assert!(
            out.stderr.contains("nested") || out.stderr.contains("too complex"),
            "{name}: {}",
            out.describe()
        );
    }
}

/// Subexpressions are substituted where they are used: a chain in which
/// each uses the previous one twice doubles at every step. It must be
/// refused, not hang or exhaust memory.
#[test]
fn exponential_subexpression_chain_is_refused() {
    let dir = scratch("subexpressions");
    let mut text = String::from("NeuronGroup G(2):\n    model:\n");
    text.push_str("        dv/dt = (s60 - v)/(10*ms) : 1\n        s0 = v : 1\n");
    for k in 1..=60 {
        text.push_str(&format!("        s{k} = s{p}*s{p} + s{p} : 1\n", p = k - 1));
    }
    text.push_str("    method: rk4\nrun 1*ms\n");
    let path = write(&dir, "chain.model", &text);
    let out = check_file(&path);
    out.expect(EXIT_MODEL_ERROR);
    assert!(out.stderr.contains("too large"), "{}", out.describe());
    // One error, not one per later subexpression.
    assert_eq!(
        out.stderr.matches(": error: ").count(),
        1,
        "{}",
        out.describe()
    );
}

fn group_model(size: &str, parameters: usize, extra: &str) -> String {
    let mut text =
        format!("NeuronGroup G({size}):\n    model:\n        dv/dt = -v/(10*ms) : volt\n");
    for k in 0..parameters {
        text.push_str(&format!("        p{k} : 1\n"));
    }
    text.push_str("    threshold: v > 1*volt\n    method: exact\n");
    text.push_str(extra);
    text.push_str("run 1*ms\n");
    text
}

#[test]
fn absurd_group_size_is_a_clear_error() {
    let dir = scratch("group_size");
    for size in ["1e15", "1e300", "-5", "0", "2.5", "10*ms"] {
        let path = write(&dir, "g.model", group_model(size, 0, ""));
        let out = check_file(&path);
        out.expect(EXIT_MODEL_ERROR);
        assert!(out.stderr.contains("G("), "{size}: {}", out.describe());
    }
    let path = write(&dir, "g.model", group_model("1e15", 0, ""));
    let out = check_file(&path);
    assert!(out.stderr.contains("between 1 and"), "{}", out.describe());
}

/// A group whose state cannot fit in memory is refused before anything is
/// allocated, with the estimate in the message: 4e9 neurons × 31 arrays ×
/// 8 bytes is about 1 TB, more than any test machine has.
#[test]
fn group_that_does_not_fit_in_memory_is_refused() {
    let dir = scratch("memory");
    let path = write(&dir, "big.model", group_model("4e9", 30, ""));
    for args in [
        vec!["check", path.to_str().expect("UTF-8 path")],
        vec![
            "run",
            path.to_str().expect("UTF-8 path"),
            "--out",
            dir.to_str().expect("UTF-8 path"),
        ],
    ] {
        let out = rheo(&args, DEADLINE);
        out.expect(EXIT_MODEL_ERROR);
        assert!(out.stderr.contains("memory"), "{}", out.describe());
        assert!(out.stderr.contains("GB"), "{}", out.describe());
        assert!(
            out.stderr.contains("NeuronGroup G(4e9)"),
            "{}",
            out.describe()
        );
    }
}

/// A StateMonitor recording 100000 neurons × 2 variables × 10^8 time
/// points (240 TB) is streamed to disk, and no disk holds it: refused
/// before the run, naming the monitor and the output directory.
#[test]
fn recording_that_does_not_fit_on_disk_is_refused() {
    let dir = scratch("memory_monitor");
    let text = group_model(
        "100000",
        1,
        "StateMonitor trace(G):\n    variables: v, p0\n    record: all\nrun 10000*second\n",
    );
    let path = write(&dir, "record.model", text);
    let out = check_file(&path);
    out.expect(EXIT_MODEL_ERROR);
    assert!(out.stderr.contains("free in `.`"), "{}", out.describe());
    assert!(out.stderr.contains("`trace`"), "{}", out.describe());
    let target = dir.join("results");
    let out = rheo(
        &[
            "run",
            path.to_str().expect("UTF-8 path"),
            "--out",
            target.to_str().expect("UTF-8 path"),
        ],
        DEADLINE,
    );
    out.expect(EXIT_MODEL_ERROR);
    assert!(out.stderr.contains("TB"), "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("free in `{}`", target.display())),
        "{}",
        out.describe()
    );
    assert!(!target.exists(), "nothing is created for a refused model");
}

#[test]
fn unwritable_output_directory_is_a_clear_error() {
    let dir = scratch("unwritable");
    let blocker = write(&dir, "a-file", "not a directory");
    let mut targets = vec![blocker.join("out").to_str().expect("UTF-8").to_string()];
    if cfg!(target_os = "linux") {
        targets.push("/proc/rheo-test".to_string());
    }
    for target in targets {
        let out = rheo(
            &["run", "spec-examples/lif.model", "--out", &target],
            DEADLINE,
        );
        out.expect(EXIT_USAGE);
        assert!(out.stderr.contains(&target), "{}", out.describe());
        assert!(
            out.stderr.contains("output directory"),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let dir = scratch("threads");
    let mut files = Vec::new();
    for threads in ["1", "2"] {
        let out_dir = dir.join(format!("threads{threads}"));
        let out = rheo(
            &[
                "run",
                "spec-examples/lif.model",
                "--out",
                out_dir.to_str().expect("UTF-8 path"),
                "--threads",
                threads,
                "--seed",
                "7",
            ],
            DEADLINE,
        );
        out.expect(EXIT_OK);
        let spikes = std::fs::read(out_dir.join("spikes.npz")).expect("spikes.npz written");
        let trace = std::fs::read(out_dir.join("trace.npz")).expect("trace.npz written");
        let rate = std::fs::read(out_dir.join("rate.npz")).expect("rate.npz written");
        files.push((spikes, trace, rate));
    }
    assert!(files[0].0.len() > 100, "spikes.npz looks empty");
    assert!(
        files[0].0 == files[1].0,
        "spikes.npz differs between 1 and 2 threads"
    );
    assert!(
        files[0].1 == files[1].1,
        "trace.npz differs between 1 and 2 threads"
    );
    assert!(
        files[0].2 == files[1].2,
        "rate.npz differs between 1 and 2 threads"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["check"],
        vec!["run", "spec-examples/lif.model"],
        vec![
            "run",
            "spec-examples/lif.model",
            "--out",
            "x",
            "--threads",
            "-1",
        ],
        vec![
            "run",
            "spec-examples/lif.model",
            "--out",
            "x",
            "--seed",
            "banana",
        ],
    ] {
        let out = rheo(&args, DEADLINE);
        out.expect(EXIT_USAGE);
    }
}

/// Connections filtered by a condition are counted only as they are made;
/// making more than the memory allows stops with a runtime error that says
/// so (instead of the operating system killing the process), and what
/// was recorded is still written.
#[test]
fn connections_beyond_the_memory_limit_are_refused_while_connecting() {
    let dir = scratch("connect_memory");
    let path = write(
        &dir,
        "dense.model",
        "\
NeuronGroup G(20000):
    model:
        dv/dt = -v/(10*ms) : 1
Synapses S(G -> G):
    model:
        w : 1
    on_pre: v_post += w
    connect: condition='i != j'
StateMonitor trace(G):
    variables: v
    record: 0
run 1*ms
",
    );
    let target = dir.join("out");
    let out = rheo(
        &[
            "run",
            path.to_str().expect("UTF-8 path"),
            "--out",
            target.to_str().expect("UTF-8 path"),
            "--memory-gb",
            "0.05",
        ],
        DEADLINE,
    );
    out.expect(EXIT_RUNTIME);
    assert!(out.stderr.contains("synapses `S`"), "{}", out.describe());
    assert!(out.stderr.contains("50 MB of memory"), "{}", out.describe());
    let summary = std::fs::read_to_string(target.join("run.json")).expect("run.json");
    assert!(summary.contains("\"status\": \"failed\""), "{summary}");
    assert!(target.join("trace.npz").exists());

    // A limit that is not a positive number is a usage error.
    for bad in ["0", "nan", "-1e9"] {
        let out = rheo(
            &[
                "run",
                path.to_str().expect("UTF-8 path"),
                "--out",
                target.to_str().expect("UTF-8 path"),
                &format!("--memory-gb={bad}"),
            ],
            DEADLINE,
        );
        out.expect(EXIT_USAGE);
        assert!(out.stderr.contains("--memory-gb"), "{}", out.describe());
    }
}

/// `rheo check` says what a run will need before anything runs.
#[test]
fn check_reports_what_a_run_needs() {
    let out = rheo(&["check", "spec-examples/cuba.model"], DEADLINE);
    out.expect(EXIT_OK);
    assert!(
        out.stdout.contains(": ok: P (4000 neurons"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("MB of memory for state and synapses"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("records about"), "{}", out.describe());
}
