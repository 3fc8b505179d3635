#!/bin/sh
# t_pprof.sh - the pprof and folded formats read by the real consumers: `go tool pprof`
# (-top, -traces, -raw) and `protoc --decode` against google/pprof's profile.proto
# (third_party/pprof), on a report file written by the shim, on `blockguard report`
# merging a process tree, and with Python frames in the stacks.  Folded stacks are
# checked line by line.  The shim loads libblockguard-pprof.so only when a profile is
# rendered (a process writing JSON never maps it).
. "$(dirname "$0")/lib.sh"
command -v go >/dev/null || fail "go (golang-go) missing: tools/deps.sh check installs it"
command -v protoc >/dev/null || fail "protoc (protobuf-compiler) missing: tools/deps.sh check installs it"
export HOME="$T" GOCACHE="$T/gocache" GOFLAGS=-mod=mod   # go keeps nothing outside $T
PROTO="$BG_ROOT/third_party/pprof"
SRC="$BG_ROOT/tests/integration/progs/sites3.c"
cc_prog "$T/sites3" "$SRC"

# 1. the shim writes a pprof report file
under_shim "threads=name:evloop:report=$T/p.pb.gz:format=pprof:verbosity=0" "$T/sites3" >/dev/null
[ "$(head -c 2 "$T/p.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "not gzip"
go tool pprof -top -nodefraction=0 "$T/p.pb.gz" > "$T/top.txt" 2>&1 || { cat "$T/top.txt"; fail "go tool pprof -top"; }
expect_grep "^Type: blocked" "$T/top.txt"
expect_grep "^File: sites3" "$T/top.txt"
for fn in usleep read nanosleep nap drain doze loop; do
  grep -q " $fn\$" "$T/top.txt" || { cat "$T/top.txt"; fail "-top lacks $fn"; }
done
go tool pprof -traces "$T/p.pb.gz" > "$T/traces.txt" 2>&1 || fail "go tool pprof -traces"
# each trace: its labels, the call as the leaf, then the function that made it
python3 - "$T/traces.txt" <<'PY' || { cat "$T/traces.txt"; fail "traces"; }
import re, sys
blocks = re.split(r"^-+\+-+$", open(sys.argv[1]).read(), flags=re.M)[1:]
blocks = [b for b in blocks if b.strip()]
seen = {}
for b in blocks:
    labels = dict(re.findall(r"^\s+(\w+):\s+(\S+)$", b, re.M))
    frames = [l.split()[-1] for l in b.splitlines() if re.match(r"^\s+(\S+\s+)?[A-Za-z_]\w*$", l) and ":" not in l]
    assert labels.get("thread") == "evloop", labels
    assert labels.get("action") == "report" and re.fullmatch(r"[0-9a-f]{16}", labels.get("site", "")), labels
    seen[labels["call"]] = (labels["category"], frames[:3])
want = {"usleep": ("sleep", ["usleep", "nap", "loop"]), "read": ("io", ["read", "drain", "loop"]),
        "nanosleep": ("sleep", ["nanosleep", "doze", "loop"])}
assert seen == want, seen
PY
# the sample counts (violations) and the build id of the program's mapping
go tool pprof -raw "$T/p.pb.gz" > "$T/raw.txt" 2>&1 || fail "go tool pprof -raw"
expect_grep "violations/count blocked/nanoseconds" "$T/raw.txt"
bid=$(readelf -n "$T/sites3" | sed -n 's/.*Build ID: //p')
[ -n "$bid" ] && expect_grep "$bid" "$T/raw.txt"
gzip -dc "$T/p.pb.gz" > "$T/p.pb"
protoc --decode perftools.profiles.Profile --proto_path="$PROTO" profile.proto < "$T/p.pb" > "$T/decoded.txt" ||
  fail "protoc --decode"
python3 - "$T/decoded.txt" <<'PY' || fail "decoded profile"
import re, sys
t = open(sys.argv[1]).read()
strings = re.findall(r'^string_table: "(.*)"$', t, re.M)
assert strings[0] == "", strings[:3]
assert t.count("\nsample {") == 3, t.count("\nsample {")
for s in ["violations", "blocked", "nanoseconds", "thread", "call", "category", "action", "site", "evloop"]:
    assert s in strings, s
assert re.search(r"^default_sample_type: %d$" % strings.index("blocked"), t, re.M)
PY

# 2. value=violations: counts by default; folded stacks, root first, call as the leaf
"$BG_CLI" report --value violations --format pprof -o "$T/v.pb.gz" "$T/p.pb.gz" 2>/dev/null &&
  fail "blockguard report must refuse a pprof file as input (it reads JSON)"
under_shim "threads=name:evloop:report=$T/r.json:verbosity=0" "$T/sites3" >/dev/null
"$BG_CLI" report --value violations -o "$T/v.pb.gz" "$T/r.json"
go tool pprof -top "$T/v.pb.gz" > "$T/vtop.txt" 2>&1
expect_grep "^Type: violations" "$T/vtop.txt"
"$BG_CLI" report --format folded "$T/r.json" > "$T/f.folded"
"$BG_CLI" report --format folded --value violations "$T/r.json" > "$T/fc.folded"
python3 - "$T/f.folded" "$T/fc.folded" "$T/r.json" <<'PY' || { cat "$T/f.folded"; fail "folded"; }
import json, sys
ns = dict(l.rsplit(" ", 1) for l in open(sys.argv[1]).read().splitlines())
cnt = dict(l.rsplit(" ", 1) for l in open(sys.argv[2]).read().splitlines())
r = json.load(open(sys.argv[3]))
assert set(ns) == set(cnt) and len(ns) == 3, ns
for stack, v in ns.items():
    frames = stack.split(";")
    assert frames[-3:-1] == ["loop", {"usleep": "nap", "read": "drain", "nanosleep": "doze"}[frames[-1]]], frames
    assert int(cnt[stack]) == 2
assert sum(int(v) for v in ns.values()) == sum(s["total_ns"] for s in r["sites"])
PY
rc=0; "$BG_CLI" report --format pprof "$T/r.json" > /dev/null || rc=$?
expect_eq "$rc" 0 "pprof to a pipe"

# 3. a process tree merged by blockguard report: the pprof sums every process
cc_prog "$T/forks" "$BG_ROOT/tests/integration/progs/forks.c"
mkdir -p "$T/d"
under_shim "threads=main:report=$T/d/%p.json:verbosity=0" "$T/forks"
"$BG_CLI" report -o "$T/tree.pb.gz" "$T/d"
go tool pprof -raw "$T/tree.pb.gz" > "$T/tree.txt" 2>&1 || fail "tree pprof"
python3 - "$T/tree.txt" <<'PY' || { cat "$T/tree.txt"; fail "tree counts"; }
import re, sys
t = open(sys.argv[1]).read()
counts = [int(m) for m in re.findall(r"^\s+(\d+)\s+\d+: ", t, re.M)]
assert sorted(counts) == [2, 3], counts   # work() in 3 processes, child_only() in 2
PY

# 4. Python frames in the stacks (Debian's python3; the shim reads CPython's frames)
cat > "$T/app.py" <<'PYAPP'
import time
def handler():
    time.sleep(0.001)
def main():
    for _ in range(3):
        handler()
main()
PYAPP
PY3=/usr/bin/python3
under_shim "threads=main:report=$T/py.pb.gz:format=pprof:verbosity=0" "$PY3" "$T/app.py"
go tool pprof -traces "$T/py.pb.gz" > "$T/pytraces.txt" 2>&1 || fail "python pprof"
python3 - "$T/pytraces.txt" <<'PY' || { cat "$T/pytraces.txt"; fail "python frames"; }
import re, sys
for b in re.split(r"^-+\+-+$", open(sys.argv[1]).read(), flags=re.M):
    frames = [l.split()[-1] for l in b.splitlines() if l.startswith("   ") and ":" not in l]
    if "handler" in frames:   # the sleep: handler (leaf side) called by main
        assert frames.index("main") == frames.index("handler") + 1, frames
        break
else:
    raise SystemExit("no trace through handler()")
PY

# 5. pay for what you use: a JSON-writing process never maps the pprof object
cat > "$T/maps.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  usleep(100);
  char line[4096];
  FILE *f = fopen("/proc/self/maps", "r");
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, "libblockguard-pprof") || strstr(line, "libprotobuf-c") || strstr(line, "libz.so"))
      fputs(line, stdout);
  return 0;
}
C
cc_prog "$T/maps" "$T/maps.c"
under_shim "threads=main:report=$T/m.json:verbosity=0" "$T/maps" > "$T/maps.out"
[ ! -s "$T/maps.out" ] || { cat "$T/maps.out"; fail "pprof libraries loaded by a process that never asked for pprof"; }
echo "pprof: ok"
