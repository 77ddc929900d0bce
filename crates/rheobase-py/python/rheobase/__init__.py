"""rheobase: compile and run spiking neural network models written in
Brian2's equation language, from Python.

>>> import rheobase
>>> m = rheobase.compile("spec-examples/lif.model", El="-65*mV")   # doctest: +SKIP
>>> sim = m.simulation(seed=1)                                      # doctest: +SKIP
>>> sim.run("100*ms")                                               # doctest: +SKIP
>>> sim.monitors["spikes"].t                                        # doctest: +SKIP

Every value read or written is in SI base units (volt, second, amp,
siemens, hertz): ``sim["G"].v`` is Brian2's ``G.v_``.
"""

from __future__ import annotations

import json
import os
import warnings as _warnings
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _rheobase
from ._monitors import Monitor, PopulationRateMonitor, SpikeMonitor, StateMonitor, from_native, from_npz

ModelError = _rheobase.ModelError
SimulationError = _rheobase.SimulationError
__version__ = _rheobase.__version__

__all__ = [
    "compile",
    "load",
    "Model",
    "Simulation",
    "Group",
    "Results",
    "ModelError",
    "ModelWarning",
    "SimulationError",
    "SpikeMonitor",
    "StateMonitor",
    "PopulationRateMonitor",
]

Duration = Union[float, int, str]


class ModelWarning(UserWarning):
    """A model that compiles but may not mean what its author expects,
    as Brian2 logs a warning (for instance synaptic code whose result
    depends on the order of the synapses). The message is the rendered
    diagnostic, ``FILE:LINE:COL: warning: ...`` with the source line."""


def _warned(native) -> "Model":
    """The Model of ``native``, each of its warnings issued as a
    ``ModelWarning`` attributed to the caller of ``compile``."""
    for text in native.warnings:
        _warnings.warn(text, ModelWarning, stacklevel=3)
    return Model(native)


