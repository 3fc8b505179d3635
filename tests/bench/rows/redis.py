"""redis.py - a real event-loop server under the shim: redis-server driven by
redis-benchmark (SET and GET, 50 clients), bare and under threads=auto mode=report,
interleaved round by round.  The shim must find redis' event loop (the report says so)
and cost it at most 3% of its throughput.  Throughput on a shared machine moves by
+-20% between runs, so the CPU time per request (INFO cpu around the benchmark) and
callgrind's instructions per request back the verdict up."""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import time

from benchlib import Samples, section


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def redis_cpu(port):
    p = subprocess.run(["redis-cli", "-p", str(port), "info", "cpu"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=30)
    f = dict(l.strip().split(":", 1) for l in p.stdout.splitlines() if ":" in l)
    try:
        return float(f["used_cpu_user"]) + float(f["used_cpu_sys"])
    except (KeyError, ValueError):
        return None


def redis_once(b, variant, n, workdir, callgrind_out=None, clients=50, extra_opts=""):
    """One redis-server run under redis-benchmark; extra_opts: more shim options for
    the "shim" variant (rows/fleet.py adds push=)."""
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", workdir, "--loglevel", "warning",
           "--logfile", os.path.join(workdir, "redis-%s.log" % variant)]
    opts = None
    if variant == "shim":
        opts = "threads=auto:mode=report:verbosity=0:report=%s/redis-%%p.json%s" % (workdir, extra_opts)
    elif variant == "strace":
        cmd = ["strace", "-f", "-o", "/dev/null"] + cmd
    if callgrind_out:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + callgrind_out] + cmd
    srv = subprocess.Popen(cmd, env=b.env(opts), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    cpu = cpu0 = cpu1 = None
    try:
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.time() > deadline or srv.poll() is not None:
                raise RuntimeError("redis-server (%s) did not start" % variant)
            time.sleep(0.05)
        cpu0 = redis_cpu(port)
        out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c",
                              str(clients), "-n", str(n), "-t", "set,get", "--csv"],
                             env=b.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, timeout=300).stdout
        cpu1 = redis_cpu(port)
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        deadline = time.time() + 30
        while srv.returncode is None:  # wait4: the server's own CPU time comes with it
            pid, status, ru = os.wait4(srv.pid, os.WNOHANG if time.time() < deadline else 0)
            if pid == srv.pid:
                srv.returncode = status
                cpu = ru.ru_utime + ru.ru_stime
            elif time.time() >= deadline:
                srv.kill()
            else:
                time.sleep(0.02)
    rps = {}
    for line in out.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if f and f[0] in ("SET", "GET"):
            rps[f[0]] = float(f[1])
    if len(rps) != 2:
        raise RuntimeError("redis-benchmark printed no SET/GET figures:\n" + out)
    rps["cpu_us_per_req"] = ((cpu1 - cpu0) * 1e6 / (2 * n)
                             if cpu0 is not None and cpu1 is not None else None)
    rps["exit_cpu_ms"] = (cpu - cpu1) * 1e3 if cpu is not None and cpu1 is not None else None
    return rps


def shim_ir(annotated):
    """Exclusive instructions in the shim (and an unwinder it loads) from
    callgrind_annotate output."""
    total = 0
    for m in re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+(\S+)(?: \[(\S+)\])?$", annotated, re.M):
        obj, where = m.group(3), m.group(2)
        if (obj and re.search(r"libblockguard|libunwind", obj)) or \
                (not obj and re.search(r"/(guard|preload)/", where)):
            total += int(m.group(1).replace(",", ""))
    return total


