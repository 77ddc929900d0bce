#!/usr/bin/env python3
"""A battery of hostile inputs and faults, in the 11 classes of issue 9.

Each case runs `rheo` on one hostile model, argument or fault and judges
the outcome the way a hostile user would: it is *mishandled* if rheo
panics, is killed by a signal it should have handled, hangs past the
deadline, exits with a code other than the documented one, gives a
model error without `FILE:LINE:COL`, prints a message the case calls
misleading, or leaves an output folder whose `run.json` lies (a listed
file missing, of another size or checksum, "completed" with a non-zero
exit code...).

Usage: python3 benches/hostile_battery.py [--rheo target/debug/rheo] [-v]
Prints one line per mishandled case and the figure `mishandled / tried`
per class and in total; exit status 1 if any case is mishandled.
Needs only the Python standard library and Linux (FIFOs, /dev/full).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RHEO = "rheo"
LOCATED = re.compile(r"^[^\s:]+:\d+:\d+: error: ", re.M)

LIF = """defaultclock.dt = 0.1*ms
NeuronGroup G({n}):
    model:
        dv/dt = (1.2 - v)/(10*ms) : 1
    threshold: v > 1
    reset: v = 0
{extra}
"""


def lif(extra="", n=10, run="run 10*ms"):
    return LIF.format(n=n, extra=extra) + run + "\n"


class Case:
    def __init__(self, cls, name, model=None, args=None, expect=(1,),
                 located=True, forbid=(), require=(), setup=None,
                 stdout=None, stderr=None, deadline=60, signal_after=None,
                 files=None, mode="check", closed=None, tmpfs_kb=None, prefix=()):
        self.cls = cls
        self.name = name
        self.model = model
        self.args = args
        self.expect = expect
        self.located = located
        self.forbid = forbid
        self.require = require
        self.setup = setup
        self.stdout = stdout
        self.stderr = stderr
        self.deadline = deadline
        self.signal_after = signal_after
        self.files = files or {}
        self.mode = mode
        # "stdout" or "stderr": a pipe whose reader has gone.
        self.closed = closed
        # OUT on a tmpfs of this many kB (skipped where it cannot be mounted).
        self.tmpfs_kb = tmpfs_kb
        # A command rheo runs under, e.g. prlimit.
        self.prefix = list(prefix)


def manifest_lies(out, code):
    """A description of how OUT's run.json lies, or None."""
    path = os.path.join(out, "run.json")
    if not os.path.exists(path):
        return "no run.json"
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as e:
        return f"run.json unreadable: {e}"
    status = summary.get("status")
    expected = {"completed": 0, "interrupted": 130, "failed": 3}.get(status)
    if expected is not None and expected != code:
        return f"run.json says {status!r} but the exit code is {code}"
    for entry in summary.get("files", []):
        name = os.path.join(out, entry["name"])
        if not os.path.exists(name):
            return f"listed file {entry['name']} is missing"
        if os.path.getsize(name) != entry["bytes"]:
            return f"listed file {entry['name']} has another size"
        with open(name, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != entry["sha256"]:
                return f"listed file {entry['name']} has another checksum"
    listed = {e["name"] for e in summary.get("files", [])}
    for name in os.listdir(out):
        if name.endswith(".npz") and name not in listed and status != "running":
            return f"unlisted archive {name} beside a final run.json"
    return None


def run_case(rheo, case, scratch):
    d = os.path.join(scratch, re.sub(r"\W", "_", f"{case.cls}_{case.name}"))
    os.makedirs(d)
    model = os.path.join(d, "m.model")
    if case.model is not None:
        with open(model, "w") as f:
            f.write(case.model)
    for name, data in case.files.items():
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(os.path.join(d, name), mode) as f:
            f.write(data)
    out = os.path.join(d, "out")
    mounted = None
    if case.tmpfs_kb:
        os.makedirs(out)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={case.tmpfs_kb}k", "tmpfs", out],
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return "skip", "cannot mount a tmpfs (not root)"
        mounted = out
    try:
        return run_in(rheo, case, d, model, out)
    finally:
        if mounted:
            subprocess.run(["umount", mounted])


def run_in(rheo, case, d, model, out):
    if case.setup:
        skip = case.setup(d)
        if skip:
            return "skip", skip
    if case.args is not None:
        args = [a.replace("MODEL", model).replace("OUT", out).replace("DIR", d)
                for a in case.args]
    elif case.mode == "run":
        args = ["run", model, "--out", out, "--quiet"]
    else:
        args = ["check", model]
    so = open(case.stdout, "w") if case.stdout else subprocess.PIPE
    se = open(case.stderr, "w") if case.stderr else subprocess.PIPE
    if case.closed:
        r, w = os.pipe()
        os.close(r)
        if case.closed == "stdout":
            so = w
        else:
            se = w
    start = time.monotonic()
    p = subprocess.Popen(case.prefix + [rheo] + args, stdin=subprocess.DEVNULL, stdout=so,
                         stderr=se, cwd=d, text=True, errors="replace")
    try:
        if case.signal_after is not None:
            delay, sigs = case.signal_after
            time.sleep(delay)
            for s in sigs:
                if p.poll() is None:
                    p.send_signal(s)
                    time.sleep(0.05)
        if case.closed:
            os.close(so if case.closed == "stdout" else se)
        out_text, err_text = p.communicate(timeout=case.deadline)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return "bad", f"hung (killed after {case.deadline} s)"
    elapsed = time.monotonic() - start
    out_text = out_text or ""
    err_text = err_text or ""
    code = p.returncode
    if "panicked" in err_text or code == 101:
        return "bad", "panicked: " + err_text[-400:]
    if code < 0 and code not in case.expect:
        return "bad", f"killed by signal {-code}"
    if code not in case.expect:
        return "bad", f"exit code {code}, expected {case.expect}: {err_text[:400]}"
    quiet = case.stderr is not None or case.closed == "stderr"
    if case.located and code == 1 and not quiet and not LOCATED.search(err_text):
        return "bad", "model error without FILE:LINE:COL: " + err_text[:300]
    if case.located and code == 3 and not quiet and not LOCATED.search(err_text):
        return "bad", "runtime error without FILE:LINE:COL: " + err_text[:300]
    for text in case.forbid:
        if text in err_text:
            return "bad", f"misleading message ({text!r}): {err_text[:400]}"
    for text in case.require:
        if text not in err_text + out_text:
            return "bad", f"message lacks {text!r}: {err_text[:400]}{out_text[:200]}"
    if "--memory-gb" in args and code == 0:
        limit = float(args[args.index("--memory-gb") + 1]) * 1e9
        try:
            with open(os.path.join(out, "run.json")) as f:
                peak = json.load(f).get("peak_memory_bytes", 0)
        except (OSError, ValueError):
            peak = 0
        if peak > 1.1 * limit:
            return "bad", f"peak memory {peak/1e6:.0f} MB over --memory-gb {limit/1e6:.0f} MB"
    if case.mode == "run" or (case.args and case.args[0] == "run"):
        if os.path.isdir(out):
            lie = manifest_lies(out, code)
            if lie and not (code == 1 or code == 2):
                return "bad", "output folder lies: " + lie
        elif code in (0, 3, 130) or code < 0:
            return "bad", "no output folder"
    return "ok", f"{elapsed:.1f} s"


def make_fifo(d):
    os.mkfifo(os.path.join(d, "fifo.npy"))


def cases():
    c = []
    # 1. Printing that goes away.
    full = "/dev/full" if os.path.exists("/dev/full") else None
    if full:
        c.append(Case(1, "check to /dev/full", lif(), stdout=full, expect=(0,)))
        c.append(Case(1, "check errors to /dev/full", lif("    reset: w = 0"),
                      stderr=full, expect=(1,)))
        c.append(Case(1, "run stdout+stderr /dev/full", lif(), mode="run",
                      stdout=full, stderr=full, expect=(0,)))
        c.append(Case(1, "diverging run stderr /dev/full",
                      lif("G.v = 1e308\nG.v = G.v*10"), mode="run", stderr=full,
                      expect=(1, 3)))
        c.append(Case(1, "version to /dev/full", args=["--version"], stdout=full,
                      expect=(0, 2)))
        c.append(Case(1, "help to /dev/full", args=["--help"], stdout=full,
                      expect=(0, 2)))
    # 2. Memory counted before it is allocated.
    c.append(Case(2, "huge delay ring", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    delay: 1000*second\n"
        "    connect: i == j\n"), mode="run", expect=(1,), require=("memory",),
        args=["run", "MODEL", "--out", "OUT", "--memory-gb", "0.1"]))
    c.append(Case(2, "record 0:4e9 on group", lif(
        "StateMonitor m(G):\n    variables: v\n    record: 0:4000000000\n"),
        expect=(1,)))
    c.append(Case(2, "PoissonGroup 2e9", "PoissonGroup P(2000000000):\n    rates: 1*Hz\nrun 1*ms\n",
                  expect=(1,), args=["run", "MODEL", "--out", "OUT", "--memory-gb", "1"]))
    c.append(Case(2, "SpikeGenerator 3e9 neurons",
                  "SpikeGeneratorGroup g(3000000000):\n    indices: [0]\n    times: [1]*ms\nrun 1*ms\n",
                  expect=(1,), args=["run", "MODEL", "--out", "OUT", "--memory-gb", "1"]))
    c.append(Case(2, "connect True counted", lif(
        "Synapses S(G -> G):\n    model:\n        w : 1\n    on_pre: v_post += w\n"
        "    connect: True\n", n=20000), expect=(0,), args=["check", "MODEL"],
        require=("GB",)))
    c.append(Case(2, "condition connect counted", lif(
        "Synapses S(G -> G):\n    model:\n        w : 1\n    on_pre: v_post += w\n"
        "    connect: condition='i != j'\n", n=20000), expect=(0,),
        args=["check", "MODEL"], require=("up to",)))
    c.append(Case(2, "condition connect refused", lif(
        "Synapses S(G -> G):\n    model:\n        w : 1\n    on_pre: v_post += w\n"
        "    connect: condition='i != j'\n", n=200000), expect=(1, 3),
        args=["run", "MODEL", "--out", "OUT", "--memory-gb", "1"]))
    c.append(Case(2, "n= multiplier", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: i == j, n=1000000000\n"),
        expect=(1, 3), args=["run", "MODEL", "--out", "OUT", "--memory-gb", "1"]))
    c.append(Case(2, "monitor dt tiny over long run", lif(
        "StateMonitor m(G):\n    variables: v\n    record: all\n", n=100000,
        run="run 100000*second"), expect=(1,)))
    # 3. Reads that never end.
    c.append(Case(3, "model from /dev/zero", args=["check", "/dev/zero"], expect=(2,),
                  deadline=20))
    c.append(Case(3, "model from /dev/urandom", args=["check", "/dev/urandom"],
                  expect=(2,), deadline=20))
    c.append(Case(3, "model from a FIFO", args=["check", "DIR/fifo.npy"], expect=(2,),
                  setup=make_fifo, deadline=20))
    c.append(Case(3, "TimedArray file /dev/zero",
                  "TimedArray s:\n    dt: 1*ms\n    file: /dev/zero\nrun 1*ms\n",
                  expect=(1, 2), deadline=20))
    c.append(Case(3, "SpikeGenerator file FIFO",
                  "SpikeGeneratorGroup g(2):\n    file: fifo.npy\nrun 1*ms\n",
                  setup=make_fifo, expect=(1, 2), deadline=20))
    c.append(Case(3, "TimedArray file directory",
                  "TimedArray s:\n    dt: 1*ms\n    file: .\nrun 1*ms\n",
                  expect=(1, 2), deadline=20))
    # 4. Work that grows too fast.
    consts = "".join(f"c{k} = {k}*mV\n" for k in range(40000))
    c.append(Case(4, "40k constants", consts + "run 1*ms\n", expect=(0,), deadline=20))
    errs = "".join(f"x{k} = undefined_{k}\n" for k in range(20000))
    c.append(Case(4, "20k unknown names", errs, expect=(1,), deadline=20))
    uncoupled = "NeuronGroup G(1):\n    model:\n" + "".join(
        f"        dx{k}/dt = -x{k}/(10*ms) : 1\n" for k in range(1600)) + \
        "    method: exact\nrun 1*ms\n"
    c.append(Case(4, "1600 uncoupled exact", uncoupled, expect=(0,), deadline=30))
    many = "".join(
        f"NeuronGroup G{k}(1):\n    model:\n        dv/dt = -v/(10*ms) : 1\n"
        for k in range(3000)) + "run 1*ms\n"
    c.append(Case(4, "3000 groups", many, expect=(0,), deadline=60))
    chain = "a0 = 1\n" + "".join(f"a{k} = a{k-1} + 1\n" for k in range(1, 30000)) + "run 1*ms\n"
    c.append(Case(4, "30k chained constants", chain, expect=(0,), deadline=20))
    c.append(Case(4, "--threads 100000", lif(), mode="run",
                  args=["run", "MODEL", "--out", "OUT", "--threads", "100000"],
                  expect=(2,), located=False, deadline=20))
    manyruns = lif(run="") + "".join("run 0.1*ms\n" for _ in range(5000))
    c.append(Case(4, "5000 runs", manyruns, expect=(0,), deadline=60))
    # 5. Results lost after a completed simulation.
    c.append(Case(5, "variables v, v", lif(
        "StateMonitor m(G):\n    variables: v, v\n    record: 0\n"), expect=(1,)))
    c.append(Case(5, "spike monitor var count", lif(
        "SpikeMonitor s(G):\n    variables: count\n"), expect=(1,)))
    c.append(Case(5, "state monitor var t", lif(
        "StateMonitor m(G):\n    variables: t\n    record: 0\n"), expect=(0, 1),
        mode="run"))
    c.append(Case(5, "240-char monitor name", lif(
        "SpikeMonitor " + "s" * 240 + "(G)\n"), expect=(1,)))
    c.append(Case(5, "two monitors one name", lif(
        "SpikeMonitor s(G)\nStateMonitor s(G):\n    variables: v\n    record: 0\n"),
        expect=(1,)))
    c.append(Case(5, "monitor named run", lif(
        "SpikeMonitor run(G)\n"), expect=(0, 1), mode="run"))
    c.append(Case(5, "monitor named like run.json", lif(
        "SpikeMonitor run_json(G)\nStateMonitor m(G):\n    variables: v\n    record: 0\n"),
        expect=(0,), mode="run"))
    # 6. An output folder that mixes two runs.

    def earlier_run(d):
        os.makedirs(os.path.join(d, "out"))
        with open(os.path.join(d, "out", "old.npz"), "wb") as f:
            f.write(b"PK\x05\x06" + b"\0" * 18)
        with open(os.path.join(d, "out", "run.json"), "w") as f:
            json.dump({"status": "completed", "files": [
                {"name": "old.npz", "bytes": 22, "sha256": "0"}]}, f)
    c.append(Case(6, "earlier run superseded", lif("SpikeMonitor s(G)\n"), mode="run",
                  setup=earlier_run, expect=(0,)))
    c.append(Case(6, "SIGINT twice mid-run", lif("SpikeMonitor s(G)\n", n=20000,
                  run="run 100*second"), mode="run", setup=earlier_run,
                  signal_after=(3.0, [signal.SIGINT, signal.SIGINT]), expect=(130,),
                  deadline=60))
    c.append(Case(6, "SIGTERM mid-run", lif("SpikeMonitor s(G)\n", n=20000,
                  run="run 100*second"), mode="run", setup=earlier_run,
                  signal_after=(3.0, [signal.SIGTERM]), expect=(130,), deadline=60))

    def garbage_run_json(d):
        os.makedirs(os.path.join(d, "out"))
        with open(os.path.join(d, "out", "run.json"), "w") as f:
            f.write("{not json")
        with open(os.path.join(d, "out", "s.npz"), "w") as f:
            f.write("junk")
    c.append(Case(6, "garbage run.json", lif("SpikeMonitor s(G)\n"), mode="run",
                  setup=garbage_run_json, expect=(0,)))

    def out_is_file(d):
        with open(os.path.join(d, "out"), "w") as f:
            f.write("x")
    c.append(Case(6, "OUT is a file", lif("SpikeMonitor s(G)\n"), mode="run",
                  setup=out_is_file, expect=(2,), located=False))
    # 7. A full disk: tested by the CLI tests on a tmpfs where one can be
    # mounted; here the output folder on /dev/full is not possible, so the
    # spill directory is made unwritable.

    def readonly_out(d):
        os.makedirs(os.path.join(d, "out"))
        os.chmod(os.path.join(d, "out"), 0o500)
        if os.access(os.path.join(d, "out"), os.W_OK):
            return "running as root: permissions are not enforced"
    c.append(Case(7, "read-only OUT", lif("SpikeMonitor s(G)\n"), mode="run",
                  setup=readonly_out, expect=(2,), located=False))
    # 8. Values silently changed.
    c.append(Case(8, "int 2**40", lif(
        "NeuronGroup H(1):\n    model:\n        k : integer\nH.k = 2**40\n"
        "StateMonitor m(H):\n    variables: k\n    record: 0\n"), mode="run",
        expect=(1, 3)))
    c.append(Case(8, "int(1e300)", lif(
        "NeuronGroup H(1):\n    model:\n        k : integer\nH.k = int(1e300)\n"
        "StateMonitor m(H):\n    variables: k\n    record: 0\n"), mode="run",
        expect=(1, 3)))
    c.append(Case(8, "TimedArray column i+1", """defaultclock.dt = 0.1*ms
TimedArray stim:
    dt: 1*ms
    values: [[0, 1], [2, 3]]*nA
NeuronGroup G(4):
    model:
        dv/dt = (stim(t, i + 1)*100*Mohm - v)/(10*ms) : volt
run 3*ms
""", mode="run", expect=(1, 3)))
    c.append(Case(8, "TimedArray column i-4", """defaultclock.dt = 0.1*ms
TimedArray stim:
    dt: 1*ms
    values: [[0, 1], [2, 3]]*nA
NeuronGroup G(4):
    model:
        dv/dt = (stim(t, i - 4)*100*Mohm - v)/(10*ms) : volt
run 3*ms
""", mode="run", expect=(1, 3)))
    c.append(Case(8, "TimedArray column from a variable", """defaultclock.dt = 0.1*ms
TimedArray stim:
    dt: 1*ms
    values: [[0, 1], [2, 3]]*nA
NeuronGroup G(2):
    model:
        dv/dt = (stim(t, k)*100*Mohm - v)/(10*ms) : volt
        k : integer
G.k = 7
run 3*ms
""", mode="run", expect=(1, 3)))
    # 9. Bad values accepted at check time.
    c.append(Case(9, "refractory NaN", lif("    refractory: 0*ms/0*ms*ms")))
    c.append(Case(9, "negative delay", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    delay: -1*ms\n    connect: i == j\n")))
    c.append(Case(9, "PoissonGroup negative rate",
                  "PoissonGroup P(3):\n    rates: -5*Hz\nrun 1*ms\n"))
    c.append(Case(9, "monitor dt NaN", lif(
        "StateMonitor m(G):\n    variables: v\n    record: 0\n    dt: 0*ms/0\n")))
    c.append(Case(9, "run NaN", lif(run="run 0*ms/0")))
    c.append(Case(9, "run negative", lif(run="run -1*ms")))
    c.append(Case(9, "dt zero", "defaultclock.dt = 0*ms\n" + lif()))
    c.append(Case(9, "group size 0.5", lif(n="0.5")))
    c.append(Case(9, "PoissonInput N negative", lif(
        "PoissonInput p(G.v):\n    N: -3\n    rate: 1*Hz\n    weight: 0.1\n")))
    c.append(Case(9, "PoissonInput huge rate", lif(
        "PoissonInput p(G.v):\n    N: 1000\n    rate: 1e30*Hz\n    weight: 0.1\n")))
    c.append(Case(9, "connect p=1.5", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: p=1.5\n")))
    c.append(Case(9, "connect p=NaN", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: p=0.0/0.0\n")))
    c.append(Case(9, "SpikeGenerator index out of range",
                  "SpikeGeneratorGroup g(2):\n    indices: [5]\n    times: [1]*ms\nrun 2*ms\n"))
    c.append(Case(9, "SpikeGenerator negative time",
                  "SpikeGeneratorGroup g(2):\n    indices: [0]\n    times: [-1]*ms\nrun 2*ms\n"))
    c.append(Case(9, "TimedArray dt 0",
                  "TimedArray s:\n    dt: 0*ms\n    values: [1, 2]\nrun 1*ms\n"))
    c.append(Case(9, "empty model", "", expect=(1,)))
    # 10. Messages that mislead.
    c.append(Case(10, "slice beyond group", lif(
        "SpikeMonitor s(G[100:200])\n"), forbid=("10:10",)))
    c.append(Case(10, "NaN synaptic weight", lif(
        "Synapses S(G -> G):\n    model:\n        w : 1\n    on_pre: v_post += w\n"
        "    connect: i != j\nS.w = sqrt(-1.0*(i + 1))\n"), mode="run", expect=(3,),
        forbid=("at neuron", "smaller `defaultclock.dt`"), require=("synapse",)))
    c.append(Case(10, "NaN initial neuron value", lif("G.v = sqrt(-1.0*(i + 1))\n"),
                  mode="run", expect=(3,), forbid=("smaller `defaultclock.dt`",)))
    c.append(Case(10, "connect j out of range at run time", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: j='i + 5'\n"),
        mode="run", expect=(1, 3)))
    c.append(Case(10, "delay from variable NaN", lif(
        "Synapses S(G -> G):\n    model:\n        d : second\n    on_pre: v_post += 0.1\n"
        "    delay: d\n    connect: i == j\nS.d = (0.0/0.0)*ms\n"), mode="run",
        expect=(1, 3)))
    c.append(Case(10, "synaptic record beyond synapses", lif(
        "Synapses S(G -> G):\n    model:\n        w : 1\n    on_pre: v_post += w\n"
        "    connect: i == j\nStateMonitor m(S):\n    variables: w\n    record: 0:50\n"),
        mode="run", expect=(1, 3)))
    c.append(Case(10, "seed too large", "seed(18446744073709551616)\n" + lif(),
                  forbid=("not a whole number",)))
    c.append(Case(10, "unit-less 2-D values", "TimedArray s:\n    dt: 1*ms\n"
                  "    values: [[0, 1], [2, 3]]\nrun 1*ms\n", expect=(0,)))
    c.append(Case(10, "huge delay printed", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    delay: 1e300*second\n"
        "    connect: i == j\n"), forbid=("0" * 40,)))
    # 11. Signals before the simulation.
    slow = "".join(f"c{k} = {k}*mV\n" for k in range(300000)) + lif("SpikeMonitor s(G)\n")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        for after in (0.05, 0.3):
            c.append(Case(11, f"{signal.Signals(sig).name} after {after} s", slow,
                          mode="run", signal_after=(after, [sig]), expect=(130,),
                          deadline=60))
    return c

def more_cases():
    """Cases beyond the issue's examples, in the same classes."""
    c = []
    # 1.
    c.append(Case(1, "run stdout closed pipe", lif("SpikeMonitor s(G)\n"), mode="run",
                  args=["run", "MODEL", "--out", "OUT"], closed="stdout", expect=(0,)))
    c.append(Case(1, "run stderr closed pipe", lif("SpikeMonitor s(G)\n"), mode="run",
                  args=["run", "MODEL", "--out", "OUT"], closed="stderr", expect=(0,)))
    c.append(Case(1, "check error stderr closed pipe", lif("    reset: w = 0"),
                  closed="stderr", expect=(1,)))
    c.append(Case(1, "failing run stderr closed", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: j='i + 5'\n"),
        mode="run", closed="stderr", expect=(3,)))
    c.append(Case(1, "interrupt with both closed", lif("SpikeMonitor s(G)\n", n=20000,
                  run="run 100*second"), mode="run", closed="stderr", stdout="/dev/full",
                  signal_after=(3.0, [signal.SIGINT]), expect=(130,), deadline=60))
    # 2.
    c.append(Case(2, "linspace of 1e9 values", lif("G.v = linspace(0, 1, 1000000000)\n"),
                  expect=(1,)))
    c.append(Case(2, "arange 1e10", lif("G.v = arange(0, 10000000000)\n"), expect=(1,)))
    c.append(Case(2, "TimedArray huge linspace", "TimedArray s:\n    dt: 1*ms\n"
                  "    values: linspace(0, 1, 2000000000)\nrun 1*ms\n", expect=(1,)))
    c.append(Case(2, "generator range 1e9", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n"
        "    connect: j='k for k in range(1000000000)', skip_if_invalid=True\n"),
        expect=(1, 3), args=["run", "MODEL", "--out", "OUT", "--memory-gb", "1"]))
    c.append(Case(2, "sample size 1e9", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n"
        "    connect: j='k for k in sample(1000000000, size=1000000000)', skip_if_invalid=True\n"),
        expect=(1, 3), args=["run", "MODEL", "--out", "OUT", "--memory-gb", "1"]))
    c.append(Case(2, "random heterogeneous long delay", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    delay: rand()*1000*second\n"
        "    connect: i == j\n"), expect=(1, 3),
        args=["run", "MODEL", "--out", "OUT", "--memory-gb", "0.1"]))
    c.append(Case(2, "group 1e9 under memory limit", lif(n=1000000000), expect=(1,),
                  args=["run", "MODEL", "--out", "OUT", "--memory-gb", "1"]))
    c.append(Case(2, "synapse record 0:4e9", lif(
        "Synapses S(G -> G):\n    model:\n        w : 1\n    on_pre: v_post += w\n"
        "    connect: i == j\nStateMonitor m(S):\n    variables: w\n    record: 0:4000000000\n"),
        expect=(1,)))
    c.append(Case(2, "record list step 1", lif(
        "StateMonitor m(G):\n    variables: v\n    record: 0:9000000000000000000:1\n"),
        expect=(1,)))
    c.append(Case(2, "prlimit as 300M big group", lif(n=20000000),
                  args=["run", "MODEL", "--out", "OUT"], expect=(1,),
                  prefix=["prlimit", "--as=300000000"],
                  setup=lambda d: None if shutil.which("prlimit") else "no prlimit"))
    def big_npy(d, rows=2500000, cols=5):
        import struct
        hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
        hdr = hdr + " " * (63 - (len(hdr) + 10) % 64) + "\n"
        with open(os.path.join(d, "big.npy"), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
            f.truncate(f.tell() + rows * cols * 8)
    ta = ("TimedArray stim:\n    dt: 1*ms\n    file: big.npy\nNeuronGroup G(5):\n"
          "    model:\n        dv/dt = (stim(t, i) - v)/(10*ms) : 1\nrun 1*ms\n")
    for gb in ("0.15", "0.21", "0.3"):
        c.append(Case(2, f"100 MB TimedArray under {gb} GB", ta, setup=big_npy,
                      args=["run", "MODEL", "--out", "OUT", "--memory-gb", gb], expect=(0, 1)))

    def big_csv(d):
        with open(os.path.join(d, "sg.csv"), "w") as f:
            f.writelines(f"{k % 1000}, {k * 1e-6}\n" for k in range(2000000))
    for gb in ("0.05", "0.07", "0.1"):
        c.append(Case(2, f"2M generator spikes under {gb} GB",
                      "SpikeGeneratorGroup g(1000):\n    file: sg.csv\nrun 1*ms\n",
                      setup=big_csv, expect=(0, 1),
                      args=["run", "MODEL", "--out", "OUT", "--memory-gb", gb]))
    lin = ("NeuronGroup G(10000000):\n    model:\n        dv/dt = -v/(10*ms) : 1\n"
           "G.v = linspace(0, 1, 10000000)\nrun 0.1*ms\n")
    for gb in ("0.2", "0.28", "0.4"):
        c.append(Case(2, f"linspace 1e7 under {gb} GB", lin, expect=(0, 1),
                      args=["run", "MODEL", "--out", "OUT", "--memory-gb", gb]))
    rec = lif("StateMonitor m(G):\n    variables: v\n    record: all\n", n=20000,
              run="run 200*ms")
    for gb in ("0.05", "0.1"):
        c.append(Case(2, f"streamed recording under {gb} GB", rec, expect=(0, 1),
                      args=["run", "MODEL", "--out", "OUT", "--memory-gb", gb]))
    syn = lif("Synapses S(G -> G):\n    model:\n        w : 1\n    on_pre: v_post += w\n"
              "    connect: p=0.05\n", n=10000, run="run 1*ms")
    for gb in ("0.1", "0.2", "0.4"):
        c.append(Case(2, f"5M synapses under {gb} GB", syn, expect=(0, 1),
                      args=["run", "MODEL", "--out", "OUT", "--memory-gb", gb]))
    delays = lif("Synapses S(G -> G):\n    on_pre: v_post += 0.1\n"
                 "    delay: rand()*500*second\n    connect: i == j\n")
    for gb in ("0.1", "0.2"):
        c.append(Case(2, f"random 500 s delays under {gb} GB", delays, expect=(0, 3),
                      args=["run", "MODEL", "--out", "OUT", "--memory-gb", gb]))
    # 3.
    def symlink_zero(d):
        os.symlink("/dev/zero", os.path.join(d, "zero.model"))
    c.append(Case(3, "model symlink to /dev/zero", args=["check", "DIR/zero.model"],
                  setup=symlink_zero, expect=(2,), deadline=20))
    def sparse_model(d):
        with open(os.path.join(d, "big.model"), "wb") as f:
            f.truncate(10 << 30)
    c.append(Case(3, "10 GB sparse model", args=["check", "DIR/big.model"],
                  setup=sparse_model, expect=(2,), deadline=20))
    def sparse_data(d):
        with open(os.path.join(d, "big.npy"), "wb") as f:
            f.truncate(10 << 30)
    c.append(Case(3, "10 GB sparse data file", "TimedArray s:\n    dt: 1*ms\n"
                  "    file: big.npy\nrun 1*ms\n", setup=sparse_data, expect=(1, 2),
                  deadline=30))
    c.append(Case(3, "data file /dev/random", "SpikeGeneratorGroup g(2):\n"
                  "    file: /dev/random\nrun 1*ms\n", expect=(1, 2), deadline=20))
    c.append(Case(3, "model /dev/stdin", args=["check", "/dev/stdin"], expect=(1, 2),
                  located=False, deadline=20))
    c.append(Case(3, "model /proc/self/environ", args=["check", "/proc/self/environ"],
                  expect=(1, 2), deadline=20))
    # 4.
    expr = "1" + "+1" * 100000
    c.append(Case(4, "100k-term sum", f"x = {expr}\nrun 1*ms\n", expect=(0, 1), deadline=30))
    prod = "1" + "*1" * 100000
    c.append(Case(4, "100k-factor product", f"x = {prod}\nrun 1*ms\n", expect=(0, 1),
                  deadline=30))
    chain = "NeuronGroup G(1):\n    model:\n        dx0/dt = -x0/(10*ms) : 1\n" + "".join(
        f"        dx{k}/dt = (x{k-1} - x{k})/(10*ms) : 1\n" for k in range(1, 400)) + \
        "    method: exact\nrun 1*ms\n"
    c.append(Case(4, "400 coupled exact", chain, expect=(0, 1), deadline=60))
    consts = "".join(f"c{k} = {k}*mV\n" for k in range(5000))
    errs = "".join(f"y{k} = c{k}x\n" for k in range(5000))
    c.append(Case(4, "5k near-miss names beside 5k constants", consts + errs, expect=(1,),
                  deadline=20))
    many_mon = lif("".join(f"SpikeMonitor s{k}(G)\n" for k in range(2000)))
    c.append(Case(4, "2000 monitors", many_mon, expect=(0,), mode="run", deadline=120))
    regs = lif("".join(f"    run_regularly:\n        code:\n            v = v*1.0\n"
                       for _ in range(1000)))
    c.append(Case(4, "1000 run_regularly", regs, expect=(0, 1), deadline=60))
    c.append(Case(4, "--buffer-mb 1e15", lif(), args=["run", "MODEL", "--out", "OUT",
                  "--buffer-mb", "1000000000000000"], expect=(2,), located=False))
    c.append(Case(4, "--memory-gb 1e30", lif(), args=["run", "MODEL", "--out", "OUT",
                  "--memory-gb", "1e30"], expect=(0, 2), located=False))
    # 5.
    c.append(Case(5, "state var named metadata", lif(
        "NeuronGroup H(2):\n    model:\n        metadata : 1\n"
        "StateMonitor m(H):\n    variables: metadata\n    record: all\n"), expect=(0, 1),
        mode="run"))
    c.append(Case(5, "state var named record", lif(
        "NeuronGroup H(2):\n    model:\n        record : 1\n"
        "StateMonitor m(H):\n    variables: record\n    record: all\n"), expect=(0, 1),
        mode="run"))
    c.append(Case(5, "spike monitor var i", lif("SpikeMonitor s(G):\n    variables: v, i\n"),
                  expect=(0, 1), mode="run"))
    c.append(Case(5, "monitor named like group", lif("SpikeMonitor G(G)\n"), expect=(0, 1),
                  mode="run"))
    c.append(Case(5, "monitor names differing by case", lif(
        "SpikeMonitor s(G)\nSpikeMonitor S(G)\n"), expect=(0, 1), mode="run"))
    c.append(Case(5, "200-char monitor name", lif("SpikeMonitor " + "m" * 200 + "(G)\n"),
                  expect=(0, 1), mode="run"))
    c.append(Case(5, "rate monitor var", lif("PopulationRateMonitor r(G)\nSpikeMonitor rate(G)\n"),
                  expect=(0,), mode="run"))
    # 6.
    def earlier_other_model(d):
        with open(os.path.join(d, "a.model"), "w") as f:
            f.write(lif("SpikeMonitor olds(G)\nStateMonitor oldt(G):\n    variables: v\n"
                        "    record: 0\n"))
        subprocess.run([RHEO, "run", os.path.join(d, "a.model"), "--out",
                        os.path.join(d, "out"), "--quiet"], check=True)
    c.append(Case(6, "another model's run in OUT", lif("SpikeMonitor news(G)\n"),
                  mode="run", setup=earlier_other_model, expect=(0,)))
    c.append(Case(6, "SIGKILL over another model's run", lif(
        "SpikeMonitor news(G)\n", n=20000, run="run 100*second"), mode="run",
        setup=earlier_other_model, signal_after=(3.0, [signal.SIGKILL]), expect=(-9,)))
    c.append(Case(6, "interrupt over another model's run", lif(
        "SpikeMonitor news(G)\n", n=20000, run="run 100*second"), mode="run",
        setup=earlier_other_model, signal_after=(3.0, [signal.SIGINT]), expect=(130,)))
    def stray_files(d):
        os.makedirs(os.path.join(d, "out"))
        for name in ("news.npz", "notes.txt", "run.json.tmp"):
            with open(os.path.join(d, "out", name), "w") as f:
                f.write("stale")
    c.append(Case(6, "stale archive of this run's name", lif("SpikeMonitor news(G)\n"),
                  mode="run", setup=stray_files, expect=(0,)))
    # 7.
    c.append(Case(7, "spikes fill a 64 kB disk", lif("SpikeMonitor s(G)\n", n=100,
                  run="run 5*second"), mode="run", tmpfs_kb=64,
                  args=["run", "MODEL", "--out", "OUT", "--buffer-mb", "0"], expect=(3,)))
    c.append(Case(7, "state recording too big for 256 kB", lif(
        "StateMonitor m(G):\n    variables: v\n    record: all\n", n=1000, run="run 1*second"),
        mode="run", tmpfs_kb=256, expect=(1,)))
    c.append(Case(7, "archive assembly does not fit", lif("SpikeMonitor s(G)\n", n=100,
                  run="run 2*second"), mode="run", tmpfs_kb=200,
                  args=["run", "MODEL", "--out", "OUT", "--buffer-mb", "0"], expect=(0, 3)))
    c.append(Case(7, "disk of 8 kB", lif("SpikeMonitor s(G)\n"), mode="run", tmpfs_kb=8,
                  expect=(0, 2, 3), located=False))
    c.append(Case(7, "recording fills a 1 MB disk mid-run", lif(
        "StateMonitor m(G):\n    variables: v\n    record: all\nSpikeMonitor s(G)\n", n=200,
        run="run 1*second"), mode="run", tmpfs_kb=1024,
        args=["run", "MODEL", "--out", "OUT", "--buffer-mb", "0"], expect=(1, 3)))
    c.append(Case(7, "two monitors, second does not fit", lif(
        "SpikeMonitor a(G)\nSpikeMonitor b(G)\n", n=100, run="run 3*second"), mode="run",
        tmpfs_kb=160, args=["run", "MODEL", "--out", "OUT", "--buffer-mb", "0"],
        expect=(0, 3)))
    c.append(Case(7, "plot onto a full disk", lif("PopulationRateMonitor r(G)\n",
                  run="run 100*ms"), mode="run", tmpfs_kb=48,
                  args=["run", "MODEL", "--out", "OUT", "--plot"], expect=(0,)))
    # 8.
    c.append(Case(8, "1//0 into integer", lif(
        "NeuronGroup H(1):\n    model:\n        k : integer\nH.k = 1//0\n"), expect=(1,)))
    c.append(Case(8, "-2**31-1 into integer", lif(
        "NeuronGroup H(1):\n    model:\n        k : integer\nH.k = -2**31 - 1\n"),
        expect=(1,)))
    c.append(Case(8, "integer grows past int32 at run time", lif(
        "NeuronGroup H(1):\n    model:\n        k : integer\n"
        "    run_regularly:\n        code:\n            k = k*2 + 1\n"
        "StateMonitor m(H):\n    variables: k\n    record: 0\n", run="run 10*ms"),
        mode="run", expect=(3,)))
    c.append(Case(8, "TimedArray column N - i", """defaultclock.dt = 0.1*ms
TimedArray stim:
    dt: 1*ms
    values: [[0, 1], [2, 3]]*nA
NeuronGroup G(2):
    model:
        dv/dt = (stim(t, N - i)*100*Mohm - v)/(10*ms) : volt
run 3*ms
""", mode="run", expect=(1,)))
    c.append(Case(8, "TimedArray column i % 2 is fine", """defaultclock.dt = 0.1*ms
TimedArray stim:
    dt: 1*ms
    values: [[0, 1], [2, 3]]*nA
NeuronGroup G(5):
    model:
        dv/dt = (stim(t, i % 2)*100*Mohm - v)/(10*ms) : volt
run 3*ms
""", mode="run", expect=(0,)))
    c.append(Case(8, "TimedArray column in threshold from variable", """defaultclock.dt = 0.1*ms
TimedArray stim:
    dt: 1*ms
    values: [[0, 1], [2, 3]]
NeuronGroup G(2):
    model:
        dv/dt = -v/(10*ms) : 1
        k : integer
    threshold: stim(t, k) > 0.5
G.k = 9
SpikeMonitor s(G)
run 3*ms
""", mode="run", expect=(1, 3)))
    # 9.
    for bad in ("inf*ms", "-1*ms", "0*ms/0"):
        c.append(Case(9, f"refractory {bad}", lif(f"    refractory: {bad}")))
        c.append(Case(9, f"delay {bad}", lif(
            "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n"
            f"    delay: {bad}\n    connect: i == j\n")))
        c.append(Case(9, f"monitor dt {bad}", lif(
            f"StateMonitor m(G):\n    variables: v\n    record: 0\n    dt: {bad}\n")))
        c.append(Case(9, f"period {bad}", "SpikeGeneratorGroup g(2):\n    indices: [0]\n"
                      f"    times: [1]*ms\n    period: {bad}\nrun 2*ms\n"))
        c.append(Case(9, f"TimedArray dt {bad}", "TimedArray s:\n"
                      f"    dt: {bad}\n    values: [1, 2]\nrun 1*ms\n"))
        c.append(Case(9, f"defaultclock.dt {bad}", f"defaultclock.dt = {bad}\n" + lif()))
    c.append(Case(9, "run inf", lif(run="run inf*second")))
    c.append(Case(9, "PoissonGroup rates inf", "PoissonGroup P(3):\n    rates: inf*Hz\nrun 1*ms\n"))
    c.append(Case(9, "PoissonGroup rates NaN", "PoissonGroup P(3):\n    rates: (0/0)*Hz\nrun 1*ms\n"))
    c.append(Case(9, "PoissonInput N 1.5", lif(
        "PoissonInput p(G.v):\n    N: 1.5\n    rate: 1*Hz\n    weight: 0.1\n")))
    c.append(Case(9, "PoissonInput rate NaN", lif(
        "PoissonInput p(G.v):\n    N: 10\n    rate: (0/0)*Hz\n    weight: 0.1\n")))
    c.append(Case(9, "PoissonInput into constant", lif(
        "    namespace:\n        q = 1\nPoissonInput p(G.q):\n    N: 10\n    rate: 1*Hz\n"
        "    weight: 0.1\n")))
    c.append(Case(9, "sample size -1", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n"
        "    connect: j='k for k in sample(10, size=-1)'\n")))
    c.append(Case(9, "range(0.5, 3)", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n"
        "    connect: j='k for k in range(0.5, 3)'\n")))
    c.append(Case(9, "j='i/3'", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: j='i/3'\n")))
    c.append(Case(9, "constant 1/0", "x = 1/0\n" + lif("G.v = x\n")))
    c.append(Case(9, "seed(-1)", "seed(-1)\n" + lif()))
    c.append(Case(9, "seed(1.5)", "seed(1.5)\n" + lif()))
    c.append(Case(9, "group size -5", lif(n="-5")))
    c.append(Case(9, "group size 0", lif(n="0"), expect=(0, 1)))
    c.append(Case(9, "record beyond group", lif(
        "StateMonitor m(G):\n    variables: v\n    record: 100\n")))
    c.append(Case(9, "record -1", lif("StateMonitor m(G):\n    variables: v\n    record: -1\n")))
    c.append(Case(9, "record empty range", lif(
        "StateMonitor m(G):\n    variables: v\n    record: 5:2\n"), expect=(0, 1)))
    c.append(Case(9, "p=-0.1", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: p=-0.1\n")))
    c.append(Case(9, "threshold not boolean", lif("    threshold: v + 1")))
    c.append(Case(9, "only comments", "# nothing\n\n# here\n"))
    # Brian2 runs nothing without `run`; a valid model.
    c.append(Case(9, "no run", lif(run=""), expect=(0,)))
    # 10.
    c.append(Case(10, "empty slice message", lif("SpikeMonitor s(G[5:2])\n"),
                  expect=(0, 1), forbid=("5:5",)))
    c.append(Case(10, "seed 2**64", "seed(2**64)\n" + lif(), forbid=("not a whole number",)))
    c.append(Case(10, "check never says -0", lif(), expect=(0,), forbid=("-0 ",)))
    c.append(Case(10, "disk message never equal", lif(
        "StateMonitor m(G):\n    variables: v\n    record: all\n", n=1000, run="run 1*second"),
        mode="run", tmpfs_kb=300, expect=(1,), forbid=("more than the 300 kB",)))
    c.append(Case(10, "delay 1e300 on a variable", lif(
        "Synapses S(G -> G):\n    model:\n        d : second\n    on_pre: v_post += 0.1\n"
        "    delay: d\n    connect: i == j\nS.delay = (i + 1)*1e300*second\n"), mode="run",
        expect=(1, 3), forbid=("0" * 40,)))
    c.append(Case(10, "2-D values without unit in equation", """TimedArray s:
    dt: 1*ms
    values: [[0, 1], [2, 3]]
NeuronGroup G(2):
    model:
        dv/dt = (s(t, i) - v)/(10*ms) : 1
run 1*ms
""", expect=(0,)))
    c.append(Case(10, "failed TimedArray does not cascade", """TimedArray s:
    dt: 1*ms
    values: [[0, 1], [2]]
NeuronGroup G(2):
    model:
        dv/dt = (s(t, i) - v)/(10*ms) : 1
run 1*ms
""", forbid=("unknown function",)))
    c.append(Case(10, "NaN from a reset", lif(run="run 30*ms").replace("reset: v = 0",
                                                                       "reset: v = sqrt(-1.0)"),
                  mode="run", expect=(3,), require=("0/0",)))
    c.append(Case(10, "absurd --rate-width-ms", lif("PopulationRateMonitor r(G)\n"),
                  mode="run", args=["run", "MODEL", "--out", "OUT", "--plot",
                                    "--rate-width-ms", "100000000"], expect=(0, 2),
                  located=False, deadline=30))
    c.append(Case(10, "--out is /dev/null", lif(), args=["run", "MODEL", "--out", "/dev/null"],
                  expect=(2,), located=False))
    # 11.
    jit_heavy = "".join(
        f"NeuronGroup G{k}(10):\n    model:\n        dv/dt = (1.2 - v)/(10*ms) : 1\n"
        f"    threshold: v > 1\n    reset: v = 0\nSpikeMonitor s{k}(G{k})\n"
        for k in range(400)) + "run 1*ms\n"
    for after in (0.5, 1.5, 3.0):
        c.append(Case(11, f"SIGINT in lowering/JIT after {after} s", jit_heavy, mode="run",
                      signal_after=(after, [signal.SIGINT]), expect=(0, 130), deadline=120))
    rec = lif("StateMonitor m(G):\n    variables: v\n    record: all\n", n=5000,
              run="run 1*second")
    for after in (2.0, 6.0):
        c.append(Case(11, f"SIGINT while recording after {after} s", rec, mode="run",
                      args=["run", "MODEL", "--out", "OUT", "--buffer-mb", "4"],
                      signal_after=(after, [signal.SIGINT]), expect=(0, 130), deadline=120))
    c.append(Case(11, "SIGHUP during connect", lif(
        "Synapses S(G -> G):\n    on_pre: v_post += 0.1\n    connect: condition='i != j'\n",
        n=30000), mode="run", args=["run", "MODEL", "--out", "OUT", "--memory-gb", "2"],
        signal_after=(2.0, [signal.SIGHUP]), expect=(130,), deadline=120))
    c.append(Case(11, "SIGTERM twice early", jit_heavy, mode="run",
                  signal_after=(0.5, [signal.SIGTERM, signal.SIGTERM]), expect=(130,),
                  deadline=120))
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rheo", default="target/debug/rheo")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--only", type=int, default=None)
    a = ap.parse_args()
    rheo = os.path.abspath(a.rheo)
    global RHEO
    RHEO = rheo
    scratch = tempfile.mkdtemp(prefix="rheo-battery-")
    per = {}
    bad_total = tried_total = 0
    try:
        for case in cases() + more_cases():
            if a.only is not None and case.cls != a.only:
                continue
            verdict, detail = run_case(rheo, case, scratch)
            if verdict == "skip":
                print(f"skip  [{case.cls}] {case.name}: {detail}")
                continue
            bad, tried = per.get(case.cls, (0, 0))
            per[case.cls] = (bad + (verdict == "bad"), tried + 1)
            if verdict == "bad" or a.v:
                print(f"{'BAD ' if verdict == 'bad' else 'ok  '} [{case.cls}] {case.name}: {detail}",
                      flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for cls in sorted(per):
        bad, tried = per[cls]
        bad_total += bad
        tried_total += tried
        print(f"class {cls:2}: {bad} / {tried}")
    print(f"mishandled / tried: {bad_total} / {tried_total}")
    sys.exit(1 if bad_total else 0)


if __name__ == "__main__":
    main()
