#!/bin/sh
# deps.sh - make sure the Debian packages blockguard builds and tests with are present.
#
# Called by `make` targets before anything is compiled, so a fresh Debian machine needs
# no manual step: as root it runs apt-get, otherwise it prints the exact command to run.
# Usage: tools/deps.sh [build|check|bench|browser|fuzz|trust]
# (each group implies build and check; trust = fuzz + valgrind + CPython's test suite)
set -eu
group=${1:-build}
# protobuf-c + zlib: the pprof format (build/libblockguard-pprof.so, code generated from
# third_party/pprof/profile.proto by protoc-c).
# liburing-dev: the header the io_uring offload path is built with; the shim dlopens
# liburing.so.2 (liburing2, which it pulls in) on the first offloaded call only.
# libcurl4-gnutls-dev: the header of push= (the shim dlopens libcurl-gnutls on the first
# push only; libcurl3-gnutls, which it pulls in, is what tests run).
build_pkgs="gcc make pkg-config libunwind-dev uthash-dev libmicrohttpd-dev libjansson-dev libdw-dev protobuf-c-compiler libprotobuf-c-dev zlib1g-dev liburing-dev libcurl4-gnutls-dev"
# golang-go (go tool pprof) and protobuf-compiler (protoc --decode): real consumers of
# the pprof output in t_pprof.sh.
check_pkgs="libcmocka-dev libst-dev python3 python3-dev g++ nodejs curl python3-jsonschema python3-prometheus-client golang-go protobuf-compiler"
# clang-format: `make expand` formats the code the call table expands into with it
# (check-docs opens the read wrapper there).
check_pkgs="$check_pkgs clang-format"
# the event-loop corpus (tests/integration/t_loop_corpus.sh): real loops and non-loops
check_pkgs="$check_pkgs redis-server redis-tools nginx memcached python3-gevent python3-pip
  git libuv1-dev libevent-dev libev-dev libglib2.0-dev"
# perl: callgrind_annotate; libuv1-dev: the reference rows (uv_queue_work, uv_fs_read
# round trips next to the offload rows)
bench_pkgs="valgrind perl strace ltrace redis-server redis-tools libuv1-dev"
browser_pkgs="chromium nodejs npm"
# clang's libFuzzer runtime is in libclang-rt-dev, which clang does not pull in.
fuzz_pkgs="clang libclang-rt-dev"
# make check-transparency runs CPython's own regression tests: Debian's python3 ships
# only the test-suite skeleton; the modules are in libpython3.X-testsuite.
py=/usr/bin/python3; [ -x $py ] || py=python3
pyver=$($py -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3.11)
trust_pkgs="$fuzz_pkgs valgrind libpython$pyver-testsuite"
case "$group" in
  build) want="$build_pkgs" ;;
  check) want="$build_pkgs $check_pkgs" ;;
  bench) want="$build_pkgs $check_pkgs $bench_pkgs" ;;
  browser) want="$build_pkgs $check_pkgs $browser_pkgs" ;;
  fuzz) want="$build_pkgs $check_pkgs $fuzz_pkgs" ;;
  trust) want="$build_pkgs $check_pkgs $trust_pkgs" ;;
  *) echo "deps.sh: unknown group '$group' (build, check, bench, browser, fuzz, trust)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  # A command that is already on PATH counts as installed even if it came from elsewhere.
  case "$p" in gcc|g++|make|python3|curl|valgrind|perl|strace|ltrace|nodejs|npm|clang)
    c=$p; [ "$p" = nodejs ] && c=node
    command -v "$c" >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps.sh: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Other builds may be installing at the same time: wait for the dpkg lock.
  lock="-o DPkg::Lock::Timeout=600"
  apt-get $lock install -y --no-install-recommends $missing >/dev/null 2>&1 ||
    { apt-get $lock update >/dev/null 2>&1 && apt-get $lock install -y --no-install-recommends $missing; }
else
  echo "deps.sh: missing Debian packages:$missing" >&2
  echo "deps.sh: run: sudo apt-get install -y$missing" >&2
  exit 1
fi
