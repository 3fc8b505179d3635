"""benchlib.py - what every `make bench` row is written with.

A *section* is a Python function in tests/bench/rows/*.py decorated with @section; it
measures something and adds *rows* to the table with `b.add(...)`.  The driver
(bench.py) runs the machine's own reference costs first, then every section, and
writes one table (stdout, BUILD/bench.md), every raw sample (BUILD/bench/results.json)
and docs/performance.md (from tests/bench/performance.md.in) after a full run.

Honesty rules the helpers enforce, so that a row cannot forget them:
  - a timed figure is a `Samples` of >= 3 runs; the table shows its median and its
    spread (min-max, number of runs), and says "bimodal" when the runs fall into two
    groups far apart (then the median describes neither);
  - every row has a target and a verdict: `met`, `MISSED`, `MISSED (within spread)`
    when the target lies inside the spread, or `reference`/`info` for rows that only
    give a figure to compare with (stated as such, never a silent blank);
  - comparisons are made side by side in the same run: `interleave` alternates the
    variants round by round, flipping the order, so load changes hit both.

Adding a row (see tests/bench/README.md for a complete example):

    from benchlib import section, Samples

    @section("myfeature", title="My feature", owner="me", order=60, budget_s=20)
    def myfeature(b):
        prog = b.prog("myprog")                  # tests/bench/myprog.c, built by the Makefile
        s = b.samples(lambda: float(b.run([prog, "arg"], opts="verbosity=0")), runs=5, unit="us")
        b.add("my operation, warm", s, target=b.at_most(5, "us"))
"""
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SECTIONS = []  # filled by @section


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def section(name, title, owner, order=50, budget_s=30):
    """Registers a section: fn(b) adds rows.  `order` sorts the table (machine rows are
    0), `budget_s` is the wall time it may take in a full run (the driver prints what it
    took, and warns past the budget)."""
    def deco(fn):
        SECTIONS.append({"name": name, "title": title, "owner": owner, "order": order,
                         "budget_s": budget_s, "fn": fn})
        return fn
    return deco


# ---- statistics ------------------------------------------------------------------------
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


def fmt_num(v):
    if v != v:  # NaN
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


class Samples:
    """Repeated measurements of one figure (lower is better unless higher=True)."""

    def __init__(self, values, unit="", higher=False):
        self.values = [float(v) for v in values]
        self.unit = unit
        self.higher = higher

    def __len__(self):
        return len(self.values)

    @property
    def median(self):
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def lo(self):
        return min(self.values) if self.values else float("nan")

    @property
    def hi(self):
        return max(self.values) if self.values else float("nan")

    def bimodal(self):
        """(low group, high group) when the sorted runs split into two groups of >= 2
        runs each with a gap of >= 1.5x between them; None otherwise."""
        v = sorted(x for x in self.values if x > 0)
        if len(v) < 4:
            return None
        best = None
        for k in range(2, len(v) - 1):
            gap = v[k] / v[k - 1]
            if gap >= 1.5 and (best is None or gap > best[0]):
                best = (gap, v[:k], v[k:])
        return (best[1], best[2]) if best else None

    def text(self):
        u = (self.unit if self.unit == "×" else " " + self.unit) if self.unit else ""
        if not self.values:
            return "n/a"
        if len(self.values) == 1:
            return "%s%s (1 run)" % (fmt_num(self.median), u)
        s = "%s%s (%s–%s, %d runs)" % (fmt_num(self.median), u, fmt_num(self.lo),
                                       fmt_num(self.hi), len(self.values))
        bi = self.bimodal()
        if bi:
            s += "; BIMODAL: %d× ~%s, %d× ~%s" % (len(bi[0]), fmt_num(statistics.median(bi[0])),
                                                  len(bi[1]), fmt_num(statistics.median(bi[1])))
        return s

    def json(self):
        return {"values": self.values, "unit": self.unit, "median": self.median}


class Target:
    """A bound on a figure: Target(limit, "<=") or Target(limit, ">="); text is what the
    table shows."""

    def __init__(self, limit, op="<=", text=None, unit=""):
        self.limit, self.op, self.unit = limit, op, unit
        sp = "" if unit in ("", "×") else " "
        self.text = text or "%s %s%s%s" % ("≤" if op == "<=" else "≥", fmt_num(limit), sp, unit)

    def ok(self, v):
        return v <= self.limit if self.op == "<=" else v >= self.limit

    def verdict(self, s):
        """met / MISSED / MISSED (within spread) for a Samples or a number."""
        if isinstance(s, Samples):
            if not s.values:
                return "ERROR: no measurement"
            if self.ok(s.median):
                return "met"
            best = s.lo if self.op == "<=" else s.hi
            return "MISSED (within spread)" if self.ok(best) else "MISSED"
        if s != s:
            return "ERROR: no measurement"
        return "met" if self.ok(s) else "MISSED"


