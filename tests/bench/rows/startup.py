"""startup.py - what every process pays for the shim before it does anything: the
dynamic loader mapping it, its constructor, its exit (spawn.c starts a program N times
in a row, bare and with LD_PRELOAD, interleaved round by round).  `make test` on a real
project starts thousands of processes, so this is the overhead CI users see first.
Instructions are callgrind's count of the whole process (loader included), shim minus
bare: exact and load-independent."""
import shutil

from benchlib import Samples, section


def spawn_ms(b, n, cmd, preload, opts):
    out = b.run([b.prog("spawn"), str(n), preload or "-", opts or "-"] + cmd)
    wall, cpu = out.split()
    return float(wall)


def startup_pair(b, n, cmd, opts="", rounds=7):
    bare, shim = b.interleave([lambda: spawn_ms(b, n, cmd, None, None),
                               lambda: spawn_ms(b, n, cmd, b.shim, opts)], rounds=rounds, unit="ms")
    return bare, shim, b.ratios(bare, shim)


@section("startup", title="Process start-up", owner="perfa", order=10, budget_s=35)
def startup(b):
    true = shutil.which("true") or "/bin/true"
    n = 20 if b.quick else 200
    bare, shim, ratio = startup_pair(b, n, [true])
    b.add("`true` ×%d under LD_PRELOAD (default options), wall" % n, shim, bare=bare, ratio=ratio,
          target=b.at_most(1.15, "×"), key="startup.true.ratio")
    b.value("startup.true.bare", bare.text())
    b.value("startup.true.shim", shim.text())
    if b.have("valgrind"):
        tb, _ = b.callgrind([true], None, tag="startup-bare")
        ts, _ = b.callgrind([true], "", tag="startup-shim")
        b.add("`true`: instructions per process (callgrind, loader included)", float(ts),
              bare=float(tb), ratio=float(ts - tb),
              target=b.at_most(150000, "", "≤ 150,000 added"), key="startup.true.instr")
    # a guarded main thread (threads=main) sets up more at start: the site pool
    bare, shim, ratio = startup_pair(b, n, [true], "threads=main", rounds=5)
    b.add("`true` ×%d, threads=main" % n, shim, bare=bare, ratio=ratio, target="—",
          verdict="info", key="startup.true_main.ratio")
    py = shutil.which("python3")
    if py:
        m = 5 if b.quick else 20
        bare, shim, ratio = startup_pair(b, m, [py, "-c", "pass"], rounds=5)
        b.add("`python3 -c pass` ×%d, wall" % m, shim, bare=bare, ratio=ratio, target="—",
              verdict="info", key="startup.python.ratio")
