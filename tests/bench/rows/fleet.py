"""fleet.py - profiles for the fleet (issue 13): rendering a pprof profile of a full site
table, `blockguard report` merging 100,000 sites, and what push= costs a server.

pprof render: build/bench/pprof_render dlopens build/libblockguard-pprof.so as the shim
does and renders 4,096 sites x 16 frames (max_sites and stack_depth defaults) - what a
/debug/pprof/block scrape or a push costs the guarded process's sidecar thread.  The
program keeps the fastest of 15 renders per run; callgrind's instruction count backs it
up on a loaded machine.

Merge: 100 report files (tests/bench/merge/gen_reports.py, generated once into
BUILD/bench/merge100k: 100,000 distinct sites, 8 frames each, compact JSON) merged and
rendered as JSON by `blockguard report`; wall time and the process's peak RSS (wait4),
compared with the input's size.  Before the hash-based merge: 73 s and 1.6 GB.

Push: redis-server under redis-benchmark (rows/redis.py's runner), under the shim with
and without push=http://.../ (a local Pyroscope-compatible server,
tests/integration/push_server.py) every second, interleaved round by round: the push
thread must not cost the event loop (throughput ratio, target >= 0.97x; CPU per
request beside it)."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

from benchlib import Samples, section
from rows.redis import redis_once

SITES = 100000


def dataset(b):
    d = os.path.join(b.out, "merge100k")
    stamp = os.path.join(d, ".done-%d" % SITES)
    if not os.path.exists(stamp):
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "merge",
                        "gen_reports.py"), d, "--sites", str(SITES), "--files", "100",
                        "--frames", "8"], check=True)
        open(stamp, "w").close()
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".json"))
    return d, size


def merge_once(b, d, out):
    t0 = time.monotonic()
    p = subprocess.Popen([b.cli, "report", "--format", "json", "-o", out, d], env=b.env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    if status != 0:
        raise RuntimeError("blockguard report failed: %s" % p.stderr.read().decode()[-300:])
    return wall, ru.ru_maxrss * 1024


@section("fleet", title="Fleet profiles: pprof rendering, merging 100k sites", owner="fleet",
         order=70, budget_s=45)
def fleet(b):
    lib = os.path.join(b.build, "libblockguard-pprof.so")
    prog = b.prog("pprof_render")
    ms = b.samples(lambda: float(b.run([prog, lib, "4096", "16", "15"]).split()[0]), unit="ms")
    instr, _ = b.callgrind([prog, lib, "4096", "16", "1"], toggle="bg__pprof_render", tag="pprof")
    size = int(b.run([prog, lib, "4096", "16", "1"]).split()[1])
    b.add("pprof render, 4,096 sites x 16 frames (%d kB gzipped)" % (size // 1024), ms,
          instr="%.0fM" % (instr / 1e6), target=b.at_most(50, "ms"), key="fleet.pprof")

    d, insize = dataset(b)
    out = os.path.join(b.out, "merge100k.json")
    runs = [merge_once(b, d, out) for _ in range(1 if b.quick else 3)]
    wall = Samples([r[0] for r in runs], "s")
    peak = max(r[1] for r in runs)
    b.add("blockguard report: merge 100 files, %d sites (%d MB of JSON)" % (SITES, insize >> 20), wall,
          target=b.at_most(5, "s"), key="fleet.merge")
    b.add("  peak memory of that merge (x input size)", "%d MB (%.2fx)" % (peak >> 20, peak / insize),
          target="< 3x input", verdict="met" if peak < 3 * insize else "MISSED", key="fleet.merge_rss")
    os.unlink(out)


@section("fleet_push", title="push= on a real server (redis)", owner="fleet", order=71, budget_s=40)
def fleet_push(b):
    if not (shutil.which("redis-server") and shutil.which("redis-benchmark")):
        b.add("redis throughput with push=", "", target=">= 0.97x",
              verdict="not run: redis-server/redis-tools not installed (tools/deps.sh bench)")
        return
    workdir = os.path.join(b.out, "fleet_push")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.join(workdir, "ingest"))
    server = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "..", "..",
                               "integration", "push_server.py"), "accept",
                               os.path.join(workdir, "ingest")], stdout=subprocess.DEVNULL)
    try:
        portf = os.path.join(workdir, "ingest", "port")
        for _ in range(200):
            if os.path.exists(portf) and open(portf).read().strip():
                break
            time.sleep(0.05)
        push = ":push=http://127.0.0.1:%s:push_interval=1" % open(portf).read().strip()
        n = 10000 if b.quick else 40000
        runs = {"shim": [], "push": []}
        for r in range(1 if b.quick else 5):
            order = ["shim", "push"] if r % 2 == 0 else ["push", "shim"]
            for v in order:
                runs[v].append(redis_once(b, "shim", n, workdir, extra_opts=push if v == "push" else ""))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    pushes = len(glob.glob(os.path.join(workdir, "ingest", "*.query")))
    for op in ("SET", "GET"):
        base = Samples([x[op] for x in runs["shim"]], "req/s", higher=True)
        with_push = Samples([x[op] for x in runs["push"]], "req/s", higher=True)
        b.add("redis %s with push= every 1 s (vs. the shim alone)" % op, with_push, bare=base,
              ratio=b.ratios(base, with_push), target=b.at_least(0.97, "×"), key="fleet.push.%s" % op.lower())
    cpu = [(s["cpu_us_per_req"], p["cpu_us_per_req"]) for s, p in zip(runs["shim"], runs["push"])
           if s["cpu_us_per_req"] and p["cpu_us_per_req"]]
    if cpu:
        b.add("  CPU per request with push= (vs. the shim alone)", Samples([p for _, p in cpu], "us"),
              bare=Samples([s for s, _ in cpu], "us"), ratio=Samples([p / s for s, p in cpu], "×"),
              target="info", verdict="info")
    b.note("push: %d profiles received by the local server during the push runs" % pushes)
