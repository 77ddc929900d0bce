//! Brian2's `run_regularly`: code run over all elements of a group or
//! Synapses object every few steps, at one point of the step schedule.
//! The schedule calls [`run_regular`] at each [`SchedulePoint`]; the plans
//! are already in the order Brian2 runs them there.

use super::*;
use rheobase_kernel::program::{RegularPlan, RegularTarget, SchedulePoint};

/// Runs the `run_regularly` kernels due at `point` in this step.
pub(super) fn run_regular(
    program: &Program,
    exec: &mut Executor,
    store: &mut ArrayStore,
    groups: &[GroupState],
    synapses: &[SynapsesState],
    clock: Clock,
    point: SchedulePoint,
) {
    for plan in program.regular.iter().filter(|r| r.point == point) {
        run_one(plan, exec, store, groups, synapses, clock);
    }
}

/// Runs one `run_regularly` kernel if it is due in this step.
pub(super) fn run_one(
    plan: &RegularPlan,
    exec: &mut Executor,
    store: &mut ArrayStore,
    groups: &[GroupState],
    synapses: &[SynapsesState],
    clock: Clock,
) {
    {
        // Its clock ticks at the multiples of its dt, counted from 0 as
        // Brian2's clocks are, and only once it has been declared.
        if clock.step < plan.from_step || clock.step % plan.every != 0 {
            return;
        }
        match plan.target {
            RegularTarget::Group(g) => {
                exec.run_range(
                    plan.kernel,
                    store,
                    groups[g].owned.clone(),
                    clock,
                    None,
                    None,
                );
            }
            RegularTarget::Synapses(s) => {
                let state = &synapses[s];
                exec.run_range(
                    plan.kernel,
                    store,
                    0..state.len(),
                    clock,
                    Some(&state.pairs),
                    None,
                );
            }
        }
    }
}
