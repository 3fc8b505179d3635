#!/bin/sh
# t_http_tree.sh - http= in a process tree (children inherit the option): only a
# process that can bind serves, the others say so once and run on normally; with port
# 0 every process gets its own dashboard; a forked child (no exec) neither serves nor
# keeps the parent's port open after the parent is gone.  Every process still writes
# its report, and the report of the one that served records the URL (http_url).
. "$BG_ROOT/tests/integration/lib.sh"
. "$BG_ROOT/tests/integration/http_lib.sh"
cc_prog "$T/http_tree" "$BG_ROOT/tests/integration/http_tree.c"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. fixed port: the parent serves, the exec'd child cannot bind and goes on.
P=$(free_port)
mkdir -p "$T/r1"
under_shim "threads=main:http=127.0.0.1:$P:report=$T/r1/r.%p.json" "$T/http_tree" exec 2>"$T/err1" &
TREE=$!
trap 'kill $TREE 2>/dev/null || true' EXIT
i=0; until grep -q "child done" "$T/err1" 2>/dev/null || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
expect_grep "child done: 0" "$T/err1"
expect_grep "dashboard at http://127.0.0.1:$P/" "$T/err1"
expect_grep "cannot listen on 127.0.0.1:$P: Address already in use; pid [0-9]* goes on without a dashboard" "$T/err1"
# the parent still serves after its child came and went
expect_eq "$(status "http://127.0.0.1:$P/healthz")" 200 "parent dashboard after child exit"
rc=0; wait $TREE || rc=$?
expect_eq "$rc" 0 "tree exit status"
expect_eq "$(grep -c 'dashboard at' "$T/err1")" 1 "exactly one process serves"
# both still write their reports; only the parent's names a dashboard
expect_eq "$(ls "$T/r1" | wc -l)" 2 "one report per process"
expect_eq "$(grep -l '"http_url": "http://127.0.0.1:'"$P"'/"' "$T"/r1/*.json | wc -l)" 1 "http_url in the serving process's report"

# 2. port 0: parent and child each serve on their own port.
under_shim "threads=main:http=127.0.0.1:0" "$T/http_tree" exec 2>"$T/err2" || fail "port-0 tree failed"
expect_eq "$(grep -c 'dashboard at' "$T/err2")" 2 "two dashboards"
expect_eq "$(sed -n 's/.*dashboard at //p' "$T/err2" | sort -u | wc -l)" 2 "two distinct URLs"

# 3. fork without exec: the child serves nothing and does not hold the port; once the
#    parent has exited, the port refuses connections at once (curl exit 7), it does not
#    accept into a backlog nobody serves (which would hang until timeout: exit 28).
P=$(free_port)
under_shim "threads=main:http=127.0.0.1:$P" "$T/http_tree" fork 2>"$T/err3" || fail "fork tree failed"
expect_eq "$(grep -c 'dashboard at' "$T/err3")" 1 "forked child does not serve"
rc=0; curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$P/healthz" || rc=$?
expect_eq "$rc" 7 "port after the parent exited, child still running (7 = refused)"
sleep 3.5  # let the child finish (its exit must be clean too; nothing to check but no hang)
trap - EXIT
echo "http tree: ok"