def _override_text(name: str, value) -> str:
    """An override's value in the model language: strings as written
    (``"0.5*mV"``), numbers as plain (dimensionless) numbers."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(
            f"the override {name}= must be a string such as '0.5*mV' or a number, not {type(value).__name__}"
        )
    return value if isinstance(value, str) else repr(value)


def _looks_like_path(text: str) -> bool:
    """A model's text has a newline or a space (``run 10*ms``); a path to a
    file ends in ``.model`` or names an existing file, or else is one word
    with a slash or a dot in it (``models/lif.modl``, a mistyped path, is
    reported as a missing file rather than parsed as model text)."""
    if "\n" in text:
        return False
    if text.endswith(".model") or os.path.isfile(text):
        return True
    word = text.strip()
    return bool(word) and not any(c.isspace() for c in word) and "=" not in word and ("/" in word or "." in word)


def compile(model: Union[str, os.PathLike], **overrides) -> "Model":
    """Compiles a model, given as a path to a ``.model`` file or as its
    text.

    Keyword arguments override top-level constants of the model, with
    values in the language's syntax and units: ``compile(path,
    we="0.5*mV")``; a number is a dimensionless value. An unknown name, a
    value in the wrong unit or a model with errors raises ``ModelError``
    whose message is the rendered diagnostic (``FILE:LINE:COL: error:
    ...`` and the source line).
    """
    pairs = [(name, _override_text(name, value)) for name, value in overrides.items()]
    if isinstance(model, os.PathLike) or (isinstance(model, str) and _looks_like_path(model)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such model file (compile() takes a path to a .model file or a model's text)")
        return _warned(_rheobase.compile_file(path, pairs))
    if not isinstance(model, str):
        raise TypeError(f"compile() takes a path or the model's text, not {type(model).__name__}")
    return _warned(_rheobase.compile_source(model, "<model>", pairs))


class Model:
    """A compiled model. Start simulations of it with
    :meth:`simulation`; compiling is done once."""

    def __init__(self, native):
        self._native = native

    def simulation(self, seed: Optional[int] = None, threads: int = 0) -> "Simulation":
        """A new simulation at time 0. ``seed=None`` uses the file's
        ``seed(N)``, or else one from the clock (read it back as
        ``sim.seed``); ``threads=0`` uses every core. Results do not depend
        on ``threads``."""
        return Simulation(self._native.simulation(seed, threads), self)

    def with_overrides(self, **overrides) -> "Model":
        """The same model compiled again with these overrides added
        (see :func:`compile`)."""
        pairs = [(name, _override_text(name, value)) for name, value in overrides.items()]
        return _warned(self._native.with_overrides(pairs))

    @property
    def name(self) -> str:
        """What messages call the model (its path, or ``<model>``)."""
        return self._native.name

    @property
    def source(self) -> str:
        """The text that was checked (overrides substituted)."""
        return self._native.source

    @property
    def dt(self) -> float:
        """The time step, seconds."""
        return self._native.dt

    @property
    def groups(self) -> List[str]:
        """The neuron groups, in file order."""
        return self._native.groups

    @property
    def monitor_names(self) -> List[str]:
        """The monitors, in file order."""
        return self._native.monitors

    @property
    def constants(self) -> Dict[str, Tuple[float, str]]:
        """Top-level constants: name -> (value in SI units, unit)."""
        return self._native.constants

    @property
    def overrides(self) -> List[Tuple[str, str]]:
        """The overrides this model was compiled with."""
        return self._native.overrides

    @property
    def warnings(self) -> List[str]:
        """The model's warnings as rendered text (each also issued as a
        ``ModelWarning`` when the model was compiled)."""
        return self._native.warnings

    def __repr__(self) -> str:
        return f"<rheobase.Model {self.name}: groups {', '.join(self.groups)}>"


def _seconds(duration: Duration) -> float:
    if isinstance(duration, str):
        return _rheobase.seconds(duration)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TypeError(f"a duration is seconds (a number) or a string such as '500*ms', not {duration!r}")
    return float(duration)


class Simulation:
    """A running simulation of a :class:`Model`.

    ``sim.run(0.5)`` or ``sim.run("500*ms")`` simulates that long (after
    the file's statements up to its first ``run`` line: synapses, initial
    values); ``sim.run()`` runs the rest of the file as written, its
    ``run`` lines included. Ctrl-C stops a run at a whole time step and
    keeps what was recorded (``KeyboardInterrupt`` is raised).

    ``sim["G"].v`` reads and ``sim["G"].v = values`` writes a state
    variable of group (or Synapses object) ``G`` as a numpy array in SI
    units; ``sim.monitors["name"]`` is a monitor's recording so far.
    """

    def __init__(self, native, model: Model):
        self._native = native
        self.model = model

    def run(self, duration: Optional[Duration] = None) -> None:
        """Simulates ``duration`` (seconds, or a string such as
        ``"500*ms"``), or without one runs the rest of the model file."""
        self._native.run(None if duration is None else _seconds(duration))

    def reset(self) -> None:
        """Back to time 0 and the initial state, with the same seed."""
        self._native.reset()

    def __getitem__(self, name: str) -> "Group":
        if name not in self._native.groups:
            # Raises the KeyError with "did you mean" from the native side.
            self._native.variables(name)
        return Group(self, name)

    @property
    def monitors(self) -> Dict[str, Monitor]:
        """Every monitor's recording so far, by name (a new copy each
        time)."""
        return {d["name"]: from_native(d) for d in self._native.monitors()}

    def clear_monitors(self) -> None:
        """Forgets what the monitors recorded so far."""
        self._native.clear_monitors()

    @property
    def spike_counts(self) -> Dict[str, int]:
        """Spikes of each neuron group since the start."""
        return dict(self._native.spike_counts())

    @property
    def t(self) -> float:
        """Current simulated time, seconds."""
        return self._native.t

    @property
    def dt(self) -> float:
        """The time step, seconds."""
        return self._native.dt

    @property
    def seed(self) -> int:
        """The seed of the random draws."""
        return self._native.seed

    def __repr__(self) -> str:
        return f"<rheobase.Simulation of {self.model.name} at t = {self.t:g} s>"


class Group:
    """The state variables of one group (or Synapses object) of a
    simulation, as attributes: ``g.v`` is a copy of ``v`` as a numpy array
    in SI units, ``g.v = values`` writes it (an array with one value per
    element, or one number for all)."""

    # Declared so that type checkers do not take them for state variables
    # (which `__getattr__` returns); set with `object.__setattr__`, since
    # this class's `__setattr__` writes state variables.
    _sim: "Simulation"
    _name: str

    def __init__(self, sim: Simulation, name: str):
        object.__setattr__(self, "_sim", sim)
        object.__setattr__(self, "_name", name)

    @property
    def variables(self) -> List[str]:
        """The names of the state variables."""
        return self._sim._native.variables(self._name)

    def __getattr__(self, var: str) -> np.ndarray:
        if var.startswith("__"):
            raise AttributeError(var)
        try:
            return self._sim._native.get(self._name, var)
        except KeyError as e:
            raise AttributeError(str(e.args[0]) if e.args else var) from None

    def __setattr__(self, var: str, value) -> None:
        native = self._sim._native
        try:
            if np.ndim(value) == 0:
                native.fill(self._name, var, float(value))
            else:
                native.set(self._name, var, np.ascontiguousarray(value, dtype=np.float64).ravel())
        except KeyError as e:
            # An unknown variable is an AttributeError, as when reading it.
            raise AttributeError(str(e.args[0]) if e.args else var) from None

    def __dir__(self) -> List[str]:
        return self.variables

    def __repr__(self) -> str:
        return f"<rheobase.Group {self._name}: {', '.join(self.variables)}>"


class Results:
    """A ``rheo run`` output folder, read by :func:`load`.

    Attributes:
        monitors: by monitor name, the same monitor objects a simulation
            gives.
        run: the run's ``run.json`` (status, seed, timings, ...), or an
            empty dict if there is none.
    """

    def __init__(self, path: Path, run: dict, monitors: Dict[str, Monitor]):
        self.path = path
        self.run = run
        self.monitors = monitors

    def __getitem__(self, name: str) -> Monitor:
        return self.monitors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.monitors)

    def __repr__(self) -> str:
        return f"<rheobase.Results {self.path}: {', '.join(self.monitors)}>"


def load(path: Union[str, os.PathLike]) -> Results:
    """Reads a ``rheo run --out`` folder: every monitor's ``.npz`` archive
    into the same objects as ``Simulation.monitors``, and ``run.json``."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of rheo results")
    run_file = folder / "run.json"
    run: dict = json.loads(run_file.read_text()) if run_file.is_file() else {}
    listed = [(f["monitor"], f["name"]) for f in run.get("files", []) if "monitor" in f and "name" in f]
    if not listed:
        listed = [(p.stem, p.name) for p in sorted(folder.glob("*.npz"))]
    monitors: Dict[str, Monitor] = {}
    for name, file_name in listed:
        with np.load(folder / file_name) as archive:
            monitors[name] = from_npz(name, {k: archive[k] for k in archive.files})
    return Results(folder, run, monitors)
