"""lang_py.py DEPTH N - cost of one violation at a known site from Python code DEPTH
frames deep (tests/bench/rows/lang.py).

Recurses to DEPTH, then makes N rounds of os.write + os.read on a blocking pipe (two
violations per round under threads=main, every one at a site already known), timed in
blocks; prints the fastest block's ns per violation (the least disturbed by other load).
"""
import os, sys, time

depth, n = int(sys.argv[1]), int(sys.argv[2])
r, w = os.pipe()


def rec(k):
    if k:
        return rec(k - 1)
    best = None
    block = max(1, n // 10)
    for _ in range(10):
        t0 = time.perf_counter_ns()
        for _ in range(block):
            os.write(w, b"x")
            os.read(r, 1)
        dt = (time.perf_counter_ns() - t0) / (2 * block)
        best = dt if best is None or dt < best else best
    return best


print("%.1f" % rec(depth))
