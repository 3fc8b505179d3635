"""memory.py - resident memory the shim adds (sites.c rss): to a small program, and with
the site table full (4,096 sites, the max_sites default).  Bare and shim processes
interleaved; private/anon is the process's own memory, without the shared library pages
VmRSS also counts."""
from benchlib import Samples, section
from rows.percall import OPT_GUARDED


@section("memory", title="Memory", owner="perfa", order=90, budget_s=15)
def memory(b):
    for nsweeps, label in ((0, "small program (no violations)"),
                           (4, "4,096 sites (max_sites default)")):
        runs = []
        for r in range(1 if b.quick else 3):
            got = {}
            for o in ([None, OPT_GUARDED] if r % 2 == 0 else [OPT_GUARDED, None]):
                got[o is None] = [int(x) for x in
                                  b.run([b.prog("sites"), "rss", str(nsweeps)], o).split()]
            runs.append((got[True], got[False]))
        add = Samples([y[0] - x[0] for x, y in runs], "kB")
        anon = Samples([y[2] - x[2] for x, y in runs], "kB")
        row = b.add("RSS, %s" % label, Samples([y[0] for _, y in runs], "kB"),
                    bare=Samples([x[0] for x, _ in runs], "kB"), ratio=add, target="—",
                    verdict="info", key="memory.%d" % nsweeps)
        row["verdict"] = "info; private/anon added %s" % anon.text()
