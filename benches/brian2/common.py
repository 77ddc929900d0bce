"""Shared harness for the Brian2 benchmark scripts (C++ standalone mode).

Each script in this folder builds one model of benches/models/ with explicit
Brian2 calls.  It is used like this:

    from common import Bench
    bench = Bench()            # parses --threads/--dir, calls set_device(...)
    from brian2 import *
    ... build the network ...
    bench.start()
    run(1*second)              # build_on_run=True: generate code, g++, run
    bench.finish(spike_monitor)

and prints one line `BENCH_JSON {...}` with the timings and the spike count.

Options:
  --threads N   0 (default): no OpenMP; N >= 1: OpenMP with N threads
  --dir DIR     the standalone project directory; default: a fresh temporary
                directory (so g++ compiles everything, the cost a user pays
                the first time), removed afterwards.  Passing the same DIR
                twice gives the "cached" case: Brian2 rewrites only changed
                files and make recompiles nothing.
"""
import time

T_START = time.perf_counter()   # as early as possible: before importing brian2

import argparse
import json
import os
import shutil
import sys
import tempfile


class Bench:
    def __init__(self):
        ap = argparse.ArgumentParser()
        ap.add_argument("--threads", type=int, default=0)
        ap.add_argument("--dir", default=None)
        self.args = ap.parse_args()
        self.fresh = self.args.dir is None
        self.directory = (tempfile.mkdtemp(prefix="b2bench_") if self.fresh
                          else os.path.abspath(self.args.dir))
        import brian2
        from brian2 import set_device, prefs
        self.t_imported = time.perf_counter()
        prefs.logging.console_log_level = "WARNING"
        set_device("cpp_standalone", directory=self.directory, build_on_run=True)
        if self.args.threads > 0:
            prefs.devices.cpp_standalone.openmp_threads = self.args.threads
        self.brian2_version = brian2.__version__

    def start(self):
        """Call right before run(): the network objects exist now."""
        self.t_before_run = time.perf_counter()

    def finish(self, spike_monitor):
        from brian2 import device
        t_after_run = time.perf_counter()
        build_and_run = t_after_run - self.t_before_run
        timers = device.timers
        make = timers["compile"].get("make") or 0.0
        clean = timers["compile"].get("clean") or 0.0
        run_binary = timers.get("run_binary") or 0.0
        spikes = int(spike_monitor.num_spikes)   # read back from disk
        t_end = time.perf_counter()
        result = {
            "brian2_version": self.brian2_version,
            "threads": self.args.threads,
            "fresh_directory": self.fresh,
            "directory": self.directory,
            # seconds, measured inside this Python process
            "import": self.t_imported - T_START,
            "setup": self.t_before_run - self.t_imported,   # object creation
            "codegen": build_and_run - make - clean - run_binary,
            "make": make,                 # g++ (make -j) of the whole project
            "run_binary": run_binary,     # the compiled ./main process
            "simulate": device._last_run_time,   # Network.run inside ./main
            "results": t_end - t_after_run,      # reading spikes back
            "script_total": t_end - T_START,
            "spikes": spikes,
        }
        if self.fresh:
            shutil.rmtree(self.directory, ignore_errors=True)
        print("BENCH_JSON " + json.dumps(result))
        sys.stdout.flush()
