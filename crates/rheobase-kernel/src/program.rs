//! A lowered program: every kernel of a model plus the plan that says when
//! each one runs. This is the boundary between the `ir` crate (which builds
//! it from a checked model) and the `runtime` crate (which executes it).
//!
//! Everything here is in SI base units and free of names the user did not
//! write: group and variable names are kept only for output and messages.

use crate::{ArrayId, Kernel};

/// Index of a kernel in [`Program::kernels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelId(pub u32);

/// The type a value has in the user's model. Storage is always `f64`; this
/// decides how values are written to output files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Float,
    Integer,
    Boolean,
}

/// One state array of the program. [`ArrayId`] indexes
/// [`Program::arrays`], and kernels address arrays by that id.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayDecl {
    /// `GROUP.VARIABLE`, for messages and output.
    pub name: String,
    /// The group that owns the array, as an index into [`Program::groups`].
    pub group: usize,
    /// Number of elements: the group size, or 1 for shared variables.
    pub len: usize,
    /// Value of every element before any initialisation runs.
    pub initial: f64,
    pub kind: ValueKind,
}

/// A whole model, lowered.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The simulation time step, seconds.
    pub dt: f64,
    pub arrays: Vec<ArrayDecl>,
    pub kernels: Vec<Kernel>,
    pub groups: Vec<GroupPlan>,
    pub monitors: Vec<MonitorPlan>,
    /// What the file does, in file order: initialisations, `G.v = ...`
    /// statements and `run` segments.
    pub actions: Vec<Action>,
}

/// A neuron group and the kernels that advance it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    pub name: String,
    pub size: usize,
    /// The user-visible state variables (parameters and differential
    /// equation variables, plus `lastspike`/`not_refractory`), in declaration
    /// order.
    pub variables: Vec<(String, ArrayId)>,
    /// The integration method, as reported in run.json (`None` when the
    /// group has no differential equations).
    pub method: Option<String>,
    /// Runs in the `groups` slot over `0..size`: refractoriness bookkeeping,
    /// then the integrator.
    pub state_update: Option<KernelId>,
    /// The `spike` event: the threshold (runs in `thresholds`, emits the
    /// spiking neurons and updates `lastspike`/`not_refractory`) and the
    /// reset (runs in `resets` over the emitted list).
    pub spike: Option<EventPlan>,
    /// Custom events: conditions in `after_thresholds`, effects in
    /// `after_resets`, in declaration order.
    pub events: Vec<EventPlan>,
}

/// An event of a group: its condition and what happens when it occurs.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPlan {
    pub name: String,
    /// A [`crate::Iteration::Range`] kernel that emits the indices for
    /// which the event occurs.
    pub condition: KernelId,
    /// A [`crate::Iteration::List`] kernel run over the emitted indices.
    pub effect: Option<KernelId>,
}

/// A monitor and what it records.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorPlan {
    /// Records `(i, t)` of every spike of neurons `start..stop` of `group`
    /// (indices relative to `start`), and the given variables at spike time.
    Spike {
        name: String,
        group: usize,
        start: usize,
        stop: usize,
        variables: Vec<RecordedVariable>,
    },
    /// Records variables of the neurons `record` (absolute indices in
    /// `group`) at the start of every `every`-th step.
    State {
        name: String,
        group: usize,
        variables: Vec<RecordedVariable>,
        record: Vec<usize>,
        every: u64,
        /// Computes recorded subexpressions into their arrays before a
        /// recording (a Range kernel over the group).
        prepare: Option<KernelId>,
    },
    /// Records the fraction of neurons `start..stop` of `group` that
    /// spiked in each step, divided by `dt`.
    Rate {
        name: String,
        group: usize,
        start: usize,
        stop: usize,
    },
}

/// A variable as recorded by a monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedVariable {
    /// The name the user wrote, used as the array name in the output.
    pub name: String,
    pub array: ArrayId,
    pub kind: ValueKind,
}

/// One step of the file's top-level statements.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Runs a Range kernel over all `0..size` neurons of `group`, once, at
    /// the current time (an `init:` block or a `G.v = ...` statement).
    Initialise { kernel: KernelId, group: usize },
    /// Advances the simulation by `steps` time steps.
    Run { steps: u64 },
}

impl MonitorPlan {
    pub fn name(&self) -> &str {
        match self {
            MonitorPlan::Spike { name, .. }
            | MonitorPlan::State { name, .. }
            | MonitorPlan::Rate { name, .. } => name,
        }
    }
}
