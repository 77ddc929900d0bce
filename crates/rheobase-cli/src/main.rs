//! `rheo`: the command-line front end of rheobase.
//!
//! The only crate that does IO: it reads model files, renders diagnostics,
//! writes monitors as `.npz` and the `run.json` summary, and maps every
//! outcome to an exit code (0 success, 1 model error, 2 usage error,
//! 3 runtime failure, 130 interrupted).

mod datafile;
mod npz;
mod render;

use clap::{Parser, Subcommand};
use npz::{NpyArray, NpyData};
use rheobase::{compile_with_files, MonitorData, RunConfig, RuntimeError, Simulation, ValueKind};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Exit codes, documented in the README.
const EXIT_MODEL_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_RUNTIME: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;

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
    },
    /// Check a model and report every error, without running it.
    Check {
        /// The .model file.
        model: PathBuf,
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
        Command::Check { model } => check(&model),
        Command::Run {
            model,
            out,
            threads,
            seed,
        } => run(&model, &out, threads, seed),
    }
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

fn check(path: &Path) -> ExitCode {
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
    match compile_with_files(&source, &ModelFiles::for_model(path)) {
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
            println!("{}: ok: {summary}", path.display());
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

/// The seed used when neither the command line nor the file sets one: the
/// clock, reported in run.json so the run can be repeated.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 & 0xFFFF_FFFF)
        .unwrap_or(0)
}

fn run(path: &Path, out: &Path, threads: usize, seed_arg: Option<u64>) -> ExitCode {
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
    let model = match compile_with_files(&source, &ModelFiles::for_model(path)) {
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
    for (k, monitor) in sim.monitors().iter().enumerate() {
        let target = out.join(format!("{}.npz", monitor.name()));
        // `record` is numbered within the monitored slice, as in Brian2.
        let record_offset = match program.monitors.get(k) {
            Some(rheobase::kernel::program::MonitorPlan::State { source_start, .. }) => {
                *source_start
            }
            _ => 0,
        };
        if let Err(e) = write_monitor(&target, monitor, record_offset) {
            eprintln!("{}: error: cannot write results: {e}", target.display());
            write_failed = true;
        }
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
            "connect_seconds": s.connect_seconds,
        })).collect::<Vec<_>>(),
        "monitors": sim.monitors().iter().map(|m| m.name().to_string()).collect::<Vec<_>>(),
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

fn typed_column(kind: ValueKind, values: &[f64]) -> Column {
    match kind {
        ValueKind::Float => Column::F64(values.to_vec()),
        ValueKind::Integer => Column::I32(values.iter().map(|&v| v as i32).collect()),
        ValueKind::Boolean => Column::Bool(values.iter().map(|&v| v != 0.0).collect()),
    }
}

enum Column {
    F64(Vec<f64>),
    I32(Vec<i32>),
    Bool(Vec<bool>),
}

impl Column {
    fn data(&self) -> NpyData<'_> {
        match self {
            Column::F64(v) => NpyData::F64(v),
            Column::I32(v) => NpyData::I32(v),
            Column::Bool(v) => NpyData::Bool(v),
        }
    }
}

/// Writes one monitor with Brian2's attribute names.
fn write_monitor(path: &Path, monitor: &MonitorData, record_offset: usize) -> std::io::Result<()> {
    match monitor {
        MonitorData::Spike {
            i,
            t,
            variables,
            count,
            ..
        } => {
            let count: Vec<i64> = count.iter().map(|&c| c as i64).collect();
            let columns: Vec<(String, Column)> = variables
                .iter()
                .map(|(name, kind, values)| (name.clone(), typed_column(*kind, values)))
                .collect();
            let mut arrays = vec![
                NpyArray {
                    name: "i",
                    shape: vec![i.len()],
                    data: NpyData::I32(i),
                },
                NpyArray {
                    name: "t",
                    shape: vec![t.len()],
                    data: NpyData::F64(t),
                },
                NpyArray {
                    name: "count",
                    shape: vec![count.len()],
                    data: NpyData::I64(&count),
                },
            ];
            for (name, col) in &columns {
                arrays.push(NpyArray {
                    name,
                    shape: vec![t.len()],
                    data: col.data(),
                });
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
            let columns: Vec<(String, Column)> = variables
                .iter()
                .map(|(name, kind, rows)| {
                    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
                    (name.clone(), typed_column(*kind, &flat))
                })
                .collect();
            let mut arrays = vec![
                NpyArray {
                    name: "t",
                    shape: vec![t.len()],
                    data: NpyData::F64(t),
                },
                NpyArray {
                    name: "record",
                    shape: vec![record.len()],
                    data: NpyData::I64(&record),
                },
            ];
            for (name, col) in &columns {
                arrays.push(NpyArray {
                    name,
                    shape: vec![record.len(), t.len()],
                    data: col.data(),
                });
            }
            npz::write_npz(path, &arrays)
        }
        MonitorData::Rate { t, rate, .. } => npz::write_npz(
            path,
            &[
                NpyArray {
                    name: "t",
                    shape: vec![t.len()],
                    data: NpyData::F64(t),
                },
                NpyArray {
                    name: "rate",
                    shape: vec![rate.len()],
                    data: NpyData::F64(rate),
                },
            ],
        ),
    }
}
