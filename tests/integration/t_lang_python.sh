#!/bin/sh
# t_lang_python.sh - with every installed CPython (Debian's stripped python3 with
# libpython linked in, pyenv --enable-shared builds): blocking calls made by Python code
# are sites named by the user's function, .py file and line (methods, closures,
# generators, coroutines, exec'd code, a 400-line jump in the line table); one line
# called 20 times through CPython's specializing interpreter is one site counting 20;
# the stable ids of one run are those of the next (baselines work); fun: rules match
# Python function names and src: rules the .py file.
. "$(dirname "$0")/lib.sh"
. "$BG_ROOT/tests/lang/pythons.sh"
PROG="$BG_ROOT/tests/lang/py_sites.py"
n=0
for py in $(pythons); do
  v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  d="$T/$v-$n"; mkdir -p "$d"
  for run in 1 2; do
    under_shim "threads=main:verbosity=0:report=$d/r$run.json" "$py" "$PROG" "$d/exp.json"
    python3 "$BG_ROOT/tests/lang/check_py_sites.py" "$d/r$run.json" "$d/exp.json" ||
      fail "$py ($v), run $run"
  done
  # Every site of the program itself has the same id in both runs.
  python3 - "$d/r1.json" "$d/r2.json" "$PROG" <<'PY' || fail "$py ($v): site ids differ between runs"
import json, sys
def ids(path):
    r = json.load(open(path))
    return {s["id"] for s in r["sites"] if any(f["file"] == sys.argv[3] for f in s["frames"])}
a, b = ids(sys.argv[1]), ids(sys.argv[2])
assert a and a == b, (sorted(a - b), sorted(b - a))
PY
  # 3.12+ with -X perf (CPython's own perf map, a trampoline per Python call): the
  # trampolines are not shown twice and the ids are those of a run without it.
  if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
    under_shim "threads=main:verbosity=0:report=$d/perf.json" "$py" -X perf "$PROG" "$d/exp.json"
    rm -f "/tmp/perf-$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$d/perf.json").map"
    python3 - "$d/r1.json" "$d/perf.json" "$PROG" <<'PY' || fail "$py ($v) -X perf: sites differ"
import json, sys
def sites(path):
    r = json.load(open(path))
    return {s["id"]: s for s in r["sites"] if any(f["file"] == sys.argv[3] for f in s["frames"])}
a, b = sites(sys.argv[1]), sites(sys.argv[2])
# every site of the plain run is there (the extra ones: CPython writing its own map)
assert set(a) <= set(b), sorted(set(a) - set(b))
for s in b.values():
    py = [(f["function"], f["line"]) for f in s["frames"] if f["lang"] == "python"]
    assert all(line > 0 for _, line in py), py  # no py:: trampoline frames
PY
  fi
  "$BG_CLI" report --baseline "$d/r1.json" "$d/r2.json" >/dev/null 2>"$d/base.err" ||
    { cat "$d/base.err"; fail "$py ($v): the second run has sites the first did not"; }
  # Every format names the Python line: SARIF's location is the .py line (code
  # scanning annotates it), text and JUnit show [python] frames, suggestions anchor on
  # the Python function and file.
  "$BG_CLI" report --format sarif "$d/r1.json" > "$d/r1.sarif" 2>/dev/null || true
  "$BG_CLI" report --format text "$d/r1.json" > "$d/r1.txt" 2>/dev/null || true
  "$BG_CLI" report --format junit "$d/r1.json" > "$d/r1.xml" 2>/dev/null || true
  "$BG_CLI" report --suppressions "$d/r1.json" > "$d/r1.supp" 2>/dev/null || true
  a=$(grep -n 'def alpha' "$PROG" | cut -d: -f1); a=$((a + 1))
  python3 - "$d/r1.sarif" "$PROG" "$a" <<'PY' || fail "$py ($v): SARIF location is not the .py line"
import json, sys
res = json.load(open(sys.argv[1]))["runs"][0]["results"]
locs = [r["locations"][0]["physicalLocation"] for r in res if r["properties"]["call"] in
        ("clock_nanosleep", "select") and r["locations"]]
