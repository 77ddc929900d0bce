//! [`Model`]: model text that parsed and checked, ready to simulate as
//! many times as wanted.

use std::path::Path;
use std::sync::Arc;

use rheobase_ir::{DataFiles, DataTable};
use rheobase_kernel::program::Program;

use crate::error::Error;
use crate::overrides::Override;
use crate::simulation::{Options, Simulation};
use crate::{compile_overridden, CompiledModel, Resources};

/// Largest model file read: a model is text a person writes, so anything
/// larger is almost certainly the wrong file.
const MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;

/// A checked and lowered model.
///
/// Compiling is done once; every [`Model::simulation`] then starts a fresh
/// simulation of it (its kernels compiled to machine code, its state at
/// the initial values). Cloning is cheap.
///
/// ```
/// let model = rheobase::Model::from_source(
///     "demo",
///     "tau = 10*ms\nNeuronGroup G(2):\n    model:\n        dv/dt = -v/tau : 1\n",
/// )?;
/// assert_eq!(model.groups(), ["G"]);
/// assert_eq!(model.constant("tau"), Some(0.01));
/// // The same model with another value of a constant:
/// let slower = model.with_overrides(&[("tau", "20*ms")])?;
/// assert_eq!(slower.constant("tau"), Some(0.02));
/// # Ok::<(), rheobase::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Model {
    /// Where the model's `file:` data is read, again for every recompile.
    files: Files,
    name: String,
    /// The text as given, before overrides.
    original: Arc<str>,
    /// The text that was checked: `original` with the overrides
    /// substituted.
    source: Arc<str>,
    overrides: Vec<Override>,
    compiled: Arc<CompiledModel>,
}

/// A model given as text has no folder to read `file:` data from, unless
/// the caller supplies a reader ([`Model::compile_with_files`]); a model
/// that needs one says so clearly.
struct NoDataFiles;

impl DataFiles for NoDataFiles {
    fn read(&self, _path: &str) -> Result<DataTable, String> {
        Err(
            "the model was given as text, so its `file:` data has no folder to be read from: \
             load the model from its file (`Model::load`) or give a reader \
             (`Model::compile_with_files` with `rheobase::data::ModelFiles`)"
                .into(),
        )
    }
}

/// The reader of a model's `file:` data, shared by its clones.
#[derive(Clone)]
struct Files(Arc<dyn DataFiles + Send + Sync>);

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataFiles")
    }
}

