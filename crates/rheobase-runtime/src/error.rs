//! Errors of building and running a simulation.

use std::fmt;

use rheobase_jit::JitError;

/// Why a simulation could not be built or did not finish.
#[derive(Debug)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Translating the model's code to machine code failed.
    Jit(JitError),
    /// The worker threads could not be started.
    ThreadPool { threads: usize, message: String },
    /// The lowered program contradicts itself (an index out of range, a
    /// kernel used where another kind is expected...). This is a bug in
    /// rheobase, not in the user's model.
    InvalidProgram(String),
    /// The run was stopped through the interrupt flag (e.g. Ctrl+C) after
    /// the step ending at simulated time `t`. Calling
    /// [`crate::Simulation::run_next_action`] again resumes where it stopped.
    Interrupted { t: f64 },
    /// A `connect:` line of Synapses object `synapses` cannot be made (an
    /// index outside the target range, a sample larger than its range...).
    Connect { synapses: String, message: String },
    /// The delays of Synapses object `synapses` cannot be used.
    Delay { synapses: String, message: String },
    /// An array of `values` values was assigned to `variable` of Synapses
    /// object `synapses`, which made `made` synapses (Brian2 refuses an
    /// array of another length).
    ArrayLength {
        synapses: String,
        variable: String,
        values: usize,
        made: u64,
    },
    /// Monitor `monitor` cannot record what it was asked to (e.g. synapse
    /// indices beyond the number of synapses).
    Record { monitor: String, message: String },
    /// A [`crate::RecordingSink`] could not take the samples of monitor
    /// `monitor` (e.g. the disk is full).
    Output { monitor: String, message: String },
    /// A state variable became NaN or infinite. Checked every
    /// [`crate::DIVERGENCE_CHECK_STEPS`] steps and at the end of each run,
    /// so `t` is at most that many steps after the first bad value.
    Diverged {
        group: String,
        variable: String,
        index: usize,
        value: f64,
        t: f64,
        /// `group` is a Synapses object and `index` a synapse.
        synapse: bool,
        /// Found before the first step of a run: the value was given by
        /// initialisation, an assignment or data, not by integration.
        before_steps: bool,
    },
    /// On one rank of several: another rank failed (its own error says
    /// why), so this one stopped too, after the step ending at `t`.
    OtherRank { t: f64 },
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Jit(e) => write!(f, "could not compile the model to machine code: {e}"),
            RuntimeError::ThreadPool { threads, message } => {
                write!(f, "could not start {threads} worker threads: {message}")
            }
            RuntimeError::InvalidProgram(message) => write!(
                f,
                "internal error: the compiled model is inconsistent ({message}); \
                 this is a bug in rheobase, please report it"
            ),
            RuntimeError::Diverged {
                group,
                variable,
                index,
                value,
                t,
                synapse,
                before_steps,
            } => {
                let (kind, element) = if *synapse {
                    ("synapses", "synapse")
                } else {
                    ("group", "neuron")
                };
                if *before_steps {
                    // Nothing was integrated yet, so a smaller dt cannot
                    // help: the value came from the model's statements.
                    write!(
                        f,
                        "`{variable}` of {kind} `{group}` is {value} at {element} {index} before \
                         the run at t = {} ms could take a step: the value it was given \
                         (initialisation, an assignment or data) is not a finite number",
                        t * 1e3
                    )
                } else {
                    write!(
                        f,
                        "the simulation diverged: `{variable}` of {kind} `{group}` became {value} \
                         at {element} {index} (found at t = {} ms); try a smaller \
                         `defaultclock.dt` or another `method:`",
                        t * 1e3
                    )?;
                    if value.is_nan() {
                        // NaN also comes from operations without a value,
                        // which no time step cures.
                        write!(
                            f,
                            ", or look for an operation without a value (0/0, the square root \
                             or logarithm of a negative number, a 2-D TimedArray read outside \
                             its columns)"
                        )?;
                    }
                    Ok(())
                }
            }
            RuntimeError::Connect { synapses, message } => {
                write!(f, "cannot connect synapses `{synapses}`: {message}")
            }
            RuntimeError::Delay { synapses, message } => {
                write!(f, "invalid delays of synapses `{synapses}`: {message}")
            }
            RuntimeError::Record { monitor, message } => {
                write!(f, "monitor `{monitor}` cannot record: {message}")
            }
            RuntimeError::ArrayLength {
                synapses,
                variable,
                values,
                made,
            } => write!(
                f,
                "`{synapses}.{variable}` is set from an array of {values} values, but `{synapses}` \
                 made {made} synapses"
            ),
            RuntimeError::Output { monitor, message } => {
                write!(
                    f,
                    "cannot save the recordings of monitor `{monitor}`: {message}"
                )
            }
            RuntimeError::Interrupted { t } => {
                write!(f, "simulation interrupted at t = {} ms", t * 1e3)
            }
            RuntimeError::OtherRank { t } => write!(
                f,
                "stopped at t = {} ms because another MPI rank failed (its error is printed above)",
                t * 1e3
            ),
        }
    }
}

impl std::error::Error for RuntimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RuntimeError::Jit(e) => Some(e),
            _ => None,
        }
    }
}

impl From<JitError> for RuntimeError {
    fn from(e: JitError) -> Self {
        RuntimeError::Jit(e)
    }
}
