# http_lib.sh - helpers for the dashboard integration tests (sourced after lib.sh).
# Not a test itself (run.sh only runs t_*.sh).

# Debian's python3 (the one python3-prometheus-client installs into).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# start_demo OPTIONS SECONDS [ARGS...]: runs http_demo under the shim in the
# background with http on a free port; sets DEMO_PID, URL, PORT, ERR (its stderr).
start_demo() {
  o=$1; shift
  [ -x "$T/http_demo" ] || cc_prog "$T/http_demo" "$BG_ROOT/tests/integration/http_demo.c" -rdynamic
  ERR="$T/demo.$$.$(date +%s%N).err"
  under_shim "$o" "$T/http_demo" "$@" 2>"$ERR" &
  DEMO_PID=$!
  URL=$(wait_url "$ERR") || { cat "$ERR"; fail "no dashboard URL printed"; }
  PORT=$(echo "$URL" | sed 's|.*:\([0-9]*\)/$|\1|')
}

# wait_url FILE: waits (5 s) for "dashboard at URL" in FILE and prints URL.
wait_url() {
  i=0
  while [ $i -lt 100 ]; do
    u=$(sed -n 's/.*dashboard at \(http:[^ ]*\).*/\1/p' "$1" | head -n 1)
    [ -n "$u" ] && { echo "$u"; return 0; }
    sleep 0.05; i=$((i + 1))
  done
  return 1
}

# status URL [curl args...]: prints the HTTP status code.
status() { u=$1; shift; curl -s -o /dev/null -w '%{http_code}' "$@" "$u"; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
