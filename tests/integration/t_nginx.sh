# t_nginx.sh - nginx (Debian's package, started with its own config: 2 workers, an
# access log, a static file) under `blockguard check`, in its default daemon mode
# (fork, the parent exits: check waits for the daemon, stopped by `nginx -s quit`) and
# with `daemon off;` (stopped by SIGTERM to the CLI, forwarded).  The workers are
# event loops (epoll); their access-log writes and static-file opens block them: check
# must report both, from the workers, and exit non-zero.  As root the workers drop to
# nobody (`user`): their ledgers reached the CLI before, nothing is lost.  Nothing is
# written into nginx's error.log by blockguard.
. tests/integration/lib.sh
command -v nginx >/dev/null 2>&1 || fail "nginx not installed (tools/deps.sh check installs it)"
NGINX=$(command -v nginx)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/www" "$T/logs" "$T/tmp"
echo "hello from nginx" > "$T/www/index.html"
user=""
if [ "$(id -u)" = 0 ]; then
  user="user nobody nogroup;"
  chmod o+rx "$T" "$T/www" && chmod o+r "$T/www/index.html"
fi

conf() { # conf DAEMON(on|off)
  cat > "$T/nginx.conf" <<EOF
$user
daemon $1;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/logs/error.log notice;
events { worker_connections 64; }
http {
  access_log $T/logs/access.log;
  client_body_temp_path $T/tmp/body;
  proxy_temp_path $T/tmp/proxy;
  fastcgi_temp_path $T/tmp/fastcgi;
  uwsgi_temp_path $T/tmp/uwsgi;
  scgi_temp_path $T/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $T/www;
  }
}
EOF
}

serve() { # a few requests once nginx answers
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  for _ in 1 2 3 4 5 6; do
    [ "$(curl -s "http://127.0.0.1:$port/index.html")" = "hello from nginx" ] || fail "nginx did not serve the file"
  done
}

verdict() { # verdict ERRFILE RC MODE
  expect_eq "$2" 66 "nginx ($3): check exits with the violations' status"
  expect_grep "open64" "$1"
  expect_grep "write" "$1"
  # From the per-process reports the CLI wrote: the workers (their epoll loop guarded
  # them: why "auto") opened the static file in the content phase and wrote the access
  # log at the end of each request.  Debian's nginx is stripped: static functions show
  # as nginx+0x..., the exported ones by name.
  python3 - "$T" "$3" <<'PY'
import glob, json, sys
reports = [json.load(open(f)) for f in glob.glob("%s/%s-*.json" % (sys.argv[1], sys.argv[2]))]
workers = [r for r in reports if any(t["guarded"] and t["why"] == "auto" for t in r["threads"])]
assert len(workers) == 2, [(r["pid"], r["threads"]) for r in reports]
def fns(s): return [f["function"] for f in s["frames"]]
for w in workers:
    assert w["complete"] and w["exit"]["how"] in ("exit", "signal"), (w["pid"], w["exit"])
opens = [s for w in workers for s in w["sites"] if s["call"].startswith("open")
         and "ngx_open_cached_file" in fns(s)]
logs = [s for w in workers for s in w["sites"] if s["call"] == "write"
        and "ngx_http_free_request" in fns(s)]
assert opens and sum(s["count"] for s in opens) >= 6, [(s["call"], fns(s)[:5]) for w in workers for s in w["sites"]]
assert logs and sum(s["count"] for s in logs) >= 6, [(s["call"], fns(s)[:5]) for w in workers for s in w["sites"]]
PY
  [ $? -eq 0 ] || fail "nginx ($3): the workers' opens and access-log writes"
  expect_no_grep "blockguard" "$T/logs/error.log"
}

# 1. daemon on (nginx's default): the launcher exits 0 at once; check waits for the
# daemon and its workers until `nginx -s quit`.
conf on
"$BG_CLI" check --report="$T/on-%p.json" -- "$NGINX" -p "$T" -c "$T/nginx.conf" >"$T/on.out" 2>"$T/on.err" &
cli=$!
serve
"$NGINX" -p "$T" -c "$T/nginx.conf" -s quit
rc=0; wait $cli || rc=$?
cat "$T/on.err"
verdict "$T/on.err" "$rc" on
grep -q "in [4-9] processes" "$T/on.err" || fail "daemon mode: launcher, master and 2 workers expected"

# 2. daemon off: stopped by SIGTERM sent to the CLI (as a CI job's timeout would).
conf off
"$BG_CLI" check --report="$T/off-%p.json" -- "$NGINX" -p "$T" -c "$T/nginx.conf" >"$T/off.out" 2>"$T/off.err" &
cli=$!
serve
kill -TERM $cli
rc=0; wait $cli || rc=$?
cat "$T/off.err"
verdict "$T/off.err" "$rc" off
echo "t_nginx: all ok"
