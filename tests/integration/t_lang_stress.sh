#!/bin/sh
# t_lang_stress.sh - 8 Python threads make violations (their frames read on every call)
# while 4 others create and destroy frames, generators, coroutines and exceptions,
# under threads=all: no crash, every call counted.  BG_LANG_STRESS_S seconds per
# interpreter (default 10; .ci/trust.sh runs 30 with the newest and Debian's python).
. "$(dirname "$0")/lib.sh"
. "$BG_ROOT/tests/lang/pythons.sh"
S=${BG_LANG_STRESS_S:-10}
all=$(pythons)
# Debian's python3 and the newest pyenv build: the two frame layouts that matter most
# (3.11 statically linked and stripped; 3.13 from _Py_DebugOffsets).
newest=$(for p in $all; do echo "$("$p" -c 'import sys; print(sys.version_info[1])') $p"; done |
  sort -n | tail -n 1 | cut -d' ' -f2)
set -- $(echo "$all" | head -n 1) $newest
[ "$1" = "${2:-}" ] && set -- "$1"
for py in "$@"; do
  rc=0
  under_shim "threads=all:verbosity=0:report=$T/stress.json" "$py" \
    "$BG_ROOT/tests/lang/py_stress.py" "$S" > "$T/out" 2> "$T/err" || rc=$?
  [ "$rc" = 0 ] || { cat "$T/err"; fail "$py: exit status $rc under the stress"; }
  made=$(sed -n 's/^calls //p' "$T/out")
  [ "${made:-0}" -gt 1000 ] || fail "$py: only ${made:-0} calls"
  python3 - "$T/stress.json" "$made" <<'PY' || fail "$py: reads not all counted"
import json, sys
r = json.load(open(sys.argv[1]))
reads = sum(s["count"] for s in r["sites"] if s["call"] == "read" and s["category"] == "io"
            and any(f.get("lang") == "python" and f["function"].endswith("<lambda>") for f in s["frames"]))
made = int(sys.argv[2])
assert reads == made, (reads, made)
PY
  echo "ok: $py: $made calls in ${S}s"
done
