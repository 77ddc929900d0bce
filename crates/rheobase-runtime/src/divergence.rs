//! Watching the state for NaN and infinite values.
//!
//! A diverging model (a too-large `dt`, a division by zero) fills its state
//! with NaN or infinity; stopping with the group, variable, element and
//! time is far more useful than writing meaningless results. The watch
//! scans only arrays that can change during a run — those some kernel
//! writes, and the targets of summed variables, which the runtime writes
//! — because every other array keeps the values it was given before the
//! run, which were scanned once then.
//!
//! Neuron arrays are small and are scanned every
//! [`crate::DIVERGENCE_CHECK_STEPS`] steps. Per-synapse arrays can be a
//! hundred times larger than the neuron state (Brunel's 10M synapses
//! against 10k neurons): scanning them as often cost a tenth of the run,
//! so when they are much larger than the neuron state they are scanned
//! [`SYNAPSE_INTERVAL_FACTOR`] times less often. A bad synaptic value
//! reaches a neuron variable at its next event and is usually caught there
//! first. Every array is scanned at the end of each run. The schedule
//! depends only on the model, never on timing, so the reported time of a
//! divergence is the same on every run.

use rheobase_kernel::program::{Program, ValueKind};
use rheobase_kernel::ArrayId;

use crate::exec::{ArrayStore, Executor, Values};

/// How many times less often large synaptic arrays are scanned than
/// neuron arrays.
pub(crate) const SYNAPSE_INTERVAL_FACTOR: u64 = 16;

/// Synaptic arrays up to this many times the size of the neuron arrays
/// are scanned as often as the neuron arrays.
const SMALL_SYNAPSE_RATIO: usize = 4;

/// A value found to be NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NonFinite {
    pub array: ArrayId,
    pub index: usize,
    pub value: f64,
}

/// Which arrays to scan, and how often.
#[derive(Debug, Clone, Default)]
pub(crate) struct DivergenceWatch {
    neuron_arrays: Vec<ArrayId>,
    synapse_arrays: Vec<ArrayId>,
    /// Scan the synaptic arrays at every check, not one in
    /// [`SYNAPSE_INTERVAL_FACTOR`].
    synapses_every_check: bool,
}

impl DivergenceWatch {
    /// The float arrays of `program` that kernels write (per `exec`) or
    /// that receive summed variables.
    pub fn new(program: &Program, exec: &Executor) -> DivergenceWatch {
        let mut changing = vec![false; program.arrays.len()];
        for k in 0..program.kernels.len() {
            for &a in exec.writes(rheobase_kernel::program::KernelId(k as u32)) {
                changing[a.0 as usize] = true;
            }
        }
        for plan in &program.synapses {
            for summed in &plan.summed {
                changing[summed.target.0 as usize] = true;
            }
        }
        let mut watch = DivergenceWatch::default();
        for (k, decl) in program.arrays.iter().enumerate() {
            if decl.kind != ValueKind::Float || !changing[k] {
                continue;
            }
            let id = ArrayId(k as u32);
            match decl.synapses {
                None => watch.neuron_arrays.push(id),
                Some(_) => watch.synapse_arrays.push(id),
            }
        }
        watch
    }

    /// Decides, once the synapses exist, whether the synaptic arrays are
    /// small enough to be scanned at every check.
    pub fn size_synapses(&mut self, store: &ArrayStore) {
        let neuron: usize = self.neuron_arrays.iter().map(|&a| store.len_of(a)).sum();
        let synapse: usize = self.synapse_arrays.iter().map(|&a| store.len_of(a)).sum();
        self.synapses_every_check = synapse <= SMALL_SYNAPSE_RATIO * neuron.max(1);
    }

    /// The first non-finite value of the watched arrays, in array order.
    /// `check` counts the checks of this run (0, 1, ...); `last` is the
    /// check at the end of a run, which scans everything.
    pub fn scan(&self, store: &ArrayStore, check: u64, last: bool) -> Option<NonFinite> {
        let synapses = last || self.synapses_every_check || check % SYNAPSE_INTERVAL_FACTOR == 0;
        let arrays = self
            .neuron_arrays
            .iter()
            .chain(self.synapse_arrays.iter().filter(|_| synapses));
        let mut first: Option<NonFinite> = None;
        // Records (interleaved synaptic arrays) found finite in one pass
        // over their whole buffer: their members need no scan of their own.
        let mut finite_records: Vec<usize> = Vec::new();
        for &array in arrays {
            if let Some((record, all)) = store.record_span(array) {
                if finite_records.contains(&record) {
                    continue;
                }
                if first_non_finite(all).is_none() {
                    finite_records.push(record);
                    continue;
                }
            }
            let values = store.values(array);
            if let Some(index) = first_non_finite_of(values) {
                // Report in array order, as the full scan always did.
                if first.is_none_or(|f| array < f.array) {
                    first = Some(NonFinite {
                        array,
                        index,
                        value: values.get(index),
                    });
                }
            }
        }
        first
    }

    /// Scans every float array, whether or not a kernel writes it: the
    /// values given before a run (initialisation, data files).
    pub fn scan_all(program: &Program, store: &ArrayStore) -> Option<NonFinite> {
        program
            .arrays
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind == ValueKind::Float)
            .find_map(|(k, _)| {
                let array = ArrayId(k as u32);
                let values = store.values(array);
                first_non_finite_of(values).map(|index| NonFinite {
                    array,
                    index,
                    value: values.get(index),
                })
            })
    }
}

/// The index of the first NaN or infinite value of an array, stored on
/// its own or interleaved in a record.
fn first_non_finite_of(values: Values<'_>) -> Option<usize> {
    match values.as_slice() {
        Some(slice) => first_non_finite(slice),
        None => values.iter().position(|v| !v.is_finite()),
    }
}

/// The index of the first NaN or infinite value. Scans blocks with a
/// branch-free test that the compiler vectorises, and looks inside a block
/// only when it holds a bad value.
pub(crate) fn first_non_finite(values: &[f64]) -> Option<usize> {
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    const BLOCK: usize = 512;
    for (b, block) in values.chunks(BLOCK).enumerate() {
        let bad = block.iter().fold(0u64, |acc, v| {
            acc | u64::from(v.to_bits() & EXPONENT == EXPONENT)
        });
        if bad != 0 {
            return block
                .iter()
                .position(|v| !v.is_finite())
                .map(|p| b * BLOCK + p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_non_finite;

    #[test]
    fn finds_the_first_bad_value_in_any_block() {
        let mut v = vec![1.0; 5000];
        assert_eq!(first_non_finite(&v), None);
        v[4097] = f64::INFINITY;
        v[4999] = f64::NAN;
        assert_eq!(first_non_finite(&v), Some(4097));
        v[3] = f64::NEG_INFINITY;
        assert_eq!(first_non_finite(&v), Some(3));
        // The largest finite value and subnormals are finite.
        let w = [f64::MAX, f64::MIN_POSITIVE / 2.0, -0.0, f64::MIN];
        assert_eq!(first_non_finite(&w), None);
        assert_eq!(first_non_finite(&[]), None);
    }
}
