//! The step loop of a split run whose windows' communication overlaps
//! local work (`partition/overlap.rs` describes the scheme).

use super::schedule::{deliver_window, Step};
use super::*;

impl Simulation {
    /// Lets the windows' collectives of a split run overlap local work
    /// (`rheo run --overlap`): in runs whose shortest delay between ranks
    /// is 2 steps or more, a window is one step shorter and its
    /// collective completes in the next step, while the rest of its last
    /// step and the next step's state updates and thresholds run. The
    /// results are the same either way. Every rank must be given the same
    /// setting, after [`Simulation::set_exchange`]; on one process it does
    /// nothing.
    pub fn set_overlap(&mut self, on: bool) {
        if let Some(p) = &mut self.partition {
            p.overlap.on = on;
        }
    }

    /// Whether this rank's windows may overlap (see
    /// [`Simulation::set_overlap`]).
    pub fn overlap(&self) -> bool {
        self.partition.as_ref().is_some_and(|p| p.overlap.on)
    }

    /// On one rank of several: seconds spent waiting for the windows'
    /// collectives (for a window ending overlapped, what was left to wait
    /// after the local work), and seconds of local work run while a
    /// window's collective travelled; and the windows that ended
    /// overlapped.
    pub fn window_wait(&self) -> (f64, f64, u64) {
        self.partition.as_ref().map_or((0.0, 0.0, 0), |p| {
            (
                p.overlap.blocked_seconds,
                p.overlap.in_flight_seconds,
                p.overlap.windows,
            )
        })
    }

    /// The windows of a split run with overlap (what `simulate`'s loop
    /// does otherwise): returns the steps simulated and the outcome.
    /// `result` and `agreed` are the run's outcome and flags so far.
    pub(super) fn simulate_overlapped(
        &mut self,
        steps: u64,
        mut result: Result<(), RuntimeError>,
        mut agreed: u32,
    ) -> (u64, Result<(), RuntimeError>) {
        let all = self.steps.len();
        let run_end = self.step + steps;
        let Some(at) = self.steps.iter().position(|s| *s == Step::Exchange) else {
            // Every split run's steps have an exchange place (`step_order`).
            unreachable!("a split run's steps have no exchange place")
        };
        let mut done = 0;
        let mut must_agree = false;
        // Whether the current window's first step has run up to its
        // exchange place (inside the previous window's overlap).
        let mut resumed = false;
        loop {
            if !resumed {
                if self.agree_before_window(
                    &mut must_agree,
                    &mut agreed,
                    &mut result,
                    done >= steps,
                ) {
                    break;
                }
                self.begin_overlapped_window(run_end);
            }
            let mut from = if resumed { at } else { 0 };
            resumed = false;
            while let Some(p) = self.partition.as_mut() {
                if !p.ends_window(self.step) {
                    result = self.step_part(from, all, true);
                    if result.is_err() {
                        break;
                    }
                    done += 1;
                    self.show_progress();
                    from = 0;
                    continue;
                }
                // The window's last step: overlapped unless what follows
                // the window needs it complete.
                let end = p.window_end;
                let flush = self.sink.is_some() && self.held_bytes() >= self.sink_budget;
                if let Some(p) = self.partition.as_mut() {
                    p.decide_overlap(planned(end, run_end) && !flush);
                }
                if !self.partition.as_ref().is_some_and(|p| p.overlap.now) {
                    result = self.step_part(from, all, true);
                    if result.is_ok() {
                        done += 1;
                        self.show_progress();
                    }
                    break;
                }
                result = self.step_part(from, at + 1, false);
                if result.is_err() {
                    break;
                }
                resumed = self.overlap_boundary(run_end, &mut done, at, &mut result);
                break;
            }
            if result.is_err() {
                self.fail_along(run_end);
                break;
            }
            if resumed {
                continue;
            }
            // The window ended blocking.
            let Some(p) = &mut self.partition else { break };
            p.finish_window();
            agreed = p.take_flags();
            if agreed & FLAG_FAILED != 0 {
                result = Err(RuntimeError::OtherRank { t: self.t() });
                continue;
            }
            result = self.after_window(done == steps, &mut must_agree);
        }
        (done, result)
    }

    /// Starts the next window of an overlapping run, at the current step:
    /// `split` steps, ending at the run's end (step `run_end`) and at the
    /// next divergence check as blocking windows do.
    fn begin_overlapped_window(&mut self, run_end: u64) {
        let flags = self.local_flags(false);
        let step = self.step;
        if let Some(p) = &mut self.partition {
            begin_at(p, step, run_end, flags);
        }
    }

