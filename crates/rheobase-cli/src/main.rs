//! `rheo`: the command-line front end of rheobase.
//!
//! The only crate that does IO: it reads model files, renders diagnostics,
//! writes monitors as `.npz` and the `run.json` summary, and maps every
//! outcome to an exit code (0 success, 1 model error, 2 usage error,
//! 3 runtime failure, 130 interrupted).

mod bench;
mod closing;
mod console;
mod datafile;
mod emit;
mod lean;
mod locate;
mod meta;
mod npz;
mod outdir;
mod perfmap;
mod plot;
mod progress;
mod ranks;
mod spill;

use console::{errln, errs, outln};
use rheobase::syntax::render;

use clap::{Parser, Subcommand};
use npz::{Dtype, NpyArray, Part};
use outdir::{Entry, Manifest, Missing};
use rheobase::{runtime::Simulation, MonitorData, Recordings, Resources, RunConfig, RuntimeError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spill::{dtype_of, Spill, SpillSink};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Exit codes, documented in the README.
const EXIT_MODEL_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_RUNTIME: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;

/// Memory for recorded samples before they are written to disk, MiB.
const DEFAULT_BUFFER_MB: usize = 64;

/// Largest model file read; a model is text a person writes, so anything
/// larger is almost certainly the wrong file.
const MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Parser)]
#[command(
    name = "rheo",
    version,
    about = "Compile and run spiking neural network models written in Brian2's equation language"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile and run a model, writing every monitor to OUT/NAME.npz and a summary to OUT/run.json.
    Run {
        /// The .model file.
        model: PathBuf,
        /// Directory for the results (created if missing).
        #[arg(long, short)]
        out: PathBuf,
        /// Worker threads (0 = one per core). Results do not depend on it.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Random seed; overrides `seed(...)` in the file.
        #[arg(long)]
        seed: Option<u64>,
        /// Memory for recorded samples, in MiB: beyond it they are written
        /// to OUT as the run goes, so recordings of any length fit.
        /// Default: 64, or a quarter of `--memory-gb` if that is less.
        #[arg(long)]
        buffer_mb: Option<usize>,
        /// Memory the run may use, in GB (default: 75% of this machine's
        /// memory). Models and connections that need more are refused.
        #[arg(long)]
        memory_gb: Option<f64>,
        /// Print nothing but errors: no progress, no closing summary.
        #[arg(long, short)]
        quiet: bool,
        /// After the run, draw OUT/NAME.png beside each OUT/NAME.npz (as `rheo plot`).
        #[arg(long)]
        plot: bool,
        /// Standard deviation of the gaussian window smoothing population
        /// rates in the pictures, ms (Brian2's `smooth_rate(width=...)`).
        #[arg(long, default_value_t = 1.0)]
        rate_width_ms: f64,
        /// Overrides a top-level constant of the model: `--set we=0.5*mV`
        /// (repeatable). The value is in the model language, with units,
        /// and is checked like the file.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Write /tmp/perf-PID.map naming each compiled kernel, so that
        /// `perf record`/`perf report` show `P.state_update`, not an address.
        #[arg(long)]
        perf_map: bool,
        /// Under mpirun: overlap each window's spike exchange with local
        /// work (the collective starts non-blocking and completes a step
        /// later, windows one step shorter), where the shortest delay
        /// between ranks is 2 steps or more. The same results either way;
        /// run.json's per_rank[].window_wait_seconds and
        /// window_in_flight_seconds show whether it pays (on one machine
        /// it does not measurably: docs/scaling.md). Off by default.
        #[arg(long)]
        overlap: bool,
    },
    /// Draw OUT/NAME.png beside each monitor's OUT/NAME.npz of a finished run.
    Plot {
        /// The output directory of `rheo run`.
        out: PathBuf,
        /// Standard deviation of the gaussian window smoothing population
        /// rates, ms (Brian2's `smooth_rate(width=...)`).
        #[arg(long, default_value_t = 1.0)]
        rate_width_ms: f64,
    },
    /// Run models (default: every spec-examples/*.model) and print how fast they ran.
    Bench {
        /// The .model files (default: spec-examples/*.model under the current directory).
        models: Vec<PathBuf>,
        /// Worker threads of each run (0 = one per core).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Runs of each model; the median is reported.
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the code generated for each kernel of a model, without running it.
    Compile {
        /// The .model file.
        model: PathBuf,
        /// What to print: the lowered kernels in the model language's
        /// notation (ir), Cranelift IR (clif) or machine code (asm).
        #[arg(long, value_enum, default_value = "ir")]
        emit: emit::Emit,
        /// Only this kernel (e.g. `G.state_update`), or all kernels of
        /// this object (e.g. `G`).
        #[arg(long)]
        kernel: Option<String>,
    },
    /// Check a model and report every error, without running it.
    Check {
        /// The .model file.
        model: PathBuf,
        /// Where results would be written: its disk must hold the
        /// recordings (default: the current directory).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Overrides a top-level constant of the model: `--set we=0.5*mV`
        /// (repeatable). The value is in the model language, with units,
        /// and is checked like the file.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Check for a run split over this many MPI ranks (`mpirun -n
        /// RANKS rheo run ...`): what cannot run split yet is refused, and
        /// the memory needed is each rank's, against the per-rank limit
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        ranks: u32,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout with success, usage
            // errors to stderr.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Check {
            model,
            out,
            set,
            ranks,
        } => match parse_overrides(&set) {
            Ok(overrides) => check(&model, out.as_deref(), &overrides, ranks as usize),
            Err(code) => code,
        },
        Command::Compile {
            model,
            emit,
            kernel,
        } => compile_command(&model, emit, kernel.as_deref()),
        Command::Run {
            model,
            out,
            threads,
            seed,
            buffer_mb,
            memory_gb,
            quiet,
            plot,
            rate_width_ms,
            set,
            perf_map,
            overlap,
        } => match parse_overrides(&set) {
            Ok(overrides) => run(
                &model,
                &out,
                threads,
                seed,
                buffer_mb,
                memory_gb,
                Options {
                    quiet,
                    plot: plot.then_some(rate_width_ms),
                    overrides,
                    perf_map,
                    overlap,
                },
            ),
            Err(code) => code,
        },
        Command::Plot { out, rate_width_ms } => plot_command(&out, rate_width_ms),
        Command::Bench {
            models,
            threads,
            reps,
            json,
        } => bench::bench(models, threads, reps.min(1000), json),
    }
}

