#!/bin/sh
# deps.sh - make sure the Debian packages blockguard builds and tests with are present.
#
# Called by `make` targets before anything is compiled, so a fresh Debian machine needs
# no manual step: as root it runs apt-get, otherwise it prints the exact command to run.
# Usage: tools/deps.sh [build|check|bench|browser]  (each group implies the ones before)
set -eu
group=${1:-build}
build_pkgs="gcc make pkg-config libunwind-dev uthash-dev libmicrohttpd-dev libjansson-dev libdw-dev"
check_pkgs="libcmocka-dev libst-dev python3 curl python3-jsonschema python3-prometheus-client"
bench_pkgs="valgrind strace ltrace redis-server redis-tools"
browser_pkgs="chromium nodejs npm"
case "$group" in
  build) want="$build_pkgs" ;;
  check) want="$build_pkgs $check_pkgs" ;;
  bench) want="$build_pkgs $check_pkgs $bench_pkgs" ;;
  browser) want="$build_pkgs $check_pkgs $browser_pkgs" ;;
  *) echo "deps.sh: unknown group '$group' (build, check, bench, browser)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  # A command that is already on PATH counts as installed even if it came from elsewhere.
  case "$p" in gcc|make|python3|curl|valgrind|strace|ltrace|nodejs|npm)
    c=$p; [ "$p" = nodejs ] && c=node
    command -v "$c" >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps.sh: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $missing; }
else
  echo "deps.sh: missing Debian packages:$missing" >&2
  echo "deps.sh: run: sudo apt-get install -y$missing" >&2
  exit 1
fi
