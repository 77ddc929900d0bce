# Run a model, draw its raster and a trace, and sweep a parameter: the
# notebook-style example of docs/python.md (each block is a notebook cell).
import numpy as np

import rheobase

m = rheobase.compile("spec-examples/lif.model")
sim = m.simulation(seed=1)
sim.run()  # the file's own `run 100*ms`

spikes = sim.monitors["spikes"]
print(spikes.num_spikes, "spikes")

try:
    import matplotlib.pyplot as plt
except ImportError:  # matplotlib is optional: pip install matplotlib
    plt = None

if plt is not None:
    fig, (raster, trace) = plt.subplots(2, 1, sharex=True)
    raster.plot(spikes.t * 1e3, spikes.i, ".k", markersize=2)
    raster.set_ylabel("neuron")
    v = sim.monitors["trace"]
    for k, neuron in enumerate(v.record):
        trace.plot(v.t * 1e3, v.v[k] * 1e3, label=f"neuron {neuron}")
    trace.set_xlabel("time (ms)")
    trace.set_ylabel("v (mV)")
    trace.legend()
    fig.savefig("lif.png")

# Sweep the threshold: recompile with another value, run, count spikes.
counts = {}
for vt in ["-55*mV", "-50*mV", "-45*mV"]:
    s = m.with_overrides(Vt=vt).simulation(seed=1)
    s.run()
    counts[vt] = s.monitors["spikes"].num_spikes
    print(vt, counts[vt])

if plt is not None:
    fig, ax = plt.subplots()
    ax.plot([float(vt.split("*")[0]) for vt in counts], list(counts.values()), "o-")
    ax.set_xlabel("threshold Vt (mV)")
    ax.set_ylabel("spikes in 100 ms")
    fig.savefig("sweep.png")

# Change state between runs, as in Brian2.
s = m.simulation(seed=1)
s.run("50*ms")
s["neurons"].v = np.full(50, -0.07)  # volts
s.run("50*ms")
