//! rheobase: compile and run spiking neural network models written in
//! Brian2's equation language.
//!
//! This is the library facade. [`compile`] turns model text into a checked,
//! lowered [`Program`]; [`Simulation`] JIT-compiles its kernels and runs it.
//!
//! ```
//! use rheobase::{compile, RunConfig, Simulation};
//!
//! let source = "\
//! NeuronGroup G(3):
//!     model:
//!         dv/dt = (1.5 - v)/(10*ms) : 1
//!     threshold: v > 1
//!     reset: v = 0
//!     method: exact
//! SpikeMonitor spikes(G)
//! run 50*ms
//! ";
//! let model = compile(source).expect("a valid model");
//! let mut sim = Simulation::new(model.program, RunConfig { seed: 1, threads: 1 }).expect("compiles");
//! sim.run_all().expect("runs");
//! assert!(sim.spike_counts()[0].1 > 0);
//! ```
//!
//! The phases are visible as types: source text → [`syntax::ast::Model`]
//! → [`Program`] (checked, units erased, integrators applied) →
//! [`Simulation`] (kernels compiled, state allocated).

pub use rheobase_ir as ir;
pub use rheobase_ir::{Recordings, Resources};
pub use rheobase_kernel as kernel;
pub use rheobase_kernel::program::{Program, ValueKind};
pub use rheobase_runtime::{
    MonitorData, RecordingSink, RunConfig, RuntimeError, Simulation, StateSeries, Timings,
};
pub use rheobase_syntax as syntax;
pub use rheobase_syntax::{Diagnostic, Span};
pub use rheobase_units as units;

mod memory;

use std::time::Instant;

/// A model that parsed and checked, ready to simulate.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub program: Program,
    /// The seed the file sets with `seed(N)`, if any.
    pub seed: Option<u64>,
    /// Wall-clock seconds spent parsing.
    pub parse_seconds: f64,
    /// Wall-clock seconds spent checking and lowering.
    pub lower_seconds: f64,
    /// What a run is expected to need (state, known synapses, recordings).
    pub estimate: Option<rheobase_ir::Estimate>,
}

/// Parses and checks a model, refusing one whose run would not fit in this
/// machine's memory (see [`memory_limit`]). On failure, every problem found
/// is returned, each pointing into `source`.
pub fn compile(source: &str) -> Result<CompiledModel, Vec<Diagnostic>> {
    compile_with_files(source, &rheobase_ir::NoFiles)
}

/// Like [`compile`], reading the data files that `file:` keys name through
/// `files` (the caller decides where paths are relative to).
pub fn compile_with_files(
    source: &str,
    files: &dyn rheobase_ir::DataFiles,
) -> Result<CompiledModel, Vec<Diagnostic>> {
    compile_for(source, files, &Resources::in_memory(memory_limit()))
}

/// The memory a simulation may use: 75% of the smallest of the machine's
/// physical memory, its control group's limit (`memory.max`) and the
/// address-space and data rlimits (less what the process already holds),
/// or 8 GiB where none can be read (see `memory.rs`). Reading it is the
/// one system query below the command line.
pub fn memory_limit() -> u64 {
    memory::memory_limit()
}

/// Like [`compile_with_files`], refusing a model whose run would not fit
/// in `resources` (memory, and disk for recordings streamed to it).
pub fn compile_for(
    source: &str,
    files: &dyn rheobase_ir::DataFiles,
    resources: &Resources,
) -> Result<CompiledModel, Vec<Diagnostic>> {
    let start = Instant::now();
    let ast = rheobase_syntax::parse(source)?;
    let parse_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let lowered = rheobase_ir::lower_for(&ast, source, files, resources)?;
    let estimate = rheobase_ir::estimate(&ast, &lowered.program);
    Ok(CompiledModel {
        program: lowered.program,
        seed: lowered.seed,
        parse_seconds,
        lower_seconds: start.elapsed().as_secs_f64(),
        estimate,
    })
}
