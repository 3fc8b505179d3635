#!/usr/bin/env python3
"""run.py - transparency suite: CPython's own regression tests with and without the shim.

The shim lives inside programs it does not know.  CPython's test suite exercises
sockets, select/poll/epoll, signals with EINTR, fork/exec, threads and asyncio event
loops, checking return values and errno exactly - tests we did not write and cannot
bend.  Each module runs once without the shim (baseline) and once per shim
configuration; every test case must have the same outcome (passed / failed / error /
skipped) in both.  Outcomes come from regrtest's --junit-xml, so a module that "passes"
with different skips still counts as a difference.

A difference is re-run alone, twice on each side: if both sides then agree every time
it is reported as flaky (a test sensitive to the load of the first run); otherwise it
is a shim bug until proven otherwise, and the suite fails.

The regrtest process's exit status must be the same too (a crash at exit happens after
the junit file is written).  The shim must provably have been there: each shim run writes per-process reports
(report=DIR/%p.json); a run that produced no report, or a report saying it was not
guarded, fails.

Environment: PYTHON (default: Debian's /usr/bin/python3 when its test suite is
installed), MODULES (space-separated), MODES (space-separated BLOCKGUARD_OPTIONS
strings under LD_PRELOAD; `default` for no options at all; `cli:OPTIONS` or
`cli:default` to run regrtest under `blockguard run`, which takes every process's
ledger and writes the reports itself), SHIM (path to libblockguard.so), OUT (work dir), TEST_TIMEOUT (per-module
regrtest --timeout, s), JOBS (runs side by side, default 2).  Prints
"transparency: N passed, N failed".
"""
import concurrent.futures
import glob
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

DEFAULT_MODULES = ("test_socket test_select test_selectors test_subprocess test_os "
                   "test_signal test_threading test_asyncio test_fileio test_poll")
# Tests excluded on every side, with why.  Keep this list short and justified.
IGNORES = [
    # AF_VSOCK: on a VM with /dev/vsock (Firecracker, some CI runners) the test's
    # connect() goes to the host, the server's accept() waits forever.  Hangs the
    # baseline too; nothing to compare.
    "*VSOCK*",
]