impl Model {
    /// Reads and compiles the model file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, Error> {
        Model::load_with(path, &[] as &[(&str, &str)])
    }

    /// Reads and compiles the model file at `path` with `overrides`
    /// (see [`Model::compile`]).
    pub fn load_with<N: AsRef<str>, V: AsRef<str>>(
        path: impl AsRef<Path>,
        overrides: &[(N, V)],
    ) -> Result<Model, Error> {
        let path = path.as_ref();
        let text = read_model(path)?;
        let files = Arc::new(crate::data::ModelFiles::for_model(path));
        Model::compile_with_files(&path.display().to_string(), &text, overrides, files)
    }

    /// Compiles model text; `name` is what messages call it (e.g.
    /// `"model.model"`, so that errors read `model.model:3:9: error: ...`).
    pub fn from_source(name: &str, source: &str) -> Result<Model, Error> {
        Model::compile(name, source, &[] as &[(&str, &str)])
    }

    /// Compiles model text with some top-level constants given other
    /// values: each `(NAME, VALUE)` replaces the right-hand side of
    /// `NAME = ...` with VALUE, in the language's syntax and units
    /// (`("we", "0.5*mV")`), and is checked like the file. A name that is
    /// no constant of the model, a constant assigned more than once, or a
    /// value in another unit is an [`Error::Override`]; a value the model
    /// does not check with is an [`Error::Model`] shown on the replaced
    /// line.
    pub fn compile<N: AsRef<str>, V: AsRef<str>>(
        name: &str,
        source: &str,
        overrides: &[(N, V)],
    ) -> Result<Model, Error> {
        Model::compile_with_files(name, source, overrides, Arc::new(NoDataFiles))
    }

    /// Like [`Model::compile`], reading the model's `file:` data (TimedArray
    /// values, spike lists) through `files`: a
    /// [`ModelFiles`](crate::data::ModelFiles) for `.npy` and CSV files in a
    /// folder, or any [`DataFiles`] that supplies tables by the path the
    /// model writes. The reader is kept for [`Model::with_overrides`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rheobase::ir::{DataFiles, DataTable};
    ///
    /// // Data from memory instead of a file: a TimedArray of 3 values.
    /// struct Steps;
    /// impl DataFiles for Steps {
    ///     fn read(&self, path: &str) -> Result<DataTable, String> {
    ///         match path {
    ///             "steps.npy" => Ok(DataTable { rows: 3, columns: 1, values: vec![0.0, 1.0, 0.5] }),
    ///             _ => Err("no such table".into()),
    ///         }
    ///     }
    /// }
    /// let source = "\
    /// TimedArray stim:
    ///     dt: 1*ms
    ///     file: steps.npy
    /// NeuronGroup G(1):
    ///     model:
    ///         x = stim(t) : 1
    /// ";
    /// let model = rheobase::Model::compile_with_files("demo", source, &[] as &[(&str, &str)], Arc::new(Steps))?;
    /// assert_eq!(model.groups(), ["G"]);
    /// # Ok::<(), rheobase::Error>(())
    /// ```
    pub fn compile_with_files<N: AsRef<str>, V: AsRef<str>>(
        name: &str,
        source: &str,
        overrides: &[(N, V)],
        files: Arc<dyn DataFiles + Send + Sync>,
    ) -> Result<Model, Error> {
        let overrides: Vec<Override> = overrides
            .iter()
            .map(|(n, v)| (n.as_ref().to_string(), v.as_ref().to_string()))
            .collect();
        let resources = Resources::in_memory(crate::memory_limit());
        let (compiled, text) =
            compile_overridden(name, source, &overrides, files.as_ref(), &resources)?;
        Ok(Model {
            files: Files(files),
            name: name.to_string(),
            original: source.into(),
            source: text.into(),
            overrides,
            compiled: Arc::new(compiled),
        })
    }

    /// The same model text compiled again with `overrides` added to (or
    /// replacing) the ones this model was compiled with.
    pub fn with_overrides<N: AsRef<str>, V: AsRef<str>>(
        &self,
        overrides: &[(N, V)],
    ) -> Result<Model, Error> {
        let mut all = self.overrides.clone();
        for (n, v) in overrides {
            let (n, v) = (n.as_ref(), v.as_ref());
            match all.iter_mut().find(|o| o.0 == n) {
                Some(o) => o.1 = v.to_string(),
                None => all.push((n.to_string(), v.to_string())),
            }
        }
        Model::compile_with_files(&self.name, &self.original, &all, self.files.0.clone())
    }

    /// Starts a simulation of this model (compiles its kernels to machine
    /// code and allocates its state).
    pub fn simulation(&self, options: Options) -> Result<Simulation, Error> {
        Simulation::new(self.clone(), options)
    }

    /// What messages call the model (its path, or the name given).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text that was checked: the model with its overrides substituted.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The overrides this model was compiled with, as given.
    pub fn overrides(&self) -> &[(String, String)] {
        &self.overrides
    }

    /// The seed the file sets with `seed(N)`, if any.
    pub fn seed(&self) -> Option<u64> {
        self.compiled.seed
    }

    /// The simulation time step, seconds.
    pub fn dt(&self) -> f64 {
        self.compiled.program.dt
    }

    /// The names of the neuron groups, in file order.
    pub fn groups(&self) -> Vec<&str> {
        let p = &self.compiled.program;
        p.groups.iter().map(|g| g.name.as_str()).collect()
    }

    /// The names of the monitors, in file order.
    pub fn monitors(&self) -> Vec<&str> {
        let p = &self.compiled.program;
        p.monitors.iter().map(|m| m.name()).collect()
    }

    /// The value (in SI units) of top-level constant `name`, if the model
    /// defines it once.
    pub fn constant(&self, name: &str) -> Option<f64> {
        self.compiled
            .constants
            .iter()
            .find(|c| c.0 == name)
            .map(|c| c.1)
    }

    /// Every top-level constant defined once: name, value in SI units and
    /// dimension, sorted by name.
    pub fn constants(&self) -> &[(String, f64, rheobase_units::Dimension)] {
        &self.compiled.constants
    }

    /// The lowered program (for tools that look inside; running it needs
    /// none of this).
    pub fn program(&self) -> &Program {
        &self.compiled.program
    }

    /// Everything compiling produced, including phase timings.
    pub fn compiled(&self) -> &CompiledModel {
        &self.compiled
    }

    /// The model's warnings (code that runs but may not mean what its
    /// author expects, as Brian2 logs them), each as the user sees it:
    /// `NAME:LINE:COL: warning: MESSAGE` with the underlined line.
    pub fn warnings(&self) -> Vec<String> {
        self.compiled
            .warnings
            .iter()
            .map(|w| w.render(&self.name, &self.source))
            .collect()
    }
}

/// Reads a model file, or explains in one sentence why it cannot.
fn read_model(path: &Path) -> Result<String, Error> {
    let io = |message: String| Error::Io {
        path: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(io("not a regular file".into()));
    }
    if meta.len() > MAX_MODEL_BYTES {
        return Err(io(format!(
            "the file is {} bytes; model files larger than {MAX_MODEL_BYTES} are refused",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| io(format!("cannot read the file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        io(format!(
            "the file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}
