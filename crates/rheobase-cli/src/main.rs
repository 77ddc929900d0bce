//! `rheo`: the command-line front end of rheobase.
//!
//! The only crate that does IO: it reads model files, renders diagnostics,
//! writes monitors as `.npz` and the `run.json` summary, and maps every
//! outcome to an exit code (0 success, 1 model error, 2 usage error,
//! 3 runtime failure, 130 interrupted).

mod bench;
mod datafile;
mod npz;
mod render;
mod spill;

use clap::{Parser, Subcommand};
use npz::{Dtype, NpyArray, Part};
use rheobase::{
    compile_for, MonitorData, Recordings, Resources, RunConfig, RuntimeError, Simulation,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use spill::{dtype_of, Spill, SpillSink};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
        #[arg(long, default_value_t = DEFAULT_BUFFER_MB)]
        buffer_mb: usize,
        /// Memory the run may use, in GB (default: 75% of this machine's
        /// memory). Models and connections that need more are refused.
        #[arg(long)]
        memory_gb: Option<f64>,
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
    /// Check a model and report every error, without running it.
    Check {
        /// The .model file.
        model: PathBuf,
        /// Where results would be written: its disk must hold the
        /// recordings (default: the current directory).
        #[arg(long, short)]
        out: Option<PathBuf>,
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
        Command::Check { model, out } => check(&model, out.as_deref()),
        Command::Run {
            model,
            out,
            threads,
            seed,
            buffer_mb,
            memory_gb,
        } => run(&model, &out, threads, seed, buffer_mb, memory_gb),
        Command::Bench {
            models,
            threads,
            reps,
            json,
        } => bench::bench(models, threads, reps.min(1000), json),
    }
}

/// Writes a line to standard error. A closed or full stderr is ignored:
/// printing must never decide whether a run's results are written.
fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// Writes text to standard output, ignoring a closed or full stdout.
fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Reads `file:` data for a model: paths are relative to the model file.
struct ModelFiles {
    base: PathBuf,
}

