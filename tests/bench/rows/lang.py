"""lang.py - what naming Python frames costs a violation (issue 11: reading up to 32
Python frames at a known site adds at most 300 ns).

tests/bench/lang_py.py recurses DEPTH Python frames deep, then makes write+read
violations on a blocking pipe, all at sites already known, and prints the fastest
block's ns per violation.  The same script runs under the shim with lang=1 (frames read
on every violation) and lang=0 (native stacks only), interleaved round by round: the
difference is what reading the frames adds - the walk, the merge into the stack and the
longer site key.  Instructions (callgrind, load-independent) are the difference between
two runs of different lengths, so start-up and new sites cancel out."""
import glob
import os

from benchlib import Samples, section

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lang_py.py")


def pythons():
    """Debian's python3 (always there), and the newest pyenv build if the machine has one."""
    out = [("Debian python3", "/usr/bin/python3")]
    root = os.environ.get("PYENV_ROOT", "/root/.pyenv")
    best = None
    for p in glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")):
        try:
            minor = int(p.split("/versions/3.")[1].split(".")[0])
        except ValueError:
            continue
        if minor >= 8 and (best is None or minor > best[0]):
            best = (minor, p)
    if best:
        out.append(("pyenv 3.%d" % best[0], best[1]))
    return out


@section("lang", title="Python frames on the violation path", owner="lang", order=45, budget_s=25)
def lang(b):
    n = "2000" if b.quick else "20000"
    for name, py in pythons():
        if not os.path.exists(py):
            b.add("%s: not run" % name, "—", target="python not installed", verdict="info")
            continue
        for depth, frames in ((30, 32), (0, 2)):
            run = lambda lang: float(b.run([py, SCRIPT, str(depth), n],
                                           opts="threads=main:verbosity=0:lang=%d" % lang))
            off, on = b.interleave([lambda: run(0), lambda: run(1)], unit="ns")
            added = Samples([y - x for x, y in zip(off.values, on.values)], "ns")
            key = "lang.%s.%d" % ("debian" if name.startswith("Debian") else "pyenv", frames)
            b.add("%s, known site, %d Python frames: ns per violation, added by reading them"
                  % (name, frames), on, bare=off, ratio=added,
                  target=b.at_most(300, "ns", "≤ 300 ns added") if frames == 32 else "reference",
                  verdict=None if frames == 32 else "reference", key=key)
    if b.quick:
        return
    # Instructions added per violation at 32 frames (Debian's python3).
    def instr(lang, rounds):
        total, _ = b.callgrind(["/usr/bin/python3", SCRIPT, "30", str(rounds)],
                               opts="threads=main:verbosity=0:lang=%d" % lang,
                               toggle="bg__enter", tag="lang%d-%d" % (lang, rounds))
        return total
    per = {}
    for lang_on in (0, 1):
        per[lang_on] = (instr(lang_on, 6000) - instr(lang_on, 2000)) / (2 * 4000.0)
    b.add("Debian python3, 32 Python frames: instructions per violation (bg__enter), lang=1",
          "%.0f" % per[1], bare="%.0f" % per[0], ratio="+%.0f" % (per[1] - per[0]),
          target="reference", verdict="reference", key="lang.instr")
