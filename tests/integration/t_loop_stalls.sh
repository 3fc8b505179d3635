#!/bin/sh
# t_loop_stalls.sh - CPU stalls of real event loops become stall sites with the frames
# that ran (docs/loop-health.md): redis KEYS * over a million keys (keysCommand), node
# spinning in timer callbacks (`while (Date.now() < t + 200) {}`, its JavaScript frame
# from node's perf map), a CPU-bound asyncio coroutine (its Python frame).  stall_ms=20:
# the detector counts CPU time, and a 200 ms wall-clock spin on a loaded CI machine may
# get a fraction of a CPU; 20 ms of it is enough to be a stall.
. "$BG_ROOT/tests/integration/lib.sh"
case "${SANITIZER:-}" in *address*)
  # Known issue (docs/testing.md): an ASan-built shim preloaded into a program that is
  # not ASan-built hangs in setlocale; these run in the plain build only.
  echo "skipped under ASan"; exit 0 ;;
esac
PY=/usr/bin/python3
OPTS="stall_ms=20:verbosity=0"

stall_frames() { # REPORT-DIR CONDITION: fails unless a stall site has a frame f for which
  # the Python CONDITION holds; f = (function, file, line, lang)
  "$PY" - "$1" "$2" <<'P'
import glob, json, sys
found = []
for path in glob.glob(sys.argv[1] + "/*.json"):
    r = json.load(open(path))
    for s in r["sites"]:
        if s["category"] != "stall":
            continue
        found.append([(f.get("function"), f.get("file"), f.get("line"), f.get("lang")) for f in s["frames"]])
        if any(eval(sys.argv[2], {"f": f}) for f in found[-1]):
            print("stall site:", found[-1][:6])
            sys.exit(0)
sys.exit("no stall site with a frame where %s; stall stacks: %s" % (sys.argv[2], found))
P
}

# redis: KEYS * walks the whole keyspace inside one command (one loop iteration)
# (DEBUG POPULATE is a stall too: the test looks for the one in keysCommand)
mkdir -p "$T/redis"
env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$OPTS:report=$T/redis/%p.json" \
  redis-server --port 0 --unixsocket "$T/redis.sock" --save "" --appendonly no \
  --enable-debug-command yes --dir "$T" >"$T/redis.out" 2>&1 &
rpid=$!
for i in $(seq 100); do [ -S "$T/redis.sock" ] && break; sleep 0.05; done
redis-cli -s "$T/redis.sock" DEBUG POPULATE 1000000 >/dev/null
n=$(redis-cli -s "$T/redis.sock" KEYS '*' | wc -l)
expect_eq "$n" 1000000 "KEYS *"
redis-cli -s "$T/redis.sock" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait $rpid || true
stall_frames "$T/redis" "f[0] == 'keysCommand'" || fail "redis KEYS *"

# node: a timer callback that spins 200 ms (four of them one after the other: on a
# loaded machine one may not get 20 ms of CPU)
mkdir -p "$T/node"
cat >"$T/busy.js" <<'J'
let left = 4;
setTimeout(function spinning() {
  const t = Date.now();
  while (Date.now() < t + 200) {}
  if (--left) setTimeout(spinning, 10);
}, 10);
J
env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$OPTS:report=$T/node/%p.json" node "$T/busy.js" ||
  fail "node exited $?"
stall_frames "$T/node" "f[3] == 'js' and (f[1] or '').endswith('busy.js')" || fail "node busy loop"

# asyncio: a coroutine that computes for 200 ms without awaiting
mkdir -p "$T/py"
cat >"$T/cpu.py" <<'Y'
import asyncio, time
def burn(ms):  # ms of this thread's CPU time, however loaded the machine
    end = time.thread_time() + ms / 1000
    n = 0
    while time.thread_time() < end:
        n += 1
    return n
async def main():
    await asyncio.sleep(0.01)
    burn(200)
    await asyncio.sleep(0.01)
asyncio.run(main())
Y
env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$OPTS:report=$T/py/%p.json" "$PY" "$T/cpu.py" ||
  fail "python exited $?"
stall_frames "$T/py" "f[0] == 'burn' and f[3] == 'python' and (f[1] or '').endswith('cpu.py')" ||
  fail "asyncio CPU-bound coroutine"
echo "t_loop_stalls: all ok"
