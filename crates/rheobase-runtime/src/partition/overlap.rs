//! Overlapping a window's communication with local work (`rheo run
//! --overlap`).
//!
//! Without overlap a window is `split + 1` steps and its collective is
//! made, blocking, after the custom events of its last step: the spikes
//! of its first step that are due `split` steps later are due right
//! after it, in that step's `synapses` slot. With overlap a window is
//! `split` steps (so `split` must be at least 2 for a window of two
//! steps or more): its collective starts at the same place, without
//! waiting, and completes at the same place of the next step (the next
//! window's first), right before that step's `synapses` slot, the first
//! that can need another rank's spikes of the window (a spike of the
//! window's first step, `s0`, is due at `s0 + split` at the earliest,
//! the next window's first step). Meanwhile the rest of the window's
//! last step (its `synapses` for local spikes, resets, monitors) and the
//! next step's state updates and thresholds run. The spikes are queued
//! where they would have been (a spike's synapses of `split` steps or
//! more go to the second part of their slot, which nothing has taken
//! yet), so every result is the one of the blocking path.
//!
//! What changes with the completion one step later:
//! - the window's last step's spike lists are not replaced by every
//!   rank's (the next step's thresholder has already overwritten them):
//!   nothing after the exchange reads other ranks' neurons in them
//!   (resets and `on_post` pathways use the rank's own);
//! - pathways placed before their source's thresholder (`shifted`) get
//!   the last step's spikes of other ranks queued at the completion, with
//!   the next step as their step, instead of from the merged list at the
//!   pathway (whose delays, `split` or more, make none of them due
//!   before);
//! - the stop flags of a window are known one step later: a window that
//!   completes with a flag set makes the next window end blocking, and
//!   the ranks stop after it (one window later than without overlap);
//! - the windows that end at a divergence check, at a run's end or with
//!   recordings due for hand-over (the monitors hold the sink's budget)
//!   end blocking, so that what follows them (the check, the flags'
//!   agreement, the hand-over, the run's end) sees the window complete.

use std::sync::Arc;

use super::{Exchange, PartitionState, FLAG_FAILED};

/// The overlap's switch, state and timings on one rank.
#[derive(Debug, Default)]
pub(crate) struct Overlap {
    /// Whether windows may end overlapped (`Simulation::set_overlap`).
    pub on: bool,
    /// Whether the current window ends overlapped, decided at its last
    /// step, before its exchange, the same way on every rank.
    pub now: bool,
    /// The flags of the windows completed overlapped, not yet acted on.
    pub pending_flags: u32,
    /// Seconds this rank waited in the windows' collectives: the whole
    /// collective of a window ending blocking, and what remains to wait
    /// after the local work of one ending overlapped.
    pub blocked_seconds: f64,
    /// Seconds of local work run while a window's collective travelled.
    pub in_flight_seconds: f64,
    /// Windows that ended overlapped.
    pub windows: u64,
}

/// A window's collective between its start and its completion
/// ([`PartitionState::start_overlapped`]).
pub(crate) struct InFlight {
    pub exchange: Arc<dyn Exchange>,
    pub block: Vec<u32>,
    pub blocks: Vec<u32>,
}

impl PartitionState {
    /// Steps per window when windows end overlapped: `split`, one fewer
    /// than blocking ([`PartitionState::window`]), since the collective
    /// completes in the next window's first step.
    pub fn overlapped_window(&self) -> u64 {
        u64::from(self.split).max(1)
    }

    /// Whether this run's windows may end overlapped: overlap is on and
    /// the shortest delay between ranks is 2 steps or more (with one step
    /// the windows would be one step long, twice as many collectives as
    /// blocking windows of two steps, and with none a spike is due in its
    /// own step).
    pub fn overlapping(&self) -> bool {
        self.overlap.on && self.split >= 2
    }

    /// Decides, at the current window's last step and before its
    /// exchange, whether it ends overlapped: when `planned` (the window
    /// ends neither at a divergence check nor at the run's end, and no
    /// recordings are due for hand-over) and no overlapped window has
    /// completed with a stop flag. The same on every rank.
    pub fn decide_overlap(&mut self, planned: bool) {
        self.overlap.now = planned && self.overlap.pending_flags == 0;
    }

    /// Starts the current window's exchange without waiting: this rank's
    /// block, the exchange to run it on and the buffer for every rank's.
    /// The caller runs the local work inside
    /// [`Exchange::all_gather_fixed_during`] and then calls
    /// [`PartitionState::complete_overlapped`]. Collective.
    pub fn start_overlapped(&mut self) -> InFlight {
        self.take_recorded();
        self.fill_block();
        InFlight {
            exchange: self.exchange.clone(),
            block: std::mem::take(&mut self.block),
            blocks: std::mem::take(&mut self.blocks),
        }
    }

    /// Completes an exchange started by
    /// [`PartitionState::start_overlapped`], after
    /// `total` seconds in the collective of which `work` ran local work:
    /// every rank's lists and flags as [`PartitionState::exchange_window`]
    /// leaves them; the flags are kept for the next window's decision.
    pub fn complete_overlapped(&mut self, flight: InFlight, total: f64, work: f64) {
        let started = std::time::Instant::now();
        self.block = flight.block;
        self.blocks = flight.blocks;
        self.overlap.blocked_seconds += (total - work).max(0.0);
        self.overlap.in_flight_seconds += work;
        self.overlap.windows += 1;
        let rounds = self.second_rounds;
        self.read_blocks();
        // The window's collective and its second round, if any; the
        // collectives the local work made meanwhile are not the window's.
        self.window_collectives += 1 + (self.second_rounds - rounds);
        self.unpack_window();
        self.overlap.pending_flags |= self.window_flags;
        self.exchange_seconds += (total - work).max(0.0) + started.elapsed().as_secs_f64();
    }

    /// Whether the current window's exchange has been made.
    pub fn exchanged(&self) -> bool {
        self.exchanged
    }

    /// Empties this rank's message of the current window to its failure
    /// flag, as [`PartitionState::finish_window`] sends it.
    pub fn fail_window(&mut self) {
        self.send.clear();
        self.send.push(FLAG_FAILED);
        self.values_send.clear();
        self.keys_send.clear();
        self.steps = 0;
    }

    /// The flags to act on after a window that ended blocking: its own
    /// and those of any overlapped window before it.
    pub fn take_flags(&mut self) -> u32 {
        std::mem::take(&mut self.overlap.pending_flags) | self.window_flags
    }
}