want = [l for l in locs if l["artifactLocation"]["uri"].endswith("py_sites.py") and
        l["region"]["startLine"] == int(sys.argv[3])]
assert want, locs
PY
  expect_grep "alpha $PROG:$a \[python\]" "$d/r1.txt"
  expect_grep "alpha $PROG:$a \[python\]" "$d/r1.xml"
  expect_grep "fun:alpha src:\*/py_sites.py" "$d/r1.supp"
  # Allowlist rules on Python names and files.
  printf 'allow read fun:*commit\nallow read src:/generated/*\n' > "$d/allow.txt"
  under_shim "threads=main:verbosity=0:suppressions=$d/allow.txt:report=$d/r3.json" \
    "$py" "$PROG" "$d/exp.json"
  python3 - "$d/r3.json" <<'PY' || fail "$py ($v): fun:/src: rules on Python frames"
import json, sys
r = json.load(open(sys.argv[1]))
def site(fn):
    for s in r["sites"]:
        py = [f for f in s["frames"] if f.get("lang") == "python"]
        if s["call"] == "read" and len(py) > 1 and py[1]["function"] == fn:
            return s
    raise SystemExit("no read site called from %s" % fn)
assert site("far")["allowed"] and site("far")["rule"].endswith(":2"), site("far")
commit = [s for s in r["sites"] if s["call"] == "read" and any(
    f["function"] in ("commit", "Store.commit") for f in s["frames"])][0]
assert commit["allowed"] and commit["rule"].endswith(":1"), commit
inner = site("inner" if "inner" in json.dumps(r) and not any(
    f["function"] == "outer.<locals>.inner" for s in r["sites"] for f in s["frames"]) else "outer.<locals>.inner")
assert not inner["allowed"] and inner["rule"] is None, inner
PY
  echo "ok: $py ($v)"
  n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no CPython 3.8+ found (tools/deps.sh installs python3)"
# libpython dlopen'ed RTLD_LOCAL by a C program after start-up (embedders, plugins):
# found on the cold path, its frames named.
cc_prog "$T/embed" "$BG_ROOT/tests/lang/embed.c" -ldl
emb=0
for py in $(pythons); do
  eval "$("$py" -c 'import sysconfig, os, sys
lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("INSTSONAME") or "")
print("lib=%s home=%s" % (lib, sys.base_prefix))')"
  [ -f "$lib" ] || continue
  PYTHONHOME=$home under_shim "threads=main:verbosity=0:report=$T/embed.json" "$T/embed" "$lib"
  python3 - "$T/embed.json" <<'PY' || fail "$lib dlopen'ed: Python frames not named"
import json, sys
r = json.load(open(sys.argv[1]))
# time.sleep: clock_nanosleep (3.11+) or select (before; repeated, loop detection may
# take the third call for a loop wait)
s = [s for s in r["sites"] if s["call"] in ("clock_nanosleep", "select", "nanosleep")]
assert len(s) == 1 and s[0]["count"] >= 2, [(x["call"], x["count"]) for x in s]
py = [(f["function"], f["file"], f["line"]) for f in s[0]["frames"] if f["lang"] == "python"]
assert py[0] == ("embedded_sleep", "<string>", 3), py
PY
  echo "ok: $lib dlopen'ed RTLD_LOCAL"
  emb=$((emb + 1))
done
[ "$emb" -ge 1 ] || echo "SKIP: no shared libpython (embedding case)"
# A CPython whose layout this version does not know (3.7 here; 3.14 would be the same):
# native stacks, and the exit summary says why rather than leaving it to be guessed.
for old in "${PYENV_ROOT:-/root/.pyenv}"/versions/3.7*/bin/python3; do
  [ -x "$old" ] || continue
  under_shim "threads=main" "$old" "$BG_ROOT/tests/lang/py_sites.py" "$T/old.json" 2> "$T/old.err" >/dev/null
  expect_grep "Python frames not read: CPython 3.7: frame layout not known" "$T/old.err"
  echo "ok: $old says why"
done
