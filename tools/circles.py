#!/usr/bin/env python3
"""circles.py - which source files depend on each other in a circle.

Usage: tools/circles.py [--build build] [--dir guard] [--calls-only] [--dot] [--edges]

A file depends on another when it calls a function or uses a variable defined there
(read from the objects the build made: `nm` lists what each object defines and what
it needs, so macros and the preprocessor cannot hide a call), or when it includes
the other's header (guard/sites.h belongs to guard/sites.c).  Files that depend on
each other, directly or around a longer loop, form a circle (a strongly connected
component of that graph); a tree without circles can be read bottom up, one file at
a time.  Prints each circle with the edges that close it, largest first, then the
layer rule (preload -> guard -> report, never back) as a check: an edge against it
is printed and the exit status is 1.

Only our own symbols (bg_*) count: the libc names the shim wraps (write, close...) are
not calls into preload/.  --dir limits the circles to one folder (default: guard);
--calls-only leaves the #include edges out; --edges prints every edge inside the
folder; --dot prints the graph for Graphviz instead.
"""
import argparse
import os
import re
import subprocess
import sys

LAYERS = {"report": 0, "guard": 1, "preload": 2}


def objects(build):
    out = {}
    for top in LAYERS:
        d = os.path.join(build, "obj", top)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith(".o"):
                out[top + "/" + f[:-2]] = os.path.join(d, f)
    return out


def symbols(obj):
    """(defined, needed) external symbols of an object file."""
    text = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, needed = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if not name.startswith("bg_"):
            continue  # libc names the shim wraps (write, close...) are not our calls
        if kind == "U":
            needed.add(name)
        elif kind in "TDBRVWCGS":
            defined.add(name)
    return defined, needed


def includes(src):
    inc = set()
    try:
        with open(src, errors="replace") as f:
            for line in f:
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if m:
                    inc.add(m.group(1))
    except OSError:
        pass
    return inc


def graph(build, with_includes=True):
    objs = objects(build)
    owner, need = {}, {}
    for unit, obj in objs.items():
        d, n = symbols(obj)
        for s in d:
            owner.setdefault(s, unit)
        need[unit] = n
    edges = {}  # (a, b) -> set of reasons

    def add(a, b, why):
        if a != b:
            edges.setdefault((a, b), set()).add(why)

    for unit, n in need.items():
        for s in n:
            if s in owner:
                add(unit, owner[s], s)
    units = set(objs)
    for unit in objs if with_includes else ():
        for ext in (".c", ".h"):
            for h in includes(unit + ext):
                base = h[:-2] if h.endswith(".h") else None
                if base in units:
                    add(unit, base, "#include " + h)
    return units, edges


def sccs(nodes, adj):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--dir", default="guard")
    ap.add_argument("--dot", action="store_true")
    ap.add_argument("--edges", action="store_true")
    ap.add_argument("--calls-only", action="store_true",
                    help="leave out the #include edges (a header used for its types)")
    a = ap.parse_args()
    units, edges = graph(a.build, not a.calls_only)
    if not units:
        sys.exit("circles.py: no objects under %s/obj (run make first)" % a.build)
    inside = {u for u in units if u.startswith(a.dir + "/")}
    adj = {}
    for (x, y) in edges:
        if x in inside and y in inside:
            adj.setdefault(x, set()).add(y)
    if a.dot:
        print("digraph %s {" % a.dir.replace("/", "_"))
        for (x, y) in sorted(edges):
            if x in inside and y in inside:
                print('  "%s" -> "%s";' % (x, y))
        print("}")
        return 0
    if a.edges:
        for (x, y) in sorted(edges):
            if x in inside and y in inside:
                print("%s -> %s  (%s)" % (x, y, ", ".join(sorted(edges[(x, y)])[:4])))
    comps = sorted((c for c in sccs(inside, adj) if len(c) > 1), key=len, reverse=True)
    print("%s/: %d files, %d edges, %d circle(s)%s" % (
        a.dir, len(inside), sum(len(v) for v in adj.values()), len(comps),
        "" if not comps else ": " + ", ".join(str(len(c)) + " files" for c in comps)))
    for c in comps:
        print("  circle of %d: %s" % (len(c), " ".join(c)))
        cs = set(c)
        for (x, y) in sorted(edges):
            if x in cs and y in cs:
                print("    %s -> %s  (%s)" % (x, y, ", ".join(sorted(edges[(x, y)])[:3])))
    bad = [(x, y) for (x, y) in sorted(edges)
           if LAYERS[x.split("/")[0]] < LAYERS[y.split("/")[0]]]
    for (x, y) in bad:
        print("layer rule broken: %s -> %s (%s)" % (x, y, ", ".join(sorted(edges[(x, y)])[:3])))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
