//! Every model in `spec-examples/` and `tests/models/` against Brian2 2.9.
//!
//! The reference data was made by `tests/reference/make_reference.py` (see
//! `tests/reference/README.md`) and is committed, so these tests need no
//! Brian2. Adding a case is adding a `.model` file and its JSON.
//!
//! - Deterministic models must match spike for spike (same neurons, times
//!   within one time step) and trace for trace.
//! - Stochastic models (a `<stem>.stats.json` exists) must land inside the
//!   spread of Brian2's results across seeds for every statistic.

use rheobase::runtime::Simulation;
use rheobase::{compile, MonitorData, RunConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Models that use network features not implemented yet (the Synapses
/// milestone). They must fail with a clear "not supported yet" error; when
/// support lands, this list shrinks and the comparison runs.
const PENDING: &[&str] = &[];

fn run_model(path: &Path, seed: u64, threads: usize) -> (Vec<MonitorData>, f64) {
    let source = std::fs::read_to_string(path).expect("model file readable");
    // `file:` data is read next to the model, as `rheo run` reads it.
    let files = rheobase::data::ModelFiles::new(path.parent().unwrap_or(Path::new(".")));
    let model = rheobase::compile_with_files(&source, &files)
        .unwrap_or_else(|d| panic!("{}: {:?}", path.display(), d));
    let dt = model.program.dt;
    let mut sim = Simulation::new(model.program, RunConfig { seed, threads }).expect("builds");
    sim.run_all().expect("runs");
    (sim.monitors().to_vec(), dt)
}

fn as_f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
        .unwrap_or_default()
}

fn as_rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .map(|a| a.iter().map(as_f64s).collect())
        .unwrap_or_default()
}

fn compare_deterministic(
    stem: &str,
    ours: &[MonitorData],
    dt: f64,
    reference: &Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(monitors) = reference["monitors"].as_object() else {
        return vec![format!("{stem}: reference has no monitors")];
    };
    for (name, want) in monitors {
        let Some(got) = ours.iter().find(|m| m.name() == name) else {
            problems.push(format!("{stem}: monitor `{name}` missing"));
            continue;
        };
        match got {
            MonitorData::Spike { i, t, count, .. } => {
                // References made since `record: False` have the counts;
                // with `record: False` they have no `i` and `t` (Brian2
                // keeps none), and neither must we.
                if want.get("count").is_some() {
                    let wc = as_f64s(&want["count"]);
                    if wc.len() != count.len() || wc.iter().zip(count).any(|(a, &b)| *a != b as f64)
                    {
                        problems.push(format!(
                            "{stem}.{name}: spike counts {count:?}, Brian2 has {wc:?}"
                        ));
                    }
                }
                let wi = as_f64s(&want["i"]);
                let wt = as_f64s(&want["t"]);
                if wi.len() != i.len() {
                    problems.push(format!(
                        "{stem}.{name}: {} spikes, Brian2 has {}",
                        i.len(),
                        wi.len()
                    ));
                    continue;
                }
                for k in 0..wi.len() {
                    if f64::from(i[k]) != wi[k] || (t[k] - wt[k]).abs() > dt * 1.01 {
                        problems.push(format!(
                            "{stem}.{name}: spike {k} is ({}, {}), Brian2 has ({}, {})",
                            i[k], t[k], wi[k], wt[k]
                        ));
                        break;
                    }
                }
            }
            MonitorData::State { t, variables, .. } => {
                let wt = as_f64s(&want["t"]);
                if wt.len() != t.len() || wt.iter().zip(t).any(|(a, b)| (a - b).abs() > dt * 1e-6) {
                    problems.push(format!(
                        "{stem}.{name}: sample times differ ({} vs {} samples)",
                        t.len(),
                        wt.len()
                    ));
                    continue;
                }
                for series in variables {
                    let var = &series.name;
                    let rows = series.traces();
                    let wrows = as_rows(&want[var.as_str()]);
                    let scale = wrows
                        .iter()
                        .flatten()
                        .fold(0.0f64, |m, x| m.max(x.abs()))
                        .max(1e-30);
                    let mut worst = 0.0f64;
                    for (r, w) in rows.iter().zip(&wrows) {
                        for (a, b) in r.iter().zip(w) {
                            worst = worst.max((a - b).abs() / scale);
                        }
                    }
                    if wrows.len() != rows.len() || worst > 1e-6 {
                        problems.push(format!(
                            "{stem}.{name}.{var}: largest difference {worst:.3e} of the trace's scale"
                        ));
                    }
                }
            }
            MonitorData::Rate { rate, .. } => {
                let wr = as_f64s(&want["rate"]);
                if wr.len() != rate.len()
                    || wr
                        .iter()
                        .zip(rate)
                        .any(|(a, b)| (a - b).abs() > 1e-6 * a.abs().max(1.0))
                {
                    problems.push(format!("{stem}.{name}: population rate differs"));
                }
            }
        }
    }
    problems
}

