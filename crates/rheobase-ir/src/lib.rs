//! Semantic analysis and lowering: from a parsed `.model` file to a
//! [`rheobase_kernel::program::Program`].
//!
//! This crate resolves names, checks every dimension once (then units are
//! erased: kernels compute in SI `f64`), rewrites Brian2's flags
//! (`unless refractory` becomes a factor `not_refractory`), applies the
//! integration methods and emits kernels. Principal entry point: [`lower`].
//!
//! ```
//! let source = "NeuronGroup G(2):\n    model:\n        dv/dt = -v/(10*ms) : volt\n";
//! let model = rheobase_syntax::parse(source).expect("parses");
//! let lowered = rheobase_ir::lower(&model, source).expect("checks");
//! assert_eq!(lowered.program.groups[0].method.as_deref(), Some("exact"));
//! ```
//!
//! Invariants: the IR knows nothing of Cranelift or threads; every
//! diagnostic points into the source; expressions have no side effects.

mod bounds;
pub mod check;
pub mod expr;
pub mod integrators;
mod lower;
mod resources;

pub use integrators::Method;
pub use lower::{
    end_step, lower, lower_for, lower_with_files, DataFiles, DataTable, Lowered, NoFiles,
    DEFAULT_DT, MAX_GROUP_SIZE,
};
pub use resources::{
    estimate, human_bytes, human_bytes_pair, resource_check, Estimate, Recordings, Resources,
};
