//! The native half of the `rheobase` Python package (`rheobase._rheobase`).
//!
//! It wraps the facade ([`rheobase::Model`], [`rheobase::Simulation`]) in
//! Python classes and turns every error into a Python exception carrying
//! the rendered message. The friendlier API users see (`sim["G"].v`,
//! monitor objects, `rheobase.load`) is written in Python on top of this,
//! in `python/rheobase/`.

use std::collections::HashMap;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rheobase::kernel::program::MonitorPlan;
use rheobase::{Error, Model, MonitorData, Options};

create_exception!(
    _rheobase,
    ModelError,
    PyException,
    "A model that does not parse or check, or an override that does not fit it; the message is the rendered diagnostic (FILE:LINE:COL: error: ...)."
);
create_exception!(
    _rheobase,
    SimulationError,
    PyRuntimeError,
    "A simulation that failed while running (a value became NaN, a synapse could not be made, ...)."
);

/// The Python exception for a facade error: model and override errors are
/// `ModelError`, unknown names `KeyError`, wrong lengths and arguments
/// `ValueError`, unreadable files `OSError`, failures during a run
/// `SimulationError`.
fn to_py(e: Error) -> PyErr {
    let rendered = e.to_string();
    // Rendered diagnostics keep their `FILE:LINE:COL: error:` form; the
    // other messages drop the `error: ` the command line prints, which a
    // Python exception's name already says.
    let message = match &e {
        Error::Model(_) | Error::Override(_) => rendered,
        _ => rendered
            .strip_prefix("error: ")
            .map_or(rendered.clone(), str::to_string),
    };
    match e {
        Error::Model(_) | Error::Override(_) => ModelError::new_err(message),
        Error::NotFound { .. } => PyKeyError::new_err(message),
        Error::Length { .. } | Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::Io { .. } => PyOSError::new_err(message),
        _ => SimulationError::new_err(message),
    }
}

/// A compiled model (see `rheobase.compile`).
#[pyclass(name = "NativeModel", module = "rheobase._rheobase", frozen)]
struct PyModel {
    model: Model,
}

#[pymethods]
impl PyModel {
    /// Starts a simulation: `seed=None` takes the file's `seed(N)` or the
    /// clock; `threads=0` uses one thread per core.
    #[pyo3(signature = (seed=None, threads=0))]
    fn simulation(&self, seed: Option<u64>, threads: usize) -> PyResult<PySimulation> {
        let sim = self
            .model
            .simulation(Options { seed, threads })
            .map_err(to_py)?;
        Ok(PySimulation { sim })
    }

    /// The same model compiled with more overrides.
    fn with_overrides(&self, overrides: Vec<(String, String)>) -> PyResult<PyModel> {
        let model = self.model.with_overrides(&overrides).map_err(to_py)?;
        Ok(PyModel { model })
    }

    /// What messages call the model: its path, or the name given with its text.
    #[getter]
    fn name(&self) -> String {
        self.model.name().to_string()
    }
    /// The text that was checked, the overrides substituted.
    #[getter]
    fn source(&self) -> String {
        self.model.source().to_string()
    }
    /// The time step, seconds.
    #[getter]
    fn dt(&self) -> f64 {
        self.model.dt()
    }
    /// The seed the file sets with `seed(N)`, or `None`.
    #[getter]
    fn seed(&self) -> Option<u64> {
        self.model.seed()
    }
    /// The neuron groups, in file order.
    #[getter]
    fn groups(&self) -> Vec<String> {
        self.model.groups().into_iter().map(String::from).collect()
    }
    /// The monitors, in file order.
    #[getter]
    fn monitors(&self) -> Vec<String> {
        self.model
            .monitors()
            .into_iter()
            .map(String::from)
            .collect()
    }
    /// The overrides the model was compiled with, as `(name, value)` pairs.
    #[getter]
    fn overrides(&self) -> Vec<(String, String)> {
        self.model.overrides().to_vec()
    }
    /// The model's warnings, each rendered as `NAME:LINE:COL: warning:
    /// ...` with the source line (code that runs but may not mean what its
    /// author expects, as Brian2 logs them).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.model.warnings()
    }
    /// Top-level constants: name -> (value in SI units, unit name).
    #[getter]
    fn constants(&self) -> HashMap<String, (f64, String)> {
        self.model
            .constants()
            .iter()
            .map(|(n, v, d)| (n.clone(), (*v, rheobase::ir::check::dim_name(*d))))
            .collect()
    }
}

