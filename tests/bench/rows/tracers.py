"""tracers.py - the same calls under strace -f -c and ltrace -c, for scale: what the
tools people reach for first cost per call (percall.c, plain loops, bare vs traced
processes interleaved).  A tracer that did not count the calls makes the figure invalid,
and the row says so."""
import os
import shutil

from benchlib import Samples, section
from rows.percall import CALLS, CALL_LABEL


def percall(b, calls, iters, prefix=()):
    out = b.run([b.prog("percall"), "plain", ",".join(calls), str(iters), "3"], prefix=prefix)
    return {l.split()[0]: float(l.split()[1]) for l in out.splitlines()}


def traced_count(path, name):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts and parts[-1] == name and len(parts) >= 5:
                try:
                    return int(parts[3])
                except ValueError:
                    return 0
    return 0


@section("tracers", title="strace and ltrace, for scale", owner="perfa", order=80, budget_s=25)
def tracers(b):
    tools = {"strace -f -c": (["strace", "-f", "-c", "-o"], 500, 100),
             "ltrace -c": (["ltrace", "-c", "-o"], 100, 20)}
    sysname = {"read": "read", "write": "write", "poll": "poll", "sleep": "clock_nanosleep"}
    rounds = 1 if b.quick else 3
    for tool, (prefix, it_fast, it_sleep) in tools.items():
        if not shutil.which(prefix[0]):
            b.add("%s (all four calls)" % tool, "", target="comparison",
                  verdict="not run: %s is not installed (tools/deps.sh bench)" % prefix[0])
            continue
        pairs = {c: [] for c in CALLS}
        counted = {c: 0 for c in CALLS}
        summary = os.path.join(b.out, "trace.txt")
        for _ in range(rounds):
            for group, iters in ((["read", "write", "poll"], it_fast), (["sleep"], it_sleep)):
                bare = percall(b, group, iters)
                traced = percall(b, group, iters, prefix=prefix + [summary])
                for c in group:
                    pairs[c].append((bare[c], traced[c]))
                    counted[c] = traced_count(summary, sysname[c] if prefix[0] == "strace" else
                                              ("clock_nanosleep" if c == "sleep" else c))
        for c in CALLS:
            expected = (it_fast if c != "sleep" else it_sleep) // 2 * 2 * 3
            verdict = "reference"
            if counted[c] < expected:
                verdict = "%s counted only %d of ≥ %d calls: figure not valid" % (
                    tool.split()[0], counted[c], expected)
            b.add("%s under %s" % (CALL_LABEL[c], tool), Samples([t for _, t in pairs[c]], "ns"),
                  bare=Samples([x for x, _ in pairs[c]], "ns"),
                  ratio=Samples([t / x for x, t in pairs[c]], "×"), target="comparison",
                  verdict=verdict, key="tracers.%s.%s" % (prefix[0], c))
