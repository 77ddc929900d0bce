"""The Python package: compile, run, state by name, monitors, overrides,
errors, and reading a CLI output folder."""

import json
from pathlib import Path

import numpy as np
import pytest

import rheobase

ROOT = Path(__file__).resolve().parents[3]
LIF = ROOT / "spec-examples" / "lif.model"

SMALL = """\
tau = 10*ms
NeuronGroup G(3):
    model:
        dv/dt = (1.5 - v)/tau : 1
    threshold: v > 1
    reset: v = 0
    method: exact
SpikeMonitor spikes(G)
StateMonitor trace(G):
    variables: v
    record: 0, 2
PopulationRateMonitor rate(G)
"""


def test_runs_a_file_like_rheo_run():
    m = rheobase.compile(str(LIF))
    sim = m.simulation(seed=1, threads=1)
    sim.run()
    assert sim.t == pytest.approx(0.1)
    spikes = sim.monitors["spikes"]
    assert spikes.i.dtype == np.int32
    assert spikes.i.size == spikes.t.size == 207
    trace = sim.monitors["trace"]
    assert trace.v.shape == (3, 1000)
    assert list(trace.record) == [10, 25, 49]
    # Traces start at El = -70 mV, in volts.
    assert trace.v[:, 0] == pytest.approx([-0.07] * 3)
    rate = sim.monitors["rate"]
    assert rate.t.size == rate.rate.size == 1000


def test_durations_in_seconds_or_quantities_give_the_same_run():
    m = rheobase.compile(SMALL)
    a = m.simulation(seed=1)
    a.run(0.05)
    b = m.simulation(seed=1)
    b.run("25*ms")
    b.run("25*ms")
    assert np.array_equal(a.monitors["spikes"].t, b.monitors["spikes"].t)
    assert np.array_equal(a["G"].v, b["G"].v)
    with pytest.raises(ValueError, match="not a duration"):
        a.run("5*mV")


def test_state_is_read_and_written_in_si_units():
    sim = rheobase.compile(SMALL).simulation(seed=1)
    sim["G"].v = np.array([0.0, 0.5, 0.9])
    assert list(sim["G"].v) == [0.0, 0.5, 0.9]
    sim["G"].v = 0.25
    assert list(sim["G"].v) == [0.25] * 3
    with pytest.raises(ValueError, match="holds 3 values, but 2 were given"):
        sim["G"].v = [1.0, 2.0]
    with pytest.raises(AttributeError, match="did you mean `v`"):
        sim["G"].V
    with pytest.raises(KeyError, match="did you mean `G`"):
        sim["g"]
    assert "v" in sim["G"].variables


def test_monitors_clear_and_reset():
    sim = rheobase.compile(SMALL).simulation(seed=1)
    sim.run(0.05)
    first = sim.monitors["spikes"].t.copy()
    assert first.size > 0
    sim.clear_monitors()
    assert sim.monitors["spikes"].t.size == 0
    sim.reset()
    assert sim.t == 0.0
    sim.run(0.05)
    assert np.array_equal(sim.monitors["spikes"].t, first)


def test_overrides_change_a_constant():
    slow = rheobase.compile(SMALL, tau="20*ms")
    assert slow.constants["tau"] == (pytest.approx(0.02), "second")
    fast = rheobase.compile(SMALL)
    counts = []
    for m in (fast, slow):
        sim = m.simulation(seed=1)
        sim.run(0.1)
        counts.append(sim.monitors["spikes"].num_spikes)
    assert counts[0] > counts[1]


def test_errors_are_model_errors_with_file_line_and_column():
    with pytest.raises(rheobase.ModelError) as e:
        rheobase.compile("x = 1*mV + 1*ms\n")
    assert str(e.value).startswith("<model>:1:5: error:")
    with pytest.raises(rheobase.ModelError, match="did you mean `tau`"):
        rheobase.compile(SMALL, taus="1*ms")
    with pytest.raises(rheobase.ModelError, match="unit second in the model"):
        rheobase.compile(SMALL.replace("(1.5 - v)/tau", "(1.5 - v)/(10*ms)"), tau="1*mV")
    with pytest.raises(OSError):
        rheobase.compile("/nonexistent/file.model")
    assert issubclass(rheobase.ModelError, Exception)


