#!/usr/bin/env python3
"""Translate a rheobase `.model` file into a Brian2 script, run it, and write
reference data as JSON.

Usage (from anywhere; paths are resolved relative to the repository root):

    ~/.brian2-venv/bin/python tests/reference/make_reference.py MODEL [MODEL ...]
    ~/.brian2-venv/bin/python tests/reference/make_reference.py --stats MODEL
    ~/.brian2-venv/bin/python tests/reference/make_reference.py --print MODEL   # show the Brian2 calls

For `spec-examples/X.model` the output is `tests/reference/spec-examples/X.json`,
for `tests/models/X.model` it is `tests/reference/models/X.json` (any other
path: `tests/reference/other/X.json`).  With `--stats` the model is also run
with seeds 1..8 (the file's `seed(...)` is overridden) and
`<stem>.stats.json` is written next to `<stem>.json`.  See README.md in this
directory for the schema.

The parser implements the subset of the language of
/work/shared/docs/model-language.md used by our models: constants,
`defaultclock.dt`, `seed`, `run`, `GROUP.VAR = EXPR`, NeuronGroup, Synapses,
PoissonGroup, PoissonInput, SpikeGeneratorGroup (inline lists), TimedArray
(inline values), SpikeMonitor, StateMonitor, PopulationRateMonitor.
Equations, conditions and statements are handed to Brian2 verbatim.
`connect: all` (and `connect: ()`) become `S.connect()`.  A monitor on a
slice `G[a:b]` reports its source as `G[start:stop]` and adds that name with
the slice's size to `sizes` (see README.md).
The numpy code-generation target is used (no compiler needed); for these
models its results equal those of Brian2's C++ standalone mode up to
floating-point rounding (random numbers differ between targets).
"""

import argparse
import gc
import json
import logging
import os
import re
import sys
import time

import numpy as np

import brian2
from brian2 import (
    Clock,
    EventMonitor,
    Network,
    NeuronGroup,
    PoissonGroup,
    PoissonInput,
    PopulationRateMonitor,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    TimedArray,
    defaultclock,
    ms,
    prefs,
    second,
)
from brian2.units.fundamentalunits import Quantity, get_dimensions, DIMENSIONLESS

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REF_DIR = os.path.join(REPO, "tests", "reference")
STATS_SEEDS = list(range(1, 9))

prefs.codegen.target = "numpy"
prefs.logging.console_log_level = "WARNING"
try:
    from brian2.utils.logger import BrianLogger

    BrianLogger.console_handler.setLevel(logging.WARNING)
except Exception:  # pragma: no cover - older/newer Brian2
    pass

# --------------------------------------------------------------------------
# Capture Brian2's automatic method choice from its log.


class _MethodChoiceHandler(logging.Handler):
    pattern = re.compile(r"for group '([^']+)', using method '([^']+)'")

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.chosen = {}

    def emit(self, record):
        m = self.pattern.search(record.getMessage())
        if m:
            self.chosen[m.group(1)] = m.group(2)


_method_handler = _MethodChoiceHandler()
logging.getLogger("brian2").addHandler(_method_handler)

# --------------------------------------------------------------------------
# Lexing: logical lines with indentation.


class ModelSyntaxError(Exception):
    pass


_OPERATOR_END = re.compile(r"(\+|-|\*|/|%|=|<|>|,|\(|\[|\{|\band|\bor|\bnot)\s*$")


def _strip_comment(line):
    quote = None
    for k, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:k]
    return line


def _bracket_depth(s):
    depth = 0
    quote = None
    for ch in s:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth


def logical_lines(text, filename):
    """Return [(lineno, indent, content)] with comments removed, blank lines
    dropped and continuation lines (open bracket / trailing operator) joined."""
    raw = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if "\t" in line:
            col = line.index("\t") + 1
            raise ModelSyntaxError(f"{filename}:{lineno}:{col}: tab character")
        content = _strip_comment(line).rstrip()
        if not content.strip():
            continue
        indent = len(content) - len(content.lstrip(" "))
        raw.append([lineno, indent, content.strip()])
    out = []
    k = 0
    while k < len(raw):
        lineno, indent, content = raw[k]
        while (_bracket_depth(content) > 0 or _OPERATOR_END.search(content)) and k + 1 < len(raw):
            # A trailing ':' of a key is not an operator, so `model:` never joins.
            k += 1
            content = content + " " + raw[k][2]
        out.append((lineno, indent, content))
        k += 1
    return out


def _blocks(lines, start):
    """Split lines[start:] into items: a header line plus the lines indented
    deeper than it. Returns list of (header, [children])."""
    items = []
    k = start
    while k < len(lines):
        header = lines[k]
        children = []
        k += 1
        while k < len(lines) and lines[k][1] > header[1]:
            children.append(lines[k])
            k += 1
        items.append((header, children))
    return items


_KEY = re.compile(r"^((?:on_event|on_pre|on_post|delay)\s+[A-Za-z_]\w*|[A-Za-z_]\w*)\s*:\s*(.*)$")


def parse_body(children, filename):
    """Parse a declaration body into {key: value} where value is a string
    (same-line value) or a list of content strings (indented block).
    Repeated keys (connect:) give a list under key+'*'."""
    body = {}
    repeated = {}
    for header, sub in _blocks(children, 0):
        lineno, _, content = header
        m = _KEY.match(content)
        if not m:
            raise ModelSyntaxError(f"{filename}:{lineno}: expected 'key: value', got {content!r}")
        key = re.sub(r"\s+", " ", m.group(1))
        rest = m.group(2).strip()
        if rest and sub:
            raise ModelSyntaxError(f"{filename}:{lineno}: key {key!r} has a value and a block")
        if sub:
            # keep relative indentation so Brian2 sees its usual multi-line text
            value = [c for (_, _, c) in sub]
        else:
            value = rest
        repeated.setdefault(key, []).append(value)
        body[key] = value
    for key, values in repeated.items():
        body[key + "*"] = values
    return body


