# t_memcached.sh - memcached (Debian's package) under `blockguard check`, dropping its
# privileges with -u nobody when run as root, stopped by SIGTERM sent to the CLI.  Its
# worker threads are libevent loops; whatever they record reaches the CLI although the
# process runs as nobody when it ends.  The verdict: its sites (exit 66), or 0
# violations with a complete report - never a lost one.
. tests/integration/lib.sh
command -v memcached >/dev/null 2>&1 || fail "memcached not installed (tools/deps.sh check installs it)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=""
[ "$(id -u)" = 0 ] && user="-u nobody"
"$BG_CLI" check --report="$T/mc-%p.json" -- memcached $user -l 127.0.0.1 -p "$port" -U 0 -t 2 \
  >"$T/out" 2>"$T/err" &
cli=$!
python3 - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("memcached did not start")
f = s.makefile("rwb")
for i in range(20):
    f.write(b"set k%d 0 0 5\r\nhello\r\n" % i); f.flush()
    assert f.readline() == b"STORED\r\n"
    f.write(b"get k%d\r\n" % i); f.flush()
    assert f.readline().startswith(b"VALUE"), "get"
    f.readline(); assert f.readline() == b"END\r\n"
PY
[ $? -eq 0 ] || { kill $cli; fail "talking to memcached"; }
kill -TERM $cli
rc=0; wait $cli || rc=$?
cat "$T/err"
expect_no_grep "no complete report" "$T/err"
python3 - "$T" "$rc" "$(id -u)" <<'PY'
import glob, json, sys
(r,) = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/mc-*.json")]
rc, uid = int(sys.argv[2]), sys.argv[3]
assert r["complete"] is True, r["incomplete_reason"]
assert r["exit"]["how"] in ("exit", "signal"), r["exit"]
violations = sum(s["count"] for s in r["sites"] if not s["allowed"])
loops = [t for t in r["threads"] if t["guarded"]]
print("memcached: %d violations at %d sites, %d guarded threads, exit %s, check %d"
      % (violations, len(r["sites"]), len(loops), r["exit"], rc))
assert (rc == 66) == (violations > 0), (rc, violations)
assert rc in (0, 66), rc
PY
[ $? -eq 0 ] || fail "memcached verdict"
echo "t_memcached: all ok"