impl ModelFiles {
    fn for_model(path: &Path) -> ModelFiles {
        ModelFiles {
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }
}

impl rheobase::ir::DataFiles for ModelFiles {
    fn read(&self, path: &str) -> Result<rheobase::ir::DataTable, String> {
        let table = datafile::read_table(&self.base.join(path))?;
        Ok(rheobase::ir::DataTable {
            rows: table.rows,
            columns: table.columns,
            values: table.values,
        })
    }
}

/// Reads a model file, or explains in one line why it cannot.
fn read_model(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => format!("cannot read the file: {e}"),
    })?;
    if meta.is_dir() {
        return Err("this is a directory, not a model file".to_string());
    }
    if meta.len() > MAX_MODEL_BYTES {
        return Err(format!(
            "the file is {} MB; model files larger than {} MB are refused",
            meta.len() / 1_000_000,
            MAX_MODEL_BYTES / 1_000_000
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn check(path: &Path, out: Option<&Path>) -> ExitCode {
    let source = match read_model(path) {
        Ok(s) => s,
        Err(msg) => {
            eprint!(
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
    );
    match compile_for(&source, &ModelFiles::for_model(path), &resources) {
        Ok(model) => {
            let groups: Vec<String> = model
                .program
                .groups
                .iter()
                .map(|g| match &g.method {
                    Some(m) => format!("{} ({} neurons, {m})", g.name, g.size),
                    None => format!("{} ({} neurons)", g.name, g.size),
                })
                .collect();
            let summary = if groups.is_empty() {
                "no neuron groups".to_string()
            } else {
                groups.join(", ")
            };
            let needs = model.estimate.map(|e| {
                format!(
                    "; needs about {} of memory for state and synapses, records about {}",
                    rheobase::ir::human_bytes(e.state + e.synapses),
                    rheobase::ir::human_bytes(e.recordings)
                )
            });
            println!(
                "{}: ok: {summary}{}",
                path.display(),
                needs.unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprint!(
                "{}",
                render::render(&path.display().to_string(), &source, &diagnostics)
            );
            ExitCode::from(EXIT_MODEL_ERROR)
        }
    }
}

/// What a run writing its results into `out` may use: `memory_limit` bytes,
/// recordings streamed to `out` through a buffer of `buffer_mb` MiB, and
/// the free space of the disk holding `out` (or the nearest existing
/// directory above it, since `out` is created only for a valid model).
fn resources_for(out: &Path, buffer_mb: usize, memory_limit: u64) -> Resources {
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
    }
}

/// The most memory this process has held so far (its peak resident set,
/// `VmHWM` in `/proc/self/status`), where the system reports it.
fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
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

fn run(
    path: &Path,
    out: &Path,
    threads: usize,
    seed_arg: Option<u64>,
    buffer_mb: usize,
    memory_gb: Option<f64>,
) -> ExitCode {
    let memory_limit = match memory_gb {
        None => rheobase::memory_limit(),
        Some(gb) if gb.is_finite() && gb > 0.0 => (gb * 1e9) as u64,
        Some(gb) => {
            eprintln!("error: --memory-gb must be a positive number of gigabytes, not {gb}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let source = match read_model(path) {
        Ok(s) => s,
        Err(msg) => {
            eprint!(
                "{}",
                render::render_plain_message(&path.display().to_string(), &msg)
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let file_name = path.display().to_string();
    let resources = resources_for(out, buffer_mb, memory_limit);
    let model = match compile_for(&source, &ModelFiles::for_model(path), &resources) {
        Ok(m) => m,
        Err(diagnostics) => {
            eprint!("{}", render::render(&file_name, &source, &diagnostics));
            return ExitCode::from(EXIT_MODEL_ERROR);
        }
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!(
            "{}: error: cannot create the output directory: {e}",
            out.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let seed = seed_arg.or(model.seed).unwrap_or_else(clock_seed);
    let program = model.program.clone();
    let mut sim = match Simulation::new(model.program, RunConfig { seed, threads }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{file_name}: error: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    install_interrupt_handler(interrupt.clone());
    sim.set_interrupt(interrupt);
    sim.set_memory_limit(memory_limit);
    let spill = Arc::new(Mutex::new(Spill::new(out)));
    sim.set_recording_sink(
        Box::new(SpillSink(spill.clone())),
        buffer_mb.saturating_mul(1 << 20),
    );

    let started = Instant::now();
    let result = sim.run_all();
    let wall = started.elapsed().as_secs_f64();
    let (status, code, message) = match &result {
        Ok(()) => ("completed", ExitCode::SUCCESS, None),
        Err(RuntimeError::Interrupted { .. }) => (
            "interrupted",
            ExitCode::from(EXIT_INTERRUPTED),
            result.as_ref().err().map(|e| e.to_string()),
        ),
        Err(e) => ("failed", ExitCode::from(EXIT_RUNTIME), Some(e.to_string())),
    };
    if let Some(m) = &message {
        eprintln!("{file_name}: error: {m}");
    }

    // Whatever happened, everything recorded so far is written.
    let mut write_failed = false;
    // A writer that panicked mid-append poisoned the lock; what it
    // completed is still on disk and as consistent as the lengths say.
    let mut spill = spill
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (k, monitor) in sim.monitors().iter().enumerate() {
        let target = out.join(format!("{}.npz", monitor.name()));
        // `record` is numbered within the monitored slice, as in Brian2.
        let record_offset = match program.monitors.get(k) {
            Some(rheobase::kernel::program::MonitorPlan::State { source_start, .. }) => {
                *source_start
            }
            _ => 0,
        };
        if let Err(e) = write_monitor(&target, k, monitor, &spill, record_offset) {
            eprintln!("{}: error: cannot write results: {e}", target.display());
            write_failed = true;
        }
    }
    if write_failed {
        if !spill.is_empty() {
            eprintln!(
                "{}: note: the raw recordings are kept in {}",
                out.display(),
                spill.dir().display()
            );
        }
    } else if let Err(e) = spill.remove() {
        eprintln!(
            "{}: warning: cannot remove the temporary recordings: {e}",
            spill.dir().display()
        );
    }
    let timings = sim.timings();
    let counts = sim.spike_counts();
    let summary = json!({
        "rheobase_version": env!("CARGO_PKG_VERSION"),
        "model": file_name,
        "model_sha256": format!("{:x}", Sha256::digest(source.as_bytes())),
        "status": status,
        "error": message,
        "seed": seed,
        "threads": timings.threads,
        "dt": program.dt,
        "steps": timings.steps,
        "duration": timings.steps as f64 * program.dt,
        "groups": program.groups.iter().map(|g| json!({
            "name": g.name,
            "neurons": g.size,
            "method": g.method,
            "spikes": counts.iter().find(|(n, _)| n == &g.name).map_or(0, |(_, c)| *c),
        })).collect::<Vec<_>>(),
        "synapses": sim.synapse_stats().iter().map(|s| json!({
            "name": s.name,
            "synapses": s.synapses,
            "bytes": s.bytes,
            "bytes_per_synapse": if s.synapses > 0 { s.bytes as f64 / s.synapses as f64 } else { 0.0 },
            "events": s.events,
            "connect_seconds": s.connect_seconds,
        })).collect::<Vec<_>>(),
        "monitors": sim.monitors().iter().map(|m| m.name().to_string()).collect::<Vec<_>>(),
        "peak_memory_bytes": peak_memory_bytes(),
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
    let text = serde_json::to_string_pretty(&summary).unwrap_or_else(|_| "{}".to_string());
    if let Err(e) = npz::write_atomically(&out.join("run.json"), text.as_bytes()) {
        eprintln!("{}: error: cannot write run.json: {e}", out.display());
        write_failed = true;
    }
    npz::sync_parent_dir(&out.join("run.json"));
    if write_failed && status == "completed" {
        return ExitCode::from(EXIT_RUNTIME);
    }
    code
}

/// First Ctrl-C (or SIGTERM) asks the simulation to stop after the current
/// step so results can be written; a second one exits at once.
fn install_interrupt_handler(flag: Arc<AtomicBool>) {
    let presses = Arc::new(AtomicUsize::new(0));
    let _ = ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) > 0 {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        flag.store(true, Ordering::SeqCst);
    });
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
) -> std::io::Result<()> {
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
            ..
        } => {
            let count: Vec<i64> = count.iter().map(|&c| c as i64).collect();
            let (i_parts, n) = parts(&spilled[0], Part::I32(i));
            let (t_parts, _) = parts(&spilled[1], Part::Values(t));
            let mut arrays = vec![
                one_d("i", n, Dtype::I32, i_parts),
                one_d("t", n, Dtype::F64, t_parts),
                NpyArray::new("count", vec![count.len()], Dtype::I64, Part::I64(&count)),
            ];
            for (k, (name, kind, values)) in variables.iter().enumerate() {
                let (p, len) = parts(&spilled[2 + k], Part::Values(values));
                arrays.push(one_d(name, len, dtype_of(*kind), p));
            }
            npz::write_npz(path, &arrays)
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
            npz::write_npz(path, &arrays)
        }
        MonitorData::Rate { t, rate, .. } => {
            let (t_parts, n) = parts(&spilled[0], Part::Values(t));
            let (rate_parts, _) = parts(&spilled[1], Part::Values(rate));
            npz::write_npz(
                path,
                &[
                    one_d("t", n, Dtype::F64, t_parts),
                    one_d("rate", n, Dtype::F64, rate_parts),
                ],
            )
        }
    }
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
