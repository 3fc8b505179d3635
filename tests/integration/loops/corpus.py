#!/usr/bin/env python3
"""corpus.py - event-loop detection on real programs (tests/integration/t_loop_corpus.sh).

Every row runs a real program under the shim with the defaults a new user gets
(threads=auto, mode=report), one report per process (report=DIR/%p.json), and decides
from the reports whether blockguard took a thread of it for an event loop:

  loop      a thread of the process(es) the row is about is a loop thread at exit
            (why=auto), or a blocking call the program makes inside its loop was
            recorded (under threads=auto only loop threads are guarded);
  not loop  no thread of any process of the run is a loop thread, and nothing was
            recorded.

Loop rows also check the blocking call made inside the loop is recorded, and where the
program ends its loop before exiting (asyncio.run, uv_loop_close, event_base_free,
ev_loop_destroy) that the blocking call made after it is not.  Prints the table
(program, expected, detected, evidence); exits 1 unless every row agrees.

Usage: corpus.py SHIM SAMPLES_DIR WORK_DIR   (SAMPLES_DIR: the built C samples)
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile

SHIM, SAMPLES, WORK = sys.argv[1:4]
HERE = os.path.dirname(os.path.abspath(__file__))
# Hermetic PATH: no pyenv shims, no ~/.cargo (pip runs `rustc --version`, a tokio loop)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT = os.geteuid() == 0
rows = []


def env_for(reports, extra=None):
    env = {"PATH": PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "LD_PRELOAD": SHIM,
           "BLOCKGUARD_OPTIONS": "report=%s/%%p.json:verbosity=0" % reports}
    env.update(extra or {})
    return env


def reports_dir(name):
    d = os.path.join(WORK, "reports", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o1777)  # daemons that drop privileges write here too
    return d


def read_reports(d):
    out = []
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        with open(f) as fh:
            out.append(json.load(fh))
    return out


def run(name, argv, timeout=60, env=None, cwd=None, check=True):
    """Runs argv under the shim; returns its reports."""
    d = reports_dir(name)
    p = subprocess.run(argv, env=env_for(d, env), cwd=cwd or WORK, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (argv[0], p.returncode,
                                                 p.stderr.decode(errors="replace")[-600:]))
    return read_reports(d)


def loop_threads(r):
    return [t for t in r["threads"] if t.get("why") == "auto"]


def violations(r):
    return [s for s in r["sites"] if not s["allowed"]]


def nviol(r, calls=None, fn=None):
    n = 0
    for s in violations(r):
        if calls and s["call"] not in calls:
            continue
        if fn and not any(f.get("function") == fn for f in s["frames"]):
            continue
        n += s["count"]
    return n


def argv0(r):
    return " ".join(r.get("argv") or ["?"])


def row(label, expected):
    def deco(fn):
        rows.append((label, expected, fn))
        return fn
    return deco


class Result:
    def __init__(self, detected, evidence, problems=()):
        self.detected, self.evidence, self.problems = detected, evidence, list(problems)


def not_loop(reports, what=""):
    """Verdict for a row that must not be a loop: every process of the run."""
    if not reports:
        return Result("?", "no report written", ["no report"])
    bad = []
    for r in reports:
        lt = loop_threads(r)
        nv = sum(s["count"] for s in violations(r))
        if lt or nv:
            bad.append("%s: loop threads %s, %d violations %s" % (
                argv0(r)[:50], [t["name"] for t in lt], nv,
                sorted({s["call"] for s in violations(r)})))
    ev = "%d process(es), no loop thread, nothing recorded%s" % (len(reports), what)
    return Result("loop" if bad else "not loop", "; ".join(bad) if bad else ev)


def main_report(reports, pid=None):
    if pid is not None:
        for r in reports:
            if r["pid"] == pid:
                return r
    return reports[0] if reports else None


# ---- loops ---------------------------------------------------------------------------
ASYNCIO = os.path.join(HERE, "asyncio_run.py")
SLEEPS = ("clock_nanosleep", "nanosleep", "select", "usleep")


def asyncio_row(python, label):
    @row(label, "loop")
    def _():
        rep = run("asyncio-" + os.path.basename(os.path.dirname(os.path.dirname(python))),
                  [python, ASYNCIO])
        r = main_report(rep)
        n = nviol(r, SLEEPS)
        probs = []
        if n == 0:
            probs.append("time.sleep inside the coroutine was not recorded")
        if n > 1:
            probs.append("time.sleep after asyncio.run() returned was recorded too (%d)" % n)
        others = [s["call"] for s in violations(r) if s["call"] not in SLEEPS]
        if others:
            probs.append("unexpected violations: %s" % others)
        return Result("loop" if n else "not loop",
                      "main thread: time.sleep in a coroutine recorded (%d); after "
                      "asyncio.run() returned: not" % min(n, 1), probs)


asyncio_row("/usr/bin/python3", "python3 (Debian) asyncio")
pyenv = os.environ.get("PYENV_ROOT", "/root/.pyenv")
for v in sorted(glob.glob(os.path.join(pyenv, "versions", "3.*")),
                key=lambda p: [int(x) for x in os.path.basename(p).split(".")[:2]]):
    py = os.path.join(v, "bin", "python3")
    if os.access(py, os.X_OK):
        asyncio_row(py, "python %s (pyenv) asyncio" % os.path.basename(v))


@row("node (setInterval + readFileSync)", "loop")
def _():
    rep = run("node", ["node", os.path.join(HERE, "node_timers.js")])
    r = main_report(rep)
    main = [t for t in loop_threads(r) if t["tid"] == r["pid"]]
    n = nviol(r, ("open", "open64", "openat", "openat64", "read", "__read_chk", "fstat"))
    probs = [] if n else ["readFileSync in the timer callback was not recorded"]
    return Result("loop" if main else "not loop",
                  "main thread why=auto (%d loop threads), readFileSync recorded (%d calls)"
                  % (len(loop_threads(r)), n), probs)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def server(name, argv, ready, client, stop_sig=signal.SIGTERM, timeout=20, env=None):
    """Starts argv under the shim, waits for ready(), runs client(), stops it."""
    d = reports_dir(name)
    p = subprocess.Popen(argv, env=env_for(d, env), cwd=WORK, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        wait_for(ready, name + " to start")
        client()
    finally:
        p.send_signal(stop_sig)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            raise RuntimeError("%s did not stop: %s" % (name, out[-500:]))
    return p.pid, read_reports(d)


def unix_talk(path, data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(data)
    s.settimeout(5)
    got = b""
    while not got.endswith(b"\r\n"):
        got += s.recv(4096)
    s.close()
    return got


@row("redis-server (DEBUG SLEEP)", "loop")
def _():
    sock = os.path.join(WORK, "redis.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    cmd = lambda *a: subprocess.run(["redis-cli", "-s", sock] + list(a), check=True,
                                    stdout=subprocess.PIPE, timeout=10)
    pid, rep = server("redis", ["redis-server", "--port", "0", "--unixsocket", sock,
                                "--save", "", "--appendonly", "no",
                                "--enable-debug-command", "yes", "--dir", WORK],
                      lambda: os.path.exists(sock), lambda: cmd("DEBUG", "SLEEP", "0.01"),
                      stop_sig=signal.SIGTERM)
    r = main_report(rep, pid)
    main = [t for t in loop_threads(r) if t["tid"] == r["pid"]]
    n = nviol(r, SLEEPS)
    probs = [] if n else ["DEBUG SLEEP (a sleep in the command handler) was not recorded"]
    return Result("loop" if main else "not loop",
                  "main thread why=auto, DEBUG SLEEP recorded (%d)" % n, probs)


@row("nginx workers (2, access log)", "loop")
def _():
    port = free_port()
    www = os.path.join(WORK, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("hello\n")
    conf = os.path.join(WORK, "nginx.conf")
    tmp = os.path.join(WORK, "nginx-tmp")
    os.makedirs(tmp, exist_ok=True)
    with open(conf, "w") as f:
        f.write("""%(user)s
