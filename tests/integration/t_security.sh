# t_security.sh - report files and the environment are handled safely.
#   - a symlink planted at the report path is replaced, never followed: its target
#     is untouched, the report is a regular file of mode 0600 whatever the umask;
#   - an unwritable report path is an error message, not a changed exit status, and
#     no temp file is left behind;
#   - the dashboard survives 100 clients that hang up mid-request (connection slots
#     are freed at once, not after the idle timeout);
#   - setuid (AT_SECURE): nothing from the environment is trusted - BLOCKGUARD_OPTIONS
#     is ignored (no report at a path it names, no exit 2 on bad options, no
#     guarding), checked as nobody on a setuid-root copy of a program that links the
#     shim (LD_PRELOAD itself is ignored for setuid programs by the loader).
. tests/integration/lib.sh
P=tests/integration/progs
cc_prog "$T/exits" $P/exits.c

# --- planted symlink at the report path ---------------------------------------------
echo precious > "$T/victim"
ln -s "$T/victim" "$T/r.json"
(umask 000; under_shim "threads=main:verbosity=0:report=$T/r.json" "$T/exits" sleep) ||
  fail "program failed under the shim"
expect_eq "$(cat "$T/victim")" precious "symlink target untouched"
[ -L "$T/r.json" ] && fail "report path is still a symlink: it was followed"
[ -f "$T/r.json" ] || fail "no report written"
expect_eq "$(stat -c %a "$T/r.json")" 600 "report mode with umask 000"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['tool']=='blockguard'" "$T/r.json" ||
  fail "report is not valid JSON"

# a report path in a directory that does not exist: message, same exit status
rc=0
under_shim "threads=main:verbosity=0:report=$T/nodir/r.json" "$T/exits" x 7 2>"$T/err" || rc=$?
expect_eq "$rc" 7 "exit status kept when the report cannot be written"
expect_grep "cannot write report" "$T/err"
# a directory where the report should be: rename fails, temp file removed
mkdir "$T/isdir"
rc=0
under_shim "threads=main:verbosity=0:report=$T/isdir" "$T/exits" x 5 2>"$T/err" || rc=$?
expect_eq "$rc" 5 "exit status kept when the report path is a directory"
expect_grep "cannot" "$T/err"
left=$(ls "$T" | grep -c '\.tmp\.' || true)
expect_eq "$left" 0 "temp files left behind"

# --- dashboard: clients that hang up mid-request free their connection at once -------
# 100 clients send half a request and close (more than the server's 64 connections);
# the next one must still be answered at once, not after the 10 s idle timeout.
. tests/integration/http_lib.sh
start_demo "threads=main:http=127.0.0.1:0" 30
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
$PY - "$PORT" <<'PY' || fail "dashboard locked out by clients that hung up"
import socket, sys, time
port = int(sys.argv[1])
for i in range(100):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /api/report HTTP/1.1\r\nHost: localhost")   # headers never finished
    s.close()
t0 = time.time()
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except socket.timeout:
    pass
dt = time.time() - t0
print("answer after %.2fs: %r" % (dt, data[:40]))
sys.exit(0 if data.startswith(b"HTTP/1.1 200") and dt < 2 else 1)
PY
kill $DEMO_PID; wait $DEMO_PID 2>/dev/null || true
trap - EXIT

# --- setuid: the environment is not trusted -----------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || [ -n "${SANITIZER:-}" ]; then
  # needs root to make a setuid-root file; a sanitizer shim cannot load without its
  # runtime preloaded, which the loader refuses for setuid programs
  echo "SKIP: setuid checks (need root, setpriv, no SANITIZER)"
  echo "t_security: ok"
  exit 0
fi
lib="$BG_ROOT/$BUILD"
$CC -g -O0 -I"$BG_ROOT/include" -o "$T/secure" $P/secure.c -L"$lib" -lblockguard -Wl,-rpath,"$lib"
# Control: the same program, not setuid, honours the environment - so the checks
# below can fail.
out=$(BLOCKGUARD_OPTIONS="threads=main:verbosity=0" "$T/secure")
expect_eq "$out" "violations=1" "control: linked shim guards main"
rc=0; BLOCKGUARD_OPTIONS="mode=bogus" "$T/secure" >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 2 "control: bad options stop a normal program"

mkdir -m 1777 "$T/suid"
cp "$T/secure" "$T/suid/secure"
chown root:root "$T/suid/secure" && chmod 4755 "$T/suid/secure"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
out=$(nobody env BLOCKGUARD_OPTIONS="threads=main:verbosity=2:report=$T/suid/evil.json" \
  "$T/suid/secure" 2>"$T/suid_err") || fail "setuid program failed: $(cat "$T/suid_err")"
expect_eq "$out" "violations=0" "setuid: not guarded from the environment"
[ -e "$T/suid/evil.json" ] && fail "setuid program wrote a report where the environment said"
rc=0; nobody env BLOCKGUARD_OPTIONS="mode=bogus" "$T/suid/secure" 3 >/dev/null 2>"$T/suid_err" || rc=$?
expect_eq "$rc" 3 "setuid: bad options in the environment do not stop the program"
expect_no_grep "bogus" "$T/suid_err"
echo "t_security: ok"