/// Splits each `--set NAME=VALUE` at its first `=`.
fn parse_overrides(set: &[String]) -> Result<Vec<rheobase::Override>, ExitCode> {
    set.iter()
        .map(|arg| match arg.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => {
                errln!("error: --set takes NAME=VALUE, e.g. `--set we=0.5*mV`, not `{arg}`");
                Err(ExitCode::from(EXIT_USAGE))
            }
        })
        .collect()
}

/// Compiles `source` with `overrides`, or prints why it cannot; prints
/// the model's warnings when `warn` (one rank of several prints them).
fn compile_model(
    file_name: &str,
    source: &str,
    overrides: &[rheobase::Override],
    files: &ModelFiles,
    resources: &Resources,
    speak: bool,
) -> Result<rheobase::CompiledModel, ExitCode> {
    // `speak` is false on MPI ranks other than 0: every rank finds the same
    // warnings and errors, and rank 0 prints them once.
    match rheobase::compile_overridden(file_name, source, overrides, files, resources) {
        Ok((model, text)) => {
            // Warnings do not stop the model; they go to standard error
            // before anything else, as a compiler's do.
            if speak && !model.warnings.is_empty() {
                errs!("{}", render::render(file_name, &text, &model.warnings));
            }
            Ok(model)
        }
        Err(rheobase::Error::Model(e)) => {
            if speak {
                errs!("{}", e.render());
            }
            Err(ExitCode::from(EXIT_MODEL_ERROR))
        }
        Err(e) => {
            if speak {
                errln!("{file_name}: {e}");
            }
            Err(ExitCode::from(EXIT_MODEL_ERROR))
        }
    }
}

/// Writes a line to standard error (never fails: see `console`).
fn say(message: &str) {
    errln!("{message}");
}

/// Writes text to standard output (never fails: see `console`).
fn print_out(text: &str) {
    console::out(format_args!("{text}"));
}

/// Reads `file:` data for a model: paths are relative to the model file
/// (the facade's reader, which the library uses too).
use rheobase::data::ModelFiles;

