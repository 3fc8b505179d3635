# t_dlsym.sh - escaped references: a wrapped function taken by name through dlsym or
# dlvsym is the guarded one (preload/dlsym.c), and the lookups the program makes keep
# their meaning (glibc answers relative to the caller).
#  1. ctypes, the way Python programs call libc directly: CDLL("libc.so.6").usleep and
#     the same through libm's handle (its scope includes libc) are violations on a
#     guarded thread; with mode=raise the call fails with EDEADLK instead of sleeping.
#  2. A program that wraps read() itself and forwards with dlsym(RTLD_NEXT): works,
#     and its forwarded read is still guarded; usleep through an explicit handle too.
#  3. An interposing library preloaded after (and before) the shim: its
#     dlsym(RTLD_NEXT, "read") is libc's (or the next wrapper's), never itself - the
#     run would recurse and abort; dlopen'ed RTLD_LOCAL, its RTLD_DEFAULT and RTLD_NEXT
#     lookups still see its own dependency.  Output identical to the bare run.
. tests/integration/lib.sh
P=tests/integration/progs
py=/usr/bin/python3; [ -x $py ] || py=$(command -v python3)

count_calls() { # report.json call -> total count of that call's sites
  $py -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(s["count"] for s in r["sites"] if s["call"]==sys.argv[2]))' "$1" "$2"
}

# 1. ctypes
cat > "$T/ct.py" <<'PY'
import ctypes, ctypes.util, errno
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libm = ctypes.CDLL(ctypes.util.find_library("m"), use_errno=True)
r1 = libc.usleep(20000)
e1 = ctypes.get_errno()
r2 = libm.usleep(1000)
print("usleep", r1, r2, "EDEADLK" if e1 == errno.EDEADLK else e1)
PY
under_shim "threads=main:verbosity=0:report=$T/ct.json" $py "$T/ct.py" >"$T/ct.out" 2>&1 ||
  { cat "$T/ct.out"; fail "ctypes run failed"; }
expect_grep "^usleep 0 0 " "$T/ct.out"
expect_eq "$(count_calls "$T/ct.json" usleep)" 2 "usleep calls recorded from ctypes"
under_shim "threads=main:categories=sleep:verbosity=0:mode=raise" $py "$T/ct.py" >"$T/ctr.out" 2>&1 ||
  { cat "$T/ctr.out"; fail "ctypes run (mode=raise) failed"; }
expect_grep "^usleep -1 -1 EDEADLK" "$T/ctr.out"

# 2. a program wrapping read() itself
cc_prog "$T/self" $P/dlsym_self.c
expect_eq "$("$T/self")" "read 5 'hello', reads seen 1, violations none" "bare run"
out=$(under_shim "threads=main:verbosity=0" "$T/self") || fail "self-wrapping program failed under the shim"
# libunwind's own reads (its address-validation pipe) bind to the program's read too
case "$out" in
  "read 5 'hello', reads seen "*", violations ok") ;;
  *) fail "self-wrapping program under the shim: got '$out'" ;;
esac

# 3. an interposing library, preloaded after or before the shim, and dlopen'ed locally
$CC -g -shared -fPIC -o "$T/libbgt_dep.so" $P/dlsym_dep.c
$CC -g -shared -fPIC -o "$T/libbgt_read.so" $P/dlsym_lib.c -Wl,--no-as-needed \
  -L"$T" -lbgt_dep -Wl,-rpath,"$T"
cc_prog "$T/host" $P/dlsym_host.c
bare=$("$T/host" "$T/libbgt_read.so") || fail "host failed bare"
expect_eq "$bare" "scope 4242
read 3 'abc'" "bare host"
for pre in "$BG_PRELOAD" "$BG_PRELOAD $T/libbgt_read.so" "$T/libbgt_read.so $BG_PRELOAD"; do
  out=$(env LD_PRELOAD="$pre" BLOCKGUARD_OPTIONS="threads=main:verbosity=0" \
        "$T/host" "$T/libbgt_read.so" 2>"$T/host.err") || { cat "$T/host.err"; fail "host failed with LD_PRELOAD='$pre'"; }
  expect_eq "$out" "$bare" "host with LD_PRELOAD='$pre'"
done
echo "t_dlsym: ok"