/// A running simulation (see `rheobase.Simulation`). Not shared between
/// threads: the JIT-compiled state belongs to the thread that made it.
#[pyclass(name = "NativeSimulation", module = "rheobase._rheobase", unsendable)]
struct PySimulation {
    sim: rheobase::Simulation,
}

impl PySimulation {
    /// Runs `body` with a callback that checks for Ctrl-C between slices
    /// of steps; an interrupt stops the run at a whole step, keeps what
    /// was recorded, and is raised as `KeyboardInterrupt`.
    fn interruptible(
        &mut self,
        py: Python<'_>,
        body: impl FnOnce(&mut rheobase::Simulation, &mut dyn FnMut() -> bool) -> Result<(), Error>,
    ) -> PyResult<()> {
        let mut raised: Option<PyErr> = None;
        let mut keep_going = || match py.check_signals() {
            Ok(()) => true,
            Err(e) => {
                raised = Some(e);
                false
            }
        };
        let result = body(&mut self.sim, &mut keep_going);
        match (result, raised) {
            (Err(e), Some(signal)) if e.is_interrupted() => Err(signal),
            (Err(e), _) => Err(to_py(e)),
            (Ok(()), _) => Ok(()),
        }
    }
}

#[pymethods]
impl PySimulation {
    /// Simulates `duration` seconds (after the file's statements up to its
    /// next `run`), or with `None` runs the rest of the file as written.
    #[pyo3(signature = (duration=None))]
    fn run(&mut self, py: Python<'_>, duration: Option<f64>) -> PyResult<()> {
        match duration {
            Some(d) => self.interruptible(py, |sim, k| sim.run_with(d, k)),
            None => self.interruptible(py, |sim, k| sim.run_script_with(k)),
        }
    }

    /// Back to the initial state at time 0.
    fn reset(&mut self) -> PyResult<()> {
        self.sim.reset().map_err(to_py)
    }

    /// A copy of variable `var` of `owner` (SI units).
    fn get<'py>(
        &self,
        py: Python<'py>,
        owner: &str,
        var: &str,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let values = self.sim.get(owner, var).map_err(to_py)?;
        Ok(PyArray1::from_slice(py, &values))
    }

    /// Sets variable `var` of `owner` (SI units, one value per element).
    fn set(&mut self, owner: &str, var: &str, values: PyReadonlyArray1<'_, f64>) -> PyResult<()> {
        let values: Vec<f64> = values.as_array().iter().copied().collect();
        self.sim.set(owner, var, &values).map_err(to_py)
    }

    /// Sets every element of variable `var` of `owner` to `value`.
    fn fill(&mut self, owner: &str, var: &str, value: f64) -> PyResult<()> {
        self.sim.fill(owner, var, value).map_err(to_py)
    }

    /// The state variables of `owner`.
    fn variables(&self, owner: &str) -> PyResult<Vec<String>> {
        let names = self.sim.variables(owner).map_err(to_py)?;
        Ok(names.into_iter().map(String::from).collect())
    }

    /// Every monitor's recording as a dict of numpy arrays (see
    /// `rheobase._monitors`).
    fn monitors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let plans = &self.sim.model().program().monitors;
        self.sim
            .monitors()
            .iter()
            .enumerate()
            .map(|(k, m)| monitor_dict(py, m, plans.get(k)))
            .collect()
    }

    /// Forgets what the monitors recorded so far.
    fn clear_monitors(&mut self) {
        self.sim.clear_monitors();
    }

    /// Spikes per group since the start.
    fn spike_counts(&self) -> Vec<(String, u64)> {
        self.sim.spike_counts()
    }

    /// The current simulated time, seconds.
    #[getter]
    fn t(&self) -> f64 {
        self.sim.t()
    }
    /// The time step, seconds.
    #[getter]
    fn dt(&self) -> f64 {
        self.sim.dt()
    }
    /// The seed of the random numbers.
    #[getter]
    fn seed(&self) -> u64 {
        self.sim.seed()
    }
    /// Neuron groups and Synapses objects whose variables can be read and written.
    #[getter]
    fn groups(&self) -> Vec<String> {
        let p = self.sim.model().program();
        p.groups
            .iter()
            .map(|g| g.name.clone())
            .chain(p.synapses.iter().map(|s| s.name.clone()))
            .collect()
    }
}

