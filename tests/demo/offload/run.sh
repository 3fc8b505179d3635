#!/bin/sh
# run.sh BUILD - the offload demo: the same coroutine server (server.c) under blockguard
# with mode=report, then mode=offload, each driven by the same concurrent clients;
# prints both request rates.
set -eu
B=$1
here=$(dirname "$0")
data="$B/demo/offload/config.txt"
seq 1 200 > "$data"
C=${DEMO_CLIENTS:-16} R=${DEMO_REQUESTS:-10}
for mode in report offload; do
  out="$B/demo/offload/server-$mode.out"
  echo "== mode=$mode: $C clients x $R requests; each request: usleep(20ms) + getaddrinfo + file read"
  "$B/blockguard" run --mode=$mode -- "$B/demo/offload/server" "$data" >"$out" 2>"$out.err" &
  pid=$!
  i=0
  until grep -q '^port ' "$out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat "$out.err"; echo "server did not start"; exit 1; }
    sleep 0.05
  done
  "$B/demo/offload/client" "$(sed -n 's/^port //p' "$out")" "$C" "$R" | tee "$B/demo/offload/client-$mode.out"
  wait $pid
  sed -n 's/^served/   server: served/p' "$out"
  grep -E "violations|usleep|getaddrinfo|read " "$out.err" | head -4 | sed 's/^/   /'
done
rep=$(sed -n 's/.*s, \([0-9]*\) requests\/s.*/\1/p' "$B/demo/offload/client-report.out")
off=$(sed -n 's/.*s, \([0-9]*\) requests\/s.*/\1/p' "$B/demo/offload/client-offload.out")
echo "== throughput: mode=report ${rep} requests/s, mode=offload ${off} requests/s"
