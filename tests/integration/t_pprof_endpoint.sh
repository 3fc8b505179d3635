#!/bin/sh
# t_pprof_endpoint.sh - /debug/pprof/block and /api/folded on a live process, read by
# `go tool pprof URL` the way Parca and a person would.  ?seconds=N answers with the
# window only (a program that blocks in early() and then in late(): a window opened
# after the switch shows late() alone), the dashboard keeps answering other requests
# while a window waits, bad windows are refused, at most 16 wait at a time (a client
# that hangs up frees its slot at once), and a process that exits while a window waits
# neither hangs nor delays its exit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
command -v go >/dev/null || fail "go (golang-go) missing: tools/deps.sh check installs it"
export HOME="$T" GOCACHE="$T/gocache"
cc_prog "$T/phases" "$BG_ROOT/tests/integration/progs/phases.c"

start_phases() {
  ERR="$T/phases.$$.$(date +%s%N).err"
  under_shim "threads=main:http=127.0.0.1:0$1" "$T/phases" "$2" "$3" 2>"$ERR" &
  PID=$!
  URL=$(wait_url "$ERR") || { cat "$ERR"; fail "no dashboard URL"; }
}

start_phases "" 2 30
trap 'kill $PID 2>/dev/null || true' EXIT

# cumulative profile, fetched by pprof itself
go tool pprof -top -nodefraction=0 "${URL}debug/pprof/block" > "$T/cum.txt" 2>&1 || { cat "$T/cum.txt"; fail "pprof URL"; }
expect_grep "^Type: blocked" "$T/cum.txt"
expect_grep " early$" "$T/cum.txt"
curl -s -D "$T/h.txt" -o /dev/null "${URL}debug/pprof/block"
expect_grep "Content-Type: application/octet-stream" "$T/h.txt"
expect_grep 'Content-Disposition: attachment; filename="blockguard-[0-9]*.pb.gz"' "$T/h.txt"

# a window after the switch to late(): only late()
sleep 2.5
t0=$(now_ms)
go tool pprof -seconds 3 -top -nodefraction=0 "${URL}debug/pprof/block" > "$T/win.txt" 2>&1 &
GP=$!
sleep 0.5
# the server answers other requests while the window waits
for p in healthz api/report metrics; do
  a=$(now_ms); code=$(status "${URL}$p"); b=$(now_ms)
  expect_eq "$code" 200 "/$p during a window"
  [ $((b - a)) -lt 1500 ] || fail "/$p took $((b - a)) ms while a window waited"
done
wait $GP || { cat "$T/win.txt"; fail "pprof -seconds 3"; }
el=$(( $(now_ms) - t0 ))
[ $el -ge 2900 ] || fail "the window answered after $el ms, before its 3 s"
expect_grep " late$" "$T/win.txt"
expect_no_grep " early$" "$T/win.txt"
expect_grep "^Duration: 3" "$T/win.txt"
# same window semantics for folded stacks
curl -s -o "$T/win.folded" "${URL}api/folded?seconds=1&value=violations"
expect_grep "main;late;nanosleep [0-9]" "$T/win.folded"
expect_no_grep "early" "$T/win.folded"

# refusals
for s in 0 -1 abc 3601 1.5 ""; do
  expect_eq "$(status "${URL}debug/pprof/block?seconds=$s")" 400 "seconds=$s"
done
# at most 16 windows wait; the 17th is told to come back; clients that hang up free
# their slots at once (the server watches suspended sockets)
waiting=""
for i in $(seq 1 16); do curl -s -o /dev/null "${URL}debug/pprof/block?seconds=600" & waiting="$waiting $!"; done
sleep 1
expect_eq "$(status "${URL}debug/pprof/block?seconds=1")" 503 "17th window"
expect_eq "$(status "${URL}healthz")" 200 "healthz with 16 windows waiting"
kill $waiting 2>/dev/null; wait $waiting 2>/dev/null || true
sleep 0.3
expect_eq "$(status "${URL}debug/pprof/block?seconds=1")" 200 "a window after 16 clients hung up"

# the process exits while a window waits: the request ends at once, exit is not held
kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true
trap - EXIT
cat > "$T/exit_main.c" <<'C'
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) { usleep(atoi(argv[1]) * 1000); return 0; } /* returns: exit() */
C
cc_prog "$T/exit_main" "$T/exit_main.c"
ERR="$T/exit.err"
under_shim "threads=main:http=127.0.0.1:0" "$T/exit_main" 1500 2>"$ERR" &
PID=$!
URL=$(wait_url "$ERR") || { cat "$ERR"; fail "no dashboard URL"; }
curl -s -o "$T/late.out" -w '%{http_code}' "${URL}debug/pprof/block?seconds=60" > "$T/late.code" &
CP=$!
wait $PID; t_exit=$(now_ms)
wait $CP || true; t_client=$(now_ms)
[ $((t_client - t_exit)) -lt 1500 ] || fail "a waiting window held its client $((t_client - t_exit)) ms past exit"
code=$(cat "$T/late.code")
case $code in 503|000) ;; *) fail "a window cut short by exit answered $code" ;; esac
# the exit itself was not held: main's 1.5 s and start-up, not the 60 s window
[ "$(grep -c 'dashboard at' "$ERR")" = 1 ] || fail "dashboard line"
echo "pprof endpoint: ok"