/// The statistics `make_reference.py` computes, on our data.
fn statistics(
    ours: &[MonitorData],
    duration: f64,
    sizes: &BTreeMap<String, usize>,
    sources: &BTreeMap<String, String>,
) -> BTreeMap<String, f64> {
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
    let var = |x: &[f64]| {
        let m = mean(x);
        x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len().max(1) as f64
    };
    let mut s = BTreeMap::new();
    for m in ours {
        match m {
            MonitorData::State {
                name, t, variables, ..
            } => {
                let half: Vec<bool> = t.iter().map(|&x| x >= duration / 2.0).collect();
                for series in variables {
                    let rows = series.traces();
                    let p = format!("{name}.{}.", series.name);
                    let second_half = |r: &Vec<f64>| -> Vec<f64> {
                        r.iter()
                            .zip(&half)
                            .filter(|(_, h)| **h)
                            .map(|(x, _)| *x)
                            .collect()
                    };
                    let tm: Vec<f64> = rows.iter().map(|r| mean(&second_half(r))).collect();
                    let tv: Vec<f64> = rows.iter().map(|r| var(&second_half(r))).collect();
                    let last: Vec<f64> = rows.iter().filter_map(|r| r.last().copied()).collect();
                    s.insert(
                        p.clone() + "second_half_time_mean.mean_over_neurons",
                        mean(&tm),
                    );
                    s.insert(
                        p.clone() + "second_half_time_mean.std_over_neurons",
                        var(&tm).sqrt(),
                    );
                    s.insert(
                        p.clone() + "second_half_time_var.mean_over_neurons",
                        mean(&tv),
                    );
                    s.insert(p.clone() + "final.mean_over_neurons", mean(&last));
                    s.insert(p + "final.var_over_neurons", var(&last));
                }
            }
            MonitorData::Spike { name, i, t, .. } => {
                let n = sources
                    .get(name)
                    .and_then(|g| sizes.get(g))
                    .copied()
                    .unwrap_or(1);
                s.insert(
                    format!("{name}.mean_rate_hz"),
                    i.len() as f64 / (n as f64 * duration),
                );
                let mut cvs = Vec::new();
                for k in 0..n as i32 {
                    let mut tk: Vec<f64> = i
                        .iter()
                        .zip(t)
                        .filter(|(a, _)| **a == k)
                        .map(|(_, b)| *b)
                        .collect();
                    tk.sort_by(f64::total_cmp);
                    if tk.len() >= 3 {
                        let isi: Vec<f64> = tk.windows(2).map(|w| w[1] - w[0]).collect();
                        cvs.push(var(&isi).sqrt() / mean(&isi));
                    }
                }
                if !cvs.is_empty() {
                    s.insert(format!("{name}.isi_cv.mean_over_neurons"), mean(&cvs));
                }
            }
            MonitorData::Rate { name, rate, .. } => {
                s.insert(format!("{name}.rate.time_mean_hz"), mean(rate));
            }
        }
    }
    s
}