def as_lines(value):
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------
# Evaluation namespace for constant expressions.


def base_namespace():
    ns = {}
    import brian2.units.allunits as allunits
    import brian2.units.stdunits as stdunits

    for mod in (allunits, stdunits):
        for k, v in vars(mod).items():
            if not k.startswith("_") and isinstance(v, Quantity):
                ns[k] = v
    for fname in ("exp", "log", "log10", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
                  "arcsin", "arccos", "arctan", "floor", "ceil", "clip", "sign", "abs"):
        ns[fname] = getattr(np, fname) if fname != "abs" else abs
    ns.update(defaultclock=defaultclock, pi=np.pi, e=np.e, inf=np.inf, int=int, float=float, round=round, min=min, max=max, True_=True,
              exprel=lambda x: np.expm1(x) / x if x != 0 else 1.0)
    return ns


def ceval(expr, consts):
    # `defaultclock.dt` read as a value (a TimedArray's `dt:`).
    return eval(expr, {"__builtins__": {}, "True": True, "False": False, "defaultclock": defaultclock}, consts)


def try_ceval(expr, consts):
    """Evaluate a constant expression; None if it refers to non-constants."""
    try:
        return ceval(expr, consts)
    except (NameError, TypeError, SyntaxError):
        return None


# --------------------------------------------------------------------------
# Building and running.

DECL = re.compile(
    r"^(NeuronGroup|Synapses|PoissonGroup|PoissonInput|SpikeGeneratorGroup|TimedArray|Array|Clock|"
    r"SpikeMonitor|EventMonitor|StateMonitor|PopulationRateMonitor)\s+([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*:?\s*$"
)
LINK = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*=\s*linked_var\((.*)\)\s*$")
SETWHERE = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)\[(.*)\]\s*=\s*(.+)$")
# A value that is an array (Brian2's numeric assignment), not a string.
ARRAY_VALUE = re.compile(r"\[|\blinspace\(|\barange\(")
SETVAR = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*=\s*(.+)$")
# `S.pre.when = 'before_groups'`, `G.thresholder['spike'].order = 1`: the
# schedule attribute of a part of a group or Synapses object.
SCHEDULE = re.compile(
    r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:\[\s*['\"]?(\w+)['\"]?\s*\])?\.(when|order)\s*=\s*(.+)$")
# `S.up.delay = 3*ms`: the delay of a named pathway.
PATHWAY_DELAY = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)\.delay\s*=\s*(.+)$")
CONST = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.+)$")
STMT = re.compile(r"^([A-Za-z_]\w*)\s*(=|\+=|-=|\*=|/=|%=)\s*(.+)$")
PLAIN_ZERO = re.compile(r"^\s*0(\.0*)?\s*$")

# `p=` counts only as `connect:`'s keyword: a variable named `p` (an
# equation `p = ...`) draws no random numbers. PoissonInputs are decided
# one by one (`random_inputs`): one at rate 1/dt draws nothing.
RANDOM_RE = re.compile(r"\bxi(_\w+)?\b|\brand\(|\brandn\(|\bPoissonGroup\b|"
                       r"^\s*connect:.*\bp\s*=|\bsample\(|\bpoisson\(", re.M)

METHOD_ALIASES = {"linear": "exact"}


