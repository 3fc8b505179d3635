"""offload.py - the offload runtime (mode=offload) and the coroutine scheduler, next to
the references a reader would compare them with, measured in the same run: libuv's
thread pool (uv_queue_work and uv_fs_read round trips, ref_libuv.c) and State Threads
(10,000 sleepers, st_sleepers.c).  Programs: the offload group's (tests/bench/offload/),
coroutines.c.  Owner of the runtime rows: perfb (issue 14 items 4-5)."""
import os
import re

from benchlib import Samples, section

OPTS = "mode=offload:threads=main:verbosity=0"


def group_lines(outs):
    """offload group output: {label: [values...]} from 'offload: LABEL  VALUE UNIT'."""
    got = {}
    for out in outs:
        for l in out.splitlines():
            m = re.match(r"offload: (.*?)\s+([\d.]+) (ns|us|ms)", l)
            if m:
                got.setdefault(m.group(1).strip(), []).append(float(m.group(2)))
    return got


def pick(d, prefix, unit):
    for k, v in d.items():
        if k.startswith(prefix):
            return Samples(v, unit)
    return Samples([], unit)


@section("offload", title="Offload and coroutines (with libuv and State Threads side by side)",
         owner="perfb", order=50, budget_s=60)
def offload(b):
    runs = 1 if b.quick else 5
    off = os.path.join(b.out, "offload")
    have_runtime = (os.path.exists(os.path.join(b.out, "coroutines")) and
                    os.path.exists(os.path.join(off, "bench_switch")))

    def rep(cmd, opts=OPTS, cpus=None, n=runs):
        outs = []
        for _ in range(n):
            outs.append(b.run(cmd, opts, extra_env={"BENCH_CPUS": str(cpus)} if cpus else None))
        return outs

    # references first: libuv's thread pool, same machine, same run
    uv = os.path.join(b.out, "ref_libuv")
    ref = {}
    if os.path.exists(uv):
        for what, args, label in (("work", ["work", "2000"], "uv_queue_work round trip, warm"),
                                  ("read", ["read", "2000"], "uv_fs_read (1 byte, cached) round trip, warm"),
                                  ("work_cold", ["work", "100", "20000"],
                                   "uv_queue_work round trip, cold (20 ms idle)")):
            ref[what] = b.samples(lambda: float(b.run([uv] + args)), runs=runs, unit="µs")
            b.add("libuv: " + label, ref[what], target="comparison", verdict="reference",
                  key="offload.libuv.%s" % what)
    else:
        b.add("libuv reference", "", target="comparison",
              verdict="not run: ref_libuv not built (libuv1-dev: tools/deps.sh bench)")
    if have_runtime:
        sw = group_lines(rep([os.path.join(off, "bench_switch")]))
        instr = None
        try:
            total, _ = b.callgrind([b.prog("coroutines"), "switch", "100000"], OPTS,
                                   toggle="yielder", tag="yield")
            instr = total / 200000.0  # 2 coroutines x 100,000 yields
        except Exception as e:  # valgrind missing: the row goes without the count
            b.note("yield instructions not counted: %s" % e)
        b.add("coroutine switch (bg__co_switch, one way)", pick(sw, "context switch", "ns"),
              target=b.at_most(10, "ns"), key="offload.switch")
        b.add("bg_co_yield, coroutine to coroutine", pick(sw, "bg_co_yield", "ns"),
              instr=instr, target=b.at_most(40, "ns"), key="offload.yield")
        rt = group_lines(rep([os.path.join(off, "bench_offload")]))
        rt0 = group_lines(rep([os.path.join(off, "bench_offload")], opts=OPTS + ":io_uring=0",
                              n=1 if b.quick else 3))
        b.add("offloaded read() of a cached file, through io_uring (whole wrapped call)",
              pick(rt, "wrapped read() of a cached file", "µs"), bare=ref.get("read"),
              target=b.at_most(4, "µs"), key="offload.read")
        b.add("offloaded read() of a cached file, on a worker (io_uring=0)",
              pick(rt0, "wrapped read() of a cached file", "µs"), bare=ref.get("read"),
              target="—", verdict="info", key="offload.read_worker")
        b.add("offloaded read() of a pipe (byte there), through io_uring",
              pick(rt, "wrapped read() of a pipe", "µs"), target="—", verdict="info")
        b.add("thread path: round trip, warm (no-op on a worker, back to back), 2 CPUs",
              pick(rt, "round trip, warm", "µs"), bare=ref.get("work"),
              target=b.at_most(5, "µs", "≤ 5 µs where a worker can spin"), key="offload.warm")
        b.add("thread path: round trip, cold (20 ms idle: both sides asleep), 2 CPUs",
              pick(rt, "round trip, cold", "µs"), bare=ref.get("work_cold"),
              target=b.at_most(30, "µs"), key="offload.cold")
        b.add("thread path: first call (pool start: a thread is created)",
              pick(rt, "round trip, first", "µs"), target="—", verdict="info")
        for what, args in (("warm", ["warm", "20000"]), ("cold (5 ms idle)", ["cold", "100", "5000"])):
            outs = rep([b.prog("coroutines")] + args, cpus=1)
            b.add("thread path: round trip, %s, 1 CPU (process pinned)" % what,
                  Samples([float(o.split()[1]) / 1000 for o in outs], "µs"), target="—",
                  verdict="info", key="offload.cpu1.%s" % what.split()[0])
        b.add("epoll route instead (socketpair ping-pong between two coroutines)",
              pick(rt, "epoll wait instead", "µs"), target="—", verdict="info")
        rate = Samples([float(o.split()[0]) for o in rep([b.prog("coroutines"), "rate", "64", "300"])],
                       "/s", higher=True)
        b.add("offloaded no-op calls per second (64 coroutines, workers), 2 CPUs", rate, target="—",
              verdict="info")
    else:
        b.add("offload runtime", "", target="—",
              verdict="not run: the offload programs are not built (tests/bench/Makefile)")
    st = os.path.join(b.out, "st_sleepers")
    for kb in (0, 64):
        label = "default" if kb == 0 else "%d KiB" % kb
        stw = strss = None
        if os.path.exists(st):
            outs = [b.run([st, "10000", "100000", str(kb)]) for _ in range(1 if b.quick else 3)]
            stw = Samples([float(o.split()[0]) for o in outs], "ms")
            strss = Samples([int(o.split()[1]) / 1024.0 for o in outs], "MB")
            b.add("State Threads: 10,000 coroutines × st_usleep(100 ms), %s stacks" % (
                "default (64 KiB)" if kb == 0 else label), stw,
                  target="comparison", verdict="reference", key="offload.st_sleepers.%dk" % kb)
            b.add("State Threads: the same, peak RSS", strss, target="comparison",
                  verdict="reference", key="offload.st_rss.%dk" % kb)
        if have_runtime:
            walls, rss, bad = [], [], 0
            for out in rep([os.path.join(off, "sleepers"), "10000", str(kb * 1024)], n=3 if not b.quick else 1):
                f = dict(x.split("=") for x in out.split())
                walls.append(float(f["wall_ms"]))
                rss.append(int(f["maxrss_kb"]) / 1024.0)
                bad += f["done"] != f["sleepers"] or int(f["jobs"]) > 0
            have_st = stw is not None and len(stw)
            row = b.add("10,000 coroutines × usleep(100 ms), mode=offload, %s stacks" % label,
                        Samples(walls, "ms"), bare=stw,
                        target=b.at_most(stw.median if have_st else 150, "ms",
                                         "≤ State Threads (same run)" if have_st else "≤ 150 ms"),
                        key="offload.sleepers.%dk" % kb)
            if bad:
                row["verdict"] = "ERROR: sleepers did not all complete as timers"
            b.add("the same, peak RSS", Samples(rss, "MB"), bare=strss,
                  target=b.at_most(strss.median if have_st else 45, "MB",
                                   "≤ State Threads (same run)" if have_st else "≤ 45 MB"),
                  key="offload.rss.%dk" % kb)
            if kb == 0 and have_st and not b.quick:
                # What one more coroutine costs, apart from the fixed footprint of each
                # process (the shim's libraries, libunwind's caches): 10,000 -> 20,000.
                def slope(run10, run20):
                    return [(r20 - r10) * 1048576.0 / 10000 for r10, r20 in zip(run10, run20)]
                st20 = [int(b.run([st, "20000", "100000", "0"]).split()[1]) / 1024.0
                        for _ in range(3)]
                bg20 = []
                for out in rep([os.path.join(off, "sleepers"), "20000", "0"], n=3):
                    f = dict(x.split("=") for x in out.split())
                    bg20.append(int(f["maxrss_kb"]) / 1024.0)
                sts = Samples(slope(strss.values, st20), "B")
                b.add("peak RSS per coroutine (10,000 → 20,000 sleepers)",
                      Samples(slope(rss, bg20), "B"), bare=sts,
                      target=b.at_most(sts.median, "B", "≤ State Threads (same run)"),
                      key="offload.rss_per_co")
