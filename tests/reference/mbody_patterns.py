#!/usr/bin/env python3
"""Print the PN (projection neuron) input of spec-examples/mushroom_body.model.

Brian2GeNN's Mbody benchmark (benchmarks/Mbody_example.py in
brian-team/brian2genn) draws its odour patterns with numpy when the script
runs.  Our .model language has no numpy, so the same algorithm is run here
once, with a fixed seed, and its spikes are pasted into the model file as
the inline `indices:`/`times:` lists of a SpikeGeneratorGroup.

Algorithm (as in the benchmark, for a run of RUNTIME seconds): 10 base
patterns of 20 of the 100 PNs; each pattern is repeated 10*RUNTIME times,
every repeat a variant in which Binomial(20, 0.1) of its PNs are replaced
by random ones; the first n_repeats-10 variants of every pattern are the
training set (shuffled), the last 10 the test set (in pattern order).  One
variant is presented every 50 ms: all its PNs spike once, at
k*50 ms + 1 ms + U(0, 2 ms).  Only presentations that start before
UNTIL (default RUNTIME) are kept.  Times are rounded to the 0.1 ms time step (Brian2 rounds
SpikeGeneratorGroup times to dt anyway).

Usage: python3 tests/reference/mbody_patterns.py [RUNTIME_SECONDS] [SEED] [UNTIL_SECONDS]

(The benchmark's algorithm needs RUNTIME >= 1 s: it keeps 10 test variants
per pattern.  The model file uses `1 1 0.5`: the draw for a 1 s run, cut
at 0.5 s.)
"""
import random as py_random
import sys

import numpy as np

runtime = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
until = float(sys.argv[3]) if len(sys.argv) > 3 else runtime  # keep presentations starting before this
np.random.seed(seed)
py_random.seed(seed)

N_PN = 100
n_patterns = 10
n_repeats = int(runtime * 10)
p_perturb = 0.1
patterns = np.repeat(np.array([np.random.choice(N_PN, int(0.2 * N_PN), replace=False)
                               for _ in range(n_patterns)]), n_repeats, axis=0)
to_replace = np.random.binomial(int(0.2 * N_PN), p=p_perturb, size=n_patterns * n_repeats)
variants = []
for idx, variant in enumerate(patterns):
    np.random.shuffle(variant)
    if to_replace[idx] > 0:
        variant = variant[:-to_replace[idx]]
    new_indices = np.random.randint(N_PN, size=to_replace[idx])
    variant = np.unique(np.concatenate([variant, new_indices]))
    variants.append(variant)

training_size = n_repeats - 10
training_variants = []
for p in range(n_patterns):
    training_variants.extend(variants[n_repeats * p:n_repeats * p + training_size])
py_random.shuffle(training_variants)
sorted_variants = list(training_variants)
for p in range(n_patterns):
    sorted_variants.extend(variants[n_repeats * p + training_size:n_repeats * (p + 1)])

onsets_ms = np.arange(n_patterns * n_repeats) * 50 + 1 + np.random.rand(n_patterns * n_repeats) * 2
onsets_ms = np.round(onsets_ms, 1)
indices, times = [], []
for onset, variant in zip(onsets_ms, sorted_variants):
    if onset >= until * 1000:
        break
    indices.extend(int(x) for x in variant)
    times.extend([float(onset)] * len(variant))


def wrap(values, fmt, indent="        "):
    # a continuation line must be indented deeper than its key, so the
    # closing bracket goes at the end of the last line of numbers
    lines = []
    for k in range(0, len(values), 16):
        lines.append(indent + ", ".join(fmt(v) for v in values[k:k + 16]) + ",")
    lines[-1] = lines[-1][:-1]
    return "\n".join(lines)


print(f"# {len(indices)} spikes, {len(set(times))} presentations, seed {seed}")
print("    indices: [")
print(wrap(indices, str) + "]")
print("    times: [")
print(wrap(times, lambda x: f"{x:g}") + "]*ms")