class Runner:
    def __init__(self, path, seed_override=None, verbose=False):
        self.path = os.path.abspath(path)
        self.filename = os.path.relpath(self.path, REPO)
        with open(self.path) as f:
            self.text = f.read()
        self.seed_override = seed_override
        # A PoissonInput draws random numbers unless its rate is 1/dt
        # (every input fires in every step: binomial(N, 1) = N).
        self.random_inputs = False
        self.verbose = verbose
        self.consts = base_namespace()
        self.objects = {}       # name -> Brian object (groups, synapses, inputs)
        self.clocks = {}        # name -> Brian2 Clock (`Clock NAME:`)
        self.subgroups = {}     # `Pe = P[:3200]`: name -> `P[:3200]`
        self.monitors = {}      # name -> (kind, monitor, extra)
        self.net = Network()
        self.seed = None
        self.durations = []
        self.methods = {}
        self.explicit_methods = {}
        self.sizes = {}
        self.synapse_objs = {}
        self.arrays = {}

    def log(self, msg):
        if self.verbose:
            print(msg)

    # -- helpers --
    def group_ref(self, ref):
        m = re.match(r"^\s*([A-Za-z_]\w*)\s*(?:\[(.*)\])?\s*$", ref)
        if not m:
            raise ModelSyntaxError(f"{self.filename}: bad group reference {ref!r}")
        g = self.objects[m.group(1)]
        if m.group(2) is None:
            return g
        a, b = (m.group(2).split(":") + [""])[:2]
        start = int(ceval(a, self.consts)) if a.strip() else None
        stop = int(ceval(b, self.consts)) if b.strip() else None
        return g[slice(start, stop)]

    def monitor_source(self, ref):
        """(Brian object, name used as `source` in the JSON) for a monitor's
        GROUP or GROUP[a:b].  A slice is named `GROUP[start:stop]` with the
        bounds evaluated (Python slice rules), e.g. `P[0:1000]`, and its size
        is added to `sizes` under that name, so that statistics such as
        `mean_rate_hz` divide by the number of monitored neurons.  (Brian2's
        own subgroup names, `P_subgroup_2`, depend on creation order.)"""
        # A named subgroup is recorded, and named, as its slice.
        ref = self.subgroups.get(ref.strip(), ref)
        obj = self.group_ref(ref)
        m = re.match(r"^\s*([A-Za-z_]\w*)\s*(?:\[(.*)\])?\s*$", ref)
        if m.group(2) is None:
            return obj, obj.name
        parent = self.objects[m.group(1)]
        a, b = (m.group(2).split(":") + [""])[:2]
        start = int(ceval(a, self.consts)) if a.strip() else None
        stop = int(ceval(b, self.consts)) if b.strip() else None
        start, stop, _ = slice(start, stop).indices(len(parent))
        label = f"{parent.name}[{start}:{stop}]"
        self.sizes[label] = stop - start
        return obj, label

    def set_expr(self, obj, var, expr):
        """String assignment `obj.var = 'expr'` with our constants as namespace."""
        self.log(f"{obj.name}.{var} = {expr!r}")
        if isinstance(obj, Synapses) and var == "delay":
            view = obj.delay  # lives on the `pre` pathway, not in obj.variables
        else:
            view = obj.state(var, use_units=True)
        view.set_item(slice(None), expr, namespace=self.consts)

    def array_decl(self, name, body):
        """`Array NAME:` with `file:` (.npy, next to the model) or `values:`."""
        if "file" in body:
            path = os.path.join(os.path.dirname(self.path), body["file"].strip().strip("'\""))
            arr = np.load(path)
        else:
            arr = np.array(ceval(body["values"], self.consts), dtype=float)
        self.log(f"{name} = np.array(shape {arr.shape})")
        self.arrays[name] = arr

    def uses_array(self, expr):
        return any(re.search(rf"\b{n}\s*\[", expr) for n in self.arrays)

    def uses_whole_array(self, expr):
        """Whether `expr` uses an Array whole (`A*mV`, not `A[i]`): numpy's
        arithmetic on the loaded array, a numeric assignment."""
        return any(re.search(rf"\b{n}\b(?!\s*\[)", expr) for n in self.arrays)

    def set_matrix(self, obj, var, sel, expr):
        """`S.var[sel] = expr` where expr indexes Arrays as `W[i, j]`: numpy's
        `W[S.i[:], S.j[:]]` over the selected synapses."""
        if not isinstance(obj, Synapses):
            return self.set_indexed(obj, var, sel, expr)
        i_all, j_all = np.asarray(obj.i[:]), np.asarray(obj.j[:])
        idx = np.arange(len(i_all))
        if sel is not None:
            if sel[0] in "'\"":
                mask = eval(sel[1:-1], {"i": i_all, "j": j_all, "__builtins__": {}})
                idx = idx[np.asarray(mask, dtype=bool)]
            else:
                a, b = (sel.split(":") + [""])[:2]
                idx = idx[slice(int(a) if a.strip() else None, int(b) if b.strip() else None)]
        ns = dict(self.consts, **self.arrays, i=i_all[idx], j=j_all[idx])
        value = ceval(expr, ns)
        self.log(f"{obj.name}.{var}[{len(idx)} synapses] = {expr} (numpy)")
        getattr(obj, var)[idx] = value

    def set_indexed(self, obj, var, sel, expr):
        """`G.var[sel] = expr` where expr indexes Arrays as `A[i]` or
        `A[i, k]`: numpy's `A[G.i[:]]` over the selected neurons, with the
        group's variables read at those neurons (a numeric assignment,
        so refractory neurons are written too)."""
        idx = np.arange(len(obj))
        if sel is not None:
            if sel[0] in "'\"":
                idx = np.asarray(obj.indices[sel[1:-1]], dtype=np.int64)
            elif ":" in sel:
                a, b = (sel.split(":") + [""])[:2]
                idx = idx[slice(int(ceval(a, self.consts)) if a.strip() else None,
                                int(ceval(b, self.consts)) if b.strip() else None)]
            else:
                idx = idx[[int(ceval(sel, self.consts))]]
        ns = dict(self.consts, **self.arrays, i=idx)
        for name in re.findall(r"[A-Za-z_]\w*", expr):
            if name not in ns and name in obj.variables and name != "i":
                ns[name] = obj.state(name, use_units=True)[idx]
        value = ceval(expr, ns)
        self.log(f"{obj.name}.{var}[{len(idx)} neurons] = {expr} (numpy)")
        getattr(obj, var)[idx] = value

    def set_array(self, obj, var, item, expr):
        """Numeric assignment `obj.var[item] = array`: the Python value
        (a list times a unit, `linspace`, `arange`) is evaluated with
        Brian2's unit-aware functions and written as numpy writes it."""
        ns = dict(self.consts, **self.arrays, linspace=brian2.linspace, arange=brian2.arange)
        value = ceval(expr, ns)
        if isinstance(value, list):
            # A list of quantities (`[I_e, 0.0*uA]`) keeps its unit, as
            # Brian2's own assignment of such a list does.
            if any(isinstance(x, Quantity) for x in value):
                value = Quantity(value)
            else:
                value = np.array(value)
        self.log(f"{obj.name}.{var}[{item!r}] = {value!r}")
        getattr(obj, var)[item] = value

    def statements(self, value):
        lines = as_lines(value)
        for ln in lines:
            if not STMT.match(ln):
                raise ModelSyntaxError(f"{self.filename}: bad statement {ln!r}")
        return "\n".join(lines)

    def method_of(self, body, name):
        if "method" in body:
            meth = body["method"].strip()
            meth = METHOD_ALIASES.get(meth, meth)
            self.explicit_methods[name] = meth
            return meth
        return ("exact", "euler", "heun")

    # -- declarations --
    def run_regularly(self, obj, body):
        """Each `run_regularly:` block as Brian2's `obj.run_regularly(code,
        dt=..., when=..., order=...)`; its lines are `code:`, `dt:`,
        `when:`, `order:` keys, and lines that are not keys continue
        `code:`."""
        for block in body.get("run_regularly*", []):
            keys = {}
            current = None
            for ln in as_lines(block):
                m = re.match(r"^(code|dt|clock|when|order)\s*:\s*(.*)$", ln)
                if m:
                    current = m.group(1)
                    keys[current] = [m.group(2)] if m.group(2) else []
                elif current == "code":
                    keys["code"].append(ln)
                else:
                    raise ModelSyntaxError(f"{self.filename}: bad run_regularly line {ln!r}")
            kwargs = {}
            if "dt" in keys:
                kwargs["dt"] = ceval(keys["dt"][0], self.consts)
            if "clock" in keys:
                kwargs["clock"] = self.clocks[keys["clock"][0].strip()]
            if "when" in keys:
                kwargs["when"] = keys["when"][0].strip()
            if "order" in keys:
                kwargs["order"] = int(ceval(keys["order"][0], self.consts))
            code = self.statements(keys["code"])
            self.log(f"{obj.name}.run_regularly({code!r}, {kwargs})")
            runner = obj.run_regularly(code, **kwargs)
            # A subgroup is not in the network, so neither is what it
            # contains; the runner is added itself (a set: adding a
            # group's own runner again changes nothing).
            self.net.add(runner)

    def neuron_group(self, name, args, body):
        n = int(ceval(args, self.consts))
        kwargs = {}
        model = "\n".join(as_lines(body.get("model", "")))  # a group may have no equations
        if "threshold" in body:
            kwargs["threshold"] = body["threshold"]
        if "reset" in body:
            kwargs["reset"] = self.statements(body["reset"])
        if "refractory" in body:
            ref = body["refractory"]
            val = try_ceval(ref, self.consts)
            kwargs["refractory"] = val if isinstance(val, Quantity) else ref
        if "events" in body:
            events = {}
            for ln in as_lines(body["events"]):
                ename, cond = ln.split(":", 1)
                events[ename.strip()] = cond.strip()
            kwargs["events"] = events
        method = self.method_of(body, name)
        if "order" in body:
            kwargs["order"] = int(ceval(body["order"], self.consts))
        self.own_dt(body, kwargs)
        # `namespace:` is Brian2's group namespace, which wins over the run
        # namespace (the file's constants) for this group's code.
        namespace = self.namespace_of(body)
        self.log(f"NeuronGroup({n}, {model!r}, method={method!r}, {kwargs}, name={name!r}, "
                 f"namespace={'file constants' if namespace is self.consts else namespace})")
        g = NeuronGroup(n, model, method=method, namespace=namespace, name=name, **kwargs)
        for key, value in body.items():
            if key.startswith("on_event ") and not key.endswith("*"):
                ename = key.split()[1]
                code = self.statements(value)
                self.log(f"{name}.run_on_event({ename!r}, {code!r})")
                g.run_on_event(ename, code)
        self.run_regularly(g, body)
        self.objects[name] = g
        self.sizes[name] = n
        self.net.add(g)
        if "init" in body:
            self.init_block(g, body["init"])

    def init_block(self, obj, value):
        for ln in as_lines(value):
            m = re.match(r"^([A-Za-z_]\w*)\s*=\s*(.+)$", ln)
            if not m:
                raise ModelSyntaxError(f"{self.filename}: bad init line {ln!r}")
            self.set_expr(obj, m.group(1), m.group(2))

    def synapses(self, name, args, body):
        src, tgt = [s.strip() for s in args.split("->")]
        source, target = self.group_ref(src), self.group_ref(tgt)
        kwargs = {}
        if "model" in body:
            kwargs["model"] = "\n".join(as_lines(body["model"]))
        # Pathways: `on_pre:` is Brian2's on_pre string, `on_pre NAME:` an
        # entry of its dict (and the same for on_post); `delay NAME:` and
        # `on_event NAME:` are entries of the delay and on_event dicts.
        named = lambda prefix: {k.split()[1]: v for k, v in body.items()
                                if k.startswith(prefix + " ") and not k.endswith("*")}
        for key in ("on_pre", "on_post"):
            paths = {n: self.statements(v) for n, v in named(key).items()}
            if key in body:
                if paths:
                    paths[key[3:]] = self.statements(body[key])
                else:
                    kwargs[key] = self.statements(body[key])
            if paths:
                kwargs[key] = paths
        delay_exprs = {}
        delays = named("delay")
        if "delay" in body:
            delays["pre"] = body["delay"]
        for pname, dtext in delays.items():
            val = try_ceval(dtext, self.consts)
            if isinstance(val, Quantity):
                kwargs.setdefault("delay", {})[pname] = val
            else:
                delay_exprs[pname] = dtext
        events = named("on_event")
        if "on_event" in body:
            if events:
                raise NotImplementedError("on_event: together with on_event NAME:")
            kwargs["on_event"] = body["on_event"]
        elif events:
            kwargs["on_event"] = events
        method = self.method_of(body, name)
        if "order" in body:
            kwargs["order"] = int(ceval(body["order"], self.consts))
        self.own_dt(body, kwargs)
        self.log(f"Synapses({source.name}, {target.name}, {kwargs}, method={method!r}, name={name!r})")
        # `namespace:` is the Synapses' own namespace, as for NeuronGroups.
        namespace = self.namespace_of(body)
        s = Synapses(source, target, method=method, namespace=namespace, name=name, **kwargs)
        for line in body.get("connect*", []):
            if line.strip() in ("all", "()"):
                # `connect: all` (our spelling) and `connect: ()` = Brian2's `S.connect()`
                cargs, ckwargs = (), {}
            else:
                ns = dict(self.consts, _capture=lambda *a, **k: (a, k), arange=np.arange, linspace=np.linspace)
                # An Array as `i=`/`j=` (held as floats) is the integer
                # indices it was saved as.
                ns.update({n: a.astype(np.int64) for n, a in self.arrays.items()})
                cargs, ckwargs = ceval("_capture(" + line + ")", ns)
            self.log(f"{name}.connect(*{cargs}, **{ckwargs})")
            s.connect(*cargs, namespace=self.consts, **ckwargs)
        for pname, dtext in delay_exprs.items():
            if pname == "pre":
                self.set_expr(s, "delay", dtext)
            else:
                self.log(f"{name}.{pname}.delay = {dtext!r}")
                getattr(s, pname).delay.set_item(slice(None), dtext, namespace=self.consts)
        self.run_regularly(s, body)
        self.objects[name] = s
        self.synapse_objs[name] = s
        self.net.add(s)
        if "init" in body:
            self.init_block(s, body["init"])

    def poisson_group(self, name, args, body):
        n = int(ceval(args, self.consts))
        val = try_ceval(body["rates"], self.consts)
        rates = val if isinstance(val, Quantity) else body["rates"]
        kwargs = {}
        self.own_dt(body, kwargs)
        g = PoissonGroup(n, rates, namespace=self.consts, name=name, **kwargs)
        self.objects[name] = g
        self.sizes[name] = n
        self.run_regularly(g, body)
        self.net.add(g)

    def poisson_input(self, name, args, body):
        target, var = args.strip().rsplit(".", 1)
        val = try_ceval(body["weight"], self.consts)
        weight = val if val is not None else body["weight"]
        # `G[a:b].v`: Brian2's PoissonInput on a subgroup.
        rate = ceval(body["rate"], self.consts)
        if float(rate * defaultclock.dt) != 1.0:
            self.random_inputs = True
        pi = PoissonInput(self.group_ref(target), var, int(ceval(body["N"], self.consts)),
                          rate, weight,
                          **self.schedule(body))  # PoissonInput takes no name= in 2.9
        self.objects[name] = pi
        self.net.add(pi)

    def spike_generator(self, name, args, body):
        n = int(ceval(args, self.consts))
        if "file" in body:
            # Two columns, index and time in seconds, separated by commas
            # or whitespace (docs/language.md).
            path = os.path.join(os.path.dirname(self.path), body["file"].strip().strip("'\""))
            with open(path) as f:
                rows = np.loadtxt((line.replace(",", " ") for line in f), ndmin=2)
            indices = rows[:, 0].astype(int)
            times = rows[:, 1] * second
        else:
            ns = dict(self.consts, linspace=brian2.linspace, arange=brian2.arange)
            indices = np.asarray(ceval(body["indices"], ns), dtype=int)
            times = ceval(body["times"], ns)
        kwargs = {}
        if "period" in body:
            kwargs["period"] = ceval(body["period"], self.consts)
        self.own_dt(body, kwargs)
        g = SpikeGeneratorGroup(n, indices, times, name=name, **kwargs)
        self.objects[name] = g
        self.sizes[name] = n
        self.net.add(g)

    def own_dt(self, body, kwargs):
        """A group's, Synapses' or generator's `dt:` (Brian2's `dt=`, a
        clock of its own) or `clock:` (Brian2's `clock=`, a shared
        `Clock` declared with `Clock NAME:`)."""
        if "dt" in body:
            kwargs["dt"] = ceval(body["dt"], self.consts)
        if "clock" in body:
            kwargs["clock"] = self.clocks[body["clock"].strip()]

    def clock_decl(self, name, body):
        """`Clock NAME:` with `dt:`: Brian2's `NAME = Clock(dt=...)`."""
        dt = ceval(body["dt"], self.consts)
        self.log(f"{name} = Clock(dt={dt!r}, name={name!r})")
        self.clocks[name] = Clock(dt=dt, name=name)

    def namespace_of(self, body):
        """A group's or Synapses' `namespace:` (Brian2's `namespace=`,
        which wins over the file's constants for its code), or the file's
        constants themselves when it has none."""
        if "namespace" not in body:
            return self.consts
        namespace = {}
        for ln in as_lines(body["namespace"]):
            k, v = ln.split("=", 1)
            namespace[k.strip()] = ceval(v, self.consts)
        return namespace

    def timed_array(self, name, body):
        """`TimedArray NAME:` with `values:` or `file:` (a .npy next to the
        model, as Brian2's `TimedArray(np.load(...), dt=...)`)."""
        if "file" in body:
            path = os.path.join(os.path.dirname(self.path), body["file"].strip().strip("'\""))
            values = np.load(path)
        else:
            values = ceval(body["values"], dict(self.consts, linspace=brian2.linspace, arange=brian2.arange))
        ta = TimedArray(values, dt=ceval(body["dt"], self.consts), name=name)
        self.consts[name] = ta

    def spike_monitor(self, name, args, body):
        src, label = self.monitor_source(args)
        variables = [v.strip() for v in body.get("variables", "").split(",") if v.strip()]
        mon = SpikeMonitor(src, variables=variables or None, record=self.record_events(body),
                           name=name, **self.schedule(body))
        self.monitors[name] = ("spike", mon, {"variables": variables, "source": label})
        self.net.add(mon)

    def record_events(self, body):
        """`record: True/False` of a SpikeMonitor or EventMonitor (Brian2's
        `record=`: False keeps only the counts and the variables)."""
        value = body.get("record", "True").strip()
        if value not in ("True", "False"):
            raise ValueError(f"record: {value!r} is neither True nor False")
        return value == "True"

    def event_monitor(self, name, args, body):
        src, label = self.monitor_source(args)
        variables = [v.strip() for v in body.get("variables", "").split(",") if v.strip()]
        event = body["event"].strip()
        self.log(f"EventMonitor({src.name}, {event!r}, variables={variables}, name={name!r})")
        mon = EventMonitor(src, event, variables=variables or None, name=name,
                           record=self.record_events(body), **self.schedule(body))
        # The same archive as a SpikeMonitor's: i, t and the variables.
        self.monitors[name] = ("spike", mon, {"variables": variables, "source": label})
        self.net.add(mon)

    def schedule(self, body):
        """Brian2's when=/order= keyword arguments from `when:`/`order:`.
        Only those written are passed, so that Brian2 applies its own
        defaults (a SpikeMonitor's order is its thresholder's + 1 without
        when=, 0 with it)."""
        kwargs = {}
        if "when" in body:
            kwargs["when"] = body["when"].strip()
        if "order" in body:
            kwargs["order"] = int(ceval(body["order"], self.consts))
        return kwargs

    def state_monitor(self, name, args, body):
        src, label = self.monitor_source(args)
        variables = [v.strip() for v in " ".join(as_lines(body["variables"])).split(",") if v.strip()]
        rec = body.get("record", "all").strip()
        # `record: True` is Brian2's record=True (every element), and
        # `record: False` records none; both are also Python's 1 and 0,
        # which must not be read as the element index 1 (or 0).
        if rec in ("all", "True"):
            record = True
        elif rec == "False":
            record = False
        elif re.match(r"^\w+\s*\[", rec):
            # `S[i, :]`, `S[:, j]`, `S[i, j]`: Brian2's own synapse indexing,
            # evaluated on the Synapses object with the file's constants.
            syn = re.match(r"^(\w+)\s*\[(.*)\]$", rec)
            sides = [x.strip() for x in syn.group(2).split(",")]
            key = tuple(slice(None) if x == ":" else int(ceval(x, self.consts)) for x in sides)
            record = self.objects[syn.group(1)][key]
        elif re.match(r"^(\[|range\s*\(|arange\s*\()", rec):
            # `[0, 77, 121]`, `range(a, b, s)`, `arange(a, b, s)`: handed to
            # Brian2 as the Python value a user writes for `record=`.
            record = eval(rec, {"__builtins__": {}, "range": range, "arange": np.arange}, self.consts)
        elif ":" in rec:
            bounds = [int(ceval(x, self.consts)) for x in rec.split(":")]
            record = list(range(*bounds))
        else:
            record = [int(ceval(x, self.consts)) for x in rec.split(",")]
        kwargs = {}
        self.own_dt(body, kwargs)
        kwargs.update(self.schedule(body))
        self.log(f"StateMonitor({src.name}, {variables}, record={record}, {kwargs}, name={name!r})")
        mon = StateMonitor(src, variables, record=record, name=name, **kwargs)
        self.monitors[name] = ("state", mon, {"variables": variables, "source": label})
        self.net.add(mon)

    def rate_monitor(self, name, args):
        src, label = self.monitor_source(args)
        mon = PopulationRateMonitor(src, name=name)
        self.monitors[name] = ("rate", mon, {"source": label})
        self.net.add(mon)

    # -- main loop --
    def run(self):
        defaultclock.dt = 0.1 * ms
        _method_handler.chosen.clear()
        lines = logical_lines(self.text, self.filename)
        seeded = False
        for header, children in _blocks(lines, 0):
            lineno, indent, content = header
            if indent != 0:
                raise ModelSyntaxError(f"{self.filename}:{lineno}: unexpected indentation")
            m = DECL.match(content)
            if m:
                kind, name, args = m.group(1), m.group(2), m.group(3)
                body = parse_body(children, self.filename) if children else {}
                if kind == "NeuronGroup":
                    self.neuron_group(name, args, body)
                elif kind == "Synapses":
                    self.synapses(name, args, body)
                elif kind == "PoissonGroup":
                    self.poisson_group(name, args, body)
                elif kind == "PoissonInput":
                    self.poisson_input(name, args, body)
                elif kind == "SpikeGeneratorGroup":
                    self.spike_generator(name, args, body)
                elif kind == "TimedArray":
                    self.timed_array(name, body)
                elif kind == "Array":
                    self.array_decl(name, body)
                elif kind == "Clock":
                    self.clock_decl(name, body)
                elif kind == "SpikeMonitor":
                    self.spike_monitor(name, args, body)
                elif kind == "EventMonitor":
                    self.event_monitor(name, args, body)
                elif kind == "StateMonitor":
                    self.state_monitor(name, args, body)
                elif kind == "PopulationRateMonitor":
                    self.rate_monitor(name, args)
                continue
            m = re.match(r"^(\w+\s*(?:\[[^\]]*\])?)\s*\.\s*run_regularly\s*:$", content)
            if m and children:
                # `G.run_regularly:` / `G[a:b].run_regularly:` at the top
                # level: Brian2's `G[a:b].run_regularly(...)`.
                self.run_regularly(self.group_ref(m.group(1)),
                                   {"run_regularly*": [[c for (_, _, c) in children]]})
                continue
            if children:
                raise ModelSyntaxError(f"{self.filename}:{lineno}: unexpected indented block")
            if content.startswith("run "):
                # `run 10*ms, report='text', report_period=1*second`: Brian2's
                # own keyword arguments, handed over as they are.
                m = re.match(r"^run (.*?)((?:,\s*report(?:_period)?\s*=.*)?)$", content)
                dur = ceval(m.group(1), self.consts)
                extra = {}
                if m.group(2):
                    extra = eval("dict(" + m.group(2).lstrip(", ") + ")", dict(self.consts))
                self.log(f"run({dur}, **{extra})")
                self.net.run(dur, namespace=self.consts, **extra)
                self.durations.append(float(dur))
                continue
            m = re.match(r"^seed\((.*)\)$", content)
            if m:
                s = int(ceval(m.group(1), self.consts)) if m.group(1).strip() else None
                if self.seed_override is not None:
                    s = self.seed_override
                self.seed = s
                brian2.seed(s)
                seeded = True
                continue
            m = re.match(r"^defaultclock\.dt\s*=\s*(.+)$", content)
            if m:
                defaultclock.dt = ceval(m.group(1), self.consts)
                continue
            m = LINK.match(content)
            if m:
                # `B.x = linked_var(A.y)` or `linked_var(A, 'y')`, with
                # an optional `index=ARRAY` (numpy's integer array) or
                # `index='name'`.
                src = re.match(r"^\s*(\w+)\s*(?:\.\s*(\w+)|,\s*['\"](\w+)['\"])\s*(?:,\s*index\s*=\s*(.+))?$", m.group(3))
                svar = src.group(2) or src.group(3)
                index = None
                if src.group(4) is not None:
                    text = src.group(4).strip()
                    if text[0] in "'\"":
                        index = text[1:-1]
                    else:
                        index = ceval(text, dict(self.consts, arange=np.arange, linspace=np.linspace))
                        index = np.asarray(index)
                self.log(f"{m.group(1)}.{m.group(2)} = linked_var({src.group(1)}, {svar!r}, index={index!r})")
                setattr(self.objects[m.group(1)], m.group(2),
                        brian2.linked_var(self.objects[src.group(1)], svar, index=index))
                continue
            m = SCHEDULE.match(content)
            if m:
                obj, part, event, attr, value = m.groups()
                target = getattr(self.objects[obj], part)
                if event is not None:
                    target = target[event]
                value = value.strip().strip("'\"") if attr == "when" else int(ceval(value, self.consts))
                self.log(f"{obj}.{part}{'' if event is None else [event]}.{attr} = {value!r}")
                setattr(target, attr, value)
                continue
            m = PATHWAY_DELAY.match(content)
            if m:
                obj, pathway, expr = m.groups()
                self.log(f"{obj}.{pathway}.delay = {expr!r}")
                view = getattr(self.objects[obj], pathway).delay
                view.set_item(slice(None), expr, namespace=self.consts)
                continue
            m = re.match(r"^([A-Za-z_]\w*)\s*=\s*([A-Za-z_]\w*\s*\[[^\[\]]*:[^\[\]]*\])$", content)
            if m:
                # `Pe = P[:3200]`: Brian2's subgroup, given a name.
                self.log(f"{m.group(1)} = {m.group(2)}")
                self.objects[m.group(1)] = self.group_ref(m.group(2))
                self.subgroups[m.group(1)] = m.group(2)
                continue
            m = SETWHERE.match(content) or SETVAR.match(content)
            if m and self.uses_array(m.groups()[-1]):
                # `S.w = W[i, j]*mV` (optionally `S.w[SELECTOR] = ...`):
                # numpy's `W[S.i[:], S.j[:]]`, a numeric assignment.
                obj, var = m.group(1), m.group(2)
                sel = m.group(3).strip() if len(m.groups()) == 4 else None
                self.set_matrix(self.objects[obj], var, sel, m.groups()[-1])
                continue
            m = SETWHERE.match(content)
            if m:
                # `G.v[SELECTOR] = EXPR`: a string assignment to the selected
                # elements (a slice, an index, or a quoted condition).
                obj, var, sel, expr = m.groups()
                sel = sel.strip()
                if sel[0] in "'\"":
                    item = sel[1:-1]
                elif ":" in sel:
                    a, b = (sel.split(":") + [""])[:2]
                    item = slice(int(ceval(a, self.consts)) if a.strip() else None,
                                 int(ceval(b, self.consts)) if b.strip() else None)
                else:
                    item = int(ceval(sel, self.consts))
                target = self.objects[obj]
                if PLAIN_ZERO.match(expr) and not isinstance(item, str):
                    self.log(f"{obj}.{var}[{item!r}] = 0 (a number)")
                    getattr(target, var)[item] = 0
                    continue
                if ARRAY_VALUE.search(expr) or self.uses_whole_array(expr):
                    self.set_array(target, var, item, expr)
                    continue
                self.log(f"{obj}.{var}[{item!r}] = {expr!r}")
                if isinstance(target, Synapses) and var == "delay":
                    view = target.delay
                else:
                    view = target.state(var, use_units=True)
                view.set_item(item, expr, namespace=self.consts)
                continue
            m = SETVAR.match(content)
            if m and PLAIN_ZERO.match(m.group(3)):
                # Brian2 takes the Python number 0 for a variable of any unit.
                self.log(f"{m.group(1)}.{m.group(2)} = 0 (a number)")
                setattr(self.objects[m.group(1)], m.group(2), 0)
                continue
            if m and (ARRAY_VALUE.search(m.group(3)) or self.uses_whole_array(m.group(3))):
                self.set_array(self.objects[m.group(1)], m.group(2), slice(None), m.group(3))
                continue
            if m:
                self.set_expr(self.objects[m.group(1)], m.group(2), m.group(3))
                continue
            m = CONST.match(content)
            if m:
                self.consts[m.group(1)] = ceval(m.group(2), self.consts)
                continue
            raise ModelSyntaxError(f"{self.filename}:{lineno}: cannot parse {content!r}")
        if not seeded and self.seed_override is not None:
            brian2.seed(self.seed_override)
            self.seed = self.seed_override
        for name in self.objects:
            if name in self.explicit_methods:
                self.methods[name] = self.explicit_methods[name]
            elif name in _method_handler.chosen:
                self.methods[name] = _method_handler.chosen[name]
        return self

    # -- output --
    def results(self):
        out = {}
        for name, (kind, mon, extra) in self.monitors.items():
            if kind == "spike":
                d = {"kind": "spike", "source": extra["source"],
                     "count": [int(x) for x in mon.count[:]]}
                # Brian2 refuses `i` and `t` of a monitor with record=False.
                if mon.record:
                    d["i"] = [int(x) for x in mon.i[:]]
                    d["t"] = [float(x) for x in mon.t_[:]]
                for var in extra["variables"]:
                    d[var] = _tolist(getattr(mon, var + "_") if _has_units(mon, var) else getattr(mon, var))
            elif kind == "state":
                d = {"kind": "state", "source": extra["source"],
                     "t": [float(x) for x in mon.t_[:]],
                     "record": [int(x) for x in np.asarray(mon.record)]}
                for var in extra["variables"]:
                    arr = getattr(mon, var + "_") if _has_units(mon, var) else getattr(mon, var)
                    d[var] = _tolist(np.asarray(arr))
            else:
                d = {"kind": "rate", "source": extra["source"],
                     "t": [float(x) for x in mon.t_[:]], "rate": [float(x) for x in mon.rate_[:]]}
            out[name] = d
        return out

    def metadata(self):
        return {
            "model": self.filename,
            "brian2_version": brian2.__version__,
            "codegen_target": "numpy",
            "seed": self.seed,
            "dt": float(defaultclock.dt_),
            "runs": self.durations,
            "duration": float(sum(self.durations)),
            "t_end": float(self.net.t_),
            "steps": int(defaultclock.timestep[:]),
            "methods": self.methods,
            "methods_chosen_automatically": sorted(n for n in self.methods if n not in self.explicit_methods),
            "sizes": self.sizes,
            "synapses": {name: int(len(s)) for name, s in self.synapse_objs.items()},
            "stochastic": self.random_inputs or bool(RANDOM_RE.search(_strip_all_comments(self.text))),
        }


