#!/bin/sh
# t_http_endpoints.sh - the live dashboard of a guarded program, over real HTTP (curl):
# every endpoint's status and content type, JSON that parses back, the hostile thread
# name "<script>" kept as data, Prometheus text that a real parser accepts with the
# label values intact, refusals (404/405/413/414/431), and the server's own threads
# never guarded even with threads=all.
. "$BG_ROOT/tests/integration/lib.sh"
. "$BG_ROOT/tests/integration/http_lib.sh"

start_demo "threads=all:http=127.0.0.1:0" 30
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
expect_grep "blockguard: dashboard at http://127.0.0.1:$PORT/" "$ERR"
sleep 1

# / : the page, with a CSP nonce and no external resource.
curl -s -D "$T/h.txt" -o "$T/page.html" "$URL"
expect_grep "HTTP/1.1 200" "$T/h.txt"
expect_grep "Content-Type: text/html; charset=utf-8" "$T/h.txt"
expect_grep "Content-Security-Policy: default-src 'none'; script-src 'nonce-" "$T/h.txt"
expect_grep '<meta name="bg-mode" content="live">' "$T/page.html"
expect_no_grep 'src="http' "$T/page.html"
expect_no_grep 'href="http' "$T/page.html"

# /api/report : JSON per the schema; threads are the program's three, all guarded,
# and the hostile name comes back byte for byte.
curl -s -D "$T/h.txt" -o "$T/report.json" "${URL}api/report"
expect_grep "Content-Type: application/json" "$T/h.txt"
$PY - "$T/report.json" <<'PY' || fail "report JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["tool"] == "blockguard", r["tool"]
names = sorted(t["name"] for t in r["threads"])
assert names == ["<script>", "http_demo", "worker-1"], names   # no server thread
assert all(t["guarded"] and t["why"] == "all" for t in r["threads"]), r["threads"]
calls = {s["call"] for s in r["sites"]}
assert {"usleep", "nanosleep", "fsync", "fgets"} <= calls, calls
assert any("<script>" in s["threads"] for s in r["sites"])
for s in r["sites"]:                                # nothing from the server thread
    for f in s["frames"]:
        assert "microhttpd" not in f["module"], f
print(r["sites"][0]["id"], file=open(sys.argv[1] + ".id", "w"))
PY
ID=$(cat "$T/report.json.id")

# /api/sites/ID
curl -s -D "$T/h.txt" -o "$T/site.json" "${URL}api/sites/$ID"
expect_grep "HTTP/1.1 200" "$T/h.txt"
$PY -c "import json,sys; s=json.load(open('$T/site.json')); assert s['id']=='$ID' and s['frames'], s" ||
  fail "site JSON"
expect_eq "$(status "${URL}api/sites/0123456789abcdef")" 404 "unknown site"
expect_eq "$(status "${URL}api/sites/not-hex")" 404 "bad site id"

# /metrics : parsed by the Prometheus client library's own parser.
curl -s -D "$T/h.txt" -o "$T/metrics.txt" "${URL}metrics"
curl -s -o "$T/report2.json" "${URL}api/report"   # every series must be a known site
expect_grep "Content-Type: text/plain; version=0.0.4" "$T/h.txt"
expect_grep "^# TYPE blockguard_violations_total counter" "$T/metrics.txt"
expect_grep "^# TYPE blockguard_blocked_seconds_total counter" "$T/metrics.txt"
$PY - "$T/metrics.txt" "$T/report2.json" <<'PY' || fail "metrics do not parse"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
v = fams["blockguard_violations"]               # the parser strips _total
assert v.type == "counter" and v.documentation, v
samples = {(s.labels["call"], s.labels["site"]): s.value for s in v.samples}
report = json.load(open(sys.argv[2]))
ids = {s["id"] for s in report["sites"] if not s["allowed"]}
assert {k[1] for k in samples} <= ids, ({k[1] for k in samples} - ids)
assert len(samples) >= 4, samples
assert all(val > 0 for val in samples.values())
b = fams["blockguard_blocked_seconds"]
assert all(set(s.labels) == {"call", "category", "site"} for s in b.samples)
PY

# /api/report?format=NAME: every format of the table (blockguard --help lists them),
# each with its own content type; an unknown format is a 400 naming the real ones.
for f in $("$BG_CLI" --help | sed -n '/^Formats/,$p' | awk 'NR > 1 {print $1}'); do
  curl -s -D "$T/h.txt" -o "$T/fmt.$f" "${URL}api/report?format=$f"
  expect_grep "HTTP/1.1 200" "$T/h.txt"
  [ -s "$T/fmt.$f" ] || fail "format $f: empty body"
  echo "$f" >> "$T/formats.seen"
done
expect_grep "^text$" "$T/formats.seen"
expect_grep "^metrics$" "$T/formats.seen"
curl -s -D "$T/h.txt" -o "$T/fmt.txt" "${URL}api/report?format=text"
expect_grep "Content-Type: text/plain; charset=utf-8" "$T/h.txt"
expect_grep "SUMMARY: blockguard:" "$T/fmt.txt"
curl -s -D "$T/h.txt" -o "$T/fmt.sarif" "${URL}api/report?format=sarif"
expect_grep "Content-Type: application/sarif+json" "$T/h.txt"
$PY -c "import json,sys; d=json.load(open('$T/fmt.sarif')); assert d['version']=='2.1.0'" || fail "sarif over http"
expect_eq "$(status "${URL}api/report?format=xml")" 400 "unknown format"
expect_grep "json, text, sarif" "$(curl -s -o "$T/bad.txt" "${URL}api/report?format=xml"; echo "$T/bad.txt")"

# /healthz, 404, 405, 413, oversized head.
expect_eq "$(curl -s "${URL}healthz")" "ok" "healthz body"
expect_eq "$(status "${URL}nope")" 404 "unknown path"
expect_eq "$(status "${URL}api/report" -X POST)" 405 "POST"
curl -s -D "$T/h.txt" -o /dev/null -X PUT "${URL}api/report"
expect_grep "Allow: GET, HEAD" "$T/h.txt"
expect_eq "$(status "$URL" -X GET --data-binary hello)" 413 "request body"
long=$(head -c 40000 /dev/zero | tr '\0' a)
code=$(status "${URL}$long")
case $code in 414|431) ;; *) fail "oversized URL answered $code" ;; esac
code=$(status "$URL" -H "X-Big: $long")
case $code in 431|413) ;; *) fail "oversized header answered $code" ;; esac
# HEAD works and has no body
expect_eq "$(curl -s -I -o /dev/null -w '%{http_code}' "${URL}api/report")" 200 "HEAD"

# the server still serves after all that, and the program ends normally
expect_eq "$(status "${URL}healthz")" 200 "still alive"
kill -TERM $DEMO_PID; wait $DEMO_PID 2>/dev/null || true
trap - EXIT
echo "http endpoints: ok"
