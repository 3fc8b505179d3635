# t_unwind.sh - stack capture (guard/unwind.c) and the known-site memo (guard/sites.c)
# on real wrapped calls, frames checked by name in the report:
#  1. one helper's read() reached through two callers and two recursion depths: four
#     sites with exact counts (the memo is keyed by the helper's return address, so a
#     memo that did not verify the whole stack would merge them);
#  2. a library dlclose'd and another with the same code but other frame sizes loaded
#     at the same base: each stack is read with its own code's rules (stale cached
#     rules walk the second one's frames with the first one's sizes);
#  3. a violation inside a signal handler: the handler, then the interrupted code;
# and the walk never reads outside the stack (valgrind, when installed).
. tests/integration/lib.sh
P=tests/integration/progs
py=/usr/bin/python3; [ -x $py ] || py=$(command -v python3)
cc_prog "$T/prog" $P/unwind_prog.c -ldl
$CC -g -O1 -shared -fPIC -DPAD=300 -o "$T/liba.so" $P/unwind_lib.c
$CC -g -O1 -shared -fPIC -DPAD=30000 -o "$T/libb.so" $P/unwind_lib.c
O="threads=main:verbosity=0:categories=all"

# 1. four stacks through one return address
under_shim "$O:report=$T/sites.json" "$T/prog" sites 50 || fail "sites run failed"
$py - "$T/sites.json" <<'PY' || fail "sites through one helper"
import json, sys
r = json.load(open(sys.argv[1]))
reads = [s for s in r["sites"] if s["call"] == "read"]
stacks = sorted(tuple(f.get("function") for f in s["frames"][:8]) for s in reads)
counts = sorted(s["count"] for s in reads)
assert counts == [50, 50, 50, 50], (counts, stacks)
callers = sorted(st[1] for st in stacks)
assert callers == ["caller_a", "caller_b", "deep", "deep"], stacks
depths = sorted(sum(1 for f in st if f == "deep") for st in stacks)
assert depths == [0, 0, 4, 6], stacks
PY

# 2. unload, reload another object at the same address
out=$(under_shim "$O:report=$T/reload.json" "$T/prog" reload "$T/liba.so" "$T/libb.so") ||
  fail "reload run failed"
echo "$out"
$py - "$T/reload.json" <<'PY' || fail "stacks after dlclose"
import json, sys
r = json.load(open(sys.argv[1]))
sl = [s for s in r["sites"] if s["call"] == "usleep"]
names = [tuple(f.get("function") for f in s["frames"][:5]) for s in sl]
want = ("inner", "middle", "work", "main", "__libc_start_call_main")
assert all(n == want for n in names), names
# the same return addresses in both objects (same code, same base): two sites, four calls
assert sum(s["count"] for s in sl) == 4, [(n, s["count"]) for n, s in zip(names, sl)]
PY
case "$out" in *same_base=1*) ;; *) echo "note: libb.so was not mapped where liba.so was (the stale-rule case not exercised)";; esac

# 3. a signal handler
under_shim "$O:report=$T/sig.json" "$T/prog" signal || fail "signal run failed"
$py - "$T/sig.json" <<'PY' || fail "stack in a signal handler"
import json, sys
r = json.load(open(sys.argv[1]))
s = [s for s in r["sites"] if s["call"] == "usleep"]
fr = [f.get("function") for f in s[0]["frames"]]
assert fr[0] == "on_alarm" and "main" in fr, fr
PY

if command -v valgrind >/dev/null 2>&1 && [ -z "${SANITIZER:-}" ]; then
  under_shim "$O" valgrind -q --error-exitcode=9 "$T/prog" sites 5 || fail "valgrind: sites"
  under_shim "$O" valgrind -q --error-exitcode=9 "$T/prog" reload "$T/liba.so" "$T/libb.so" >/dev/null ||
    fail "valgrind: reload"
fi
echo "t_unwind: ok"
