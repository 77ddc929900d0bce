"""Writes exp_reference.txt: arguments and exp(x) to about 106 bits.

Each line is `x hi lo` as hexadecimal floats, where `hi + lo` is exp(x)
rounded to two doubles (hi is the correctly rounded double, lo the rest),
computed with mpmath at 60 significant digits. The inline exp of the JIT is
tested against it (crates/rheobase-jit/tests/inline_exp.rs).

Run: python3 exp_reference.py > exp_reference.txt   (needs mpmath)
"""
import random

import mpmath as mp

mp.mp.dps = 60
random.seed(20261202)

points = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-17, -1e-17, 1e-8, -1e-8,
          0.5, -0.5, 1.0, -1.0, 709.0, 709.78, -708.0, -708.39, -708.4,
          -720.0, -740.0, -744.0, -745.0, -745.13, 0.34657359027997264,
          -0.34657359027997264, 0.6931471805599453, 100.0, -100.0]
# The whole range, uniformly.
points += [random.uniform(-745.13, 709.78) for _ in range(800)]
# Where neuron models live: |x| below 50, and close to 0.
points += [random.uniform(-50, 50) for _ in range(800)]
points += [random.uniform(-1, 1) * 10 ** random.uniform(-20, 0) for _ in range(300)]
# Halfway cases of the reduction k = round(x / ln 2).
points += [(k + 0.5) * 0.6931471805599453 * (1 + random.uniform(-1e-15, 1e-15))
           for k in range(-1070, 1020, 11)]
# The subnormal results.
points += [random.uniform(-745.13, -708.39) for _ in range(300)]

for x in points:
    y = mp.exp(mp.mpf(x))
    hi = float(y)
    lo = float(y - mp.mpf(hi)) if hi != 0.0 else 0.0
    print(float(x).hex(), hi.hex(), lo.hex())
