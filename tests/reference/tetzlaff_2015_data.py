#!/usr/bin/env python3
"""Write the TimedArray data of tests/models/ex_Tetzlaff_2015.model.

Brian2's examples/frompapers/Tetzlaff_2015.py builds its stimulus
protocol as TimedArrays from Python list comprehensions (`balanced`,
`stim_func`, `learning_phase`, `stim_A_gate`, `stim_B_gate`).  The .model
language has no Python loops, so this script evaluates the script's own
comprehensions, with the model's shortened learning trial (`lt = 200*DT`
instead of `5000*DT`, ten trials instead of 100), and saves each array as
the numpy array Brian2's TimedArray receives (booleans stay booleans):

- `ex_Tetzlaff_2015_stim_func.npy`: float64, one value per DT;
- `ex_Tetzlaff_2015_learning_phase.npy`: bool, one value per 0.1*lt;
- `ex_Tetzlaff_2015_stim_A_gate.npy`, `..._stim_B_gate.npy`: bool, one
  value per lt.

Usage: ~/.brian2-venv/bin/python tests/reference/tetzlaff_2015_data.py
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
STEM = "ex_Tetzlaff_2015"

# Times in units of DT (0.5 ms), as integers, so that the comprehensions'
# `int(duration/lt)` are exact.
DT = 1
lt = 200 * DT
duration = 10 * lt
balanced_until = duration / 2


def save(name, values):
    np.save(os.path.join(OUT, f"{STEM}_{name}.npy"), np.asarray(values))


balanced = [lt_counter * lt < balanced_until for lt_counter in range(int(duration / lt))]
save("stim_func", [100 * (np.sin(0.1 * (i + 1)) + 1) for i in range(int(duration / DT))])
save("learning_phase", [i % 10 > 3 for i in range(int(duration / (0.1 * lt)))])
save("stim_A_gate", [lt_counter % 2 == 0 if balanced[lt_counter] else lt_counter % 4 in [0, 1, 2]
                     for lt_counter in range(int(duration / lt))])
save("stim_B_gate", [lt_counter % 2 == 1 if balanced[lt_counter] else lt_counter % 4 == 3
                     for lt_counter in range(int(duration / lt))])
