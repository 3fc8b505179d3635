#!/bin/sh
# t_lang_python.sh - with every installed CPython (Debian's stripped python3 with
# libpython linked in, pyenv --enable-shared builds): blocking calls made by Python code
# are sites named by the user's function, .py file and line (methods, closures,
# generators, coroutines, exec'd code, a 400-line jump in the line table); one line
# called 20 times through CPython's specializing interpreter is one site counting 20;
# the stable ids of one run are those of the next (baselines work).
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
  "$BG_CLI" report --baseline "$d/r1.json" "$d/r2.json" >/dev/null 2>"$d/base.err" ||
    { cat "$d/base.err"; fail "$py ($v): the second run has sites the first did not"; }
  echo "ok: $py ($v)"
  n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no CPython 3.8+ found (tools/deps.sh installs python3)"