/// One monitor's recording as a dict: `kind` ("spike", "state", "rate"),
/// `name`, and its arrays under Brian2's attribute names.
fn monitor_dict<'py>(
    py: Python<'py>,
    data: &MonitorData,
    plan: Option<&MonitorPlan>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", data.name())?;
    match data {
        MonitorData::Spike {
            i,
            t,
            variables,
            count,
            ..
        } => {
            d.set_item("kind", "spike")?;
            d.set_item("i", PyArray1::from_slice(py, i))?;
            d.set_item("t", PyArray1::from_slice(py, t))?;
            d.set_item("count", PyArray1::from_slice(py, count))?;
            let vars = PyDict::new(py);
            for (name, _, values) in variables {
                vars.set_item(name, PyArray1::from_slice(py, values))?;
            }
            d.set_item("variables", vars)?;
        }
        MonitorData::State {
            t,
            record,
            variables,
            ..
        } => {
            // Brian2 numbers `record` within the monitored slice.
            let offset = match plan {
                Some(MonitorPlan::State { source_start, .. }) => *source_start,
                _ => 0,
            };
            let record: Vec<i64> = record
                .iter()
                .map(|&r| r.saturating_sub(offset) as i64)
                .collect();
            d.set_item("kind", "state")?;
            d.set_item("t", PyArray1::from_slice(py, t))?;
            d.set_item("record", PyArray1::from_slice(py, &record))?;
            let vars = PyDict::new(py);
            for series in variables {
                // Time-major, `samples × width`; reshaped in Python.
                vars.set_item(&series.name, PyArray1::from_slice(py, &series.values))?;
            }
            d.set_item("variables", vars)?;
        }
        MonitorData::Rate { t, rate, .. } => {
            d.set_item("kind", "rate")?;
            d.set_item("t", PyArray1::from_slice(py, t))?;
            d.set_item("rate", PyArray1::from_slice(py, rate))?;
        }
    }
    Ok(d)
}

/// Compiles model text (`name` is what messages call it).
#[pyfunction]
#[pyo3(signature = (source, name, overrides))]
fn compile_source(source: &str, name: &str, overrides: Vec<(String, String)>) -> PyResult<PyModel> {
    let model = Model::compile(name, source, &overrides).map_err(to_py)?;
    Ok(PyModel { model })
}

/// Reads and compiles the model file at `path`.
#[pyfunction]
#[pyo3(signature = (path, overrides))]
fn compile_file(path: std::path::PathBuf, overrides: Vec<(String, String)>) -> PyResult<PyModel> {
    let model = Model::load_with(&path, &overrides).map_err(to_py)?;
    Ok(PyModel { model })
}

/// The value in seconds of a duration written in the model language
/// (`"500*ms"`), checked to be a time.
#[pyfunction]
fn seconds(text: &str) -> PyResult<f64> {
    let source = format!("duration_ = {text}\n");
    let model = Model::from_source("duration", &source).map_err(to_py)?;
    let (_, value, dim) = model
        .constants()
        .iter()
        .find(|c| c.0 == "duration_")
        .ok_or_else(|| PyValueError::new_err(format!("`{text}` is not a duration")))?;
    if *dim != rheobase::units::Dimension::SECOND {
        return Err(PyValueError::new_err(format!(
            "`{text}` is not a duration: its unit is {}, not second",
            rheobase::ir::check::dim_name(*dim)
        )));
    }
    Ok(*value)
}

#[pymodule]
fn _rheobase(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ModelError", m.py().get_type::<ModelError>())?;
    m.add("SimulationError", m.py().get_type::<SimulationError>())?;
    m.add_class::<PyModel>()?;
    m.add_class::<PySimulation>()?;
    m.add_function(wrap_pyfunction!(compile_source, m)?)?;
    m.add_function(wrap_pyfunction!(compile_file, m)?)?;
    m.add_function(wrap_pyfunction!(seconds, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
