"""check_py_sites.py REPORT.json EXPECTED.json - py_sites.py's calls are sites named
by the user's Python function, file and line (see tests/integration/t_lang_python.sh)."""
import json, sys

report = json.load(open(sys.argv[1]))
expected = json.load(open(sys.argv[2]))
CALLS = {"sleep": {"clock_nanosleep", "select", "nanosleep"}, "read": {"read"}}
bad = []
for e in expected:
    want = (e["function"], e["file"], e["line"])
    hits = []
    for s in report["sites"]:
        if s["call"] not in CALLS[e["kind"]]:
            continue
        py = [(f["function"], f["file"], f["line"]) for f in s["frames"] if f.get("lang") == "python"]
        if not py:
            continue
        if e["kind"] == "sleep" and py[0] == want or e["kind"] == "read" and want in py[:2]:
            hits.append(s)
    if len(hits) != 1:
        bad.append("%s at %s:%d (%s): %d sites, want exactly 1" % (want[0], want[1], want[2], e["kind"], len(hits)))
        continue
    s = hits[0]
    # select() of time.sleep before 3.11 becomes a loop wait after repeated calls
    # (loop detection), so sleeps only need to be there; reads must all be counted.
    if e["kind"] == "read" and s["count"] != e["repeat"]:
        bad.append("%s:%d: count %d, want %d" % (want[1], want[2], s["count"], e["repeat"]))
    for f in s["frames"]:
        if f.get("lang") == "python" and (not f["function"] or f["line"] <= 0 or f["pc"] != "0x0"):
            bad.append("%s:%d: malformed python frame %r" % (want[1], want[2], f))
ids = [s["id"] for s in report["sites"]]
if len(ids) != len(set(ids)):
    bad.append("duplicate site ids in one report")
for b in bad:
    print("FAIL:", b)
print("%d expectations, %d failed" % (len(expected), len(bad)))
sys.exit(1 if bad else 0)
