"""percall.py - what a wrapped call costs (percall.c, sites.c): on an unguarded thread
(the fast path), on a guarded thread when the call is exempt, and when it is a
violation at a known site; plus the first violation at a new site.

Times are measured inside one process (percall ... ab): blocks of libc's own function
and of what the program binds to (the shim's wrapper when preloaded) alternate, both
called through a pointer; the fastest block of each side counts (noise only adds time),
and each process gives one ratio.  The A/A row runs the same without the shim: the
noise floor.  Instruction counts come from callgrind on the plain (by-name) loops."""
import os
import re
import shutil

from benchlib import Samples, section

CALLS = ["read", "write", "poll", "sleep"]
CALL_LABEL = {"read": "read(/dev/zero, 1)", "write": "write(/dev/null, 1)",
              "poll": "poll(1 fd, 0)", "sleep": "clock_nanosleep(0)"}
VIOLATE_LABEL = {"read": "read(/dev/zero, 1)", "write": "write(/dev/null, 1)",
                 "poll": "poll(1 ready fd, 1 s)", "sleep": "clock_nanosleep(1 ns)"}
OPT_UNGUARDED = "verbosity=0"  # defaults: threads=auto mode=report; main is not a loop
OPT_GUARDED = "threads=main:mode=report:verbosity=0"


def ab_pairs(b, args, opts, rounds):
    """{call: [(bare_ns, shim_ns) per process]}"""
    pairs = {c: [] for c in CALLS}
    blocks = 41 if b.quick else 301
    for _ in range(rounds):
        for group, iters in ((["read", "write", "poll"], 1000), (["sleep"], 20)):
            out = b.run([b.prog("percall"), args, ",".join(group), str(iters), str(blocks), "ab"],
                        opts)
            for line in out.splitlines():
                name, bare, shim, _bm, _sm = line.split()
                pairs[name].append((float(bare), float(shim)))
    return pairs


def instructions(b, args, opts, tag):
    """Instructions per call inside each loop (callgrind --toggle-collect=loop_*)."""
    iters = 2000
    ncalls = (iters // 10 + 1) * 2 + (iters // 2) * 2  # warm-up + one block
    _, ann = b.callgrind([b.prog("percall"), args, ",".join(CALLS), str(iters), "1"], opts,
                         toggle="loop_*", tag=tag)
    res = {}
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+) \(.*\)\s+\S*:loop_(\w+) ", line)
        if m and m.group(2) in CALLS:
            res[m.group(2)] = int(m.group(1).replace(",", "")) / ncalls
    return res


SCENARIOS = [
    ("unguarded", "plain", OPT_UNGUARDED, "unguarded thread (defaults: threads=auto)"),
    ("exempt", "exempt", OPT_GUARDED, "guarded thread, exempt (O_NONBLOCK fd / zero timeout)"),
    ("violation", "violate", OPT_GUARDED, "guarded thread, violation at a known site"),
    ("noise", "plain", None, "A/A control: no shim, both sides call libc"),
]


@section("percall", title="Per wrapped call", owner="perfa", order=20, budget_s=70)
def percall(b):
    rounds = 1 if b.quick else 5
    for key, args, opts, title in SCENARIOS:
        pairs = ab_pairs(b, args, opts, rounds)
        cg = {}
        if key != "noise" and b.have("valgrind"):
            bare_i = instructions(b, args, None, key + "-bare")
            shim_i = instructions(b, args, opts, key + "-shim")
            cg = {c: shim_i.get(c, float("nan")) - bare_i.get(c, float("nan")) for c in CALLS}
            if key == "violation":
                shutil.copy(os.path.join(b.out, "profile-violation-shim.txt"),
                            os.path.join(b.out, "profile-violation.txt"))
        for c in CALLS:
            bare = Samples([x for x, _ in pairs[c]], "ns")
            shim = Samples([y for _, y in pairs[c]], "ns")
            ratio = Samples([y / x for x, y in pairs[c]], "×")
            added = Samples([y - x for x, y in pairs[c]], "ns")
            instr = cg.get(c)
            label = "%s — %s" % (VIOLATE_LABEL[c] if key == "violation" else CALL_LABEL[c], title)
            k = "percall.%s.%s" % (key, c)
            if key == "noise":
                b.add(label, shim, bare=bare, ratio=ratio, target="≈ 1×",
                      verdict="reference: the timing noise floor", key=k)
            elif key == "unguarded":
                ok_i = instr is not None and instr == instr and instr <= 10
                row = b.add(label, shim, bare=bare, ratio=ratio, instr=instr,
                            target=b.at_most(1.02, "×", "≤ 1.02×, ≤ 10 instr"), key=k)
                if instr is not None and not ok_i:
                    row["verdict"] = "MISSED (instructions)"
            elif key == "exempt":
                b.add(label, shim, bare=bare, ratio=ratio, instr=instr,
                      target=b.at_most(1.05, "×", "≤ 1.05×"), key=k)
            else:
                row = b.add(label, shim, bare=bare, ratio=added, instr=instr,
                            target=b.at_most(300, "ns", "≤ 300 ns, ≤ 600 instr added"), key=k)
                if instr is not None and instr == instr:
                    b.value(k + ".instr", "%.0f" % instr)
                    if instr > 600 and row["verdict"].startswith("met"):
                        row["verdict"] = "MISSED (instructions)"
                    elif instr > 600:
                        row["verdict"] += " (and instructions)"
    # the first violation at a site never seen before: capture of new return addresses,
    # the site's module/offset id, the registry insert under its lock
    new = {c: [] for c in CALLS}
    for r in range(1 if b.quick else 3):
        for c in CALLS:
            got = {}
            order = [None, OPT_GUARDED] if r % 2 == 0 else [OPT_GUARDED, None]
            for o in order:
                got[o is None] = float(b.run([b.prog("sites"), "new", c], o).split()[1])
            new[c].append((got[True], got[False]))
    for c in CALLS:
        b.add("%s — violation at a NEW site (1,024 distinct sites, once each)" % VIOLATE_LABEL[c],
              Samples([s for _, s in new[c]], "ns"), bare=Samples([x for x, _ in new[c]], "ns"),
              ratio=Samples([s - x for x, s in new[c]], "ns"), target="— (once per site)",
              verdict="info", key="percall.newsite.%s" % c)
