#!/usr/bin/env python3
"""Write the numpy data of tests/models/ex_Tsodyks_Uziel_Markram_2000.model.

Brian2's examples/frompapers/Tsodyks_Uziel_Markram_2000.py seeds numpy
(`np.random.seed(5)`), draws each neuron's background input `I_b` with
`np.random.uniform`, connects each of its four Synapses objects with
`connect(p=0.1)` and then draws each synapse's `A`, `U`, `tau_rec` (and
`tau_facil`) from scipy's truncated normal distribution, one value per
synapse.  The .model language has neither numpy's nor scipy's random
numbers, so this script makes the same draws in the script's order (with
Brian2's numpy target, whose `connect(p=...)` draws from numpy's seeded
generator, so the connections are the script's own) and saves them next to
the model:

- `..._I_b_exc.npy`, `..._I_b_inh.npy`: I_b in mV, one value per neuron
  (float64);
- `..._NAME_i.npy`, `..._NAME_j.npy`: the synapses' sources and targets
  (uint16), for NAME in ee, ei, ie, ii, read back by `connect: i=..., j=...`
  so that the draws have exactly one value per synapse;
- `..._NAME_A.npy` (mV), `..._NAME_U.npy`, `..._NAME_tau_rec.npy` (ms) and
  for ei and ii `..._NAME_tau_facil.npy` (ms): float64, scipy's draws
  exactly.

Usage: ~/.brian2-venv/bin/python tests/reference/tsodyks_2000_data.py
"""
import os

import numpy as np
import scipy.stats
from brian2 import NeuronGroup, Synapses, mV, ms, prefs

prefs.codegen.target = "numpy"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
STEM = "ex_Tsodyks_Uziel_Markram_2000"


def save(name, values, dtype):
    np.save(os.path.join(OUT, f"{STEM}_{name}.npy"), np.asarray(values, dtype=dtype))


def truncated_normal(loc, scale, bounds, size):
    """The script's truncated normal: `size` draws of scipy's truncnorm."""
    lo, hi = bounds
    return scipy.stats.truncnorm.rvs(
        np.full(size, (lo - loc) / scale), np.full(size, (hi - loc) / scale),
        loc=loc, scale=scale)


np.random.seed(5)
groups = {}
for name, n in (("exc", 400), ("inh", 100)):
    # The script's draw, made when the population is made (v_thresh = 15 mV).
    groups[name] = NeuronGroup(n, "v : volt")
    save(f"I_b_{name}", np.random.uniform(15 - 0.5, 15 + 0.5, size=n), np.float64)

# name, source, target, A (mV), U (mean, min, max), tau_rec (ms), tau_facil (ms)
SYNAPSES = (
    ("ee", "exc", "exc", 1.8, (0.5, 0.1, 0.9), 800, None),
    ("ei", "exc", "inh", 7.2, (0.04, 0.001, 0.07), 100, 1000),
    ("ie", "inh", "exc", -5.4, (0.5, 0.1, 0.9), 800, None),
    ("ii", "inh", "inh", -7.2, (0.04, 0.001, 0.07), 100, 1000),
)
made = []  # kept, so that Brian2 does not warn of objects never run
for name, pre, post, A, (U_mean, U_min, U_max), tau_rec, tau_facil in SYNAPSES:
    s = Synapses(groups[pre], groups[post], "w : 1")
    s.connect(p=0.1)
    made.append(s)
    n = len(s)
    save(f"{name}_i", s.i[:], np.uint16)
    save(f"{name}_j", s.j[:], np.uint16)
    a_min, a_max = min(0.2 * A, 2 * A), max(0.2 * A, 2 * A)
    save(f"{name}_A", truncated_normal(A, 0.5 * abs(A), [a_min, a_max], n), np.float64)
    save(f"{name}_U", truncated_normal(U_mean, 0.5 * U_mean, [U_min, U_max], n), np.float64)
    save(f"{name}_tau_rec", truncated_normal(tau_rec, 0.5 * tau_rec, [5, np.inf], n), np.float64)
    if tau_facil:
        save(f"{name}_tau_facil",
             truncated_normal(tau_facil, 0.5 * tau_facil, [5, np.inf], n), np.float64)
    print(f"{name}: {n} synapses")
