#!/bin/sh
# site_cost.sh - cost per violation at a known site vs a new site (tests/bench/site_cost.c).
# Usage: BUILD=build sh tests/bench/site_cost.sh [N] - prints a small table (median of 5).
set -eu
cd "$(dirname "$0")/../.."
: "${BUILD:=build}" "${CC:=cc}"
out="$BUILD/bench"
mkdir -p "$out"
$CC -O2 -g -pthread -o "$out/site_cost" tests/bench/site_cost.c
runs=""
for i in 1 2 3 4 5; do
  runs="$runs
$(env LD_PRELOAD="$PWD/$BUILD/libblockguard.so" \
    BLOCKGUARD_OPTIONS="threads=main:verbosity=0:max_sites=8192" "$out/site_cost" "${1:-200000}")"
done
echo "$runs" | sed '/^$/d' | sort -n -k1 | awk '
  { k[NR] = $1; n[NR] = $2; b[NR] = $3 }
  END {
    m = int((NR + 1) / 2)
    printf "%-34s %10s\n", "write(/dev/null), per call", "ns"
    printf "%-34s %10d\n", "unguarded thread (syscall + shim)", b[m]
    printf "%-34s %10d\n", "violation at a known site", k[m]
    printf "%-34s %10d\n", "violation at a new site", n[m]
    printf "%-34s %10d\n", "=> known-site overhead", k[m] - b[m]
    printf "%-34s %10d\n", "=> new-site overhead", n[m] - b[m]
  }'
