#!/bin/sh
# Regenerate every Brian2 reference file under tests/reference/.
#
# Needs Brian2 2.9.0 in a virtualenv (no C++ compiler needed: the numpy
# code-generation target is used):
#   python3 -m venv ~/.brian2-venv && ~/.brian2-venv/bin/pip install brian2==2.9.0 "numpy<2.3"
# Override the interpreter with BRIAN2_PYTHON=/path/to/python.
#
# Stochastic models (detected automatically) are also run with seeds 1..8
# and get a <stem>.stats.json next to <stem>.json.  Takes ~10 minutes of CPU
# (the network benchmarks in spec-examples/ dominate; see README.md).
set -eu
cd "$(dirname "$0")/../.."
PY="${BRIAN2_PYTHON:-$HOME/.brian2-venv/bin/python}"
"$PY" tests/reference/make_reference.py spec-examples/*.model tests/models/*.model