def _strip_all_comments(text):
    return "\n".join(_strip_comment(line) for line in text.split("\n"))


def _has_units(mon, var):
    try:
        getattr(mon, var + "_")
        return True
    except (AttributeError, KeyError):
        return False


def _tolist(arr):
    arr = np.asarray(arr)
    if arr.dtype == bool:
        return arr.tolist()
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(int).tolist()
    return arr.astype(float).tolist()


def output_path(model_path, suffix=".json"):
    rel = os.path.relpath(os.path.abspath(model_path), REPO)
    stem = os.path.splitext(os.path.basename(rel))[0]
    top = rel.split(os.sep)[0]
    if top == "spec-examples":
        sub = "spec-examples"
    elif rel.startswith(os.path.join("tests", "models")):
        sub = "models"
    else:
        sub = "other"
    return os.path.join(REF_DIR, sub, stem + suffix)


def run_model(path, seed_override=None, verbose=False):
    t0 = time.time()
    r = Runner(path, seed_override=seed_override, verbose=verbose).run()
    meta = r.metadata()
    res = r.results()
    wall = round(time.time() - t0, 3)
    # release Brian objects so names can be reused
    del r
    gc.collect()
    return meta, res, wall


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")


# --------------------------------------------------------------------------
# Statistics for stochastic models.