fn compare_statistics(stem: &str, path: &Path, stats: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let duration = stats["duration"].as_f64().unwrap_or(0.0);
    let sizes: BTreeMap<String, usize> = stats["sizes"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(1) as usize))
                .collect()
        })
        .unwrap_or_default();
    // Monitor sources come from the deterministic reference file of the
    // same model.
    let reference: Value = read_json(&path.with_extension("json"));
    let sources: BTreeMap<String, String> = reference["monitors"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v["source"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let model = workspace().join(stats["model"].as_str().unwrap_or(""));
    // Two of our seeds, each of which must land in Brian2's spread.
    for seed in [11, 12] {
        let (ours, _) = run_model(&model, seed, 0);
        let got = statistics(&ours, duration, &sizes, &sources);
        let Some(want) = stats["stats"].as_object() else {
            continue;
        };
        for (key, w) in want {
            let (m, sd) = (
                w["mean"].as_f64().unwrap_or(f64::NAN),
                w["std"].as_f64().unwrap_or(0.0),
            );
            // The variance across neurons at the last instant of a network
            // with population bursts is heavy-tailed: whether a burst is under
            // way at that instant changes it tenfold (COBA's `gi`: Brian2's
            // eight seeds span 11-166, ours over 24 seeds 7-775, with medians
            // 57 and 54). Such a statistic is compared on a log scale, which
            // still catches an error of more than a few times its spread.
            let log_values: Option<Vec<f64>> = key
                .ends_with("final.var_over_neurons")
                .then(|| w["values"].as_array())
                .flatten()
                .map(|v| v.iter().filter_map(Value::as_f64).collect());
            if let (Some(values), Some(&g)) = (log_values, got.get(key)) {
                if values.len() >= 4 && values.iter().all(|&v| v > 0.0) && g > 0.0 {
                    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
                    let lm = logs.iter().sum::<f64>() / logs.len() as f64;
                    let lsd = (logs.iter().map(|l| (l - lm).powi(2)).sum::<f64>()
                        / (logs.len() - 1) as f64)
                        .sqrt();
                    if (g.ln() - lm).abs() > 5.0 * lsd + 0.02 {
                        problems.push(format!(
                            "{stem} (seed {seed}): {key} = {g:.6e}, Brian2 geometric mean \
                             {:.6e} (log sd {lsd:.2})",
                            lm.exp()
                        ));
                    }
                    continue;
                }
            }
            match got.get(key) {
                None => problems.push(format!("{stem}: statistic `{key}` not computed")),
                Some(&g) => {
                    // Brian2's spread comes from eight seeds, so its
                    // standard deviation is itself uncertain (±25%); 5σ
                    // plus 2% keeps the test meaningful without failing on
                    // an unlucky seed of ours (measured: default_heun's
                    // std_over_neurons is 0.0796 ± 0.0055 over our seeds
                    // 1-10 against Brian2's 0.0811 ± 0.0033).
                    if (g - m).abs() > 5.0 * sd + 0.02 * m.abs() + 1e-9 {
                        problems.push(format!(
                            "{stem} (seed {seed}): {key} = {g:.6e}, Brian2 {m:.6e} ± {sd:.2e}"
                        ));
                    }
                }
            }
        }
    }
    problems
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_folder(models: &str, references: &str) {
    let mut problems = Vec::new();
    let mut compared = 0;
    let dir = workspace().join(models);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("model folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "model"))
        .collect();
    entries.sort();
    for model in entries {
        let stem = model
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if PENDING.contains(&stem.as_str()) {
            let source = std::fs::read_to_string(&model).expect("readable");
            let refused = match compile(&source) {
                Err(d) => d.iter().any(|d| d.message.contains("not supported")),
                Ok(m) => match Simulation::new(
                    m.program,
                    RunConfig {
                        seed: 1,
                        threads: 1,
                    },
                ) {
                    Err(e) => e.to_string().contains("not supported"),
                    Ok(mut sim) => sim
                        .run_all()
                        .is_err_and(|e| e.to_string().contains("not supported")),
                },
            };
            if !refused {
                problems.push(format!(
                    "{stem}: listed as pending but no longer refused; compare it"
                ));
            }
            continue;
        }
        let refs = workspace().join(references);
        let stats = refs.join(format!("{stem}.stats.json"));
        let reference = refs.join(format!("{stem}.json"));
        if stats.exists() {
            problems.extend(compare_statistics(&stem, &reference, &read_json(&stats)));
        } else if reference.exists() {
            let want = read_json(&reference);
            let (ours, dt) = run_model(&model, 1, 0);
            problems.extend(compare_deterministic(&stem, &ours, dt, &want));
        } else {
            problems.push(format!("{stem}: no reference data in {references}"));
            continue;
        }
        compared += 1;
    }
    assert!(compared > 0, "no models compared in {models}");
    assert!(
        problems.is_empty(),
        "differences from Brian2:\n{}",
        problems.join("\n")
    );
}

#[test]
fn spec_examples_match_brian2() {
    check_folder("spec-examples", "tests/reference/spec-examples");
}

#[test]
fn feature_models_match_brian2() {
    check_folder("tests/models", "tests/reference/models");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    for model in ["spec-examples/noise.model", "spec-examples/hh.model"] {
        let path = workspace().join(model);
        let (one, _) = run_model(&path, 5, 1);
        let (two, _) = run_model(&path, 5, 2);
        assert_eq!(one, two, "{model}: threads=1 and threads=2 differ");
    }
}
