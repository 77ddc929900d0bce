//! `rheo bench`: runs models and prints how fast they ran.
//!
//! Each model runs in its own `rheo run` process (this executable), so its
//! peak memory is its own and a crash cannot take the table down; the
//! figures come from the `run.json` each run writes. Repetitions are run
//! in turn (model A, model B, ..., then again) and the median is reported,
//! so a machine whose speed drifts affects every model alike.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

/// The measurements of one model, medians over the repetitions.
struct Row {
    model: String,
    neurons: u64,
    synapses: u64,
    simulated_seconds: f64,
    steps: u64,
    /// Whole process, start to exit, seconds.
    wall: f64,
    simulate: f64,
    compile: f64,
    connect: f64,
    peak_bytes: u64,
    spikes: u64,
    events: u64,
    threads: u64,
}

impl Row {
    /// Wall-clock seconds per simulated second (1 = real time; below 1 is
    /// faster than real time), the figure NEST and Brian2 users quote.
    fn real_time_factor(&self) -> f64 {
        self.wall / self.simulated_seconds.max(f64::MIN_POSITIVE)
    }

    /// Simulate-phase nanoseconds per neuron and time step.
    fn ns_per_neuron_step(&self) -> f64 {
        self.simulate * 1e9 / (self.neurons.max(1) * self.steps.max(1)) as f64
    }

    /// Simulate-phase nanoseconds per synaptic event (0 without events).
    fn ns_per_event(&self) -> f64 {
        if self.events == 0 {
            0.0
        } else {
            self.simulate * 1e9 / self.events as f64
        }
    }

    fn json(&self) -> Value {
        json!({
            "model": self.model,
            "neurons": self.neurons,
            "synapses": self.synapses,
            "simulated_seconds": self.simulated_seconds,
            "steps": self.steps,
            "threads": self.threads,
            "wall_seconds": self.wall,
            "simulate_seconds": self.simulate,
            "compile_seconds": self.compile,
            "connect_seconds": self.connect,
            "real_time_factor": self.real_time_factor(),
            "ns_per_neuron_step": self.ns_per_neuron_step(),
            "ns_per_synaptic_event": self.ns_per_event(),
            "peak_memory_bytes": self.peak_bytes,
            "spikes": self.spikes,
            "synaptic_events": self.events,
        })
    }
}

