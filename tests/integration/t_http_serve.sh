#!/bin/sh
# t_http_serve.sh - `blockguard serve FILE|DIR...`: the dashboard over saved reports.
# Reports of two runs of the same program merge site by site (same code, different
# load addresses), a DIR is re-read so a report added later shows up, bad inputs are
# errors naming the file (exit 2), and SIGTERM stops it promptly with status 0.
. "$BG_ROOT/tests/integration/lib.sh"
. "$BG_ROOT/tests/integration/http_lib.sh"

# Two saved reports (the live /api/report JSON is the report file format).
mkdir -p "$T/reports"
for n in a b c; do
  start_demo "threads=main:http=127.0.0.1:0" 20
  sleep 0.7
  curl -s -o "$T/$n.json" "${URL}api/report"
  kill $DEMO_PID; wait $DEMO_PID 2>/dev/null || true
done
cp "$T/a.json" "$T/b.json" "$T/reports/"

"$BG_CLI" serve --http 127.0.0.1:0 "$T/reports" 2>"$T/serve.err" &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
URL=$(wait_url "$T/serve.err") || { cat "$T/serve.err"; fail "serve printed no URL"; }
expect_grep "from 1 input" "$T/serve.err"
curl -s -o "$T/page.html" "$URL"
expect_grep '<meta name="bg-mode" content="serve">' "$T/page.html"
curl -s -o "$T/merged.json" "${URL}api/report"
check_merge() {
  $PY - "$T/merged.json" "$@" <<'PY' || fail "merge of $*"
import json, sys
merged = json.load(open(sys.argv[1]))
def key(s):
    return (s["call"], s["allowed"], tuple((f["module"], f["offset"]) for f in s["frames"]))
want = {}
for path in sys.argv[2:]:
    for s in json.load(open(path))["sites"]:
        want[key(s)] = want.get(key(s), 0) + s["count"]
got = {key(s): s["count"] for s in merged["sites"]}
assert got == want, (got, want)
assert len(merged["sites"]) < sum(len(json.load(open(p))["sites"]) for p in sys.argv[2:])
PY
}
check_merge "$T/a.json" "$T/b.json"
expect_eq "$(status "${URL}metrics")" 200 "metrics"
ID=$($PY -c "import json; print(json.load(open('$T/merged.json'))['sites'][0]['id'])")
expect_eq "$(status "${URL}api/sites/$ID")" 200 "site of a merged report"

# A report that appears in the directory later is picked up.
cp "$T/c.json" "$T/reports/c.json.tmp" && mv "$T/reports/c.json.tmp" "$T/reports/c.json"
curl -s -o "$T/merged.json" "${URL}api/report"
check_merge "$T/a.json" "$T/b.json" "$T/c.json"

# A file replaced by garbage: 503 naming it, not a crash.
echo '{"tool": "blockguard", "version": ' >"$T/reports/c.json"
expect_eq "$(status "${URL}api/report")" 503 "corrupt file while serving"
curl -s "${URL}api/report" | grep -q "c.json" || fail "503 does not name the file"
rm "$T/reports/c.json"
expect_eq "$(status "${URL}api/report")" 200 "recovered"

t0=$(now_ms)
kill -TERM $SRV
rc=0; wait $SRV || rc=$?
expect_eq "$rc" 0 "serve exit status on SIGTERM"
[ $(($(now_ms) - t0)) -lt 1500 ] || fail "serve took too long to stop"
trap - EXIT

# Bad inputs are errors naming the problem.
rc=0; "$BG_CLI" serve "$T/missing.json" 2>"$T/e1" || rc=$?
expect_eq "$rc" 2 "missing file"
expect_grep "missing.json: No such file or directory" "$T/e1"
echo 'not json' >"$T/bad.json"
rc=0; "$BG_CLI" serve "$T/bad.json" 2>"$T/e2" || rc=$?
expect_eq "$rc" 2 "corrupt file"
expect_grep "bad.json:1:" "$T/e2"
mkdir -p "$T/empty"
rc=0; "$BG_CLI" serve "$T/empty" 2>"$T/e3" || rc=$?
expect_eq "$rc" 2 "empty dir"
expect_grep "no report files" "$T/e3"
rc=0; "$BG_CLI" serve --http 0.0.0.0:0 "$T/a.json" 2>"$T/e4" || rc=$?
expect_eq "$rc" 2 "non-loopback without token"
expect_grep "http_token" "$T/e4"
rc=0; "$BG_CLI" serve 2>"$T/e5" || rc=$?
expect_eq "$rc" 2 "no input"
echo "http serve: ok"
