//! Exchange windows over several clocks. A program whose objects have
//! clocks of their own steps in ticks (`Program::dt`, the largest step
//! dividing every clock's `dt`), and each object runs only at the ticks
//! where its clock is due (`schedule::step_clock`). A split run then
//! counts its windows in ticks:
//! - `PartitionState::split` is in ticks: the shortest delay between
//!   ranks of a pathway is its delay in its clock's steps times that
//!   clock's ticks per step, so a spike of a window's first tick is due
//!   at the window's last tick at the earliest, after its exchange;
//! - a pathway queues at once (on its own rank) the synapses whose delay
//!   in ticks is below `split`, and the others at the exchange: in its own
//!   clock's steps, those below `split_steps[c] = ceil(split / every)`
//!   ([`PartitionState::split_in`]), since a delay of `d` steps is `d *
//!   every` ticks;
//! - each tick of a window carries one list per trigger, empty at the
//!   ticks where the trigger's group is not due (its list then still holds
//!   its last step's spikes, which must not travel twice), and the
//!   exchange delivers each list at the step of the group's clock it was
//!   found in;
//! - after the exchange a group's spike list becomes every rank's list
//!   of the last tick in the window where the group was due (not
//!   necessarily the window's last tick), and is left alone when it was
//!   not due in the window, so that a pathway placed before the group's
//!   thresholder reads, at the group's next step, the previous step's
//!   spikes of every rank, as one process does.
//!
//! With one clock every tick is every object's step: `every` is 1 and
//! none of this changes what the windows do.

use super::PartitionState;
use rheobase_kernel::program::Program;

impl PartitionState {
    /// Records the clocks of `program` for the windows: the ticks per step
    /// of each clock and of each trigger's group. Call after `triggers`
    /// is set.
    pub(crate) fn set_clocks(&mut self, program: &Program) {
        self.several_clocks = program.clocks.len() > 1;
        self.clock_every = program.clocks.iter().map(|c| c.every.max(1)).collect();
        if self.clock_every.is_empty() {
            self.clock_every.push(1);
        }
        self.trigger_every = self
            .triggers
            .iter()
            .map(|t| self.clock_every[program.groups[t.group].clock])
            .collect();
        self.size_split_steps();
    }

    /// `split_steps` from `split` (in ticks): per clock, the shortest
    /// delay in its steps that reaches `split` ticks.
    pub(super) fn size_split_steps(&mut self) {
        let split = u64::from(self.split);
        self.split_steps = self
            .clock_every
            .iter()
            .map(|&every| split.div_ceil(every) as u32)
            .collect();
    }

    /// The delay, in steps of clock `clock`, from which a pathway on that
    /// clock queues a spike's synapses at the window's exchange instead
    /// of at once: every synapse whose source is on another rank has one
    /// at least this long.
    pub fn split_in(&self, clock: usize) -> u32 {
        self.split_steps.get(clock).copied().unwrap_or(self.split)
    }

    /// Whether trigger `x`'s group finds spikes (or events) at tick `tick`.
    pub(super) fn due(&self, x: usize, tick: u64) -> bool {
        !self.several_clocks || tick % self.trigger_every[x] == 0
    }

    /// Ticks per step of trigger `x`'s group's clock.
    pub fn trigger_every(&self, x: usize) -> u64 {
        self.trigger_every.get(x).copied().unwrap_or(1)
    }

    /// Whether tick `tick`, where an object on clock `clock` runs, is that
    /// clock's first step in the current window: its previous step was in
    /// an earlier window (with one clock, the window's first tick).
    pub fn first_step_in_window(&self, clock: usize, tick: u64) -> bool {
        let every = self.clock_every.get(clock).copied().unwrap_or(1);
        tick < self.window_first() + every
    }

    /// Per trigger, the index (in the window's lists, `step * per_step +
    /// trigger`) of its list of the last tick of the window being
    /// exchanged where its group was due, if any (`last_due`).
    pub(super) fn find_last_due(&mut self) {
        let (start, steps, per_step) = (self.window_start, self.steps as u64, self.per_step);
        self.last_due.clear();
        for x in 0..per_step {
            let due = (0..steps).rev().find(|&s| self.due(x, start + s));
            self.last_due.push(due.map(|s| s as usize * per_step + x));
        }
    }

    /// The neurons of trigger `x` at the last tick of the last exchanged
    /// window where its group was due, every rank's, and where this
    /// rank's lie among them; `None` when it was not due in the window.
    pub fn last_due_step(&self, x: usize) -> Option<(&[u32], std::ops::Range<usize>)> {
        let l = self.last_due.get(x).copied().flatten()?;
        Some((&self.merged[self.at[l].clone()], self.own[x].clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Split, ThreadExchange, Trigger};
    use super::PartitionState;

    /// One rank with clocks of 1, 3 and 5 ticks per step and a trigger on
    /// each of them.
    fn state() -> PartitionState {
        let exchange = ThreadExchange::group(1).pop().expect("one rank");
        let mut p = PartitionState::new(Box::new(exchange), Split::even(vec![1; 3], 1), 0);
        p.several_clocks = true;
        p.clock_every = vec![1, 3, 5];
        p.triggers = (0..3).map(|group| Trigger { group, event: None }).collect();
        p.trigger_every = vec![1, 3, 5];
        p
    }

    #[test]
    fn the_split_in_each_clock_is_the_shortest_delay_reaching_it() {
        let mut p = state();
        p.split = 13;
        p.size_split_steps();
        // 13 ticks: 13 steps of 1 tick, 5 of 3 (15 ticks), 3 of 5 (15).
        assert_eq!((p.split_in(0), p.split_in(1), p.split_in(2)), (13, 5, 3));
        p.split = 0;
        p.size_split_steps();
        assert_eq!((p.split_in(0), p.split_in(1), p.split_in(2)), (0, 0, 0));
    }

    #[test]
    fn a_groups_last_step_in_a_window_is_its_clocks_last_due_tick() {
        let mut p = state();
        // Ticks 14..28: clock 1 is due at 27, clock 2 at 25.
        p.begin_window(14, 28, 0);
        p.steps = 14;
        p.per_step = 3;
        p.find_last_due();
        assert_eq!(
            p.last_due,
            vec![Some(13 * 3), Some(13 * 3 + 1), Some(11 * 3 + 2)]
        );
        // Ticks 26..28: clock 2 is not due.
        p.begin_window(26, 28, 0);
        p.steps = 2;
        p.find_last_due();
        assert_eq!(p.last_due, vec![Some(3), Some(4), None]);
        // Clock 2's first step in the window 14..28 is at tick 15, clock
        // 1's at 15 too, clock 0's at 14.
        p.begin_window(14, 28, 0);
        assert!(p.first_step_in_window(0, 14) && !p.first_step_in_window(0, 15));
        assert!(p.first_step_in_window(1, 15) && !p.first_step_in_window(1, 18));
        assert!(p.first_step_in_window(2, 15) && !p.first_step_in_window(2, 20));
    }
}
