#!/usr/bin/env python3
"""Soak test of rheo's fault handling: random models, random signals.

For N minutes, writes a random model (a group of random size driven by
Poisson input, random monitors, a random duration), runs it with
`rheo run MODEL --out OUT` into a reused output folder, and at a random
moment sends it SIGINT, SIGTERM, a second SIGINT or SIGKILL (or lets it
finish). After every run it checks that OUT does not lie:

- `run.json` exists and parses (after SIGKILL it may say "running");
- every file `run.json` lists exists with the listed size and SHA-256;
- no archive in OUT is left over from an earlier run without being
  listed (after SIGKILL an archive written but not yet listed may exist;
  it must then be a complete zip, and `run.json` must say "running");
- a "completed" run lists exactly one archive per monitor, and the exit
  code matches the status (0 completed, 130 interrupted, 3 failed).

Usage: python3 benches/soak.py [--minutes N] [--rheo target/release/rheo]
Exit status 1 and a description of the first folder that lied, else 0.
Needs only the Python standard library. Not run in CI (it is long).
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

EXPECTED_CODE = {"completed": 0, "interrupted": 130, "failed": 3}


def random_model(rng):
    """A valid model of random size and length, with random monitors."""
    n = rng.choice([1, 10, 100, 1000, 5000])
    duration = rng.choice([1, 10, 100, 500, 2000])
    lines = [
        "defaultclock.dt = 0.1*ms",
        f"seed({rng.randrange(1 << 31)})",
        f"PoissonGroup P({n}):",
        f"    rates: {rng.choice([5, 20, 80])}*Hz",
        f"NeuronGroup G({n}):",
        "    model:",
        "        dv/dt = -v/(10*ms) : 1",
        "    threshold: v > 1",
        "    reset: v = 0",
        "    method: exact",
        "Synapses S(P -> G):",
        "    on_pre: v += 0.3",
        "    connect: i == j",
    ]
    monitors = []
    if rng.random() < 0.8:
        lines.append("SpikeMonitor spikes(G)")
        monitors.append("spikes")
    if rng.random() < 0.6:
        lines += ["StateMonitor trace(G):", "    variables: v", "    record: all"]
        monitors.append("trace")
    if rng.random() < 0.5:
        lines.append("PopulationRateMonitor rate(G)")
        monitors.append("rate")
    lines.append(f"run {duration}*ms")
    return "\n".join(lines) + "\n", monitors


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_folder(out, code, fault, monitors):
    """Returns a list of lies found in OUT."""
    problems = []
    manifest_path = os.path.join(out, "run.json")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return [f"run.json unreadable: {e}"]
    status = manifest.get("status")
    listed = {entry["name"]: entry for entry in manifest.get("files", [])}
    for name, entry in listed.items():
        path = os.path.join(out, name)
        if not os.path.isfile(path):
            problems.append(f"{name} is listed but missing")
            continue
        if os.path.getsize(path) != entry["bytes"]:
            problems.append(f"{name} has {os.path.getsize(path)} bytes, run.json says {entry['bytes']}")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{name}'s SHA-256 differs from run.json's")
    for name in os.listdir(out):
        if name.endswith(".npz") and name not in listed:
            if status != "running":
                problems.append(f"{name} is in OUT but not listed by a {status} run.json")
            else:
                try:
                    with zipfile.ZipFile(os.path.join(out, name)) as z:
                        if z.testzip() is not None:
                            problems.append(f"{name} is a damaged archive")
                except zipfile.BadZipFile:
                    problems.append(f"{name} is not a complete archive")
    if fault == "SIGKILL":
        if status not in ("running", "completed", "interrupted", "failed"):
            problems.append(f"status {status!r} after SIGKILL")
    else:
        if EXPECTED_CODE.get(status) != code and not (fault == "SIGINT twice" and status == "running"):
            problems.append(f"exit code {code} with status {status!r}")
        if status == "completed" and sorted(listed) != sorted(m + ".npz" for m in monitors):
            problems.append(f"a completed run lists {sorted(listed)}, monitors are {monitors}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rheo", default="target/release/rheo")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="rheo-soak-")
    out = os.path.join(work, "out")
    model_path = os.path.join(work, "m.model")
    deadline = time.monotonic() + args.minutes * 60
    runs = 0
    faults = ["none", "SIGINT", "SIGTERM", "SIGINT twice", "SIGKILL"]
    while time.monotonic() < deadline:
        text, monitors = random_model(rng)
        with open(model_path, "w") as f:
            f.write(text)
        fault = rng.choice(faults)
        stdout = rng.choice([subprocess.DEVNULL, subprocess.PIPE])
        proc = subprocess.Popen(
            [args.rheo, "run", model_path, "--out", out, "--buffer-mb", str(rng.choice([1, 4, 64]))],
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
        if fault != "none":
            time.sleep(rng.uniform(0.0, 1.0))
            sig = signal.SIGKILL if fault == "SIGKILL" else (
                signal.SIGTERM if fault == "SIGTERM" else signal.SIGINT)
            try:
                proc.send_signal(sig)
                if fault == "SIGINT twice":
                    time.sleep(rng.uniform(0.0, 0.05))
                    proc.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            _, stderr = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            print(f"run {runs}: rheo hung ({fault})\n{text}", file=sys.stderr)
            return 1
        code = proc.returncode
        if b"panicked" in stderr:
            print(f"run {runs}: rheo panicked ({fault})\n{stderr.decode(errors='replace')}\n{text}",
                  file=sys.stderr)
            return 1
        problems = check_folder(out, code, fault, monitors)
        if problems:
            print(f"run {runs}: OUT lies after {fault} (exit {code}):", file=sys.stderr)
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
            print(f"model:\n{text}\nOUT kept in {out}", file=sys.stderr)
            return 1
        runs += 1
    print(f"{runs} runs, every output folder true to its run.json")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