/// One `rheo run` of `model`: its whole-process wall time and its run.json.
fn run_once(exe: &Path, model: &Path, out: &Path, threads: usize) -> Result<(f64, Value), String> {
    let started = Instant::now();
    let status = Command::new(exe)
        .arg("run")
        .arg(model)
        .arg("--out")
        .arg(out)
        .arg("--threads")
        .arg(threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", exe.display()))?;
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!(
            "`rheo run {}` failed ({status}); run it alone to see why",
            model.display()
        ));
    }
    let text = std::fs::read_to_string(out.join("run.json"))
        .map_err(|e| format!("cannot read the run.json of {}: {e}", model.display()))?;
    let summary: Value = serde_json::from_str(&text)
        .map_err(|e| format!("the run.json of {} is not JSON: {e}", model.display()))?;
    Ok((wall, summary))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn row_of(model: &Path, runs: &[(f64, Value)]) -> Row {
    let field = |v: &Value, path: &[&str]| -> f64 {
        path.iter()
            .try_fold(v, |v, k| v.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let med = |path: &[&str]| {
        let mut values: Vec<f64> = runs.iter().map(|(_, v)| field(v, path)).collect();
        median(&mut values)
    };
    let mut walls: Vec<f64> = runs.iter().map(|(w, _)| *w).collect();
    let first = &runs[0].1;
    let sum = |list: &str, key: &str| -> u64 {
        first
            .get(list)
            .and_then(Value::as_array)
            .map_or(0, |items| {
                items.iter().filter_map(|g| g.get(key)?.as_u64()).sum()
            })
    };
    Row {
        model: model.file_stem().map_or_else(
            || model.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        ),
        neurons: sum("groups", "neurons"),
        synapses: sum("synapses", "synapses"),
        simulated_seconds: field(first, &["duration"]),
        steps: field(first, &["steps"]) as u64,
        wall: median(&mut walls),
        simulate: med(&["wall_seconds", "simulate"]),
        compile: med(&["wall_seconds", "compile"]),
        connect: med(&["wall_seconds", "connect"]),
        peak_bytes: med(&["peak_memory_bytes"]) as u64,
        spikes: sum("groups", "spikes"),
        events: sum("synapses", "events"),
        threads: field(first, &["threads"]) as u64,
    }
}

/// The models to run: those given, or every `.model` file of
/// `spec-examples/` under the current directory.
fn models(given: Vec<PathBuf>) -> Result<Vec<PathBuf>, String> {
    if !given.is_empty() {
        return Ok(given);
    }
    let dir = Path::new("spec-examples");
    let entries = std::fs::read_dir(dir).map_err(|_| {
        "no models given and no spec-examples/ folder here: name the .model files to run"
            .to_string()
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "model"))
        .collect();
    found.sort();
    Ok(found)
}

/// Seconds for a table cell: milliseconds below one second.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| model | neurons | synapses | simulated | threads | wall | real-time factor | simulate | ns/neuron-step | ns/synaptic event | compile | peak memory | spikes |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} s | {} | {} | {:.3} | {} | {:.2} | {} | {:.1} ms | {:.0} MiB | {} |\n",
            r.model,
            r.neurons,
            r.synapses,
            r.simulated_seconds,
            r.threads,
            seconds(r.wall),
            r.real_time_factor(),
            seconds(r.simulate),
            r.ns_per_neuron_step(),
            if r.events == 0 {
                "-".to_string()
            } else {
                format!("{:.2}", r.ns_per_event())
            },
            r.compile * 1e3,
            r.peak_bytes as f64 / (1024.0 * 1024.0),
            r.spikes,
        ));
    }
    out
}

/// `rheo bench`: exit 0 when every model ran, 3 when one failed, 2 for
/// unusable arguments.
pub fn bench(given: Vec<PathBuf>, threads: usize, reps: usize, as_json: bool) -> ExitCode {
    let models = match models(given) {
        Ok(m) if !m.is_empty() => m,
        Ok(_) => {
            crate::say("error: no .model files to run");
            return ExitCode::from(crate::EXIT_USAGE);
        }
        Err(message) => {
            crate::say(&format!("error: {message}"));
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            crate::say(&format!("error: cannot find the rheo executable: {e}"));
            return ExitCode::from(crate::EXIT_RUNTIME);
        }
    };
    let scratch = std::env::temp_dir().join(format!("rheo-bench-{}", std::process::id()));
    let reps = reps.max(1);
    let mut runs: Vec<Vec<(f64, Value)>> = vec![Vec::new(); models.len()];
    let mut failed = false;
    'reps: for rep in 0..reps {
        for (k, model) in models.iter().enumerate() {
            crate::say(&format!("[{}/{reps}] {}", rep + 1, model.display()));
            match run_once(&exe, model, &scratch.join(k.to_string()), threads) {
                Ok(run) => runs[k].push(run),
                Err(message) => {
                    crate::say(&format!("error: {message}"));
                    failed = true;
                    break 'reps;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let rows: Vec<Row> = models
        .iter()
        .zip(&runs)
        .filter(|(_, r)| !r.is_empty())
        .map(|(m, r)| row_of(m, r))
        .collect();
    let text = if as_json {
        let value = json!({
            "repetitions": reps,
            "models": rows.iter().map(Row::json).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
    } else {
        format!(
            "{}\nMedians of {reps} run(s) of each model, run in turn. wall = the whole `rheo run` process; \
             real-time factor = wall / simulated time; ns per neuron-step and per synaptic event are \
             the simulate phase divided by neurons x steps and by synaptic events (on_pre and on_post \
             runs); compile = parse + check + JIT.\n",
            table(&rows)
        )
    };
    crate::print_out(&text);
    if failed {
        ExitCode::from(crate::EXIT_RUNTIME)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
