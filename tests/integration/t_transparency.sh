# t_transparency.sh - the shim in someone else's process: a library constructor that
# makes wrapped calls before the shim's constructor; a signal handler calling write()
# while its thread is inside a wrapper (and inside the guard); EINTR and SA_RESTART
# through wrapped calls, guarded and not.  Every program's output must be the same
# with and without the shim.
. tests/integration/lib.sh
P=tests/integration/progs

# Foreign constructor: the library is a dependency of the program, so ld.so runs its
# constructor before the preloaded shim's (LD_DEBUG=files shows the order).
$CC -g -shared -fPIC -o "$T/libforeign.so" $P/foreign_lib.c
cc_prog "$T/foreign" $P/foreign_main.c -L"$T" -lforeign -Wl,-rpath,"$T"
bare=$("$T/foreign")
shim=$(under_shim "threads=main:verbosity=0" "$T/foreign")
expect_eq "$(echo "$shim" | head -1)" "$(echo "$bare" | head -1)" "calls from a foreign constructor"
expect_eq "$(echo "$shim" | tail -1)" "violations=1" "the shim initialised after the constructor"
order=$(env LD_DEBUG=files LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS=verbosity=0 "$T/foreign" 2>&1 |
        grep 'calling init' | grep -o 'lib[a-z]*\.so' | tr '\n' ' ')
case "$order" in
  *libforeign.so*libblockguard.so*) ;;
  *) fail "expected libforeign's constructor before the shim's, got: $order" ;;
esac

# Signal handler calling write() while the thread is inside wrapped calls.
cc_prog "$T/sig_write" $P/sig_write.c
bare=$(timeout 60 "$T/sig_write")
shim=$(timeout 60 env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="threads=main:verbosity=0" \
       EXPECT_VIOLATIONS=1 "$T/sig_write") || fail "sig_write under the shim failed or hung"
expect_eq "$(echo "$shim" | grep -v violations)" "$bare" "signal handler write() inside a wrapper"
expect_eq "$(echo "$shim" | grep 'part1 violations')" "part1 violations=2" \
  "the blocked read and the handler's write both counted"

# EINTR / SA_RESTART.
cc_prog "$T/eintr" $P/eintr.c
bare=$(timeout 60 "$T/eintr")
for mode in report raise; do
  shim=$(timeout 60 env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="threads=none:verbosity=0:mode=$mode" \
         "$T/eintr") || fail "eintr under the shim (mode=$mode) failed"
  if [ $mode = report ]; then
    expect_eq "$(echo "$shim" | sed '$d')" "$(echo "$bare" | sed '$d')" "EINTR/SA_RESTART pass-through"
    expect_eq "$(echo "$shim" | tail -1)" "violations_recorded=1" "guarded trials recorded"
  else
    # raise fails guarded calls with EDEADLK; unguarded ones stay exact.
    expect_eq "$(echo "$shim" | grep 'guarded=0')" "$(echo "$bare" | grep 'guarded=0')" \
      "unguarded calls untouched by mode=raise"
    expect_grep "read restart=0 guarded=1: ret=-1 errno=EDEADLK" /dev/stdin <<EOF2
$shim
EOF2
  fi
done
echo "$bare" | grep -q "read restart=0 guarded=0: ret=-1 errno=EINTR" ||
  fail "bare run: a signal without SA_RESTART must interrupt read (got: $bare)"
echo "$bare" | grep -q "read restart=1 guarded=0: ret=4 errno=0 buf=late" ||
  fail "bare run: SA_RESTART must restart read (got: $bare)"

# dlerror(): the shim's own failed dlsym/dlopen (Python runtime, V8, optional libraries)
# leave no error behind for the program (guard/dl.c).
cc_prog "$T/dlerror_clean" $P/dlerror_clean.c -ldl
bare=$("$T/dlerror_clean")
shim=$(env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="threads=main:verbosity=0" "$T/dlerror_clean" 2>/dev/null) ||
  fail "dlerror_clean under the shim failed"
expect_eq "$shim" "$bare" "dlerror() after the shim's own lookups"