    /// The exchange of a window ending overlapped, started at its last
    /// step's exchange place (the step has run up to it): while it travels
    /// the rest of the step runs, then the next window's first step up to
    /// the same place; then the window's spikes are queued and recorded,
    /// and the next window begins. Returns whether it did (false when
    /// this rank failed). Collective.
    fn overlap_boundary(
        &mut self,
        run_end: u64,
        done: &mut u64,
        at: usize,
        result: &mut Result<(), RuntimeError>,
    ) -> bool {
        let all = self.steps.len();
        let Some(p) = &mut self.partition else {
            return false;
        };
        let mut flight = p.start_overlapped();
        let started = Instant::now();
        let mut work = 0.0;
        let mut next = false;
        flight.exchange.clone().all_gather_fixed_during(
            &flight.block,
            &mut flight.blocks,
            &mut |advance| {
                let t = Instant::now();
                *result = self.step_part(at + 1, all, true);
                // Between the two steps' parts the collective is given a
                // chance to move its next round.
                advance();
                if result.is_ok() {
                    *done += 1;
                    self.show_progress();
                    // The window did not end the run (it would have ended
                    // blocking), so the next step is this run's.
                    *result = self.step_part(0, at, false);
                    next = true;
                }
                work += t.elapsed().as_secs_f64();
            },
        );
        let total = started.elapsed().as_secs_f64();
        let Simulation {
            program,
            store,
            groups,
            synapses,
            monitors,
            partition,
            pre_order,
            ..
        } = self;
        let Some(p) = partition else { return false };
        p.complete_overlapped(flight, total, work);
        deliver_window(
            p, program, store, groups, synapses, monitors, pre_order, true,
        );
        if next && result.is_ok() {
            self.begin_overlapped_window(run_end);
            return true;
        }
        false
    }

    /// After this rank failed in an overlapping run: the other ranks go
    /// on until they learn of it, and this rank takes part in their
    /// windows' exchanges with its failure flag (as
    /// [`PartitionState::finish_window`] does for one window without
    /// overlap): the current window's, if not yet made, and the next
    /// while the last ended overlapped (the others end the window after
    /// the one whose completion told them blocking, and stop). The
    /// windows are the others': each starts where the last ended,
    /// whatever step this rank reached. (A step cannot fail on one rank
    /// of several today, see `finish_window`.)
    fn fail_along(&mut self, run_end: u64) {
        let Some(p) = &mut self.partition else { return };
        loop {
            if p.exchanged() {
                let start = p.window_end;
                if !p.overlap.now || start >= run_end {
                    return;
                }
                begin_at(p, start, run_end, FLAG_FAILED);
            }
            p.decide_overlap(planned(p.window_end, run_end));
            p.fail_window();
            if !p.overlap.now {
                p.finish_window();
                return;
            }
            let mut flight = p.start_overlapped();
            flight.exchange.clone().all_gather_fixed_during(
                &flight.block,
                &mut flight.blocks,
                &mut |_| {},
            );
            p.complete_overlapped(flight, 0.0, 0.0);
        }
    }

    /// Shows the step reached to the progress observer: one relaxed store
    /// per step, nothing next to a step's kernels.
    fn show_progress(&self) {
        if let Some(progress) = &self.progress {
            progress.store(self.step, Ordering::Relaxed);
        }
    }
}

/// Whether a window ending at step `end` may end overlapped: not at a
/// divergence check (every `DIVERGENCE_CHECK_STEPS`) nor at the run's end,
/// where what follows needs the window complete.
fn planned(end: u64, run_end: u64) -> bool {
    end % crate::DIVERGENCE_CHECK_STEPS != 0 && end != run_end
}

/// Begins the window of an overlapping run that starts at `step`: `split`
/// steps, cut at the run's end and the next divergence check.
fn begin_at(p: &mut PartitionState, step: u64, run_end: u64, flags: u32) {
    let to_check = crate::DIVERGENCE_CHECK_STEPS - step % crate::DIVERGENCE_CHECK_STEPS;
    let window = p
        .overlapped_window()
        .min(run_end.saturating_sub(step))
        .min(to_check);
    p.overlap.now = false;
    p.begin_window(step, step + window, flags);
}
