//! rheobase: compile and run spiking neural network models written in
//! Brian2's equation language.
//!
//! Compile a model once with [`Model`], start a [`Simulation`] of it, run,
//! read and write state variables by group and name, and read what the
//! monitors recorded:
//!
//! ```
//! use rheobase::{Model, MonitorData, Options};
//!
//! let source = "\
//! tau = 10*ms
//! NeuronGroup G(3):
//!     model:
//!         dv/dt = (1.5 - v)/tau : 1
//!     threshold: v > 1
//!     reset: v = 0
//!     method: exact
//! SpikeMonitor spikes(G)
//! StateMonitor trace(G):
//!     variables: v
//!     record: 0
//! ";
//! let model = Model::from_source("demo.model", source)?;
//! let mut sim = model.simulation(Options::seed(1))?;
//! sim.set("G", "v", &[0.0, 0.3, 0.6])?; // dimensionless here; SI units in general
//! sim.run(0.05)?;                        // seconds
//! let spikes = sim.spikes("spikes")?;
//! assert!(!spikes.t.is_empty());
//! if let MonitorData::State { t, variables, .. } = sim.monitor("trace")? {
//!     assert_eq!(t.len(), variables[0].samples());
//! }
//!
//! // A parameter sweep: the same text with another value of `tau`.
//! for tau in ["5*ms", "20*ms"] {
//!     let mut sim = model.with_overrides(&[("tau", tau)])?.simulation(Options::seed(1))?;
//!     sim.run(0.05)?;
//!     println!("tau = {tau}: {} spikes", sim.spikes("spikes")?.t.len());
//! }
//!
//! // Errors render themselves with FILE:LINE:COL and the source line.
//! let err = Model::from_source("bad.model", "x = 1*mV + 1*ms\n").unwrap_err();
//! assert!(err.to_string().starts_with("bad.model:1:5: error:"));
//! # Ok::<(), rheobase::Error>(())
//! ```
//!
//! The phases are visible as types: source text → [`syntax::ast::Model`]
//! → [`Program`] (checked, units erased, integrators applied) → a runtime
//! simulation (kernels compiled, state allocated), which [`Simulation`]
//! drives by name. The lower layers are re-exported for tools that need
//! them ([`compile_for`], [`runtime::Simulation`]).
//!
//! Examples: `cargo run -p rheobase --example run_file -- MODEL`,
//! `--example state`, `--example sweep`.

pub mod data;
mod error;
mod model;
mod overrides;
mod simulation;

pub use error::{Error, ModelError, OverrideError};
pub use model::Model;
pub use overrides::Override;
pub use simulation::{Options, Simulation, Spikes};

pub use rheobase_ir as ir;
pub use rheobase_ir::{Recordings, Resources};
pub use rheobase_kernel as kernel;
pub use rheobase_kernel::program::{Program, ValueKind};
pub use rheobase_runtime as runtime;
pub use rheobase_runtime::{
    MonitorData, RecordingSink, RunConfig, RuntimeError, StateSeries, Timings,
};
pub use rheobase_syntax as syntax;
pub use rheobase_syntax::{Diagnostic, DiagnosticKind, Span};
pub use rheobase_units as units;

mod memory;

use std::time::Instant;

/// A model that parsed and checked, ready to simulate.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    /// The lowered program.
    pub program: Program,
    /// The seed the file sets with `seed(N)`, if any.
    pub seed: Option<u64>,
    /// Wall-clock seconds spent parsing.
    pub parse_seconds: f64,
    /// Wall-clock seconds spent checking and lowering.
    pub lower_seconds: f64,
    /// What a run is expected to need (state, known synapses, recordings).
    pub estimate: Option<rheobase_ir::Estimate>,
    /// Every top-level constant assigned once: name, value (SI) and
    /// dimension, sorted by name.
    pub constants: Vec<(String, f64, rheobase_units::Dimension)>,
    /// What runs but may not mean what its author expects, each pointing
    /// into the checked source (render them with
    /// [`rheobase_syntax::render::render`]); Brian2 logs such warnings too.
    pub warnings: Vec<Diagnostic>,
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
        constants: lowered.constants,
        warnings: lowered.warnings,
    })
}

/// Like [`compile_for`], with some top-level constants given other values
/// (see [`Model::compile`]); also returns the text that was checked (the
/// source with the values substituted). `file_name` is what errors call
/// the model. This is what `rheo run --set` uses.
pub fn compile_overridden(
    file_name: &str,
    source: &str,
    overrides: &[Override],
    files: &dyn rheobase_ir::DataFiles,
    resources: &Resources,
) -> Result<(CompiledModel, String), Error> {
    let model_error = |text: &str, diagnostics: Vec<Diagnostic>| {
        Error::Model(ModelError {
            file_name: file_name.to_string(),
            source: text.into(),
            diagnostics,
        })
    };
    if overrides.is_empty() {
        return compile_for(source, files, resources)
            .map(|m| (m, source.to_string()))
            .map_err(|d| model_error(source, d));
    }
    let ast = rheobase_syntax::parse(source).map_err(|d| model_error(source, d))?;
    let placed = overrides::place(source, &ast, overrides)?;
    let original = overrides::original_constants(file_name, source, &ast, files)?;
    match compile_for(&placed.text, files, resources) {
        Ok(model) => {
            overrides::check_units(overrides, &original, &model.constants)?;
            Ok((model, placed.text))
        }
        Err(diagnostics) => {
            // The file checked as written, so the values given are the
            // cause; say so first (unless it is only too large to run).
            let blame = diagnostics
                .iter()
                .any(|d| d.kind != DiagnosticKind::Resources)
                .then(|| overrides::blame(overrides, &placed))
                .flatten();
            Err(model_error(
                &placed.text,
                blame.into_iter().chain(diagnostics).collect(),
            ))
        }
    }
}

/// A seed from the clock, for a run whose seed neither the caller nor the
/// file sets (reported so that the run can be repeated).
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 & 0xFFFF_FFFF)
        .unwrap_or(0)
}
