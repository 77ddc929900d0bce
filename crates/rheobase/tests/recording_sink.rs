//! The library's recording sink: the chunks a sink receives, joined, are
//! exactly what the monitors hold when no sink is installed.

use std::sync::{Arc, Mutex};

use rheobase::runtime::Simulation;
use rheobase::{compile, MonitorData, RecordingSink, RunConfig};

const MODEL: &str = "\
NeuronGroup G(20):
    model:
        dv/dt = (1.5 - v)/(10*ms) + 0.3*xi/sqrt(ms) : 1
        n : integer
    threshold: v > 1
    reset:
        v = 0
        n += 1
    method: euler
SpikeMonitor spikes(G):
    variables: v
StateMonitor trace(G):
    variables: v, n
    record: 0:5
    dt: 0.3*ms
PopulationRateMonitor rate(G)
seed(4)
run 30*ms
run 20*ms
";

/// Collects every chunk, per monitor, by appending to a copy.
struct Collector(Arc<Mutex<Vec<Option<MonitorData>>>>);

fn append(into: &mut MonitorData, chunk: &MonitorData) {
    match (into, chunk) {
        (
            MonitorData::Spike {
                i, t, variables, ..
            },
            MonitorData::Spike {
                i: ci,
                t: ct,
                variables: cv,
                ..
            },
        ) => {
            i.extend_from_slice(ci);
            t.extend_from_slice(ct);
            for (v, c) in variables.iter_mut().zip(cv) {
                v.2.extend_from_slice(&c.2);
            }
        }
        (
            MonitorData::State { t, variables, .. },
            MonitorData::State {
                t: ct,
                variables: cv,
                ..
            },
        ) => {
            t.extend_from_slice(ct);
            for (s, c) in variables.iter_mut().zip(cv) {
                s.values.extend_from_slice(&c.values);
            }
        }
        (
            MonitorData::Rate { t, rate, .. },
            MonitorData::Rate {
                t: ct, rate: cr, ..
            },
        ) => {
            t.extend_from_slice(ct);
            rate.extend_from_slice(cr);
        }
        _ => panic!("chunk of another kind of monitor"),
    }
}

impl RecordingSink for Collector {
    fn append(&mut self, monitor: usize, samples: &MonitorData) -> Result<(), String> {
        let mut all = self.0.lock().map_err(|_| "poisoned".to_string())?;
        match &mut all[monitor] {
            slot @ None => *slot = Some(samples.clone()),
            Some(data) => append(data, samples),
        }
        Ok(())
    }
}

fn run(budget: Option<usize>) -> (Vec<MonitorData>, Option<Vec<Option<MonitorData>>>) {
    let model = compile(MODEL).expect("valid model");
    let mut sim = Simulation::new(
        model.program,
        RunConfig {
            seed: 4,
            threads: 1,
        },
    )
    .expect("builds");
    let collected = Arc::new(Mutex::new(vec![None, None, None]));
    if let Some(budget) = budget {
        sim.set_recording_sink(Box::new(Collector(collected.clone())), budget);
    }
    sim.run_all().expect("runs");
    sim.flush_recordings().expect("flushes");
    let held = sim.monitors().to_vec();
    let collected = budget.map(|_| collected.lock().expect("lock").clone());
    (held, collected)
}

#[test]
fn chunks_joined_equal_the_whole_recording() {
    let (whole, _) = run(None);
    for budget in [0, 1000, 1 << 30] {
        let (held, collected) = run(Some(budget));
        let collected = collected.expect("collected");
        for (k, want) in whole.iter().enumerate() {
            let got = collected[k].as_ref().expect("the sink received samples");
            match (got, want) {
                // Cumulative counts stay with the simulation.
                (
                    MonitorData::Spike {
                        i, t, variables, ..
                    },
                    MonitorData::Spike {
                        i: wi,
                        t: wt,
                        variables: wv,
                        count,
                        ..
                    },
                ) => {
                    assert_eq!((i, t, variables), (wi, wt, wv), "budget {budget}");
                    let MonitorData::Spike {
                        count: held_count, ..
                    } = &held[k]
                    else {
                        panic!("spike monitor expected")
                    };
                    assert_eq!(held_count, count);
                    assert_eq!(count.iter().sum::<u64>() as usize, wi.len());
                }
                _ => assert_eq!(got, want, "budget {budget}"),
            }
            // After the final flush the simulation holds no samples.
            match &held[k] {
                MonitorData::Spike { t, .. }
                | MonitorData::State { t, .. }
                | MonitorData::Rate { t, .. } => assert!(t.is_empty()),
            }
        }
    }
    let MonitorData::Spike { t, .. } = &whole[0] else {
        panic!("spike monitor first")
    };
    assert!(t.len() > 10, "the model should spike");
}

/// A sink that fails stops the run with an error naming the monitor.
#[test]
fn a_failing_sink_stops_the_run() {
    struct Full;
    impl RecordingSink for Full {
        fn append(&mut self, _: usize, _: &MonitorData) -> Result<(), String> {
            Err("No space left on device".into())
        }
    }
    let model = compile(MODEL).expect("valid model");
    let mut sim = Simulation::new(
        model.program,
        RunConfig {
            seed: 4,
            threads: 1,
        },
    )
    .expect("builds");
    sim.set_recording_sink(Box::new(Full), 0);
    let err = sim.run_all().expect_err("the sink fails");
    let text = err.to_string();
    assert!(text.contains("No space left on device"), "{text}");
    assert!(
        text.contains("`spikes`") || text.contains("`trace`"),
        "{text}"
    );
    assert!(sim.step() < 500, "stopped at once, not after the run");
}
