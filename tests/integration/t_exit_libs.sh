# t_exit_libs.sh - what the shim loads into a program to write its exit report.
# Symbolizing a stripped program (the Debian python3) used libdw's standard debuginfo
# lookup, which dlopens libdebuginfod -> libcurl -> libssh2 -> OpenSSL inside the
# program at exit; after the program's own OpenSSL cleanup that crashed CPython's
# test_asyncio (SIGSEGV), and with DEBUGINFOD_URLS set it would use the network.
# Checked: the program exits 0 and none of those libraries is loaded, even with
# DEBUGINFOD_URLS pointing somewhere.
. tests/integration/lib.sh
py=/usr/bin/python3; [ -x $py ] || py=$(command -v python3)
cat > "$T/exit.py" <<'PY'
import hashlib, selectors, socket, ssl, time
a, b = socket.socketpair()
sel = selectors.DefaultSelector()
sel.register(a, selectors.EVENT_READ)
for _ in range(5):
    sel.select(0.001)        # threads=auto: this thread is an event loop now
time.sleep(0.001)            # a violation, so the exit report has frames to symbolize
print("ok", hashlib.sha256(b"x").hexdigest()[:8], ssl.OPENSSL_VERSION.split()[0])
PY
rc=0
DEBUGINFOD_URLS=http://127.0.0.1:9/ LD_DEBUG=files \
  under_shim "threads=auto:verbosity=1:log_path=stderr:report=$T/r.json" $py "$T/exit.py" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "$rc" 0 "exit status"
expect_grep "^ok " "$T/out"
[ -s "$T/r.json" ] || fail "no exit report"
expect_grep "clock_nanosleep\|sleep" "$T/err"
for lib in libdebuginfod libcurl libssh2; do
  if grep "file=.*$lib" "$T/err" >/dev/null; then
    grep "file=.*$lib" "$T/err" | head -3
    fail "$lib was loaded into the program"
  fi
done
echo "t_exit_libs: ok"
