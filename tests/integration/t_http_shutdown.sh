#!/bin/sh
# t_http_shutdown.sh - the sidecar protocol at exit: with clients holding connections
# (a half-sent request, an idle keep-alive, requests in flight in a loop) the program
# still exits normally, its exit is delayed by well under a second, nothing crashes,
# and the port is free again at once.
. "$BG_ROOT/tests/integration/lib.sh"
. "$BG_ROOT/tests/integration/http_lib.sh"

STAMP="$T/stamp"
export HTTP_DEMO_STAMP="$STAMP"
start_demo "threads=all:http=127.0.0.1:0" 3
# a client that sent half a request and waits forever; one idle connection
$PY - "$PORT" <<'PY' &
import socket, sys, time
a = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a.sendall(b"GET /api/report HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(30)
PY
HOLD=$!
# requests in flight while the program exits
( while curl -s -o /dev/null "${URL}api/report"; do :; done ) &
LOOP1=$!
( while curl -s -o /dev/null "${URL}metrics"; do :; done ) &
LOOP2=$!
trap 'kill $HOLD $LOOP1 $LOOP2 $DEMO_PID 2>/dev/null || true' EXIT
rc=0
wait $DEMO_PID || rc=$?
gone=$(now_ms)
expect_eq "$rc" 0 "program exit status"
[ -s "$STAMP" ] || fail "main did not return"
delay=$((gone - $(cat "$STAMP")))
echo "exit delayed by ${delay} ms after main returned"
[ "$delay" -lt 1000 ] || fail "exit took ${delay} ms after main returned (limit 1000)"
expect_no_grep "abandoning" "$ERR"
expect_no_grep "AddressSanitizer" "$ERR"
# the port is free again: a new process can serve on it right away
kill $LOOP1 $LOOP2 2>/dev/null || true
rm -f "$STAMP"
start_demo "threads=main:http=127.0.0.1:$PORT" 1
wait $DEMO_PID || fail "second run on the same port"
kill $HOLD 2>/dev/null || true
trap - EXIT
echo "http shutdown: ok"
