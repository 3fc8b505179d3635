"""exitcost.py - what a process that recorded violations pays at exit (exits.c, started
by spawn.c, bare and under the shim interleaved): writing its report and summary, where
naming each frame (symbolization: the ELF symbol table, DWARF line tables) was the
expensive part.  CPU is the children's user + system time (getrusage), so the
machine's load does not count; wall time for the fork tree."""
import os
import shutil

from benchlib import Samples, section


def cpu_per_proc(b, n, args, opts):
    out = b.run([b.prog("spawn"), str(n), b.shim if opts is not None else "-", opts or "-",
                 b.prog("exits")] + args)
    return float(out.split()[1]) / n


def wall(b, args, opts):
    out = b.run([b.prog("spawn"), "1", b.shim if opts is not None else "-", opts or "-",
                 b.prog("exits")] + args)
    return float(out.split()[0])


@section("exit", title="Exit cost", owner="perfa", order=30, budget_s=30)
def exitcost(b):
    d = os.path.join(b.out, "exit")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    n = 2 if b.quick else 10
    # log_path=stderr: the summary is printed (and so symbolized) even though stderr is
    # not a terminal here (spawn sends it to /dev/null).
    for opts, what in (("threads=main:verbosity=0:report=%s/r%%p.json" % d, "report= file"),
                       ("threads=main:log_path=stderr", "exit summary on stderr")):
        bare, shim = b.interleave([lambda: cpu_per_proc(b, n, ["sites", "10"], None),
                                   lambda: cpu_per_proc(b, n, ["sites", "10"], opts)], unit="ms")
        added = Samples([y - x for x, y in zip(bare.values, shim.values)], "ms")
        b.add("process with 10 sites, CPU per process (%s)" % what, shim, bare=bare, ratio=added,
              target=b.at_most(5, "ms", "≤ 5 ms added"),
              key="exit.sites10.%s" % ("report" if "report" in opts else "summary"))
    forks = 20 if b.quick else 200
    opts = "threads=main:verbosity=0:report=%s/f%%p.json" % d
    cli = [os.path.join(b.build, "blockguard"), "run", "--threads=main", "--verbosity=0",
           "--report=%s/c%%p.json" % d, "--"]

    def under_cli():
        out = b.run([b.prog("spawn"), "1", "-", "-"] + cli + [b.prog("exits"), "forks", str(forks)])
        return float(out.split()[0])

    bare, shim, run = b.interleave([lambda: wall(b, ["forks", str(forks)], None),
                                    lambda: wall(b, ["forks", str(forks)], opts),
                                    under_cli], rounds=3, unit="ms")
    b.add("%d forked children, each with violations, report=%%p: wall" % forks, shim, bare=bare,
          ratio=b.ratios(bare, shim), target=b.at_most(1.5, "×"), key="exit.forks.ratio")
    b.add("the same under `blockguard run --report=DIR/%p.json` (the CLI symbolizes): wall",
          run, bare=bare, ratio=b.ratios(bare, run), target=b.at_most(1.5, "×"),
          key="exit.forks.cli")
