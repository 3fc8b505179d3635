"""loops.py - what loop health costs (issue 12, docs/loop-health.md).

- Per loop iteration: tests/bench/loopcost.c runs an epoll loop on a ready eventfd (the
  cheapest iteration there is: epoll_wait returns at once) on a thread that is a loop
  thread but not guarded (threads=main), and alternates blocks through libc's own
  epoll_wait and through the shim's wrapper in the same process (fastest block of
  each).  The difference is everything the shim adds to an iteration: the wrapper's
  slow path, recognising the loop's own wait, and measuring the iteration (two clock
  reads, the histogram, the per-second ring).  Callgrind gives the instructions, and how
  many of them are the measurement (bg__loop_woke and the stats in bg__loop_wait_seen).
- The stall detector's timer: a loop thread doing a fixed amount of arithmetic per
  iteration, its CPU time with stall_ms=0 and with stall_ms=40 (a tick every 10 ms of
  CPU), interleaved.
- redis-server under redis-benchmark with the detector ticking every 2.5 ms
  (stall_ms=10), against bare."""
import os
import re
import shutil

from benchlib import Samples, section


def ab(b, opts):
    out = b.run([b.prog("loopcost"), "iter", "20000", "41"], opts=opts)
    bare, shim = (float(x) for x in out.split())
    return bare, shim


@section("loops", title="Loop health", owner="loops", order=65, budget_s=70)
def loops(b):
    rounds = 1 if b.quick else 7
    got = [ab(b, "threads=main:verbosity=0") for _ in range(rounds)]
    aa = [ab(b, None) for _ in range(1 if b.quick else 3)]
    bare = Samples([x for x, _ in got], "ns")
    shim = Samples([y for _, y in got], "ns")
    added = Samples([y - x for x, y in got], "ns")
    instr = None
    split = ""
    if b.have("valgrind") and not b.quick:
        n = 2000
        tot = {}
        for v, opts in (("bare", None), ("shim", "threads=main:verbosity=0")):
            tot[v], ann = b.callgrind([b.prog("loopcost"), "iter", str(n), "1"], opts=opts,
                                      toggle="block", tag="loopiter-" + v)
        # iterations through the wrapper: the warm-up block and one measured block
        instr = float(tot["shim"] - tot["bare"]) / (2 * n)
        woke = seen = 0
        for m in re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+guard/loop\.c:(bg__loop_woke|bg__loop_wait_seen) ",
                             ann, re.M):
            v = int(m.group(1).replace(",", "")) / (2 * n)
            if m.group(2) == "bg__loop_woke":
                woke = v
            else:
                seen = v
        split = " (recognising the wait + measuring at its entry %.0f, at its return %.0f)" % (seen, woke)
    b.add("loop iteration (epoll_wait on a ready fd) on a loop thread that is not guarded: "
          "added per iteration" + split, shim, bare=bare, ratio=added, instr=instr,
          target=b.at_most(20, "ns", "< 20 ns"), key="loops.iter")
    tsc = b.samples(lambda: float(b.run([b.prog("loopcost"), "tsc", "200000", "0"])), unit="ns")
    b.add("two TSC reads (the floor of timing an iteration: its wait's entry and return)", tsc,
          target="reference", verdict="reference", key="loops.tsc")
    b.add("the same, A/A control: no shim, both sides libc", Samples([y for _, y in aa], "ns"),
          bare=Samples([x for x, _ in aa], "ns"), ratio=Samples([y - x for x, y in aa], "ns"),
          target="≈ 0", verdict="info: the timing noise floor")

    # the timer: CPU time of fixed work, detector off vs a 10 ms tick
    work = ["cpu", "300", "300000"]
    off, on = b.interleave([
        lambda: float(b.run([b.prog("loopcost")] + work, opts="threads=main:verbosity=0:stall_ms=0")),
        lambda: float(b.run([b.prog("loopcost")] + work, opts="threads=main:verbosity=0:stall_ms=40"))],
        rounds=7, unit="ms")
    ratio = b.ratios(off, on)
    b.add("stall detector's timer: CPU time of a busy loop, stall_ms=40 (a tick every 10 ms of "
          "CPU) vs off", on, bare=off, ratio=ratio, target=b.at_most(1.01, "×", "< 1% CPU"),
          key="loops.timer")

    # redis with the detector ticking every 2.5 ms
    if not (shutil.which("redis-server") and shutil.which("redis-benchmark")):
        b.add("redis with stall detection", "", target="≥ 0.97×",
              verdict="not run: redis-server/redis-tools not installed (tools/deps.sh bench)")
        return
    from rows.redis import redis_once
    workdir = os.path.join(b.out, "redis-stall")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    n = 10000 if b.quick else 20000
    res = {"bare": [], "shim": []}
    for r in range(1 if b.quick else 4):
        for v in (["bare", "shim"] if r % 2 == 0 else ["shim", "bare"]):
            res[v].append(redis_once(b, v, n, workdir,
                                     extra_opts=":stall_ms=10" if v == "shim" else ""))
    for test in ("SET", "GET"):
        bare_r = Samples([x[test] for x in res["bare"]], "req/s", higher=True)
        mine = Samples([x[test] for x in res["shim"]], "req/s", higher=True)
        b.add("redis %s throughput, 50 clients — stall_ms=10 (a tick every 2.5 ms of CPU)" % test,
              mine, bare=bare_r, ratio=Samples([x / y for x, y in zip(mine.values, bare_r.values)],
                                               "×", higher=True),
              target=b.at_least(0.97, "×"), key="loops.redis.%s" % test.lower())