def test_order_dependent_synaptic_code_warns_with_file_line_and_column():
    model = ROOT / "tests" / "warnings" / "read_after_change.model"
    with pytest.warns(rheobase.ModelWarning) as caught:
        m = rheobase.compile(model)
    text = str(caught[0].message)
    assert text.startswith(f"{model}:17:9: warning: `on_post` reads `x_post`")
    assert m.warnings == [text]
    # The model still runs: a warning is not an error.
    sim = m.simulation(seed=1)
    sim.run("3*ms")
    assert list(sim.monitors["m"].w[:, -1]) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_model_without_warnings_issues_none():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", rheobase.ModelWarning)
        assert rheobase.compile(LIF).warnings == []


def test_load_reads_a_cli_output_folder(tmp_path):
    # A folder as `rheo run` writes it: run.json and one .npz per monitor.
    np.savez(tmp_path / "spikes.npz", i=np.array([0, 1], dtype=np.int32), t=np.array([0.001, 0.002]),
             count=np.array([1, 1]))
    np.savez(tmp_path / "trace.npz", t=np.array([0.0, 1e-4]), record=np.array([0]),
             v=np.array([[-0.07, -0.069]]))
    np.savez(tmp_path / "rate.npz", t=np.array([0.0]), rate=np.array([5.0]))
    files = [{"name": f"{n}.npz", "monitor": n} for n in ("spikes", "trace", "rate")]
    (tmp_path / "run.json").write_text(json.dumps({"status": "completed", "files": files}))
    res = rheobase.load(tmp_path)
    assert res.run["status"] == "completed"
    assert isinstance(res["spikes"], rheobase.SpikeMonitor)
    assert list(res["spikes"].i) == [0, 1]
    assert res["trace"].v.shape == (1, 2)
    assert isinstance(res["rate"], rheobase.PopulationRateMonitor)


