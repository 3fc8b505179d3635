#!/bin/sh
# t_loop_corpus.sh - event-loop detection on real programs (docs/design.md "Event
# loops"): the loop samples (libuv, libevent, libev, GLib) and the thread pool are built
# here against the Debian -dev packages (tools/deps.sh check), then
# tests/integration/loops/corpus.py runs every row - asyncio on each CPython found,
# node, redis, nginx, memcached, gevent, make, subprocess, curl, git, tar, sort, gcc,
# pip... - and prints the table (program, expected, detected, evidence).
. "$BG_ROOT/tests/integration/lib.sh"
case "${SANITIZER:-}" in *address*)
  # Known issue (docs/testing.md): an ASan-built shim preloaded into a program that is
  # not ASan-built hangs in setlocale; the corpus runs in the plain build only.
  echo "skipped under ASan"; exit 0 ;;
esac
L="$BG_ROOT/tests/integration/loops"
cc_prog "$T/uv_loop" "$L/uv_loop.c" $(pkg-config --cflags --libs libuv)
cc_prog "$T/event_loop" "$L/event_loop.c" $(pkg-config --cflags --libs libevent)
cc_prog "$T/ev_loop" "$L/ev_loop.c" -lev
cc_prog "$T/glib_loop" "$L/glib_loop.c" $(pkg-config --cflags --libs glib-2.0)
cc_prog "$T/pool" "$L/pool.c"
mkdir -p "$T/work"
python3 "$L/corpus.py" "$BG_PRELOAD" "$T" "$T/work"
