#!/bin/sh
# http_latency.sh - `make bench-http`: /api/report latency of the live dashboard with
# 1,000 sites (see http_latency.c).  Prints one line with median/p90/max.
set -eu
cd "$(dirname "$0")/../../.."
: "${BUILD:=build}" "${CC:=cc}"
out="$BUILD/bench/http"
mkdir -p "$out"
$CC -O1 -g -pthread -rdynamic -o "$out/http_latency" tests/bench/http/http_latency.c
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BENCH_PORT=$port LD_PRELOAD="$PWD/$BUILD/libblockguard.so" \
  BLOCKGUARD_OPTIONS="threads=main:http=127.0.0.1:$port:verbosity=0" \
  "$out/http_latency" "${REQS:-200}"
