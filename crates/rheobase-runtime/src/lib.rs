//! Executes a lowered [`Program`](rheobase_kernel::program::Program) with
//! Brian2's semantics.
//!
//! # Overview
//!
//! [`Simulation::new`] compiles every kernel of the program with
//! `rheobase-jit` (one `compile_all` call) and allocates the state: one
//! `f64` array per declared array, filled with its initial value. The
//! program's actions (initialisations and `run` segments) then run in file
//! order: [`Simulation::run_all`], or one at a time with
//! [`Simulation::run_next_action`].
//!
//! # One time step
//!
//! Step `n` runs at `t = n as f64 * dt` (computed from the step count, so
//! time does not drift) through Brian2's default schedule:
//!
//! 1. `start` — StateMonitors due this step (`n % every == 0`) run their
//!    `prepare` kernel, then record. This is before integration: the first
//!    sample is the state at the start of the run.
//! 2. `groups` — every `(summed)` variable (Brian2's order -1: the
//!    target's values over the target range are replaced by the sums over
//!    its synapses), then each group's state update over all neurons, then
//!    each Synapses object's clock-driven update over all synapses.
//! 3. `thresholds` — each group's spike condition, or a
//!    SpikeGeneratorGroup's spikes of this step; these are the group's
//!    spikes, ascending. Then SpikeMonitors record them (Brian2's order 1
//!    in this slot), with variables as they are after the threshold and
//!    before the reset.
//! 4. `after_thresholds` — custom event conditions.
//! 5. `synapses` — every `pre` pathway (order -1): the synapses of this
//!    step's source spikes are queued at their delay (in steps, rounded
//!    as Brian2 does at the start of each run), then `on_pre` runs over
//!    the synapses due now (zero-delay ones included); then every
//!    PoissonInput (order 0); then every `post` pathway (order +1):
//!    `on_post` over the synapses of this step's target spikes, by target
//!    then synapse index.
//! 6. `resets` — each group's reset over its spikes.
//! 7. `after_resets` — custom event effects.
//! 8. `end` — PopulationRateMonitors record.
//!
//! Within a slot, objects of one order run sorted by their Brian2 names, as
//! Brian2's network sorts them: state updaters (`S_stateupdater` before
//! `neurons_stateupdater`) and synaptic pathways (`Add_pre` before
//! `Double_pre`). Other objects run in program order.
//!
//! # Synapses
//!
//! Synapse `s` of a Synapses object connects neuron `pre[s]` to `post[s]`;
//! indices follow creation order. A `connect:` line
//! ([`rheobase_kernel::program::Action::Connect`]) appends synapses, grows
//! the object's per-synapse arrays (new elements at their initial value)
//! and rebuilds the by-source and by-target indexes. Random connectivity is
//! drawn from the counter-based generator keyed by the seed, the stream
//! `"<synapses>.connect<k>"` (k = index of the `connect:` line), the
//! source neuron and a draw counter, so it is the same for any thread
//! count. Spikes in flight stay queued between `run` segments.
//!
//! # Threads
//!
//! Results do not depend on the number of threads. Range kernels over large
//! groups are cut into fixed-size chunks (independent of the thread count)
//! run on a dedicated rayon pool; events each chunk emits are joined in
//! chunk order, and random numbers are keyed by element and step, not by
//! thread. Kernels that write anything but the element's own slot run in
//! one piece. All `unsafe` code is in the private `exec` module.

mod analysis;
mod divergence;
mod error;
mod exec;
mod monitor;
mod partition;
mod simulation;
mod synapses;

pub use error::RuntimeError;
pub use exec::{KernelCode, Values, ValuesMut};
pub use monitor::{MonitorData, StateSeries};
pub use partition::{owned_range, unsupported, Exchange, ThreadExchange, Unsupported};
pub use simulation::{RecordingSink, RunConfig, Simulation, SynapseStats, Timings};

/// Number of elements per parallel chunk of a Range kernel (fixed so that
/// results are the same for any thread count).
pub const CHUNK_SIZE: usize = exec::CHUNK;

/// Steps between two scans of the state for NaN and infinite values (and
/// one scan at the end of every run). Large per-synapse arrays are scanned
/// sixteen times less often (see the `divergence` module).
pub const DIVERGENCE_CHECK_STEPS: u64 = 256;