def isi_cv(i, t, n):
    cvs = []
    for k in range(n):
        tk = np.sort(t[i == k])
        if len(tk) >= 3:
            isi = np.diff(tk)
            cvs.append(np.std(isi) / np.mean(isi))
    return float(np.mean(cvs)) if cvs else None


def run_stats(meta, res):
    """Statistics of one run; keys are '<monitor>.<statistic>' or
    '<monitor>.<var>.<statistic>'."""
    s = {}
    T = meta["duration"]
    for name, d in res.items():
        if d["kind"] == "state":
            t = np.asarray(d["t"])
            half = t >= T / 2
            for var, val in d.items():
                if var in ("kind", "source", "t", "record"):
                    continue
                x = np.asarray(val, dtype=float)  # (neurons, times)
                tm = x[:, half].mean(axis=1)
                p = f"{name}.{var}."
                s[p + "second_half_time_mean.mean_over_neurons"] = float(tm.mean())
                s[p + "second_half_time_mean.std_over_neurons"] = float(tm.std())
                s[p + "second_half_time_var.mean_over_neurons"] = float(x[:, half].var(axis=1).mean())
                s[p + "final.mean_over_neurons"] = float(x[:, -1].mean())
                s[p + "final.var_over_neurons"] = float(x[:, -1].var())
        elif d["kind"] == "spike" and "i" in d:
            n = meta["sizes"].get(d["source"])
            if n is None:  # subgroup source: fall back to parent size
                n = max(meta["sizes"].values())
            i, t = np.asarray(d["i"]), np.asarray(d["t"])
            s[f"{name}.mean_rate_hz"] = float(len(i) / (n * T))
            cv = isi_cv(i, t, n)
            if cv is not None:
                s[f"{name}.isi_cv.mean_over_neurons"] = cv
        elif d["kind"] == "rate":
            r = np.asarray(d["rate"])
            s[f"{name}.rate.time_mean_hz"] = float(r.mean())
    return s


