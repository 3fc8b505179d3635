# lib.sh - helpers for integration scripts (sourced).  set -eu is on.
set -eu
: "${BUILD:=build}" "${CC:=cc}"
BG_LIB="$BG_ROOT/$BUILD/libblockguard.so"
BG_CLI="$BG_ROOT/$BUILD/blockguard"
T="$BG_ROOT/$BUILD/tests/tmp/$(basename "$0" .sh)"
rm -rf "$T" && mkdir -p "$T"
# Under ASan the runtime must come first in LD_PRELOAD.
BG_PRELOAD="$BG_LIB"
case "${SANITIZER:-}" in *address*)
  BG_PRELOAD="$($CC -print-file-name=libasan.so):$BG_LIB"
  # programs under test (bash, coreutils) are not ours: their leaks are not findings
  export ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" ;;
esac

# cc_prog OUT SRC [flags...]: build a small test program with -g.
cc_prog() { out=$1 src=$2; shift 2; $CC -g -O0 -pthread -I"$BG_ROOT/include" -o "$out" "$src" "$@"; }
# under_shim OPTIONS CMD...: run CMD with the shim preloaded and BLOCKGUARD_OPTIONS.
under_shim() { o=$1; shift; env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$o" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: expected '$2', got '$1'"; }
expect_grep() { grep -q -- "$1" "$2" || { echo "--- $2:"; cat "$2"; fail "'$1' not found in $2"; }; }
expect_no_grep() { ! grep -q -- "$1" "$2" || { echo "--- $2:"; cat "$2"; fail "'$1' unexpectedly in $2"; }; }