daemon off; master_process on; worker_processes 2;
error_log %(w)s/nginx-error.log; pid %(w)s/nginx.pid;
events { worker_connections 64; }
http {
  access_log %(w)s/nginx-access.log;
  client_body_temp_path %(t)s/body; proxy_temp_path %(t)s/proxy;
  fastcgi_temp_path %(t)s/fcgi; uwsgi_temp_path %(t)s/uwsgi; scgi_temp_path %(t)s/scgi;
  server { listen 127.0.0.1:%(p)d; root %(www)s; }
}
""" % {"w": WORK, "t": tmp, "p": port, "www": www,
       "user": "user root;" if ROOT else ""})

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def client():
        for _ in range(6):
            subprocess.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/" % port],
                           check=True, timeout=10, env={"PATH": PATH})

    pid, rep = server("nginx", ["nginx", "-p", WORK, "-c", conf, "-e",
                                os.path.join(WORK, "nginx-error.log")],
                      up, client, stop_sig=signal.SIGQUIT)
    workers = [r for r in rep if r["pid"] != pid]
    master = main_report(rep, pid)
    probs = []
    if len(workers) != 2:
        probs.append("%d worker reports (want 2)" % len(workers))
    looping = [w for w in workers if any(t["tid"] == w["pid"] for t in loop_threads(w))]
    logged = sum(nviol(w, ("write", "writev", "pwrite", "pwrite64")) for w in workers)
    if not logged:
        probs.append("no worker recorded its access-log write")
    if master and loop_threads(master):
        probs.append("the master (sigsuspend, no loop) has loop threads")
    return Result("loop" if workers and len(looping) == len(workers) else "not loop",
                  "%d/%d workers why=auto, access-log writes recorded (%d); master: no loop"
                  % (len(looping), len(workers), logged), probs)


@row("memcached workers (-t 2)", "loop")
def _():
    sock = os.path.join(WORK, "mc.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    argv = ["memcached", "-p", "0", "-U", "0", "-s", sock, "-t", "2"]
    if ROOT:
        argv += ["-u", "root"]
    pid, rep = server("memcached", argv, lambda: os.path.exists(sock),
                      lambda: unix_talk(sock, b"set k 0 0 1\r\nv\r\nget k\r\n"),
                      stop_sig=signal.SIGTERM)
    r = main_report(rep, pid)
    lt = loop_threads(r)
    others = [t for t in lt if t["tid"] != r["pid"]]
    return Result("loop" if len(others) >= 2 else "not loop",
                  "loop threads: %s (the libevent dispatcher and workers)"
                  % sorted(t["name"] for t in lt))


@row("gevent hub (python3-gevent)", "loop")
def _():
    rep = run("gevent", ["/usr/bin/python3", os.path.join(HERE, "gevent_hub.py")])
    r = main_report(rep)
    main = [t for t in loop_threads(r) if t["tid"] == r["pid"]]
    n = nviol(r, SLEEPS)
    probs = [] if n == 2 else ["%d unpatched time.sleep recorded (want 2)" % n]
    return Result("loop" if main else "not loop",
                  "main thread (the hub's libev epoll) why=auto, time.sleep in greenlets "
                  "recorded (%d)" % n, probs)


def c_sample(label, exe, ends):
    @row(label, "loop")
    def _():
        rep = run(exe, [os.path.join(SAMPLES, exe)])
        r = main_report(rep)
        inloop = nviol(r, ("usleep",), fn="tick")
        total = nviol(r)
        probs = []
        if inloop != 3:
            probs.append("%d usleep in the callback recorded (want 3)" % inloop)
        if total != inloop:
            probs.append("%d other violations (the sleep after the loop ended?)"
                         % (total - inloop))
        main = [t for t in loop_threads(r) if t["tid"] == r["pid"]]
        if ends and main:
            probs.append("main thread still a loop thread after the loop was destroyed")
        if not ends and not main:
            probs.append("main thread not a loop thread at exit")
        return Result("loop" if inloop else "not loop",
                      "usleep in the callback recorded (%d)%s" % (
                          inloop, "; after the loop was destroyed: not" if ends
                          else "; main thread why=auto"), probs)


c_sample("libuv sample (uv_run)", "uv_loop", True)
c_sample("libevent sample (event_base_dispatch)", "event_loop", True)
c_sample("libev sample (ev_run)", "ev_loop", True)
c_sample("GLib sample (g_main_loop_run)", "glib_loop", False)


@row("python selectors echo loop (DefaultSelector)", "loop")
def _():
    rep = run("selectors", ["/usr/bin/python3", os.path.join(HERE, "selectors_loop.py")])
    r = main_report(rep)
    n = nviol(r, SLEEPS)
    return Result("loop" if n else "not loop",
                  "time.sleep in the handler recorded (%d); after sel.close(): not" % min(n, 1),
                  [] if n == 1 else ["%d sleeps recorded (want 1)" % n])


# ---- not loops -----------------------------------------------------------------------
@row("make -j2 (jobserver pselect)", "not loop")
def _():
    d = os.path.join(WORK, "mk")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write("all: a b c d e f\na b c d e f:\n\t@sleep 0.05; echo $@ > $@.out\n")
    return not_loop(run("make", ["make", "-j2", "-B", "-C", d]))


@row("python3 subprocess.run(capture_output=True)", "not loop")
def _():
    rep = run("subprocess", ["/usr/bin/python3", os.path.join(HERE, "subprocess_run.py")])
    return not_loop(rep, "; time.sleep after it: not recorded")


@row("curl (HTTP GET, 4 MB)", "not loop")
def _():
    www = os.path.join(WORK, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(os.urandom(4 << 20))
    port = free_port()
    srv = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", str(port), "--bind",
                            "127.0.0.1", "--directory", www], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: subprocess.run(["curl", "-sf", "-o", "/dev/null",
                                         "http://127.0.0.1:%d/" % port],
                                        env={"PATH": PATH}).returncode == 0, "http.server")
        rep = run("curl", ["curl", "-sf", "-o", os.path.join(WORK, "big.out"),
                           "http://127.0.0.1:%d/big.bin" % port])
    finally:
        srv.terminate()
        srv.wait()
    return not_loop(rep)


@row("git (init, commit, clone file://, log)", "not loop")
def _():
    d = os.path.join(WORK, "git")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    script = ("set -e; git init -q src; cd src; for i in 1 2 3; do echo $i > f$i; done; "
              "git add .; git -c user.email=t@t -c user.name=t commit -qm c; cd ..; "
              "git clone -q file://%s/src dst; git -C dst log --oneline >/dev/null" % d)
    return not_loop(run("git", ["sh", "-c", script], cwd=d))


@row("tar (czf, xzf)", "not loop")
def _():
    d = os.path.join(WORK, "tar")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "in"))
    for i in range(50):
        with open(os.path.join(d, "in", "f%d" % i), "w") as f:
            f.write("x" * 10000)
    rep = run("tar", ["sh", "-c", "tar czf t.tgz in && mkdir -p out && tar xzf t.tgz -C out"],
              cwd=d)
    return not_loop(rep)


@row("sort --parallel=2 (temp files, threads)", "not loop")
def _():
    src = os.path.join(WORK, "sort.in")
    with open(src, "w") as f:
        f.write("".join("%d\n" % ((i * 7919) % 200003) for i in range(200000)))
    return not_loop(run("sort", ["sort", "-n", "--parallel=2", "-S", "1M", "-T", WORK, "-o",
                                 os.path.join(WORK, "sort.out"), src]))


@row("gcc (cc1, as, collect2, ld)", "not loop")
def _():
    src = os.path.join(WORK, "hello.c")
    with open(src, "w") as f:
        f.write("#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n")
    return not_loop(run("gcc", ["gcc", "-O2", "-o", os.path.join(WORK, "hello"), src]))


@row("pip install (local wheel, --no-index)", "not loop")
def _():
    whl = os.path.join(WORK, "bgdemo-1.0-py3-none-any.whl")
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("bgdemo/__init__.py", "X = 1\n")
        z.writestr("bgdemo-1.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: bgdemo\nVersion: 1.0\n")
        z.writestr("bgdemo-1.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: blockguard\nRoot-Is-Purelib: true\n"
                   "Tag: py3-none-any\n")
        z.writestr("bgdemo-1.0.dist-info/RECORD",
                   "bgdemo/__init__.py,,\nbgdemo-1.0.dist-info/METADATA,,\n"
                   "bgdemo-1.0.dist-info/WHEEL,,\nbgdemo-1.0.dist-info/RECORD,,\n")
    target = os.path.join(WORK, "pip-target")
    shutil.rmtree(target, ignore_errors=True)
    rep = run("pip", ["/usr/bin/python3", "-m", "pip", "install", "-q", "--no-index",
                      "--no-deps", "--disable-pip-version-check", "--no-cache-dir",
                      "--target", target, whl], env={"PIP_ROOT_USER_ACTION": "ignore"})
    if not os.path.exists(os.path.join(target, "bgdemo", "__init__.py")):
        return Result("?", "pip did not install the wheel", ["install failed"])
    return not_loop(rep)


@row("thread pool (4 workers, condition variable)", "not loop")
def _():
    return not_loop(run("pool", [os.path.join(SAMPLES, "pool")]))


@row("python3 -m http.server (socketserver poll loop)", "not loop")
def _():
    port = free_port()

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def client():
        for _ in range(3):
            subprocess.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/" % port],
                           check=True, timeout=10, env={"PATH": PATH})

    _pid, rep = server("http.server", ["/usr/bin/python3", "-m", "http.server", str(port),
                                       "--bind", "127.0.0.1", "--directory", WORK],
                       up, client, stop_sig=signal.SIGINT)
    return not_loop(rep)


def main():
    results = []
    t0 = time.time()
    for label, expected, fn in rows:
        t = time.time()
        try:
            res = fn()
        except Exception as e:  # a row that cannot run is a failed row, never a skip
            res = Result("?", "error: %s" % e, [str(e)])
        ok = res.detected == expected and not res.problems
        results.append((label, expected, res, ok, time.time() - t))
    w = max(len(r[0]) for r in results)
    print("%-*s  %-8s  %-8s  %s" % (w, "program", "expected", "detected", "evidence"))
    print("%s  %s  %s  %s" % ("-" * w, "-" * 8, "-" * 8, "-" * 8))
    for label, expected, res, ok, dt in results:
        print("%-*s  %-8s  %-8s  %s%s (%.1fs)" % (w, label, expected, res.detected,
                                                 "" if ok else "MISMATCH: ", res.evidence, dt))
        for p in res.problems:
            print("%*s  problem: %s" % (w, "", p))
    bad = [r for r in results if not r[3]]
    print("corpus: %d rows, %d agree, %d disagree (%.1fs)"
          % (len(results), len(results) - len(bad), len(bad), time.time() - t0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