# ---- the bench context -------------------------------------------------------------------
class Bench:
    def __init__(self, build, quick=False, rounds=None):
        self.build = build
        self.out = os.path.join(build, "bench")
        self.shim = os.path.join(build, "libblockguard.so")
        self.cli = os.path.join(build, "blockguard")
        self.quick = quick
        self.rounds = rounds
        self.rows = []      # dicts, see add()
        self.notes = []     # (section, text)
        self.values = {}    # key -> formatted text, for performance.md.in placeholders
        self.results = {}   # section -> raw data
        self.section = None
        os.makedirs(self.out, exist_ok=True)
        base = dict(os.environ)
        for k in ("LD_PRELOAD", "BLOCKGUARD_OPTIONS"):
            base.pop(k, None)
        self.base_env = base

    # ---- running things -----------------------------------------------------------------
    def env(self, opts=None, extra=None):
        """Environment without the shim (opts None) or with it (opts: BLOCKGUARD_OPTIONS,
        "" for the defaults)."""
        e = dict(self.base_env)
        if opts is not None:
            e["LD_PRELOAD"] = self.shim
            if opts:
                e["BLOCKGUARD_OPTIONS"] = opts
        if extra:
            e.update(extra)
        return e

    def run(self, cmd, opts=None, timeout=300, prefix=(), extra_env=None, check=True, cwd=None):
        """Runs cmd (bare, or under the shim when opts is not None) and returns stdout."""
        p = subprocess.run(list(prefix) + list(cmd), env=self.env(opts, extra_env),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, cwd=cwd)
        if check and p.returncode != 0:
            raise RuntimeError("%s exited %d: %s" % (" ".join(list(prefix) + list(cmd)),
                                                    p.returncode, p.stderr.strip()[-500:]))
        return p.stdout

    def prog(self, name):
        """Path of BUILD/bench/NAME, built from tests/bench/NAME.c by tests/bench/Makefile
        (extra flags for it: LIBS_NAME there)."""
        path = os.path.join(self.out, name)
        if not os.path.exists(path):
            raise RuntimeError("%s not built (tests/bench/Makefile)" % path)
        return path

    def have(self, *tools):
        return all(shutil.which(t) for t in tools)

    def samples(self, fn, runs=None, unit="", higher=False):
        """Samples of fn() (a number per call), `runs` times (>= 3; 1 in quick mode)."""
        n = runs or 5
        if self.quick:
            n = 1
        elif n < 3:
            n = 3
        return Samples([fn() for _ in range(n)], unit, higher)

    def interleave(self, fns, rounds=None, unit="", higher=False):
        """Runs every fn once per round, the order reversed every other round (so a load
        change hits both sides); returns a list of Samples, one per fn."""
        n = rounds or 5
        if self.quick:
            n = 1
        elif n < 3:
            n = 3
        got = [[] for _ in fns]
        for r in range(n):
            order = list(range(len(fns)))
            if r % 2:
                order.reverse()
            for i in order:
                got[i].append(fns[i]())
        return [Samples(g, unit, higher) for g in got]

    @staticmethod
    def ratios(a, b):
        """Per-round ratios b/a of two interleaved Samples."""
        return Samples([y / x for x, y in zip(a.values, b.values) if x], "×")

    def callgrind(self, cmd, opts=None, toggle=None, tag="run", extra_env=None):
        """User-space instructions of cmd under callgrind (exact, load-independent).
        Returns (total, annotate_text); keeps the annotated profile in
        BUILD/bench/profile-TAG.txt."""
        if not self.have("valgrind"):
            raise RuntimeError("valgrind is not installed (tools/deps.sh bench)")
        out = os.path.join(self.out, "callgrind.%s.out" % tag)
        pre = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
        if toggle:
            pre.append("--toggle-collect=" + toggle)
        self.run(cmd, opts, prefix=pre, extra_env=extra_env)
        total = 0
        with open(out) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    total = int(line.split()[1])
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        with open(os.path.join(self.out, "profile-%s.txt" % tag), "w") as f:
            f.write(ann)
        return total, ann

    # ---- results ------------------------------------------------------------------------
    def at_most(self, limit, unit="", text=None):
        return Target(limit, "<=", text, unit)

    def at_least(self, limit, unit="", text=None):
        return Target(limit, ">=", text, unit)

    def add(self, label, measured, bare=None, ratio=None, instr=None, target=None,
            verdict=None, key=None, note=None):
        """One table row.  measured/bare/ratio: a Samples, a number or a string; target: a
        Target (verdict computed from `ratio` if given, else `measured`), or a string
        with an explicit verdict ("reference", "info"...).  key: name under which the
        measured text is available to performance.md.in as {{key}}."""
        def text(x):
            if x is None:
                return ""
            if isinstance(x, Samples):
                return x.text()
            if isinstance(x, float):
                return fmt_num(x)
            return str(x)

        if isinstance(target, Target):
            judged = ratio if ratio is not None and not isinstance(ratio, str) else measured
            v = verdict or target.verdict(judged)
            ttext = target.text
        else:
            ttext = target or "—"
            v = verdict or ("reference" if target is None else "info")
        if isinstance(measured, Samples) and measured.bimodal() and not v.startswith("ERROR"):
            v += " (bimodal: see spread)"
        row = {"section": self.section["name"] if self.section else "", "label": label,
               "bare": text(bare), "measured": text(measured), "ratio": text(ratio),
               "instr": text(instr), "target": ttext, "verdict": v}
        self.rows.append(row)
        if key:
            self.value(key, row["ratio"] or row["measured"])
        raw = self.results.setdefault(row["section"], {}).setdefault(label, {})
        for k, x in (("measured", measured), ("bare", bare), ("ratio", ratio), ("instr", instr)):
            if isinstance(x, Samples):
                raw[k] = x.json()
            elif isinstance(x, (int, float)):
                raw[k] = x
        raw["verdict"] = v
        if note:
            self.note(note)
        return row

    def note(self, text):
        """A note printed under the table (once per text)."""
        sec = self.section["name"] if self.section else ""
        if (sec, text) not in self.notes:
            self.notes.append((sec, text))

    def value(self, key, text):
        """A figure performance.md.in can cite as {{key}}."""
        self.values[key] = text

    def error(self, label, exc):
        self.add(label, "", target="—", verdict="ERROR: %s" % exc)
