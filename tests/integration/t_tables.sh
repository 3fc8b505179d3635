# t_tables.sh - the tables police themselves at build time (docs/hacking.md).
#
# A contributor who adds a row to one of the tables relies on the build to say when the
# row and the code around it disagree; these are the checks, each run on a doctored
# copy of the file next to an untouched control that must still build:
#  1. guard/options.def: a bg__options_t field whose type does not match its row's kind
#     (`int workers` for a UINT row, whose parser stores a uint64_t) fails to compile,
#     the message naming the row and the type it must have.
#  2. preload/calls.def, offload column: an OFF(never) row whose hand-written wrapper
#     still has a thunk in preload/offload_custom.c fails to compile;
#  3. and an OFF(thread) row whose thunk is missing fails to link the shim.
. tests/integration/lib.sh
cd "$BG_ROOT"
flags=$(make -s --no-print-directory print-BGFLAGS BUILD="$BUILD" SANITIZER="${SANITIZER:-}")
eval "set -- $flags"
compile() { # OUT.o SRC [-Idir] -> compiler output in OUT.log, status of the compile
  out=$1 src=$2; shift 2
  $CC "$@" -c "$src" -o "$out" >"$out.log" 2>&1
}

# 1. options: field type vs row kind
mkdir -p "$T/opt/guard"
sed 's/^  uint64_t workers;/  int workers;/' guard/options.h > "$T/opt/guard/options.h"
grep -q '^  int workers;' "$T/opt/guard/options.h" || fail "could not doctor guard/options.h"
compile "$T/opt_ok.o" guard/options.c "$@" || { cat "$T/opt_ok.o.log"; fail "guard/options.c does not compile"; }
if compile "$T/opt_bad.o" guard/options.c -I"$T/opt" "$@"; then
  fail "an int field for the UINT row 'workers' compiled"
fi
expect_grep "row .*workers.* is UINT: bg__options_t.workers must be uint64_t" "$T/opt_bad.o.log"

# 2. an OFF(never) row that has a thunk
mkdir -p "$T/never/preload"
sed 's/^BG_CUSTOM(fcntl, \(.*\)OFF(thread)/BG_CUSTOM(fcntl, \1OFF(never)/' preload/calls.def \
  > "$T/never/preload/calls.def"
grep -q '^BG_CUSTOM(fcntl, .*OFF(never)' "$T/never/preload/calls.def" || fail "could not doctor calls.def"
compile "$T/oc_ok.o" preload/offload_custom.c "$@" || { cat "$T/oc_ok.o.log"; fail "offload_custom.c does not compile"; }
if compile "$T/oc_bad.o" preload/offload_custom.c -I"$T/never" "$@"; then
  fail "fcntl marked OFF(never) with its thunk still in offload_custom.c compiled"
fi
expect_grep "bg__cthunk_fcntl" "$T/oc_bad.o.log"

# 3. an OFF(thread) row without its thunk: the shim does not link
grep -q '^FCNTL(fcntl)$' preload/offload_custom.c || fail "fcntl's thunk line moved: update this test"
sed '/^FCNTL(fcntl)$/d' preload/offload_custom.c > "$T/offload_custom.c"
compile "$T/oc_nothunk.o" "$T/offload_custom.c" "$@" || { cat "$T/oc_nothunk.o.log"; fail "doctored offload_custom.c does not compile"; }
others=$(ls "$BUILD"/obj/preload/*.o | grep -v '/offload_custom\.o$')
core=$(find "$BUILD/obj/guard" "$BUILD/obj/report" -maxdepth 1 -name '*.o')
libs=$(make -s --no-print-directory print-LDLIBS BUILD="$BUILD" SANITIZER="${SANITIZER:-}")
san=$(make -s --no-print-directory print-SANLDFLAGS BUILD="$BUILD" SANITIZER="${SANITIZER:-}")
# shellcheck disable=SC2086
$CC -shared $san -o "$T/ok.so" $others "$T/oc_ok.o" $core $libs >"$T/ok.log" 2>&1 ||
  { cat "$T/ok.log"; fail "the shim does not link from its objects"; }
# shellcheck disable=SC2086
if $CC -shared $san -o "$T/bad.so" $others "$T/oc_nothunk.o" $core $libs >"$T/bad.log" 2>&1; then
  fail "an OFF(thread) row without its thunk linked"
fi
expect_grep "bg__cthunk_fcntl" "$T/bad.log"
echo "t_tables: ok"
