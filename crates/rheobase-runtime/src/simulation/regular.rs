//! Brian2's `run_regularly`: code run over all elements of a group or
//! Synapses object every few steps, at one point of the step schedule.
//! The schedule runs each at its place among the step's objects.

use super::*;
use crate::partition::PartitionState;
use rheobase_kernel::program::{RegularPlan, RegularTarget};

/// Runs one `run_regularly` kernel if it is due in this step.
#[allow(clippy::too_many_arguments)] // The step's state, split for borrowing.
pub(super) fn run_one(
    program: &Program,
    plan: &RegularPlan,
    exec: &mut Executor,
    store: &mut ArrayStore,
    groups: &[GroupState],
    synapses: &[SynapsesState],
    partition: &mut Option<PartitionState>,
    clock: Clock,
) {
    {
        // Its clock ticks at the multiples of its dt, counted from 0 as
        // Brian2's clocks are, and only once it has been declared.
        if clock.tick < plan.from_step || clock.tick % plan.every != 0 {
            return;
        }
        // What it reads of a one-neuron group another rank updates is
        // made current first (`partition::kernel_reads`).
        if let Some(p) = partition.as_mut() {
            p.share_for(plan.kernel, program, store);
        }
        match plan.target {
            RegularTarget::Group(g) => {
                // Code that changes shared variables from shared values
                // runs over every neuron on every rank, so that every rank
                // computes their one-process values.
                let everywhere = partition
                    .as_ref()
                    .is_some_and(|p| p.everywhere[plan.kernel.0 as usize]);
                let range = if everywhere {
                    0..groups[g].size
                } else {
                    groups[g].owned.clone()
                };
                exec.run_range(plan.kernel, store, range, clock, None, None);
            }
            RegularTarget::Synapses(s) => {
                // On one rank of several, random draws are keyed by the
                // global synapse index, as on one process.
                let state = &synapses[s];
                super::ranks::run_synapse_range_in(
                    exec,
                    partition.as_ref(),
                    plan.kernel,
                    store,
                    0..state.len(),
                    clock,
                    (s, &state.pairs),
                );
            }
        }
    }
}