def find_python():
    env = os.environ.get("PYTHON")
    cands = [env] if env else ["/usr/bin/python3", "python3"]
    for py in cands:
        try:
            r = subprocess.run([py, "-c", "import test.test_socket, test.libregrtest"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            continue
        if r.returncode == 0:
            return py
    sys.exit("transparency: no python3 with CPython's test suite (Debian: apt-get install "
             "libpython3.X-testsuite; tools/deps.sh trust does it); set PYTHON=")


def outcomes(xml_path):
    """{test id: 'passed'|'failed'|'error'|'skipped'} from a regrtest junit file."""
    res = {}
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as e:
        return None
    for tc in root.iter("testcase"):
        name = tc.get("name")
        kinds = {child.tag for child in tc}
        if "error" in kinds:
            res[name] = "error"
        elif "failure" in kinds:
            res[name] = "failed"
        elif "skipped" in kinds:
            res[name] = "skipped"
        else:
            res[name] = "passed"
    return res


def regrtest(py, module, xml, log, env, timeout, match=None, wrap=None):
    cmd = (wrap or []) + [py, "-m", "test", module, "-v", "--timeout", str(timeout), "--junit-xml", xml]
    for pat in IGNORES:
        cmd += ["-i", pat]
    for m in match or []:
        cmd += ["-m", m]
    t0 = time.monotonic()
    with open(log, "w") as f:
        try:
            # Hard stop well past regrtest's own --timeout (which dumps tracebacks).
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                               timeout=timeout * 3 + 60, stdin=subprocess.DEVNULL)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    return rc, time.monotonic() - t0


def is_cli(mode):
    return mode.startswith("cli:")


def mode_options(mode):
    """The options of a mode: "default" is none at all (what a new user gets)."""
    opts = mode[4:] if is_cli(mode) else mode
    return "" if opts == "default" else opts


def shim_env(shim, mode, reports):
    """LD_PRELOAD modes: the environment; `blockguard run` modes: the plain one (the
    CLI sets LD_PRELOAD and BLOCKGUARD_OPTIONS itself)."""
    if is_cli(mode):
        return base_env()
    env = dict(os.environ)
    env["LD_PRELOAD"] = shim + (":" + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    opts = mode_options(mode)
    env["BLOCKGUARD_OPTIONS"] = (opts + ":" if opts else "") + "report=" + os.path.join(reports, "%p.json")
    return env


def shim_wrap(shim, mode, reports):
    """`cli:OPTIONS` modes run regrtest under `blockguard run --key=value... --`."""
    if not is_cli(mode):
        return None
    cli = os.path.join(os.path.dirname(shim), "blockguard")
    opts = mode_options(mode)
    flags = ["--" + kv for kv in opts.split(":") if kv] if opts else []
    return [cli, "run"] + flags + ["--report=" + os.path.join(reports, "%p.json"), "--"]


def base_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("BLOCKGUARD_OPTIONS", None)
    return env


def check_reports(reports):
    """(processes, guarded threads, violations, problems) from the shim's reports."""
    procs = guarded = violations = 0
    problems = []
    for p in glob.glob(os.path.join(reports, "*.json")):
        try:
            with open(p) as f:
                r = json.load(f)
        except (OSError, ValueError) as e:
            problems.append("%s: unreadable report: %s" % (p, e))
            continue
        procs += 1
        if r.get("unguarded_reason"):
            problems.append("%s: not guarded: %s" % (p, r["unguarded_reason"]))
        guarded += sum(1 for t in r.get("threads", []) if t.get("guarded"))
        violations += sum(s.get("count", 0) for s in r.get("sites", []) if not s.get("allowed"))
    return procs, guarded, violations, problems


def diff(base, shim):
    out = []
    for name in sorted(set(base) | set(shim)):
        a, b = base.get(name, "absent"), shim.get(name, "absent")
        if a != b:
            out.append((name, a, b))
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    py = find_python()
    shim = os.path.abspath(os.environ.get("SHIM", os.path.join(root, "build", "libblockguard.so")))
    if not os.path.exists(shim):
        sys.exit("transparency: %s not built" % shim)
    modules = os.environ.get("MODULES", DEFAULT_MODULES).split()
    modes = os.environ.get("MODES", "threads=auto:mode=report").split()
    out = os.path.abspath(os.environ.get("OUT", os.path.join(root, "build", "transparency")))
    timeout = int(os.environ.get("TEST_TIMEOUT", "600"))
    jobs = max(1, int(os.environ.get("JOBS", "2")))
    os.makedirs(out, exist_ok=True)
    vers = subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"],
                          capture_output=True, text=True).stdout.strip()
    print("transparency: %s (Python %s), shim %s" % (py, vers, shim))
    npass = nfail = 0
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    t_start = time.monotonic()
    for module in modules:
        bdir = os.path.join(out, "base")
        os.makedirs(bdir, exist_ok=True)
        bxml, blog = os.path.join(bdir, module + ".xml"), os.path.join(bdir, module + ".log")
        # The baseline and the shim runs of one module run side by side (JOBS): half
        # the wall time on 2 cores; a difference caused by the load is re-run alone.
        bfut = pool.submit(regrtest, py, module, bxml, blog, base_env(), timeout)
        runs = []
        for mode in modes:
            tag = mode.replace(":", "_").replace("=", "-").replace(",", "+")
            sdir = os.path.join(out, tag)
            reports = os.path.join(sdir, module + ".reports")
            subprocess.run(["rm", "-rf", reports])
            os.makedirs(reports)
            sxml, slog = os.path.join(sdir, module + ".xml"), os.path.join(sdir, module + ".log")
            fut = pool.submit(regrtest, py, module, sxml, slog, shim_env(shim, mode, reports), timeout,
                              None, shim_wrap(shim, mode, reports))
            runs.append((mode, sdir, reports, sxml, slog, fut))
        brc, bt = bfut.result()
        base = outcomes(bxml)
        if base is None:
            print("  FAIL  %s: baseline produced no results (rc %s, log %s)" % (module, brc, blog))
            nfail += 1
            continue
        for mode, sdir, reports, sxml, slog, fut in runs:
            src, st = fut.result()
            shimmed = outcomes(sxml)
            label = "%s [%s]" % (module, mode)
            if shimmed is None:
                print("  FAIL  %s: no results under the shim (rc %s, log %s)" % (label, src, slog))
                nfail += 1
                continue
            d = diff(base, shimmed)
            flaky, real = [], []
            if d:
                # Re-run only the differing tests, twice on each side.
                # A full test id is an exact-match pattern for regrtest's -m.
                pats = [n for n, _, _ in d]
                agree = {}
                for attempt in range(2):
                    rx = os.path.join(sdir, "%s.rerun%d" % (module, attempt))
                    regrtest(py, module, rx + ".base.xml", rx + ".base.log", base_env(), timeout, pats)
                    regrtest(py, module, rx + ".shim.xml", rx + ".shim.log",
                             shim_env(shim, mode, reports), timeout, pats,
                             shim_wrap(shim, mode, reports))
                    rb, rs = outcomes(rx + ".base.xml") or {}, outcomes(rx + ".shim.xml") or {}
                    for n, a, b in d:
                        # flaky: both sides ran it alone and agreed, every time
                        ok = n in rb and n in rs and rb[n] == rs[n]
                        agree[n] = agree.get(n, True) and ok
                flaky = [n for n, _, _ in d if agree.get(n)]
                real = [x for x in d if x[0] not in flaky]
            procs, guarded, viol, problems = check_reports(reports)
            # The interpreter's own exit status too: a crash at exit (after the
            # junit file was written) is not a pass.
            # regrtest exits 2 when a test failed: a flaky test explains that, a signal
            # (negative status) or a timeout never does.
            if src != brc and (not flaky or not isinstance(src, int) or src < 0):
                problems.insert(0, "exit status %s with the shim, %s without (log %s)" % (src, brc, slog))
            if procs == 0:
                problems.append("no report written: was the shim loaded?")
            counts = {}
            for v in shimmed.values():
                counts[v] = counts.get(v, 0) + 1
            summary = ", ".join("%d %s" % (counts[k], k) for k in sorted(counts))
            info = "%s; base %.0fs, shim %.0fs; %d processes reported, %d guarded threads, %d violations" % (
                summary, bt, st, procs, guarded, viol)
            if real or problems:
                nfail += 1
                print("  FAIL  %s: %s" % (label, info))
                for n, a, b in real:
                    print("        %s: %s without the shim, %s with it" % (n, a, b))
                for p in problems[:10]:
                    print("        %s" % p)
                print("        logs: %s %s" % (blog, slog))
            else:
                npass += 1
                print("  ok    %s: %s" % (label, info))
            for n in flaky:
                print("        flaky (same outcome with and without the shim when run alone): %s" % n)
    print("transparency: %d passed, %d failed (%.0fs)" % (npass, nfail, time.monotonic() - t_start))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
