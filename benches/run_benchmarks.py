#!/usr/bin/env python3
"""rheobase vs Brian2 (C++ standalone) benchmark harness.

Run from the repository root with the Brian2 venv's python:

    ~/.brian2-venv/bin/python benches/run_benchmarks.py

For every benches/models/NAME.model (and its Brian2 twin benches/brian2/NAME.py)
it runs, interleaved and repeated (`--reps`, default 3, median reported):

  * rheo, --threads 1 and --threads 2
  * Brian2 C++ standalone in a fresh project directory (so g++ compiles
    everything: the cost a user pays), without OpenMP and with OpenMP 2 threads
  * once, Brian2 1 thread in a directory that was already built ("cached":
    code is regenerated but make recompiles nothing)

and measures the whole process wall time from outside (process start to exit),
plus each tool's own split: rheo's run.json wall_seconds (parse, compile =
check/lower + JIT, simulate), Brian2's code generation, `make` (g++) and
Network.run time inside the compiled binary (device._last_run_time).
Spike counts of both are reported as a sanity check.

Then it measures "small model text to results" latency: the whole
`rheo run spec-examples/lif.model` process, 20 times, median.

Writes a markdown report to stdout and to docs/benchmarks.md (`--no-write` to
skip) and the raw numbers to benches/results.json.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, "benches", "models")
BRIAN2_DIR = os.path.join(ROOT, "benches", "brian2")
DEFAULT_MODELS = ["lif_100k", "izhikevich_20k", "hh_1k", "adex_5k", "noise_10k"]
STOCHASTIC = {"noise_10k"}
LATENCY_MODEL = "spec-examples/lif.model"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def machine_info():
    model = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    return {
        "cpu": model or platform.processor(),
        "nproc": sh("nproc"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "gcc": sh("g++ --version").splitlines()[0] if sh("g++ --version") else "",
        "rustc": sh("rustc --version"),
        "loadavg": os.getloadavg(),
        "git": sh(f"git -C {ROOT} rev-parse --short HEAD")
               + (" + uncommitted changes" if sh(f"git -C {ROOT} status --porcelain -- crates Cargo.toml Cargo.lock") else ""),
    }


def build_rheo(args):
    """Build (unless --no-build) and copy the binary to a private place so that
    concurrent builds in the shared target dir cannot swap it mid-run."""
    src = args.rheo or os.path.join(ROOT, "target", "release", "rheo")
    if not args.rheo and not args.no_build:
        log("building rheo (cargo build --release -p rheobase-cli) ...")
        r = subprocess.run(["cargo", "build", "--release", "-p", "rheobase-cli"],
                           cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            log(r.stderr[-3000:])
            if not os.path.exists(src):
                sys.exit("cargo build failed and there is no target/release/rheo")
            log("cargo build failed; using the existing target/release/rheo")
    if not os.path.exists(src):
        sys.exit(f"no rheo binary at {src}")
    private = os.path.join(tempfile.mkdtemp(prefix="rheo_bench_bin_"), "rheo")
    shutil.copy2(src, private)
    return private, src


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd, cwd=ROOT):
    """Wall time and CPU time (user + system, the process and everything it
    waited for, e.g. g++) of one command."""
    c0 = children_cpu()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu = children_cpu() - c0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    timed.last_cpu = cpu
    return wall, r.stdout


def run_rheo(rheo, model, threads):
    out = tempfile.mkdtemp(prefix="rheo_bench_out_")
    try:
        wall, _ = timed([rheo, "run", os.path.join(MODELS_DIR, model + ".model"),
                         "--out", out, "--threads", str(threads)])
        with open(os.path.join(out, "run.json")) as f:
            info = json.load(f)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    ws = info["wall_seconds"]
    return {
        "total": wall,
        "cpu": timed.last_cpu,
        "parse": ws["parse"],
        "compile": ws["parse"] + ws["compile"],   # compile already includes jit
        "jit": ws["jit"],
        "simulate": ws["simulate"],
        "spikes": sum(g["spikes"] for g in info["groups"]),
        "threads_reported": info.get("threads"),
        "status": info.get("status"),
    }


def run_brian2(model, threads, directory=None):
    cmd = [sys.executable, os.path.join(BRIAN2_DIR, model + ".py"), "--threads", str(threads)]
    if directory:
        cmd += ["--dir", directory]
    wall, stdout = timed(cmd, cwd=BRIAN2_DIR)
    line = [ln for ln in stdout.splitlines() if ln.startswith("BENCH_JSON ")][-1]
    info = json.loads(line[len("BENCH_JSON "):])
    info["total"] = wall
    info["cpu"] = timed.last_cpu
    # "compile": everything before the binary starts: Python setup, code
    # generation and g++ (import of brian2 is left in total only)
    info["compile"] = info["setup"] + info["codegen"] + info["make"]
    return info


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def fmt_s(x):
    if x != x:  # nan
        return "–"
    if x < 0.1:
        return f"{x*1000:.1f} ms"
    return f"{x:.2f} s"


def ratio(a, b):
    return f"{a/b:.2f}×" if b and b == b and a == a else "–"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions per configuration (median reported)")
    ap.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("--rheo", help="use this rheo binary instead of building target/release/rheo")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build")
    ap.add_argument("--no-brian2-omp", action="store_true", help="skip Brian2 with OpenMP 2 threads")
    ap.add_argument("--omp-reps", type=int, default=1,
                    help="repetitions of Brian2 OpenMP 2 threads (slow on a loaded machine; default 1)")
    ap.add_argument("--no-cached", action="store_true", help="skip the Brian2 cached-build run")
    ap.add_argument("--latency-runs", type=int, default=20)
    ap.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = ap.parse_args()

    started = datetime.datetime.now()
    info = machine_info()
    rheo, rheo_src = build_rheo(args)
    log(f"machine: {info['cpu']}, {info['nproc']} cores, load {info['loadavg']}")

    configs = [("rheo", 1), ("rheo", 2), ("brian2", 0)]
    if not args.no_brian2_omp:
        configs.append(("brian2", 2))
    results = {m: {c: [] for c in configs} for m in args.models}
    cached = {}

    # Interleave: rep-major, so that slow drifts of the (shared) machine's load
    # hit every configuration alike.
    for rep in range(args.reps):
        for model in args.models:
            for cfg in configs:
                tool, threads = cfg
                if cfg == ("brian2", 2) and rep >= args.omp_reps:
                    continue
                r = run_rheo(rheo, model, threads) if tool == "rheo" else run_brian2(model, threads)
                results[model][cfg].append(r)
                log(f"rep {rep+1}/{args.reps} {model:16s} {tool:6s} threads={threads}: "
                    f"total {r['total']:.2f}s compile {r['compile']:.2f}s "
                    f"simulate {r['simulate']:.3f}s spikes {r['spikes']}")
    if not args.no_cached:
        for model in args.models:
            d = tempfile.mkdtemp(prefix="b2bench_cached_")
            try:
                run_brian2(model, 0, d)              # build once
                cached[model] = run_brian2(model, 0, d)
            finally:
                shutil.rmtree(d, ignore_errors=True)
            r = cached[model]
            log(f"cached   {model:16s} brian2 threads=0: total {r['total']:.2f}s make {r['make']:.2f}s")

    # Latency: small model text to results, whole process.
    lat_out = tempfile.mkdtemp(prefix="rheo_bench_lat_")
    lat = []
    lat_cpu = []
    try:
        timed([rheo, "run", LATENCY_MODEL, "--out", lat_out])   # warm the page cache
        for _ in range(args.latency_runs):
            lat.append(timed([rheo, "run", LATENCY_MODEL, "--out", lat_out])[0])
            lat_cpu.append(timed.last_cpu)
        with open(os.path.join(lat_out, "run.json")) as f:
            lat_info = json.load(f)
    finally:
        shutil.rmtree(lat_out, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()

    shutil.rmtree(os.path.dirname(rheo), ignore_errors=True)   # the private copy
    report = render(args, info, started, results, cached, lat, lat_cpu, lat_info, configs)
    print(report)
    raw = {
        "date": started.isoformat(timespec="seconds"), "machine": info, "reps": args.reps,
        "rheo_binary": rheo_src,
        "results": {m: {f"{t}_{n}": v for (t, n), v in rs.items()} for m, rs in results.items()},
        "brian2_cached": cached, "latency_seconds": lat, "latency_cpu_seconds": lat_cpu, "latency_run_json": lat_info,
    }
    with open(os.path.join(ROOT, "benches", "results.json"), "w") as f:
        json.dump(raw, f, indent=1)
    if not args.no_write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        marker = "<!-- discussion -->"
        tail = ""
        if os.path.exists(path):
            old = open(path).read()
            if marker in old:
                tail = old[old.index(marker):]   # keep the hand-written discussion
        with open(path, "w") as f:
            f.write(report + "\n" + (tail or marker + "\n"))
        log(f"wrote {path}")


def render(args, info, started, results, cached, lat, lat_cpu, lat_info, configs):
    L = []
    L.append("# Benchmarks: rheobase vs Brian2 (C++ standalone)")
    L.append("")
    L.append(f"Measured {started:%Y-%m-%d %H:%M} on {info['cpu']} ({info['nproc']} cores), "
             f"Linux {info['kernel']}, {info['gcc']}, {info['rustc']}, Brian2 "
             f"{brian2_version(results)}; rheo built from {info['git']}. "
             f"Load average at start {info['loadavg'][0]:.1f}, at end {info['loadavg_end'][0]:.1f} "
             "(shared machine: other builds ran concurrently).")
    L.append("")
    L.append("Reproduce (from the repository root):")
    L.append("")
    L.append("```sh")
    L.append("~/.brian2-venv/bin/python benches/run_benchmarks.py" + (f" --reps {args.reps}" if args.reps != 3 else ""))
    L.append("```")
    L.append("")
    L.append(f"Every number is the median of {args.reps} runs (Brian2 with OpenMP: "
             f"{min(args.omp_reps, args.reps)} run(s), Brian2 cached build: 1 run); configurations were run "
             "interleaved. *total* = whole process, start to exit, measured from "
             "outside (rheo: parse, compile, JIT, simulate, write .npz; Brian2: Python "
             "start, `import brian2`, code generation, g++ in a fresh directory, run, "
             "read the spikes back). *compile* = rheo parse + check/lower + JIT "
             "(run.json); Brian2 object setup + code generation + `make` (g++). "
             "*simulate* = rheo's simulate phase; Brian2's `device._last_run_time` "
             "(Network.run inside the compiled binary).")
    L.append("")
    L.append("## Time to results (whole process)")
    L.append("")
    hdr = "| model | neurons × steps | rheo 1 thr | rheo 2 thr | Brian2 1 thr | Brian2 OpenMP 2 |"
    if cached:
        hdr += " Brian2 cached build |"
    hdr += " rheo/Brian2 (1 thr) | rheo/Brian2 (2 thr) |"
    L.append(hdr)
    L.append("|" + "---|" * (hdr.count("|") - 1))
    for m, rs in results.items():
        r1, r2 = rs[("rheo", 1)], rs[("rheo", 2)]
        b1 = rs[("brian2", 0)]
        b2 = rs.get(("brian2", 2), [])
        size = model_size(m)
        row = f"| {m} | {size} | {fmt_s(med(r1, 'total'))} | {fmt_s(med(r2, 'total'))} | " \
              f"{fmt_s(med(b1, 'total'))} | {fmt_s(med(b2, 'total')) if b2 else '–'} |"
        if cached:
            row += f" {fmt_s(cached[m]['total']) if m in cached else '–'} |"
        row += f" {ratio(med(r1, 'total'), med(b1, 'total'))} | " \
               f"{ratio(med(r2, 'total'), med(b2, 'total')) if b2 else '–'} |"
        L.append(row)
    L.append("")
    L.append("Ratios are rheo time / Brian2 time: below 1 means rheo is faster.")
    L.append("")
    L.append("CPU time (user + system of the process and its children, e.g. g++; "
             "less sensitive than wall time to other jobs on a shared machine), 1 thread:")
    L.append("")
    L.append("| model | rheo CPU | Brian2 CPU (fresh build) | rheo/Brian2 |")
    L.append("|---|---|---|---|")
    for m, rs in results.items():
        a, b = med(rs[("rheo", 1)], "cpu"), med(rs[("brian2", 0)], "cpu")
        L.append(f"| {m} | {fmt_s(a)} | {fmt_s(b)} | {ratio(a, b)} |")
    L.append("")
    L.append("## Compile vs simulate")
    L.append("")
    hdr = ("| model | rheo compile (parse+lower+JIT) | Brian2 compile (codegen+g++) | "
           "rheo simulate 1 thr | rheo simulate 2 thr | Brian2 simulate 1 thr | "
           "Brian2 simulate OpenMP 2 | simulate ratio 1 thr | simulate ratio 2 thr |")
    L.append(hdr)
    L.append("|" + "---|" * (hdr.count("|") - 1))
    for m, rs in results.items():
        r1, r2, b1 = rs[("rheo", 1)], rs[("rheo", 2)], rs[("brian2", 0)]
        b2 = rs.get(("brian2", 2), [])
        L.append(f"| {m} | {fmt_s(med(r1, 'compile'))} | {fmt_s(med(b1, 'compile'))} "
                 f"(g++ {fmt_s(med(b1, 'make'))}) | {fmt_s(med(r1, 'simulate'))} | "
                 f"{fmt_s(med(r2, 'simulate'))} | {fmt_s(med(b1, 'simulate'))} | "
                 f"{fmt_s(med(b2, 'simulate')) if b2 else '–'} | "
                 f"{ratio(med(r1, 'simulate'), med(b1, 'simulate'))} | "
                 f"{ratio(med(r2, 'simulate'), med(b2, 'simulate')) if b2 else '–'} |")
    L.append("")
    L.append("Simulate ratio = rheo simulate / Brian2 simulate (below 1: rheo's "
             "generated code is faster).")
    L.append("")
    L.append("## Spike counts (sanity check)")
    L.append("")
    L.append("| model | rheo 1 thr | rheo 2 thr | Brian2 1 thr | Brian2 OpenMP 2 | rheo − Brian2 |")
    L.append("|---|---|---|---|---|---|")
    for m, rs in results.items():
        def sp(c):
            v = sorted({r["spikes"] for r in rs.get(c, [])})
            return "/".join(str(x) for x in v) if v else "–"
        rs1 = med(rs[("rheo", 1)], "spikes")
        bs1 = med(rs[("brian2", 0)], "spikes")
        diff = (rs1 - bs1) / bs1 * 100 if bs1 else float("nan")
        note = " (stochastic: statistical agreement only)" if m in STOCHASTIC else ""
        L.append(f"| {m} | {sp(('rheo', 1))} | {sp(('rheo', 2))} | {sp(('brian2', 0))} | "
                 f"{sp(('brian2', 2))} | {diff:+.3f} %{note} |")
    L.append("")
    L.append("## Small model: text to results, whole process")
    L.append("")
    groups = ", ".join(f"{g['name']}({g['neurons']})" for g in lat_info["groups"])
    ws = lat_info["wall_seconds"]
    L.append(f"`rheo run {LATENCY_MODEL} --out DIR` ({groups}, {lat_info['steps']} steps, "
             f"SpikeMonitor + StateMonitor + PopulationRateMonitor), "
             f"{len(lat)} runs: median **{fmt_s(statistics.median(lat))}**, "
             f"min {fmt_s(min(lat))}, max {fmt_s(max(lat))}; CPU time (user + system) median "
             f"{fmt_s(statistics.median(lat_cpu))}. Inside one run (run.json): "
             f"parse {fmt_s(ws['parse'])}, check/lower {fmt_s(ws['check_and_lower'])}, "
             f"JIT {fmt_s(ws['jit'])}, simulate {fmt_s(ws['simulate'])}. Target: well under 50 ms.")
    L.append("")
    return "\n".join(L)


def brian2_version(results):
    for rs in results.values():
        for (tool, _), runs in rs.items():
            if tool == "brian2" and runs:
                return runs[0].get("brian2_version", "?")
    return "?"


def model_size(name):
    """'neurons × steps' read from the model file (simple text scan)."""
    n = steps = None
    dt, dur = 1e-4, None
    units = {"ms": 1e-3, "second": 1.0, "us": 1e-6}
    try:
        for line in open(os.path.join(MODELS_DIR, name + ".model")):
            s = line.split("#")[0].strip()
            if s.startswith("NeuronGroup"):
                n = int(s[s.index("(") + 1:s.index(")")])
            elif s.startswith("defaultclock.dt"):
                v, u = s.split("=")[1].strip().split("*")
                dt = float(v) * units[u]
            elif s.startswith("run "):
                v, u = s[4:].strip().split("*")
                dur = float(v) * units[u]
        steps = round(dur / dt)
        return f"{n:,} × {steps:,}".replace(",", " ")
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
