//! [`Simulation`]: a running model, driven by group and variable names.

use std::borrow::Cow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use rheobase_kernel::program::Action;
use rheobase_kernel::ArrayId;
use rheobase_runtime::{MonitorData, RunConfig, RuntimeError};

use crate::error::Error;
use crate::model::Model;
use crate::overrides::similar;

/// How to start a [`Simulation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Seed of every random draw. `None`: the file's `seed(N)`, or else a
    /// seed taken from the clock (read it back with [`Simulation::seed`]
    /// to repeat the run).
    pub seed: Option<u64>,
    /// Worker threads; 0 = one per core, 1 = none. Results are the same
    /// for any number.
    pub threads: usize,
}

impl Options {
    /// Options with seed `seed` and one thread per core.
    pub fn seed(seed: u64) -> Options {
        Options {
            seed: Some(seed),
            threads: 0,
        }
    }
}

/// Wall-clock time between two calls of a run's `keep_going` callback;
/// short enough that Ctrl-C feels immediate, long enough to cost nothing.
const SLICE_SECONDS: f64 = 0.05;

/// A simulation of a [`Model`].
///
/// Values read and written through it are in SI base units: volt (not
/// millivolt), second, amp, siemens, hertz, ...; a dimensionless variable
/// is a plain number. That is Brian2's `G.v_` (or `G.v / volt`).
///
/// There are two ways to run it, which may be mixed:
/// - [`Simulation::run`]`(duration)` first runs the file's statements up to
///   its next `run` line (creating synapses, setting variables), then
///   simulates `duration` seconds; the file's own `run` lines are left for
///   [`Simulation::run_script`]. This is Brian2's `run(duration)`.
/// - [`Simulation::run_script`] runs the rest of the file as written,
///   `run` lines and the statements between them, like `rheo run`.
///
/// ```
/// use rheobase::{Model, Options};
///
/// let model = Model::from_source("demo", "\
/// NeuronGroup G(3):
///     model:
///         dv/dt = (2 - v)/(10*ms) : 1
///     threshold: v > 1
///     reset: v = 0
///     method: exact
/// SpikeMonitor spikes(G)
/// ")?;
/// let mut sim = model.simulation(Options::seed(1))?;
/// sim.set("G", "v", &[0.0, 0.5, 0.9])?;
/// sim.run(0.02)?;
/// let spikes = sim.spikes("spikes")?;
/// assert!(spikes.i.len() >= 3);
/// assert_eq!(sim.get("G", "v")?.len(), 3);
/// sim.reset()?; // back to the initial state, time 0
/// assert_eq!(sim.t(), 0.0);
/// # Ok::<(), rheobase::Error>(())
/// ```
pub struct Simulation {
    model: Model,
    options: Options,
    seed: u64,
    inner: rheobase_runtime::Simulation,
    /// Steps of a file `run` line still to simulate, left by an
    /// interrupted [`Simulation::run_script`].
    pending: u64,
    interrupt: Option<Arc<AtomicBool>>,
}

/// A SpikeMonitor's recording, borrowed from the simulation.
#[derive(Debug, Clone, Copy)]
pub struct Spikes<'a> {
    /// Neuron index of each spike (relative to the recorded range).
    pub i: &'a [i32],
    /// Time of each spike, seconds.
    pub t: &'a [f64],
    /// Spikes of each neuron of the recorded range.
    pub count: &'a [u64],
}

impl Simulation {
    pub(crate) fn new(model: Model, options: Options) -> Result<Simulation, Error> {
        let seed = options
            .seed
            .or(model.seed())
            .unwrap_or_else(crate::clock_seed);
        let inner = start(&model, seed, options.threads)?;
        Ok(Simulation {
            model,
            options,
            seed,
            inner,
            pending: 0,
            interrupt: None,
        })
    }

    /// The model being simulated.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The seed of the random draws.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Current simulated time, seconds.
    pub fn t(&self) -> f64 {
        self.inner.t()
    }

    /// The time step, seconds.
    pub fn dt(&self) -> f64 {
        self.model.dt()
    }

    /// Back to the state before any statement ran (time 0, initial
    /// values, no synapses, empty monitors), with the same seed. The
    /// kernels are compiled again.
    pub fn reset(&mut self) -> Result<(), Error> {
        let mut inner = start(&self.model, self.seed, self.options.threads)?;
        if let Some(flag) = &self.interrupt {
            inner.set_interrupt(flag.clone());
        }
        self.inner = inner;
        self.pending = 0;
        Ok(())
    }