def test_the_notebook_example_of_the_docs_runs(tmp_path, monkeypatch, capsys):
    # docs/python.md shows docs/examples/raster_and_sweep.py as it is; run
    # it from a scratch folder with the model path made absolute. The
    # plots are drawn when matplotlib is installed (headless backend).
    script = (ROOT / "docs" / "examples" / "raster_and_sweep.py").read_text()
    assert f"```python\n{script}```" in (ROOT / "docs" / "python.md").read_text()
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    exec(compile(script.replace("spec-examples/lif.model", str(LIF)), "raster_and_sweep.py", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "207 spikes"
    counts = [int(line.split()[1]) for line in printed[1:4]]
    assert counts[0] > counts[1] == 207 > counts[2]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "lif.png").stat().st_size > 0
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_load_reads_what_rheo_run_wrote(tmp_path):
    # A real `rheo run` output folder, if the CLI has been built: the
    # same spikes as the simulation in Python.
    rheo = ROOT / "target" / "debug" / "rheo"
    if not rheo.is_file():
        pytest.skip("rheo is not built")
    import subprocess

    subprocess.run([str(rheo), "run", str(LIF), "--out", str(tmp_path), "--quiet"], check=True)
    res = rheobase.load(tmp_path)
    sim = rheobase.compile(str(LIF)).simulation(seed=1)
    sim.run()
    assert res.run["status"] == "completed"
    assert np.array_equal(res["spikes"].t, sim.monitors["spikes"].t)
    assert np.array_equal(res["spikes"].i, sim.monitors["spikes"].i)
    assert np.array_equal(res["trace"].v, sim.monitors["trace"].v)
    assert list(res["trace"].record) == list(sim.monitors["trace"].record)


def test_ctrl_c_stops_a_run_and_keeps_what_was_recorded():
    # A real SIGINT, as a terminal's Ctrl-C or a notebook's "interrupt"
    # sends, from another process (a thread of this one could not run while
    # the simulation holds the interpreter).
    import os
    import subprocess

    sim = rheobase.compile(SMALL).simulation(seed=1)
    killer = subprocess.Popen(["sh", "-c", f"sleep 0.5; kill -INT {os.getpid()}"])
    try:
        with pytest.raises(KeyboardInterrupt):
            sim.run(10000.0)
    finally:
        killer.wait()
    assert 0.0 < sim.t < 10000.0
    spikes = sim.monitors["spikes"]
    assert spikes.num_spikes > 0
    assert spikes.t.max() <= sim.t
    trace = sim.monitors["trace"]
    assert trace.t.size == round(sim.t / sim.dt)
    # The simulation goes on from where it stopped.
    before = sim.t
    sim.run(0.01)
    assert sim.t == pytest.approx(before + 0.01)


def test_the_python_part_of_the_tutorial_runs(tmp_path, monkeypatch, capsys):
    # docs/tutorial.md's Python block, run as a new user would: from the
    # repository root (the model path in it is relative to it), the
    # raster saved where they are.
    doc = (ROOT / "docs" / "tutorial.md").read_text()
    part = doc[doc.index("## 6. The same from Python"):]
    start = part.index("```python\n") + len("```python\n")
    block = part[start:part.index("```", start)]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        block = block[: block.index("# The raster")]
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(ROOT)
    block = block.replace('"raster.png"', repr(str(tmp_path / "raster.png")))
    exec(compile(block, "tutorial.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "1021 spikes"
    assert [line.split()[0] for line in printed[1:4]] == ["-55*mV", "-50*mV", "-45*mV"]
    if "# The raster" in block:
        assert (tmp_path / "raster.png").stat().st_size > 0


def test_habits_of_python_users_get_python_errors(tmp_path):
    sim = rheobase.compile(SMALL).simulation(seed=1)
    g = sim["G"]
    # Writing an unknown variable is an AttributeError, as reading it is,
    # and its message is not prefixed with the command line's `error:`.
    with pytest.raises(AttributeError, match="did you mean `v`") as e:
        g.vv = 1.0
    assert not str(e.value).startswith("error:")
    with pytest.raises(AttributeError, match="did you mean `v`"):
        g.vv
    with pytest.raises(ValueError, match="holds 3 values, but 2 were given") as e:
        g.v = np.zeros(2)
    assert not str(e.value).startswith("error:")
    # A mistyped path is a missing file, not model text with a syntax error.
    with pytest.raises(FileNotFoundError, match="lif.modl"):
        rheobase.compile(str(LIF)[: -len("el")] + "l")
    with pytest.raises(FileNotFoundError):
        rheobase.compile("models/missing.model")
    # One line of model text is still model text.
    assert rheobase.compile("x = 1*mV\n").constants["x"] == (pytest.approx(0.001), "volt")


def test_smooth_rate_is_brians(tmp_path):
    sim = rheobase.compile(SMALL).simulation(seed=1)
    sim.run(0.1)
    rate = sim.monitors["rate"]
    # Brian2 2.9's smooth_rate: a gaussian of 2*width/dt (rounded) steps
    # on either side, a flat window of int(width/2/dt)*2 + 1 steps.
    dt = sim.dt
    half = int(np.round(2 * 0.001 / dt))
    window = np.exp(-np.arange(-half, half + 1) ** 2 / (2 * (0.001 / dt) ** 2))
    expected = np.convolve(rate.rate, window / window.sum(), mode="same")
    assert np.allclose(rate.smooth_rate(0.001), expected)
    assert np.allclose(rate.smooth_rate("1*ms"), expected)
    flat = np.ones(int(0.002 / 2 / dt) * 2 + 1)
    assert np.allclose(rate.smooth_rate("2*ms", window="flat"), np.convolve(rate.rate, flat / flat.sum(), mode="same"))
    with pytest.raises(ValueError, match="not a duration"):
        rate.smooth_rate("1*mV")


def test_loaded_monitors_keep_their_metadata_apart_from_the_variables(tmp_path):
    meta = {"monitor": "trace", "type": "StateMonitor", "source": {"group": "G", "start": 0},
            "units": {"t": "second", "record": "1", "v": "volt"}}
    np.savez(tmp_path / "trace.npz", t=np.array([0.0, 1e-4]), record=np.array([0]),
             v=np.array([[-0.07, -0.069]]), metadata=np.array(json.dumps(meta)))
    np.savez(tmp_path / "spikes.npz", i=np.array([0], dtype=np.int32), t=np.array([0.001]),
             count=np.array([1]), metadata=np.array(json.dumps({"units": {"t": "second"}})))
    res = rheobase.load(tmp_path)
    assert list(res["trace"].variables) == ["v"]
    assert res["trace"].metadata["units"]["v"] == "volt"
    assert res["spikes"].variables == {}
    assert res["spikes"].metadata["units"]["t"] == "second"
    assert "metadata" not in repr(res["trace"])
