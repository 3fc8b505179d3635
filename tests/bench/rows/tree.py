"""tree.py - the same exit rows as exitcost.py, under `blockguard run`: every process
hands its ledger to the CLI at start-up and does nothing but two stores at exit; the
CLI reads each ledger when the process ends, symbolizes once per object for the whole
tree and writes the report= files itself (issue 14 item 2, the CLI path).  Measured
with spawn.c running the CLI bare (the CLI runs the program under the shim), so the
wall time and the CPU (children's user + system, the CLI's included) cover all of it."""
import os
import shutil

from benchlib import Samples, section


def cli_run(b, report_dir, args):
    cmd = [os.path.join(os.path.dirname(b.shim), "blockguard"), "run", "--threads=main",
           "--verbosity=0"]
    if report_dir:
        cmd.append("--report=%s/t%%p.json" % report_dir)
    return cmd + ["--", b.prog("exits")] + args


def spawn(b, n, cmd):
    out = b.run([b.prog("spawn"), str(n), "-", "-"] + cmd)
    wall, cpu = (float(x) for x in out.split()[:2])
    return wall, cpu


@section("tree", title="Exit cost under blockguard run (the CLI reads the ledgers)", owner="ledger",
         order=31, budget_s=25)
def tree(b):
    d = os.path.join(b.out, "tree")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    n = 2 if b.quick else 10
    # one process with 10 sites: CPU of the whole run (CLI + program) minus the bare program
    bare, cli = b.interleave([lambda: spawn(b, n, [b.prog("exits"), "sites", "10"])[1] / n,
                              lambda: spawn(b, n, cli_run(b, d, ["sites", "10"]))[1] / n], unit="ms")
    added = Samples([y - x for x, y in zip(bare.values, cli.values)], "ms")
    b.add("process with 10 sites, report= by the CLI: CPU per run (CLI included)", cli, bare=bare,
          ratio=added, target=b.at_most(5, "ms", "≤ 5 ms added"), key="tree.sites10")
    forks = 20 if b.quick else 200
    bare, cli = b.interleave([lambda: spawn(b, 1, [b.prog("exits"), "forks", str(forks)])[0],
                              lambda: spawn(b, 1, cli_run(b, d, ["forks", str(forks)]))[0]],
                             rounds=3, unit="ms")
    b.add("%d forked children, each with violations, report=%%p by the CLI: wall" % forks, cli,
          bare=bare, ratio=b.ratios(bare, cli), target=b.at_most(1.5, "×"), key="tree.forks.ratio")
    b.note("A process under the CLI does no symbolization and no I/O at exit; what remains per "
           "fork is the child's ledger (a memfd sent over a socket: ~10 syscalls) and the CLI "
           "reading it and writing its report.")
