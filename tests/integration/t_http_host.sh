#!/bin/sh
# t_http_host.sh - the loopback dashboard against DNS rebinding, and argv redaction.
# A name that resolves to 127.0.0.1 (curl --resolve, as a rebinding DNS server would
# answer the browser) is refused on every endpoint; localhost, the bound IP and names
# added with http_hosts= are answered; the token rules hold as before.  A secret in
# the program's argv (--db-password=...) never comes back from /api/report, the text
# format, the report file or the exit summary unless redact=none.
. "$BG_ROOT/tests/integration/lib.sh"
. "$BG_ROOT/tests/integration/http_lib.sh"

start_demo "threads=main:http=127.0.0.1:0:http_hosts=dash.internal,*.corp.example:report=$T/r.json" 20 0 \
  --db-password=hunter2 --api-token tok-SECRET --port=8080
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
for p in "" api/report "api/report?format=text" metrics healthz debug/pprof/block api/folded "debug/pprof/block?seconds=1"; do
  # rebinding: the browser resolved attacker.example to 127.0.0.1 and sends its name
  expect_eq "$(status "http://attacker.example:$PORT/$p" --resolve "attacker.example:$PORT:127.0.0.1")" 403 \
    "/$p with a rebinding Host"
  expect_eq "$(status "${URL}$p" -H "Host: attacker.example:$PORT")" 403 "/$p with a foreign Host"
  expect_eq "$(status "${URL}$p" -H "Host: localhost.attacker.example")" 403 "/$p localhost.attacker.example"
  expect_eq "$(status "${URL}$p")" 200 "/$p with Host 127.0.0.1:$PORT"
  expect_eq "$(status "http://localhost:$PORT/$p")" 200 "/$p with Host localhost"
  expect_eq "$(status "${URL}$p" -H "Host: LocalHost.:9999")" 200 "/$p localhost (any port: ssh -L)"
  expect_eq "$(status "${URL}$p" -H "Host: app.localhost")" 200 "/$p *.localhost"
  expect_eq "$(status "${URL}$p" -H "Host: [::1]:$PORT")" 200 "/$p an IPv6 literal"
  expect_eq "$(status "${URL}$p" -H "Host: dash.internal:80")" 200 "/$p http_hosts name"
  expect_eq "$(status "${URL}$p" -H "Host: ci.corp.example")" 200 "/$p http_hosts glob"
done
expect_grep "DNS rebinding" "$(curl -s -o "$T/403.txt" -H "Host: evil" "${URL}api/report"; echo "$T/403.txt")"

# argv: the secret values are gone, the names and harmless values stay
curl -s -o "$T/live.json" "${URL}api/report"
curl -s -o "$T/live.txt" "${URL}api/report?format=text"
$PY - "$T/live.json" <<'PY' || fail "argv in /api/report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["argv"][3:] == ["--db-password=***", "--api-token", "***", "--port=8080"], r["argv"]
assert r["options"]["redact"] == "secrets", r["options"]
PY
for f in "$T/live.json" "$T/live.txt"; do
  expect_no_grep "hunter2" "$f"
  expect_no_grep "tok-SECRET" "$f"
done
kill -TERM $DEMO_PID; wait $DEMO_PID 2>/dev/null || true
trap - EXIT
# killed: what it recorded is in its state file, which reads (and renders) redacted
"$BG_CLI" report --format json --redact=none "$T"/r.json.*.bgstate > "$T/r.json"
expect_no_grep "hunter2" "$T/r.json"
expect_no_grep "hunter2" "$ERR"
expect_grep "--db-password=\*\*\*" "$T/r.json"

# redact=none keeps argv as it was (the user asked); blockguard report/serve redact
# what they render unless told otherwise
under_shim "threads=main:redact=none:report=$T/plain.json:verbosity=0" "$T/http_demo" 1 0 --db-password=hunter2
expect_grep "hunter2" "$T/plain.json"
"$BG_CLI" report --format json "$T/plain.json" > "$T/rendered.json"
expect_no_grep "hunter2" "$T/rendered.json"
"$BG_CLI" report --redact=none --format json "$T/plain.json" > "$T/rendered2.json"
expect_grep "hunter2" "$T/rendered2.json"
"$BG_CLI" serve --http 127.0.0.1:0 "$T/plain.json" 2>"$T/serve.err" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
SURL=$(wait_url "$T/serve.err") || { cat "$T/serve.err"; fail "serve printed no URL"; }
curl -s -o "$T/served.json" "${SURL}api/report"
expect_grep "--db-password=\*\*\*" "$T/served.json"
expect_eq "$(status "${SURL}api/report" -H "Host: attacker.example")" 403 "serve: rebinding Host"
kill $SERVE; wait $SERVE 2>/dev/null || true
trap - EXIT

# token rules unchanged: with a token, a good Host still needs the token, and a bad
# Host is refused even with it
start_demo "threads=main:http=127.0.0.1:0:http_token=tok-123" 20
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
expect_eq "$(status "${URL}api/report")" 401 "good Host, no token"
expect_eq "$(status "${URL}api/report" -H 'Authorization: Bearer tok-123')" 200 "good Host, token"
expect_eq "$(status "${URL}api/report" -H 'Authorization: Bearer tok-123' -H 'Host: evil.example')" 403 \
  "bad Host, token"
kill $DEMO_PID; wait $DEMO_PID 2>/dev/null || true
trap - EXIT
echo "http host and redaction: ok"