    /// Installs a flag that, once set (e.g. from a Ctrl-C handler on
    /// another thread), stops a run after the current time step with an
    /// error for which [`Error::is_interrupted`] holds. Results so far are
    /// kept; lower the flag to continue.
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.inner.set_interrupt(flag.clone());
        self.interrupt = Some(flag);
    }

    /// Simulates `duration` seconds more, after running the file's
    /// statements up to its next `run` line (see the type's docs). The
    /// number of steps is rounded as Brian2 rounds a run's end time.
    pub fn run(&mut self, duration: f64) -> Result<(), Error> {
        self.run_with(duration, &mut || true)
    }

    /// Like [`Simulation::run`], calling `keep_going` every few hundredths
    /// of a second of wall time between steps; when it returns `false` the
    /// run stops with [`RuntimeError::Interrupted`] and what was recorded
    /// so far is kept. Results do not depend on how often it is called.
    pub fn run_with(
        &mut self,
        duration: f64,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<(), Error> {
        if !(duration.is_finite() && duration >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "a run's duration must be a positive number of seconds, not {duration}"
            )));
        }
        self.set_up()?;
        // Each call is a run, as each `run(...)` of a Brian2 script is.
        self.inner.begin_run();
        let start = self.inner.step();
        let end = rheobase_ir::end_step(self.inner.t() + duration, self.dt());
        self.advance(end.saturating_sub(start), keep_going)
    }

    /// Runs the rest of the file's statements as written: its `run` lines
    /// and whatever comes between them. After an interruption, calling it
    /// again finishes the interrupted `run` line first.
    pub fn run_script(&mut self) -> Result<(), Error> {
        self.run_script_with(&mut || true)
    }

    /// Like [`Simulation::run_script`], with a `keep_going` callback as in
    /// [`Simulation::run_with`].
    pub fn run_script_with(&mut self, keep_going: &mut dyn FnMut() -> bool) -> Result<(), Error> {
        loop {
            if self.pending > 0 {
                let steps = std::mem::take(&mut self.pending);
                let before = self.inner.step();
                let result = self.advance(steps, keep_going);
                if result.is_err() {
                    self.pending = steps - (self.inner.step() - before);
                }
                result?;
            }
            if let Some(steps) = self.inner.skip_run_action() {
                self.pending = steps;
                continue;
            }
            if self.inner.run_next_action()?.is_none() {
                return Ok(());
            }
        }
    }

    /// Runs the file's statements up to (not including) its next `run`.
    fn set_up(&mut self) -> Result<(), Error> {
        while self.pending == 0
            && self
                .inner
                .next_action()
                .is_some_and(|a| !matches!(a, Action::Run { .. }))
        {
            self.inner.run_next_action()?;
        }
        Ok(())
    }

    /// Simulates `steps` steps in slices of about [`SLICE_SECONDS`],
    /// asking `keep_going` between slices.
    fn advance(&mut self, steps: u64, keep_going: &mut dyn FnMut() -> bool) -> Result<(), Error> {
        let mut left = steps;
        let mut slice: u64 = 16;
        while left > 0 {
            if !keep_going() {
                return Err(RuntimeError::Interrupted { t: self.t() }.into());
            }
            let n = slice.min(left);
            let started = Instant::now();
            self.inner.advance(n)?;
            left -= n;
            // Grows or shrinks the slice towards SLICE_SECONDS of work.
            let took = started.elapsed().as_secs_f64();
            slice = if took < SLICE_SECONDS / 4.0 {
                slice.saturating_mul(2)
            } else if took > SLICE_SECONDS * 2.0 {
                (slice / 2).max(1)
            } else {
                slice
            };
        }
        Ok(())
    }

    /// The variables of group or Synapses object `owner`, with where each
    /// is stored.
    fn owner_variables(&self, owner: &str) -> Result<&[(String, ArrayId)], Error> {
        let p = self.model.program();
        let vars = p
            .groups
            .iter()
            .find(|g| g.name == owner)
            .map(|g| &g.variables)
            .or_else(|| {
                p.synapses
                    .iter()
                    .find(|s| s.name == owner)
                    .map(|s| &s.variables)
            });
        vars.map(Vec::as_slice).ok_or_else(|| {
            let names = p
                .groups
                .iter()
                .map(|g| g.name.as_str())
                .chain(p.synapses.iter().map(|s| s.name.as_str()));
            Error::NotFound {
                what: format!("group or Synapses object `{owner}`"),
                suggestions: similar(owner, names),
            }
        })
    }

    /// Where variable `var` of group or Synapses object `owner` is stored.
    fn find(&self, owner: &str, var: &str) -> Result<ArrayId, Error> {
        let vars = self.owner_variables(owner)?;
        match vars.iter().find(|(name, _)| name == var) {
            Some((_, id)) => Ok(*id),
            None => Err(Error::NotFound {
                what: format!("variable `{var}` in `{owner}`"),
                suggestions: similar(var, vars.iter().map(|(n, _)| n.as_str())),
            }),
        }
    }

    /// The names of the state variables of group or Synapses object
    /// `owner`, in declaration order.
    pub fn variables(&self, owner: &str) -> Result<Vec<&str>, Error> {
        let vars = self.owner_variables(owner)?;
        Ok(vars.iter().map(|(n, _)| n.as_str()).collect())
    }

    /// The values of variable `var` of group (or Synapses object) `owner`,
    /// one per neuron (or synapse), or one for a shared variable; in SI
    /// base units. Borrowed from the simulation where the variable is
    /// stored on its own; copied where it is interleaved with the other
    /// variables of plastic synapses (which keeps their updates to one
    /// cache line).
    pub fn get(&self, owner: &str, var: &str) -> Result<Cow<'_, [f64]>, Error> {
        let id = self.find(owner, var)?;
        Ok(self.inner.array(id))
    }

    /// Sets variable `var` of `owner` to `values` (SI base units), which
    /// must have exactly one value per element (see [`Simulation::get`]).
    /// The new values are used from the next step on.
    pub fn set(&mut self, owner: &str, var: &str, values: &[f64]) -> Result<(), Error> {
        let id = self.find(owner, var)?;
        let mut target = self.inner.array_mut(id);
        if target.len() != values.len() {
            return Err(Error::Length {
                variable: format!("{owner}.{var}"),
                expected: target.len(),
                got: values.len(),
            });
        }
        target.copy_from_slice(values);
        Ok(())
    }

    /// Sets every element of variable `var` of `owner` to `value` (SI base
    /// units).
    pub fn fill(&mut self, owner: &str, var: &str, value: f64) -> Result<(), Error> {
        let id = self.find(owner, var)?;
        self.inner.array_mut(id).fill(value);
        Ok(())
    }

    /// Every monitor's recording, in file order.
    pub fn monitors(&self) -> &[MonitorData] {
        self.inner.monitors()
    }

    /// The recording of monitor `name`.
    pub fn monitor(&self, name: &str) -> Result<&MonitorData, Error> {
        let all = self.inner.monitors();
        all.iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| Error::NotFound {
                what: format!("monitor `{name}`"),
                suggestions: similar(name, all.iter().map(|m| m.name())),
            })
    }

    /// The spikes recorded by SpikeMonitor `name`.
    pub fn spikes(&self, name: &str) -> Result<Spikes<'_>, Error> {
        match self.monitor(name)? {
            MonitorData::Spike { i, t, count, .. } => Ok(Spikes { i, t, count }),
            _ => Err(Error::InvalidArgument(format!(
                "`{name}` is not a SpikeMonitor"
            ))),
        }
    }

    /// Forgets everything the monitors recorded so far (spike counts
    /// too); recording goes on from the next step.
    pub fn clear_monitors(&mut self) {
        self.inner.clear_monitors();
    }

    /// Spikes of each neuron group since the start, in file order.
    pub fn spike_counts(&self) -> Vec<(String, u64)> {
        self.inner.spike_counts()
    }

    /// The runtime simulation underneath, for what the facade does not
    /// offer (timings, synapse statistics, recording sinks).
    pub fn runtime(&self) -> &rheobase_runtime::Simulation {
        &self.inner
    }

    /// The runtime simulation underneath, mutably.
    pub fn runtime_mut(&mut self) -> &mut rheobase_runtime::Simulation {
        &mut self.inner
    }
}

fn start(model: &Model, seed: u64, threads: usize) -> Result<rheobase_runtime::Simulation, Error> {
    let mut sim =
        rheobase_runtime::Simulation::new(model.program().clone(), RunConfig { seed, threads })?;
    sim.set_memory_limit(crate::memory_limit());
    Ok(sim)
}
