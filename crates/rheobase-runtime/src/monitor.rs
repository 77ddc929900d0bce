//! Recorded monitor data and the code that appends to it each step.

use rheobase_kernel::program::{MonitorPlan, RecordedVariable, ValueKind};

use crate::exec::{ArrayStore, Values};

/// What one monitor recorded, in SI units (seconds, hertz, and the
/// variables' base units).
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorData {
    /// A SpikeMonitor: one entry per spike, in time order and, within a
    /// step, ascending neuron order (Brian2's order).
    Spike {
        name: String,
        /// Neuron index relative to the start of the recorded range.
        i: Vec<i32>,
        /// Spike time.
        t: Vec<f64>,
        /// Recorded variables at each spike, after the threshold and before
        /// the reset: `(name, kind, values)` with one value per spike.
        variables: Vec<(String, ValueKind, Vec<f64>)>,
        /// Number of spikes of each neuron of the recorded range since the
        /// start of the simulation. Unlike the other fields it is not
        /// cleared when recordings are handed to a
        /// [`crate::RecordingSink`].
        count: Vec<u64>,
        /// Brian2's `record=`: `false` keeps `i` and `t` empty (the
        /// archive has no such arrays), the counts and variables still
        /// recorded.
        record: bool,
    },
    /// A StateMonitor, sampled at the start of the step (before the state
    /// update), so the first sample is the state at the start of the run.
    State {
        name: String,
        /// Sample times.
        t: Vec<f64>,
        /// The recorded neurons (absolute indices in the group).
        record: Vec<usize>,
        /// One series per recorded variable, parallel to `t`.
        variables: Vec<StateSeries>,
    },
    /// A PopulationRateMonitor: one sample per step, taken at its end.
    Rate {
        name: String,
        t: Vec<f64>,
        /// Fraction of the range's neurons that spiked in the step, per
        /// second.
        rate: Vec<f64>,
    },
}

/// One variable recorded by a StateMonitor.
///
/// The samples are stored time-major — every recorded neuron at the first
/// sample time, then every one at the second, ... — because that is the
/// order in which they are taken: a sample is one contiguous append, and
/// the samples recorded so far can be written out as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSeries {
    pub name: String,
    pub kind: ValueKind,
    /// Number of recorded neurons, i.e. values per sample time.
    pub width: usize,
    /// `values[k * width + r]` is the value of the `r`-th recorded neuron
    /// at the `k`-th sample time.
    pub values: Vec<f64>,
}

impl StateSeries {
    /// Number of sample times held.
    pub fn samples(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    /// The value of the `r`-th recorded neuron at the `k`-th sample time.
    pub fn at(&self, r: usize, k: usize) -> f64 {
        self.values[k * self.width + r]
    }

    /// The trace of the `r`-th recorded neuron.
    pub fn trace(&self, r: usize) -> Vec<f64> {
        self.values
            .iter()
            .skip(r)
            .step_by(self.width.max(1))
            .copied()
            .collect()
    }

    /// Every trace, in `record` order (Brian2's `M.v` layout).
    pub fn traces(&self) -> Vec<Vec<f64>> {
        (0..self.width).map(|r| self.trace(r)).collect()
    }
}

impl MonitorData {
    pub fn name(&self) -> &str {
        match self {
            MonitorData::Spike { name, .. }
            | MonitorData::State { name, .. }
            | MonitorData::Rate { name, .. } => name,
        }
    }

    /// Empty data for a monitor.
    pub(crate) fn for_plan(plan: &MonitorPlan) -> MonitorData {
        let vars = |variables: &[RecordedVariable]| {
            variables
                .iter()
                .map(|v| (v.name.clone(), v.kind))
                .collect::<Vec<_>>()
        };
        match plan {
            MonitorPlan::Spike {
                name,
                start,
                stop,
                variables,
                record,
                ..
            } => MonitorData::Spike {
                record: *record,
                name: name.clone(),
                i: Vec::new(),
                t: Vec::new(),
                variables: vars(variables)
                    .into_iter()
                    .map(|(n, k)| (n, k, Vec::new()))
                    .collect(),
                count: vec![0; stop.saturating_sub(*start)],
            },
            MonitorPlan::State {
                name,
                variables,
                record,
                ..
            } => MonitorData::State {
                name: name.clone(),
                t: Vec::new(),
                record: record.clone(),
                variables: vars(variables)
                    .into_iter()
                    .map(|(name, kind)| StateSeries {
                        name,
                        kind,
                        width: record.len(),
                        values: Vec::new(),
                    })
                    .collect(),
            },
            MonitorPlan::Rate { name, .. } => MonitorData::Rate {
                name: name.clone(),
                t: Vec::new(),
                rate: Vec::new(),
            },
        }
    }