def make_stats(path, verbose=False):
    per_seed = []
    meta0 = None
    for seed in STATS_SEEDS:
        meta, res, _ = run_model(path, seed_override=seed, verbose=verbose)
        meta0 = meta0 or meta
        per_seed.append(run_stats(meta, res))
    keys = sorted(set().union(*per_seed))
    stats = {}
    for k in keys:
        vals = [ps.get(k) for ps in per_seed]
        good = [v for v in vals if v is not None]
        stats[k] = {"mean": float(np.mean(good)), "std": float(np.std(good, ddof=1)) if len(good) > 1 else 0.0,
                    "values": vals}
    out = {
        "model": meta0["model"],
        "brian2_version": brian2.__version__,
        "codegen_target": "numpy",
        "seeds": STATS_SEEDS,
        "dt": meta0["dt"],
        "duration": meta0["duration"],
        "methods": meta0["methods"],
        "sizes": meta0["sizes"],
        "acceptance": "abs(ours - mean) <= 4*std + 1e-9 + 1e-3*abs(mean)",
        "stats": stats,
    }
    write_json(output_path(path, ".stats.json"), out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--stats", action="store_true",
                    help="write <stem>.stats.json over seeds 1..8 even for a model not detected as stochastic")
    ap.add_argument("--no-stats", action="store_true", help="never write <stem>.stats.json")
    ap.add_argument("--print", action="store_true", help="print the Brian2 calls made")
    args = ap.parse_args()
    for path in args.models:
        meta, res, wall = run_model(path, verbose=args.print)
        meta["monitors"] = res
        out = output_path(path)
        write_json(out, meta)
        print(f"{meta['model']}: {os.path.relpath(out, REPO)} ({os.path.getsize(out)//1024} KB, "
              f"{wall} s, methods {meta['methods']}, stochastic={meta['stochastic']})")
        if (args.stats or meta["stochastic"]) and not args.no_stats:
            make_stats(path)
            print(f"  stats: {os.path.relpath(output_path(path, '.stats.json'), REPO)}")


if __name__ == "__main__":
    main()
