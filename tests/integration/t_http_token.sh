#!/bin/sh
# t_http_token.sh - dashboard access rules in a guarded process: a non-loopback
# address without http_token stops the program like a bad option (exit 2, clear
# message; strict=0 runs on without a dashboard), a bad address likewise, and with a
# token every endpoint needs it (Bearer header or ?token=), the token never echoed.
. "$BG_ROOT/tests/integration/lib.sh"
. "$BG_ROOT/tests/integration/http_lib.sh"
cc_prog "$T/http_demo" "$BG_ROOT/tests/integration/http_demo.c" -rdynamic

rc=0
under_shim "http=0.0.0.0:0" "$T/http_demo" 1 2>"$T/err1" || rc=$?
expect_eq "$rc" 2 "non-loopback without token: exit status"
expect_grep "refusing to serve on non-loopback address '0.0.0.0:0' without a token" "$T/err1"
expect_grep "http_token" "$T/err1"

rc=0
under_shim "http=0.0.0.0:0:strict=0" "$T/http_demo" 1 2>"$T/err2" || rc=$?
expect_eq "$rc" 0 "strict=0 runs on"
expect_grep "running without the dashboard" "$T/err2"
expect_no_grep "dashboard at" "$T/err2"

rc=0
under_shim "http=dashboard.example:8080" "$T/http_demo" 1 2>"$T/err3" || rc=$?
expect_eq "$rc" 2 "host name instead of address"
expect_grep "not an IP address" "$T/err3"

start_demo "threads=main:http=127.0.0.1:0:http_token=tok-123" 20
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
for p in "" api/report metrics healthz; do
  expect_eq "$(status "${URL}$p")" 401 "/$p without token"
  expect_eq "$(status "${URL}$p" -H 'Authorization: Bearer nope')" 401 "/$p with a wrong token"
  expect_eq "$(status "${URL}$p" -H 'Authorization: Bearer tok-123')" 200 "/$p with Bearer"
  expect_eq "$(status "${URL}$p?token=tok-123")" 200 "/$p with ?token="
done
curl -s -H 'Authorization: Bearer tok-123' "${URL}api/report" >"$T/r.json"
expect_no_grep "tok-123" "$T/r.json"
expect_grep '"http_token": "(set)"' "$T/r.json"
kill $DEMO_PID; wait $DEMO_PID 2>/dev/null || true
trap - EXIT
echo "http token: ok"