/// Reads a model file, or explains in one line why it cannot.
fn read_model(path: &Path) -> Result<String, String> {
    let bytes = datafile::read_capped(path, MAX_MODEL_BYTES, "model files")?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn check(
    path: &Path,
    out: Option<&Path>,
    overrides: &[rheobase::Override],
    ranks: usize,
) -> ExitCode {
    let source = match read_model(path) {
        Ok(s) => s,
        Err(msg) => {
            errs!(
                "{}",
                render::render_plain_message(&path.display().to_string(), &msg)
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let resources = resources_for(
        out.unwrap_or(Path::new(".")),
        DEFAULT_BUFFER_MB,
        rheobase::memory_limit(),
        ranks,
    );
    let file_name = path.display().to_string();
    match compile_model(
        &file_name,
        &source,
        overrides,
        &ModelFiles::for_model(path),
        &resources,
        true,
    ) {
        Ok(model) => {
            // What `mpirun -n RANKS rheo run` would refuse before the run.
            if let Some(refused) = ranks::refusals(ranks, &file_name, &source, &model.program) {
                errs!("{refused}");
                return ExitCode::from(EXIT_MODEL_ERROR);
            }
            let groups: Vec<String> = model
                .program
                .groups
                .iter()
                .map(|g| {
                    let neurons = if g.size == 1 { "neuron" } else { "neurons" };
                    match &g.method {
                        Some(m) => format!("{} ({} {neurons}, {m})", g.name, g.size),
                        None => format!("{} ({} {neurons})", g.name, g.size),
                    }
                })
                .collect();
            let summary = if groups.is_empty() {
                "no neuron groups".to_string()
            } else {
                groups.join(", ")
            };
            let needs = model.estimate.map(|e| {
                // Synapses kept by a condition are known only while
                // connecting: say how many they can be at most.
                let conditional = if e.conditional_synapses > 0.0 {
                    format!(
                        ", plus up to {} for synapses made by a `connect:` condition",
                        rheobase::ir::human_bytes(e.conditional_synapses)
                    )
                } else {
                    String::new()
                };
                // Split, every rank holds every neuron's state and about
                // its share of the synapses.
                let each = if ranks > 1 {
                    format!(
                        " ({} on each rank)",
                        rheobase::ir::human_bytes(e.state + e.synapses / ranks as f64)
                    )
                } else {
                    String::new()
                };
                format!(
                    "; needs about {} of memory for state and synapses{each}{conditional}, records about {}",
                    rheobase::ir::human_bytes(e.state + e.synapses),
                    rheobase::ir::human_bytes(e.recordings)
                )
            });
            let split = if ranks > 1 {
                format!(" (runs split on {ranks} MPI ranks)")
            } else {
                String::new()
            };
            outln!(
                "{}: ok{split}: {summary}{}",
                path.display(),
                needs.unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `rheo compile MODEL --emit ...`: prints each selected kernel's code.
fn compile_command(path: &Path, what: emit::Emit, kernel: Option<&str>) -> ExitCode {
    let file_name = path.display().to_string();
    let source = match read_model(path) {
        Ok(s) => s,
        Err(msg) => {
            errs!("{}", render::render_plain_message(&file_name, &msg));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let resources = resources_for(
        Path::new("."),
        DEFAULT_BUFFER_MB,
        rheobase::memory_limit(),
        1,
    );
    let model = match compile_model(
        &file_name,
        &source,
        &[],
        &ModelFiles::for_model(path),
        &resources,
        true,
    ) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let program = &model.program;
    let kernels = match emit::select(program, kernel) {
        Ok(k) => k,
        Err(message) => {
            errln!("{file_name}: error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let methods = emit::methods(program, &source);
    let code = match what {
        emit::Emit::Ir => None,
        emit::Emit::Clif | emit::Emit::Asm => {
            let owned: Vec<rheobase::kernel::Kernel> =
                kernels.iter().map(|k| (*k).clone()).collect();
            // Compiled for the layout a run gives the arrays, so that
            // the code shown is the code that runs.
            let strides = program.array_strides();
            match rheobase_jit::Jit::new().and_then(|mut jit| {
                jit.set_array_strides(&strides)?;
                jit.emit(&owned)
            }) {
                Ok(code) => Some(code),
                Err(e) => {
                    errln!("{file_name}: error: {e}");
                    return ExitCode::from(EXIT_RUNTIME);
                }
            }
        }
    };
    let units = meta::Units::of(&source);
    let mut text = String::new();
    for (k, kernel) in kernels.iter().enumerate() {
        let header = emit::header(program, kernel, &methods);
        let body = match (&code, what) {
            (None, _) => emit::ir_text(program, kernel, &units),
            (Some(code), emit::Emit::Clif) => code[k].clif.clone(),
            (Some(code), _) => format!(
                "; {} bytes of machine code\n{}",
                code[k].code_bytes, code[k].asm
            ),
        };
        let comment = if what == emit::Emit::Ir { "#" } else { ";" };
        text.push_str(&format!("{comment} {header}\n{body}\n"));
    }
    print_out(&text);
    ExitCode::SUCCESS
}

/// What a run writing its results into `out` may use: `memory_limit` bytes,
/// recordings streamed to `out` through a buffer of `buffer_mb` MiB, and
/// the free space of the disk holding `out` (or the nearest existing
/// directory above it, since `out` is created only for a valid model).
fn resources_for(out: &Path, buffer_mb: usize, memory_limit: u64, ranks: usize) -> Resources {
    let existing = out.ancestors().find(|p| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        p.is_dir()
    });
    let free_disk = existing.and_then(|p| {
        free_space(if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        })
    });
    Resources {
        memory_limit,
        recordings: Recordings::Streamed {
            buffer_bytes: (buffer_mb as u64).saturating_mul(1 << 20),
            free_disk,
            place: format!("`{}`", out.display()),
        },
        ranks,
    }
}

/// The most memory this process has held so far (its peak resident set,
/// `VmHWM` in `/proc/self/status`), where the system reports it.
fn peak_memory_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// The resident memory of the process now (Linux `VmRSS`), in bytes.
fn resident_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// Bytes available to this user on the file system holding `dir`.
#[cfg(unix)]
fn free_space(dir: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    // Pseudo file systems (/proc, /sys) report no blocks at all: their
    // free space means nothing, and writing there fails on its own terms.
    if stats.f_blocks == 0 {
        return None;
    }
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(not(unix))]
fn free_space(_dir: &Path) -> Option<u64> {
    None
}

/// The seed used when neither the command line nor the file sets one: the
/// clock, reported in run.json so the run can be repeated.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 & 0xFFFF_FFFF)
        .unwrap_or(0)
}

/// Most worker threads accepted: far more than any machine has cores, so
/// a mistyped `--threads 100000` is refused instead of starting tens of
/// thousands of threads.
const MAX_THREADS: usize = 1024;

/// Where a run is, for the interrupt handler: before the simulation an
/// interrupt ends the process at once (after recording it in run.json);
/// during it, the simulation stops at the next step and the results are
/// written; while writing, the first interrupt is noted and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Preparing(&'static str),
    Simulating,
    Writing,
}

/// What the interrupt handler and the main thread share. Every write of
/// run.json before the simulation happens under its lock, so the handler
/// never writes beside the main thread.
struct RunState {
    phase: Phase,
    out: PathBuf,
    /// The members every run.json of this run holds.
    base: serde_json::Map<String, Value>,
    /// Names of this run's monitors, once the model is compiled.
    monitors: Vec<String>,
}

type Shared = Arc<Mutex<RunState>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, RunState> {
    // The state is plain data; a panic while it was held leaves nothing
    // half-updated that matters more than writing the results.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn set_phase(state: &Shared, phase: Phase) {
    lock(state).phase = phase;
}

/// A run.json for `state` with `status`, `error` and the files written.
fn summary(state: &RunState, status: &str, error: Option<&str>, manifest: &Manifest) -> Value {
    let mut map = state.base.clone();
    let (files, missing) = manifest.to_json();
    map.insert("status".into(), json!(status));
    map.insert("error".into(), json!(error));
    map.insert("files".into(), files);
    map.insert("not_written".into(), missing);
    Value::Object(map)
}

/// Removes what an earlier run left in OUT and writes this run's first
/// run.json (`status`, usually "running"). Called with the state locked.
fn supersede(state: &RunState, status: &str, error: Option<&str>) -> std::io::Result<()> {
    // `create_dir_all` on an existing file (`--out /dev/null`) fails with
    // "File exists", which reads as if the directory were the problem.
    if state.out.exists() && !state.out.is_dir() {
        return Err(std::io::Error::other(
            "this is a file, not a directory; --out names the directory the results are written to",
        ));
    }
    std::fs::create_dir_all(&state.out)?;
    for (path, e) in outdir::remove_stale(&state.out, &state.monitors) {
        errln!(
            "{}: warning: cannot remove this file of an earlier run ({e}); run.json does not list it",
            path.display()
        );
    }
    outdir::write_summary(
        &state.out,
        &summary(state, status, error, &Manifest::default()),
    )
    .map(|_| ())
}

/// How `rheo run` reports and what it does after the simulation.
struct Options {
    quiet: bool,
    /// Draw the pictures after the run, smoothing rates over this many ms.
    plot: Option<f64>,
    /// `--set NAME=VALUE` overrides of top-level constants.
    overrides: Vec<rheobase::Override>,
    /// Write a perf map of the compiled kernels.
    perf_map: bool,
    /// Overlap the windows' exchanges with local work (`--overlap`).
    overlap: bool,
}

/// The settings of the pictures, or why the width is refused.
fn plot_settings(rate_width_ms: f64) -> Result<plot::Settings, String> {
    if (0.0..1e9).contains(&rate_width_ms) {
        Ok(plot::Settings {
            rate_width: rate_width_ms * 1e-3,
        })
    } else {
        Err(format!(
            "--rate-width-ms must be a number of milliseconds, 0 or more, not {rate_width_ms}"
        ))
    }
}

/// Draws the pictures of `out`, reporting each failure; returns the
/// pictures written and whether every one was.
fn draw_pictures(out: &Path, settings: &plot::Settings) -> (Vec<PathBuf>, bool) {
    match plot::plot_dir(out, settings) {
        Ok((written, failed)) => {
            for message in &failed {
                errln!("{message}");
            }
            (written, failed.is_empty())
        }
        Err(message) => {
            errln!("error: {message}");
            (Vec::new(), false)
        }
    }
}

/// `rheo plot OUT`.
fn plot_command(out: &Path, rate_width_ms: f64) -> ExitCode {
    let settings = match plot_settings(rate_width_ms) {
        Ok(s) => s,
        Err(message) => {
            errln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (written, ok) = draw_pictures(out, &settings);
    for path in &written {
        outln!("{}", path.display());
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    }
}

fn run(
    path: &Path,
    out: &Path,
    threads: usize,
    seed_arg: Option<u64>,
    buffer_mb: Option<usize>,
    memory_gb: Option<f64>,
    options: Options,
) -> ExitCode {
    let overrides = &options.overrides[..];
    let file_name = path.display().to_string();
    // Under mpirun, every rank runs this function; only rank 0 prints and
    // writes (ranks.rs).
    let mut ranks = match ranks::Ranks::start() {
        Ok(r) => r,
        Err(message) => {
            errln!("error: {message}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let primary = ranks.primary();
    let quiet = options.quiet || !primary;
    // The handler goes in first: an interrupt while reading, checking or
    // compiling must end the run as cleanly as one during the simulation.
    let interrupt = Arc::new(AtomicBool::new(false));
    let mut base = serde_json::Map::new();
    base.insert("rheobase_version".into(), json!(env!("CARGO_PKG_VERSION")));
    base.insert("model".into(), json!(file_name));
    base.insert("pid".into(), json!(std::process::id()));
    let state: Shared = Arc::new(Mutex::new(RunState {
        phase: Phase::Preparing("reading the model"),
        out: out.to_path_buf(),
        base,
        monitors: Vec::new(),
    }));
    install_interrupt_handler(state.clone(), interrupt.clone());

    let memory_limit = match memory_gb {
        None => rheobase::memory_limit(),
        Some(gb) if gb.is_finite() && gb > 0.0 && gb < 1e9 => (gb * 1e9) as u64,
        Some(gb) => {
            errln!("error: --memory-gb must be a positive number of gigabytes, not {gb}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // The limit bounds the process's peak, which includes what it holds
    // already (its code and libraries, 10-20 MB): the model gets the rest.
    let memory_limit = memory_limit.saturating_sub(resident_bytes().unwrap_or(0));
    let plot_with = match options.plot.map(plot_settings).transpose() {
        Ok(settings) => settings,
        Err(message) => {
            errln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if threads > MAX_THREADS {
        errln!(
            "error: --threads must be at most {MAX_THREADS} (0 means one per core), not {threads}"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    // The buffer is memory the run uses on top of its state; by default
    // it yields to a small memory limit instead of refusing the run.
    let buffer_mb = match buffer_mb {
        Some(mb) => mb,
        None => DEFAULT_BUFFER_MB.min(((memory_limit / 4) >> 20) as usize),
    };
    let buffer_bytes = (buffer_mb as u64).saturating_mul(1 << 20);
    if buffer_bytes > memory_limit {
        errln!(
            "error: --buffer-mb {buffer_mb} is more than the memory the run may use ({})",
            rheobase::ir::human_bytes(memory_limit as f64)
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let source = match read_model(path) {
        Ok(s) => s,
        Err(msg) => {
            if primary {
                errs!("{}", render::render_plain_message(&file_name, &msg));
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    {
        let mut st = lock(&state);
        st.phase = Phase::Preparing("checking the model");
        st.base.insert(
            "model_sha256".into(),
            json!(format!("{:x}", Sha256::digest(source.as_bytes()))),
        );
        if !overrides.is_empty() {
            let set: serde_json::Map<String, Value> = overrides
                .iter()
                .map(|(name, value)| (name.clone(), json!(value)))
                .collect();
            st.base.insert("overrides".into(), Value::Object(set));
        }
    }
    // The memory limit is per rank: every rank holds every neuron's state
    // but only its share of the synapses, which the estimate counts.
    let resources = resources_for(out, buffer_mb, memory_limit, ranks.ranks);
    let mut model = match compile_model(
        &file_name,
        &source,
        overrides,
        &ModelFiles::for_model(path),
        &resources,
        primary,
    ) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if let Some(refused) = ranks.refusals(&file_name, &source, &model.program) {
        if primary {
            errs!("{refused}");
        }
        return ExitCode::from(EXIT_MODEL_ERROR);
    }
    let seed = ranks.same_seed(seed_arg.or(model.seed).unwrap_or_else(clock_seed));
    // Without TimedArray values and generator spikes (see lean.rs).
    let program = lean::copy_without_data(&mut model.program);
    let units = meta::Units::of(&source);
    let descriptions: Vec<Value> = program
        .monitors
        .iter()
        .map(|m| meta::describe(m, &program, &units))
        .collect();
    {
        let mut st = lock(&state);
        st.monitors = program
            .monitors
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        st.base.insert("seed".into(), json!(seed));
        st.base.insert("dt".into(), json!(program.dt));
        // The model's warnings (printed before the run), one line each.
        let warnings: Vec<String> = model.warnings.iter().map(|w| w.message.clone()).collect();
        st.base.insert("warnings".into(), json!(warnings));
        let monitors = json!(st.monitors);
        st.base.insert("monitors".into(), monitors);
        st.base.insert(
            "recordings".into(),
            Value::Object(
                program
                    .monitors
                    .iter()
                    .zip(&descriptions)
                    .map(|(m, d)| (m.name().to_string(), d.clone()))
                    .collect(),
            ),
        );
        let written = if primary {
            supersede(&st, "running", None)
        } else {
            Ok(())
        };
        if let Err(e) = written {
            errln!(
                "{}: error: cannot write to the output directory: {e}",
                out.display()
            );
            return ExitCode::from(EXIT_USAGE);
        }
        st.phase = Phase::Preparing("compiling the kernels");
    }
    let mut sim = match Simulation::new(model.program, RunConfig { seed, threads }) {
        Ok(s) => s,
        Err(e) => {
            let message = e.to_string();
            errln!("{file_name}: error: {message}");
            let st = lock(&state);
            let text = summary(&st, "failed", Some(&message), &Manifest::default());
            if !primary {
                return ExitCode::from(EXIT_RUNTIME);
            }
            if let Err(e) = outdir::write_summary(out, &text) {
                errln!("{}: error: cannot write run.json: {e}", out.display());
            }
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    if options.perf_map {
        // A profiling aid: failing to write it must not stop the run.
        if let Err(e) = perfmap::write(&sim.kernel_code()) {
            errln!("warning: cannot write the perf map: {e}");
        }
    }
    if let Err(message) = ranks.attach(&mut sim) {
        errln!("{file_name}: error: {message}");
        return ExitCode::from(EXIT_RUNTIME);
    }
    sim.set_overlap(options.overlap);
    sim.set_interrupt(interrupt);
    sim.set_memory_limit(memory_limit);
    let spill = Arc::new(Mutex::new(Spill::new(out)));
    sim.set_recording_sink(
        Box::new(SpillSink(spill.clone())),
        buffer_mb.saturating_mul(1 << 20),
    );
    set_phase(&state, Phase::Simulating);

    let steps = Arc::new(AtomicU64::new(0));
    sim.set_progress(steps.clone());
    let shown =
        progress::Progress::start(steps, sim.step(), sim.remaining_steps(), program.dt, quiet);
    let started = Instant::now();
    let result = sim.run_all();
    let wall = started.elapsed().as_secs_f64();
    shown.finish();
    // Rank 0 collects the other ranks' recordings and figures; they are
    // then done.
    sim.gather_recordings();
    let per_rank = ranks.per_rank(&mut sim, peak_memory_bytes());
    // Each rank counts the events of the synapses it holds; run.json
    // gives the whole run's, as one process counts them.
    let synapse_events = sim.global_synapse_events();
    // An error found on another rank reaches rank 0, which prints it at
    // its line and writes it into run.json, as one process does; rank 0
    // itself only knows that another rank failed.
    let own_error = match &result {
        Err(RuntimeError::Interrupted { .. } | RuntimeError::OtherRank { .. }) | Ok(()) => None,
        Err(_) if ranks.ranks < 2 => None,
        Err(e) => {
            let m = e.to_string();
            let rendered = locate::render(&file_name, &source, Some(e), &m);
            Some((m, rendered))
        }
    };
    let first_error = ranks.first_error(&mut sim, own_error);
    if !primary {
        return match &result {
            Ok(()) => ExitCode::SUCCESS,
            Err(RuntimeError::Interrupted { .. }) => ExitCode::from(EXIT_INTERRUPTED),
            Err(_) => ExitCode::from(EXIT_RUNTIME),
        };
    }
    set_phase(&state, Phase::Writing);
    let (mut status, mut code, mut message) = match &result {
        Ok(()) => ("completed", ExitCode::SUCCESS, None),
        Err(RuntimeError::Interrupted { .. }) => (
            "interrupted",
            ExitCode::from(EXIT_INTERRUPTED),
            result.as_ref().err().map(|e| e.to_string()),
        ),
        Err(e) => ("failed", ExitCode::from(EXIT_RUNTIME), Some(e.to_string())),
    };
    match (&result, &first_error) {
        // Another rank's error, already rendered at its line there.
        (Err(RuntimeError::OtherRank { .. }), Some((m, rendered))) => {
            errs!("{rendered}");
            message = Some(m.clone());
        }
        _ => {
            if let Some(m) = &message {
                // At the line that caused it, when the error names one.
                errs!(
                    "{}",
                    locate::render(&file_name, &source, result.as_ref().err(), m)
                );
            }
        }
    }

    // Whatever happened, everything recorded so far is written.
    // A writer that panicked mid-append poisoned the lock; what it
    // completed is still on disk and as consistent as the lengths say.
    let mut spill = spill
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let writing = Instant::now();
    let model_text = locate::ModelText {
        file_name: &file_name,
        source: &source,
    };
    let (manifest, spill_complete) =
        write_results(out, &program, &sim, &mut spill, &descriptions, &model_text);
    let write_seconds = writing.elapsed().as_secs_f64();
    if manifest.missing.is_empty() {
        if let Err(e) = spill.remove() {
            errln!(
                "{}: warning: cannot remove the temporary recordings: {e}",
                spill.dir().display()
            );
        }
    } else {
        let names: Vec<&str> = manifest
            .missing
            .iter()
            .map(|m| m.monitor.as_str())
            .collect();
        if !spill.is_empty() {
            errln!(
                "{}: note: the raw recordings of {} are kept in {}{} (run.json says how to read them)",
                out.display(),
                names.join(", "),
                spill.dir().display(),
                if spill_complete {
                    ""
                } else {
                    ", but only the samples written out during the run (the rest could not be written either)"
                }
            );
        }
        if status == "completed" {
            status = "failed";
            code = ExitCode::from(EXIT_RUNTIME);
            message = Some(format!(
                "the simulation completed but {} of {} archives could not be written ({})",
                manifest.missing.len(),
                program.monitors.len(),
                names.join(", ")
            ));
        }
    }
    let timings = sim.timings();
    let counts = sim.spike_counts();
    let mut text = summary(&lock(&state), status, message.as_deref(), &manifest);
    let extra = json!({
        "threads": timings.threads,
        "steps": timings.steps,
        "duration": timings.steps as f64 * program.dt,
        "groups": program.groups.iter().map(|g| json!({
            "name": g.name,
            "neurons": g.size,
            "method": g.method,
            "spikes": counts.iter().find(|(n, _)| n == &g.name).map_or(0, |(_, c)| *c),
        })).collect::<Vec<_>>(),
        "synapses": sim.synapse_stats().iter().zip(sim.global_synapse_counts()).zip(&synapse_events).map(|((s, all), events)| json!({
            "name": s.name,
            // On several ranks: all ranks' synapses and events; bytes are
            // rank 0's.
            "synapses": all,
            "bytes": s.bytes,
            "bytes_per_synapse": if s.synapses > 0 { s.bytes as f64 / s.synapses as f64 } else { 0.0 },
            "events": events,
            "connect_seconds": s.connect_seconds,
        })).collect::<Vec<_>>(),
        "spill": spill_json(&spill, &program, spill_complete),
        "peak_memory_bytes": peak_memory_bytes(),
        "ranks": ranks.ranks,
        "per_rank": per_rank,
        "wall_seconds": {
            "parse": model.parse_seconds,
            "compile": model.lower_seconds + timings.compile_seconds,
            "check_and_lower": model.lower_seconds,
            "jit": timings.compile_seconds,
            "connect": timings.connect_seconds,
            "simulate": timings.simulate_seconds,
            "run_total": wall,
        },
    });
    if let (Value::Object(map), Value::Object(extra)) = (&mut text, extra) {
        map.extend(extra);
    }
    if let Err(e) = outdir::write_summary(out, &text) {
        errln!(
            "{}: error: cannot write run.json ({e}); it still says \"running\"",
            out.display()
        );
        return ExitCode::from(EXIT_RUNTIME);
    }
    let mut pictures = Vec::new();
    if let Some(settings) = &plot_with {
        // Pictures are drawn from the results, after run.json is final: a
        // picture that cannot be drawn (a full disk, an absurd width) does
        // not make the run fail, so the exit code stays what run.json
        // says; `rheo plot OUT` draws them again.
        let (written, ok) = draw_pictures(out, settings);
        pictures = written;
        if !ok {
            errln!(
                "{}: warning: not every picture could be drawn; the results are complete (`rheo plot {}` draws them again)",
                out.display(),
                out.display()
            );
        }
    }
    if !quiet {
        let closing = closing::Closing {
            status,
            simulated: timings.steps as f64 * program.dt,
            wall,
            threads: timings.threads,
            groups: program
                .groups
                .iter()
                .map(|g| closing::GroupSpikes {
                    name: g.name.clone(),
                    neurons: g.size,
                    spikes: counts
                        .iter()
                        .find(|(n, _)| n == &g.name)
                        .map_or(0, |(_, c)| *c),
                })
                .collect(),
            phases: vec![
                ("parse", model.parse_seconds),
                ("check", model.lower_seconds),
                ("JIT", timings.compile_seconds),
                ("connect", timings.connect_seconds),
                ("simulate", timings.simulate_seconds),
                ("write", write_seconds),
            ],
            out,
            files: std::iter::once("run.json".to_string())
                .chain(manifest.files.iter().map(|f| f.name.clone()))
                .chain(
                    pictures
                        .iter()
                        .filter_map(|p| p.file_name())
                        .map(|f| f.to_string_lossy().into_owned()),
                )
                .collect(),
        };
        errs!("{}", closing::render(&closing));
    }
    code
}

/// Writes every monitor's archive into `out`, the one place results are
/// written: what it returns is what run.json reports. An archive that
/// cannot be written is listed as missing and its samples still in memory
/// are added to the spill files, so they survive as raw data; the second
/// value says whether that worked for all of them.
fn write_results(
    out: &Path,
    program: &rheobase::kernel::program::Program,
    sim: &Simulation,
    spill: &mut Spill,
    descriptions: &[Value],
    model_text: &locate::ModelText,
) -> (Manifest, bool) {
    let mut manifest = Manifest::default();
    let mut spill_complete = true;
    for (k, monitor) in sim.monitors().iter().enumerate() {
        let name = outdir::archive_name(monitor.name());
        let target = out.join(&name);
        // `record` is numbered within the monitored slice, as in Brian2.
        let record_offset = match program.monitors.get(k) {
            Some(rheobase::kernel::program::MonitorPlan::State { source_start, .. }) => {
                *source_start
            }
            _ => 0,
        };
        let metadata = descriptions
            .get(k)
            .map(Value::to_string)
            .unwrap_or_default();
        match write_monitor(&target, k, monitor, spill, record_offset, &metadata) {
            Ok(written) => {
                manifest.files.push(Entry {
                    name,
                    monitor: monitor.name().to_string(),
                    written,
                });
                // Its spilled samples are in the archive now; freeing
                // their space leaves more for the next archive.
                spill.remove_monitor(k);
            }
            Err(e) => {
                // At the monitor's declaration, naming the archive.
                errs!(
                    "{}",
                    model_text.at_declaration(
                        monitor.name(),
                        &format!("cannot write `{}`: {e}", target.display())
                    )
                );
                manifest.missing.push(Missing {
                    monitor: monitor.name().to_string(),
                    name,
                    error: e.to_string(),
                });
                if spill.append(k, monitor).is_err() {
                    spill_complete = false;
                }
            }
        }
    }
    (manifest, spill_complete)
}

/// The spill files left in OUT, described well enough to read them
/// without rheo: one little-endian array per file, of `dtype`; the
/// arrays of a StateMonitor are time-major (`reshape(-1, len(record)).T`).
fn spill_json(
    spill: &Spill,
    program: &rheobase::kernel::program::Program,
    complete: bool,
) -> Value {
    if spill.is_empty() {
        return Value::Null;
    }
    let arrays: Vec<Value> = spill
        .arrays()
        .into_iter()
        .map(|(m, array, path, dtype, elements)| {
            json!({
                "file": path.file_name().map(|f| f.to_string_lossy().into_owned()),
                "monitor": program.monitors.get(m).map(|p| p.name()),
                "array": array,
                "dtype": dtype,
                "elements": elements,
            })
        })
        .collect();
    json!({
        "dir": spill.dir().file_name().map(|f| f.to_string_lossy().into_owned()),
        "complete": complete,
        "arrays": arrays,
    })
}

/// First Ctrl-C (or SIGTERM, SIGHUP) before the simulation records the
/// interruption in run.json and exits; during the simulation it asks it
/// to stop after the current step so results can be written; a second
/// one exits at once.
fn install_interrupt_handler(state: Shared, flag: Arc<AtomicBool>) {
    let presses = AtomicUsize::new(0);
    // ctrlc runs this on a thread of its own, not in signal context, so
    // it may lock, write files and print.
    let result = ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) > 0 {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        let st = lock(&state);
        match st.phase {
            Phase::Preparing(what) => {
                let message = format!("interrupted while {what}, before the simulation started");
                if let Err(e) = supersede(&st, "interrupted", Some(&message)) {
                    errln!("{}: error: cannot write run.json: {e}", st.out.display());
                }
                errln!(
                    "{}: error: {message}",
                    st.base
                        .get("model")
                        .and_then(Value::as_str)
                        .unwrap_or("rheo")
                );
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            Phase::Simulating => flag.store(true, Ordering::SeqCst),
            Phase::Writing => {
                flag.store(true, Ordering::SeqCst);
                errln!(
                    "note: still writing the results; a second interrupt stops at once and leaves run.json saying \"running\""
                );
            }
        }
    });
    if let Err(e) = result {
        errln!("warning: cannot handle Ctrl-C ({e}); an interrupt will end the run without writing results");
    }
}

/// The parts of one recorded array: what was spilled to disk (if
/// anything), then `tail`, the samples still in memory; and its length.
fn parts<'a>(spilled: &'a Option<(PathBuf, usize)>, tail: Part<'a>) -> (Vec<Part<'a>>, usize) {
    let mut parts = Vec::with_capacity(2);
    let mut len = 0;
    if let Some((path, elements)) = spilled {
        parts.push(Part::File {
            path,
            elements: *elements,
        });
        len += elements;
    }
    len += tail.len();
    parts.push(tail);
    (parts, len)
}

/// Writes monitor `index` with Brian2's attribute names: what was spilled
/// to disk during the run, followed by `monitor`, the samples still in
/// memory. `record_offset` is subtracted from StateMonitor indices, which
/// Brian2 numbers within the monitored slice.
fn write_monitor(
    path: &Path,
    index: usize,
    monitor: &MonitorData,
    spill: &Spill,
    record_offset: usize,
    metadata: &str,
) -> std::io::Result<npz::Written> {
    let names: Vec<&str> = match monitor {
        MonitorData::Spike { variables, .. } => ["i", "t"]
            .into_iter()
            .chain(variables.iter().map(|v| v.0.as_str()))
            .collect(),
        MonitorData::State { variables, .. } => std::iter::once("t")
            .chain(variables.iter().map(|s| s.name.as_str()))
            .collect(),
        MonitorData::Rate { .. } => vec!["t", "rate"],
    };
    // An integer array spilled as float64 holds a value int32 cannot: the
    // archive is refused, the spill keeps the values.
    let integer_arrays: Vec<&str> = match monitor {
        MonitorData::Spike { variables, .. } => variables
            .iter()
            .filter(|v| dtype_of(v.1) == Dtype::I32)
            .map(|v| v.0.as_str())
            .collect(),
        MonitorData::State { variables, .. } => variables
            .iter()
            .filter(|s| dtype_of(s.kind) == Dtype::I32)
            .map(|s| s.name.as_str())
            .collect(),
        MonitorData::Rate { .. } => Vec::new(),
    };
    if let Some(name) = integer_arrays
        .iter()
        .find(|name| spill.widened(index, name, Dtype::I32))
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "integer variable `{name}` holds values that its 32-bit array cannot store; \
                 values are never stored changed (the spill files keep them as float64)"
            ),
        ));
    }
    let spilled: Vec<Option<(PathBuf, usize)>> = names
        .iter()
        .map(|name| spill.column(index, name).map(|(p, n)| (p.to_path_buf(), n)))
        .collect();
    match monitor {
        MonitorData::Spike {
            i,
            t,
            variables,
            count,
            record,
            ..
        } => {
            let count: Vec<i64> = count.iter().map(|&c| c as i64).collect();
            let (i_parts, n) = parts(&spilled[0], Part::I32(i));
            let (t_parts, _) = parts(&spilled[1], Part::Values(t));
            let mut arrays = Vec::new();
            // `record: False` (Brian2's `record=False`): the monitor has
            // no `i` and `t`, only the counts and its variables.
            if *record {
                arrays.push(one_d("i", n, Dtype::I32, i_parts));
                arrays.push(one_d("t", n, Dtype::F64, t_parts));
            }
            arrays.push(NpyArray::new(
                "count",
                vec![count.len()],
                Dtype::I64,
                Part::I64(&count),
            ));
            for (k, (name, kind, values)) in variables.iter().enumerate() {
                let (p, len) = parts(&spilled[2 + k], Part::Values(values));
                arrays.push(one_d(name, len, dtype_of(*kind), p));
            }
            write_checked(path, &arrays, metadata)
        }
        MonitorData::State {
            t,
            record,
            variables,
            ..
        } => {
            let record: Vec<i64> = record
                .iter()
                .map(|&r| r.saturating_sub(record_offset) as i64)
                .collect();
            let (t_parts, samples) = parts(&spilled[0], Part::Values(t));
            let mut arrays = vec![
                one_d("t", samples, Dtype::F64, t_parts),
                NpyArray::new("record", vec![record.len()], Dtype::I64, Part::I64(&record)),
            ];
            for (k, series) in variables.iter().enumerate() {
                let (p, _) = parts(&spilled[1 + k], Part::Values(&series.values));
                // Samples are stored time-major, which is column-major
                // for Brian2's (neurons, times) shape.
                arrays.push(NpyArray {
                    name: &series.name,
                    shape: vec![record.len(), samples],
                    fortran_order: true,
                    dtype: dtype_of(series.kind),
                    parts: p,
                });
            }
            write_checked(path, &arrays, metadata)
        }
        MonitorData::Rate { t, rate, .. } => {
            let (t_parts, n) = parts(&spilled[0], Part::Values(t));
            let (rate_parts, _) = parts(&spilled[1], Part::Values(rate));
            write_checked(
                path,
                &[
                    one_d("t", n, Dtype::F64, t_parts),
                    one_d("rate", n, Dtype::F64, rate_parts),
                ],
                metadata,
            )
        }
    }
}

/// Writes an archive after making sure the disk holding it has room for
/// it, so that a full disk is reported as such, before a byte is written.
/// `metadata` (what `meta::describe` says of the monitor, as JSON) is
/// added as the 0-d string array `metadata`, unless it is empty or a
/// recorded array has that name.
fn write_checked(
    path: &Path,
    arrays: &[NpyArray],
    metadata: &str,
) -> std::io::Result<npz::Written> {
    let mut arrays = arrays.to_vec();
    // A recorded variable the user named `metadata` keeps its name; the
    // description is then in run.json only.
    if !metadata.is_empty() && arrays.iter().all(|a| a.name != "metadata") {
        arrays.push(NpyArray::new(
            "metadata",
            vec![],
            Dtype::Unicode(metadata.chars().count()),
            Part::Text(metadata),
        ));
    }
    let arrays = arrays.as_slice();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let needed = npz::archive_size(arrays);
    if let Some(free) = free_space(dir) {
        if needed > free {
            return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, {
                let (needed, free) = rheobase::ir::human_bytes_pair(needed as f64, free as f64);
                format!("the archive needs {needed} but only {free} are free on the disk")
            }));
        }
    }
    npz::write_npz(path, arrays)
}

fn one_d<'a>(name: &'a str, len: usize, dtype: Dtype, parts: Vec<Part<'a>>) -> NpyArray<'a> {
    NpyArray {
        name,
        shape: vec![len],
        fortran_order: false,
        dtype,
        parts,
    }
}