    /// Makes room for `samples` more samples of a State or Rate monitor,
    /// so that a long run grows each vector once rather than by doubling
    /// (which would briefly need up to twice the memory). Best effort: if
    /// the memory is not available now, the vectors grow as needed.
    pub(crate) fn reserve(&mut self, samples: usize) {
        match self {
            MonitorData::State { t, variables, .. } => {
                let _ = t.try_reserve_exact(samples);
                for series in variables {
                    let _ = series
                        .values
                        .try_reserve_exact(samples.saturating_mul(series.width));
                }
            }
            MonitorData::Rate { t, rate, .. } => {
                let _ = t.try_reserve_exact(samples);
                let _ = rate.try_reserve_exact(samples);
            }
            MonitorData::Spike { .. } => {}
        }
    }

    /// Sets the elements a StateMonitor records, before its first sample
    /// (for `record_all_synapses` and `record_pairs`, once the synapses
    /// exist).
    pub(crate) fn set_record(&mut self, elements: Vec<usize>) {
        if let MonitorData::State {
            record, variables, ..
        } = self
        {
            for series in variables.iter_mut() {
                series.width = elements.len();
            }
            *record = elements;
        }
    }

    /// Appends one StateMonitor sample.
    pub(crate) fn record_state(
        &mut self,
        store: &ArrayStore,
        now: f64,
        plan_vars: &[RecordedVariable],
    ) {
        let MonitorData::State {
            t,
            record,
            variables,
            ..
        } = self
        else {
            unreachable!("state sample for a non-state monitor")
        };
        t.push(now);
        for (var, series) in plan_vars.iter().zip(variables.iter_mut()) {
            let values = store.values(var.array);
            series
                .values
                .extend(record.iter().map(|&i| value_at(values, i)));
        }
    }

    /// Appends one StateMonitor sample of synapses on one rank of several:
    /// column `r` reads element `local[r]` of this rank, and a column
    /// another rank holds gets a placeholder (its value is gathered from
    /// that rank, `Simulation::gather_recordings`), so that every rank
    /// holds the same number of values.
    pub(crate) fn record_state_at(
        &mut self,
        store: &ArrayStore,
        now: f64,
        plan_vars: &[RecordedVariable],
        local: &[Option<u32>],
    ) {
        let MonitorData::State { t, variables, .. } = self else {
            unreachable!("state sample for a non-state monitor")
        };
        t.push(now);
        for (var, series) in plan_vars.iter().zip(variables.iter_mut()) {
            let values = store.values(var.array);
            series.values.extend(
                local
                    .iter()
                    .map(|l| l.map_or(0.0, |i| value_at(values, i as usize))),
            );
        }
    }

    /// Bytes of recorded samples held (8 per value), the measure of when
    /// to hand them to a [`crate::RecordingSink`].
    pub(crate) fn held_bytes(&self) -> usize {
        let values = match self {
            MonitorData::Spike {
                i, t, variables, ..
            } => i.len() + t.len() + variables.iter().map(|v| v.2.len()).sum::<usize>(),
            MonitorData::State { t, variables, .. } => {
                t.len() + variables.iter().map(|s| s.values.len()).sum::<usize>()
            }
            MonitorData::Rate { t, rate, .. } => t.len() + rate.len(),
        };
        values * 8
    }

    /// Whether any sample is held.
    pub(crate) fn holds_samples(&self) -> bool {
        match self {
            // Without `i` and `t` (`record: False`), the variables hold
            // the samples.
            MonitorData::Spike { t, variables, .. } => {
                !t.is_empty() || variables.iter().any(|v| !v.2.is_empty())
            }
            MonitorData::State { t, .. } | MonitorData::Rate { t, .. } => !t.is_empty(),
        }
    }