@section("redis", title="redis-server under redis-benchmark", owner="perfa", order=70, budget_s=60)
def redis(b):
    if not (shutil.which("redis-server") and shutil.which("redis-benchmark")):
        b.add("redis-server under redis-benchmark", "", target="≥ 0.97×",
              verdict="not run: redis-server/redis-tools not installed (tools/deps.sh bench)")
        return
    workdir = os.path.join(b.out, "redis")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    n = 10000 if b.quick else 20000
    rounds = 1 if b.quick else 6
    got = {"bare": [], "shim": [], "strace": []}
    for r in range(rounds):
        order = ["bare", "shim"] if r % 2 == 0 else ["shim", "bare"]
        if shutil.which("strace") and r < 1:
            order.append("strace")  # 5-20x slower: one round at a fifth of the load
        for v in order:
            got[v].append(redis_once(b, v, n if v != "strace" else n // 5, workdir))
    viol, guarded = 0, False
    for f in glob.glob(os.path.join(workdir, "redis-*.json")):
        with open(f) as fh:
            rep = json.load(fh)
        viol += sum(s["count"] for s in rep.get("sites", []) if not s.get("allowed"))
        guarded = guarded or any(t.get("guarded") for t in rep.get("threads", []))
    b.results.setdefault("redis", {})["runs"] = got
    extra = "; event loop guarded: %s, %d violations recorded" % ("yes" if guarded else "NO", viol)
    if b.have("valgrind") and not b.quick:
        # instructions per request: a long and a short run of the same server cancel
        # start-up and shutdown; one client, so every request is one epoll_wait + read +
        # write whatever the timing; the shim's part is what runs in its own objects
        ir, own = {}, {}
        for v in ("bare", "shim"):
            for size in (1000, 6000):
                out = os.path.join(workdir, "callgrind.%s.%d" % (v, size))
                redis_once(b, v, size, workdir, callgrind_out=out, clients=1)
                with open(out) as fh:
                    ir[(v, size)] = [int(l.split()[1]) for l in fh if l.startswith("totals:")][0]
                ann = subprocess.run(["callgrind_annotate", "--threshold=100", out],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True).stdout
                own[(v, size)] = shim_ir(ann)
        per = (ir[("bare", 6000)] - ir[("bare", 1000)]) / 10000
        shim = (own[("shim", 6000)] - own[("shim", 1000)]) / 10000
        b.add("redis-server instructions per request (SET+GET, 1 client, callgrind)",
              float(per + shim), bare=float(per), ratio=float((per + shim) / per),
              instr=float(shim), target="— (user space only)", verdict="info",
              key="redis.instr")
    for test in ("SET", "GET"):
        bare = Samples([x[test] for x in got["bare"]], "req/s", higher=True)
        for v in ("shim", "strace"):
            if not got[v]:
                continue
            mine = Samples([x[test] for x in got[v]], "req/s", higher=True)
            ratio = Samples([x / y for x, y in zip(mine.values, bare.values)], "×", higher=True)
            if v == "shim":
                row = b.add("redis %s throughput, 50 clients — threads=auto mode=report" % test,
                            mine, bare=bare, ratio=ratio, target=b.at_least(0.97, "×"),
                            key="redis.%s.ratio" % test.lower())
                row["verdict"] += extra
            else:
                b.add("redis %s throughput, 50 clients — strace -f" % test, mine, bare=bare,
                      ratio=ratio, target="comparison", verdict="reference")
    cpu = [(x["cpu_us_per_req"], y["cpu_us_per_req"]) for x, y in zip(got["bare"], got["shim"])
           if x["cpu_us_per_req"] and y["cpu_us_per_req"]]
    if cpu:
        b.add("redis-server CPU time per request while serving (SET+GET, 50 clients)",
              Samples([y for _, y in cpu], "µs"), bare=Samples([x for x, _ in cpu], "µs"),
              ratio=Samples([y / x for x, y in cpu], "×"), target=b.at_most(1.03, "×"),
              key="redis.cpu.ratio")
    ex = [(x["exit_cpu_ms"], y["exit_cpu_ms"]) for x, y in zip(got["bare"], got["shim"])
          if x.get("exit_cpu_ms") is not None and y.get("exit_cpu_ms") is not None]
    if ex:
        b.add("redis-server CPU from the end of the benchmark to exit (the shim writes its "
              "report)", Samples([y for _, y in ex], "ms"), bare=Samples([x for x, _ in ex], "ms"),
              ratio=Samples([y - x for x, y in ex], "ms"), target=b.at_most(5, "ms", "≤ 5 ms added"),
              key="redis.exit_cpu")
