"""Monitor recordings as numpy arrays, with Brian2's attribute names.

The same classes hold what a running simulation recorded
(``sim.monitors["spikes"]``) and what ``rheobase.load`` reads from a
``rheo run`` output folder. Every value is in SI base units: seconds,
volts, hertz, ...
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

from . import _rheobase


class SpikeMonitor:
    """A SpikeMonitor's recording.

    Attributes:
        name: the monitor's name in the model.
        i: neuron index of each spike (within the recorded range), int32.
        t: time of each spike, seconds.
        count: spikes of each recorded neuron since the start.
        variables: values recorded at each spike, by variable name (also
            readable as attributes, ``mon.v``).
        metadata: for a monitor read by ``rheobase.load``, its archive's
            description (group, recorded slice, the unit of every array:
            ``mon.metadata["units"]["t"] == "second"``); ``{}`` otherwise.
    """

    kind = "spike"

    def __init__(
        self,
        name: str,
        i,
        t,
        count,
        variables: Optional[Mapping[str, np.ndarray]] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ):
        self.metadata: Dict[str, Any] = dict(metadata or {})
        self.name = name
        self.i = np.asarray(i)
        self.t = np.asarray(t, dtype=float)
        self.count = np.asarray(count)
        self.variables: Dict[str, np.ndarray] = dict(variables or {})

    @property
    def num_spikes(self) -> int:
        """Number of spikes recorded (Brian2's ``num_spikes``: with
        ``record: False``, which keeps no ``t``, the sum of the counts)."""
        return int(self.t.size) if self.t.size else int(self.count.sum())

    def spike_trains(self) -> Dict[int, np.ndarray]:
        """Spike times of each neuron that spiked, by index (Brian2's
        ``spike_trains()``)."""
        return {int(k): self.t[self.i == k] for k in np.unique(self.i)}

    def __getattr__(self, name: str) -> np.ndarray:
        variables = self.__dict__.get("variables", {})
        if name in variables:
            return variables[name]
        raise AttributeError(f"SpikeMonitor `{self.name}` records no variable `{name}`")

    def __repr__(self) -> str:
        return f"<SpikeMonitor {self.name}: {self.num_spikes} spikes>"


class StateMonitor:
    """A StateMonitor's recording.

    Attributes:
        name: the monitor's name in the model.
        t: sample times, seconds.
        record: the recorded neurons (indices within the monitored group).
        variables: by variable name, an array of shape
            ``(len(record), len(t))`` (Brian2's ``M.v``), also readable as
            attributes: ``mon.v[0]`` is the trace of the first recorded
            neuron.
        metadata: for a monitor read by ``rheobase.load``, its archive's
            description (group, recorded neurons, the unit of every array:
            ``mon.metadata["units"]["v"] == "volt"``); ``{}`` otherwise.
    """

    kind = "state"

    def __init__(
        self,
        name: str,
        t,
        record,
        variables: Mapping[str, np.ndarray],
        metadata: Optional[Dict[str, Any]] = None,
    ):
        self.metadata: Dict[str, Any] = dict(metadata or {})
        self.name = name
        self.t = np.asarray(t, dtype=float)
        self.record = np.asarray(record)
        self.variables: Dict[str, np.ndarray] = dict(variables)

    def __getattr__(self, name: str) -> np.ndarray:
        variables = self.__dict__.get("variables", {})
        if name in variables:
            return variables[name]
        raise AttributeError(f"StateMonitor `{self.name}` records no variable `{name}`")

    def __repr__(self) -> str:
        names = ", ".join(self.variables)
        return f"<StateMonitor {self.name}: {names} of {self.record.size} neurons at {self.t.size} times>"


class PopulationRateMonitor:
    """A PopulationRateMonitor's recording.

    Attributes:
        name: the monitor's name in the model.
        t: sample times (one per time step), seconds.
        rate: fraction of the group that spiked in each step, per second
            (hertz).
        metadata: for a monitor read by ``rheobase.load``, its archive's
            description (group, recorded slice, units); ``{}`` otherwise.
    """

    kind = "rate"

    def __init__(self, name: str, t, rate, metadata: Optional[Dict[str, Any]] = None):
        self.metadata: Dict[str, Any] = dict(metadata or {})
        self.name = name
        self.t = np.asarray(t, dtype=float)
        self.rate = np.asarray(rate, dtype=float)

    def smooth_rate(self, width: Union[float, str], window: str = "gaussian") -> np.ndarray:
        """The rate smoothed as Brian2's ``smooth_rate``: ``window`` is
        "gaussian" (``width`` is its standard deviation, truncated at two
        widths) or "flat" (``width`` is its length); ``width`` in seconds
        or as a string such as ``"1*ms"``."""
        if isinstance(width, str):
            width = _rheobase.seconds(width)
        width = float(width)
        if self.t.size < 2:
            return self.rate.copy()
        dt = float(self.t[1] - self.t[0])
        # Window lengths in steps are rounded as Brian2 rounds them.
        if window == "gaussian":
            half = int(np.round(2 * width / dt))
            x = np.arange(-half, half + 1)
            kernel = np.exp(-(x**2) / (2 * (width / dt) ** 2))
        elif window == "flat":
            kernel = np.ones(int(width / 2 / dt) * 2 + 1)
        else:
            raise ValueError(f'window must be "gaussian" or "flat", not {window!r}')
        return np.convolve(self.rate, kernel / kernel.sum(), mode="same")

    def __repr__(self) -> str:
        return f"<PopulationRateMonitor {self.name}: {self.t.size} samples>"


Monitor = Union[SpikeMonitor, StateMonitor, PopulationRateMonitor]


def from_native(d: dict):
    """A monitor object from the native module's dict."""
    kind = d["kind"]
    if kind == "spike":
        return SpikeMonitor(d["name"], d["i"], d["t"], d["count"], d["variables"])
    if kind == "state":
        record = d["record"]
        width = max(int(record.size), 1)
        variables = {
            # Stored time-major: samples x width; Brian2's layout is the
            # transpose.
            name: values.reshape(-1, width).T if record.size else values.reshape(0, -1)
            for name, values in d["variables"].items()
        }
        return StateMonitor(d["name"], d["t"], record, variables)
    return PopulationRateMonitor(d["name"], d["t"], d["rate"])


def from_npz(name: str, arrays: Mapping[str, np.ndarray]):
    """A monitor object from the arrays of a ``rheo run`` archive; its
    ``metadata`` entry (a JSON string) becomes the monitor's
    ``metadata``, not a recorded variable."""
    arrays = dict(arrays)
    text = arrays.pop("metadata", None)
    metadata = json.loads(str(text)) if text is not None else {}
    spikes = metadata.get("type") in ("SpikeMonitor", "EventMonitor")
    if "i" in arrays or spikes:
        # A monitor with `record: False` (Brian2's `record=False`) has no
        # `i` and `t` in its archive (its metadata says what it is); empty
        # arrays stand for them, as in a live simulation's results.
        i = arrays.pop("i", np.zeros(0, dtype=np.int32))
        t = arrays.pop("t", np.zeros(0))
        count = arrays.pop("count")
        return SpikeMonitor(name, i, t, count, arrays, metadata)
    if "rate" in arrays:
        return PopulationRateMonitor(name, arrays["t"], arrays["rate"], metadata)
    variables = {k: v for k, v in arrays.items() if k not in ("t", "record")}
    return StateMonitor(name, arrays["t"], arrays["record"], variables, metadata)