    /// Drops the recorded samples (after a sink took them), keeping the
    /// allocations for the next ones and the cumulative spike counts.
    pub(crate) fn clear_samples(&mut self) {
        match self {
            MonitorData::Spike {
                i, t, variables, ..
            } => {
                i.clear();
                t.clear();
                for v in variables {
                    v.2.clear();
                }
            }
            MonitorData::State { t, variables, .. } => {
                t.clear();
                for s in variables {
                    s.values.clear();
                }
            }
            MonitorData::Rate { t, rate, .. } => {
                t.clear();
                rate.clear();
            }
        }
    }

    /// Appends the spikes `spikes` (ascending absolute indices of this
    /// step) that fall in `start..stop`.
    pub(crate) fn record_spikes(
        &mut self,
        store: &ArrayStore,
        now: f64,
        spikes: &[u32],
        start: usize,
        stop: usize,
        plan_vars: &[RecordedVariable],
    ) {
        let MonitorData::Spike {
            i,
            t,
            variables,
            count,
            record,
            ..
        } = self
        else {
            unreachable!("spikes for a non-spike monitor")
        };
        let spikes = in_range(spikes, start, stop);
        push_spikes(i, t, count, *record, now, spikes, start);
        for (var, (_, _, values)) in plan_vars.iter().zip(variables.iter_mut()) {
            let array = store.values(var.array);
            values.extend(spikes.iter().map(|&n| value_at(array, n as usize)));
        }
    }

    /// [`MonitorData::record_spikes`] with the recorded variables' values
    /// given: `values` holds each variable's values at the spikes in
    /// `start..stop`, one variable after the other.
    pub(crate) fn record_spikes_with(
        &mut self,
        now: f64,
        spikes: &[u32],
        start: usize,
        stop: usize,
        values: &[f64],
    ) {
        let MonitorData::Spike {
            i,
            t,
            variables,
            count,
            record,
            ..
        } = self
        else {
            unreachable!("spikes for a non-spike monitor")
        };
        let spikes = in_range(spikes, start, stop);
        push_spikes(i, t, count, *record, now, spikes, start);
        let n = spikes.len();
        for (v, (_, _, recorded)) in variables.iter_mut().enumerate() {
            let part = values.get(v * n..(v + 1) * n).unwrap_or(&[]);
            recorded.extend_from_slice(part);
        }
    }

    /// Appends one PopulationRateMonitor sample.
    pub(crate) fn record_rate(
        &mut self,
        now: f64,
        dt: f64,
        spikes: &[u32],
        start: usize,
        stop: usize,
    ) {
        let MonitorData::Rate { t, rate, .. } = self else {
            unreachable!("rate sample for a non-rate monitor")
        };
        let n = in_range(spikes, start, stop).len();
        t.push(now);
        // Brian2 computes `1.0*num_spikes/dt/N` in this order; dividing
        // in the same order keeps the values bit-identical.
        rate.push(n as f64 / dt / (stop - start) as f64);
    }
}

/// The part of an ascending spike list that lies in `start..stop`.
/// Appends the spikes of one step (global indices, all in the monitor's
/// range starting at `start`) to a spike monitor's `i`, `t` and `count`.
fn push_spikes(
    i: &mut Vec<i32>,
    t: &mut Vec<f64>,
    count: &mut [u64],
    record: bool,
    now: f64,
    spikes: &[u32],
    start: usize,
) {
    for &n in spikes {
        let rel = n as usize - start;
        if record {
            i.push(rel as i32);
            t.push(now);
        }
        count[rel] += 1;
    }
}

fn in_range(spikes: &[u32], start: usize, stop: usize) -> &[u32] {
    let lo = spikes.partition_point(|&n| (n as usize) < start);
    let hi = spikes.partition_point(|&n| (n as usize) < stop);
    &spikes[lo..hi]
}

/// Value of neuron `i` of a variable: a shared variable (one slot) has the
/// same value for every neuron.
fn value_at(values: Values<'_>, i: usize) -> f64 {
    if values.len() == 1 {
        values.get(0)
    } else {
        values.get(i)
    }
}
