# t_calls.sh - per-call integration tests: every row of preload/calls.def and
# preload/syscalls.def has a case (tests/integration/calls/c_*.c; the driver does not
# link without one), run without and with the shim in three builds: plain -O0,
# -O2 -D_FORTIFY_SOURCE=2 (the __*_chk entry points) and -D_FILE_OFFSET_BITS=64 (the
# 64 entry points).  Each row runs as its own processes under `timeout`, two at a
# time.  CALLS_ROWS="read write" limits the rows (for debugging).
. tests/integration/lib.sh
C=tests/integration/calls
export CALLS_DIR="$T" CALLS_TIMEOUT="${CALLS_TIMEOUT:-20}" BG_PRELOAD
export CALLS_BUILDS="plain fortify lfs"
mkdir -p "$T/out" "$T/scratch"

flags="-std=gnu11 -D_GNU_SOURCE -g -pthread -Wall -Wextra -Wno-unused-result -Wno-unused-parameter -Werror"
flags="$flags -I$BG_ROOT/include -I$BG_ROOT"
src="$C/driver.c $C/fixtures.c $(ls $C/c_*.c | tr '\n' ' ')"
$CC $flags -O0 -o "$T/calls-plain" $src &
$CC $flags -O2 -D_FORTIFY_SOURCE=2 -DBGT_FORTIFY=1 -o "$T/calls-fortify" $src &
$CC $flags -O0 -D_FILE_OFFSET_BITS=64 -DBGT_LFS=1 -o "$T/calls-lfs" $src
wait $! 2>/dev/null; wait
for b in plain fortify lfs; do [ -x "$T/calls-$b" ] || fail "build of calls-$b failed"; done

# The builds must reach the entry points they exist for.
refs() { nm -D "$T/calls-$1" | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }'; }
refs fortify >"$T/fortify.syms"
for s in __read_chk __pread_chk __recv_chk __recvfrom_chk __poll_chk __ppoll_chk \
         __fread_chk __fread_unlocked_chk __fgets_chk __fgets_unlocked_chk __open_2 \
         __openat_2 __printf_chk __fprintf_chk __vfprintf_chk \
         __dprintf_chk __vdprintf_chk __uflow __overflow; do
  grep -qx "$s" "$T/fortify.syms" || fail "fortified build does not reference $s"
done
refs lfs >"$T/lfs.syms"
for s in open64 openat64 creat64 fopen64 freopen64 pread64 pwrite64 preadv64 pwritev64 \
         preadv64v2 pwritev64v2 sendfile64 lockf64 fcntl64; do
  grep -qx "$s" "$T/lfs.syms" || fail "_FILE_OFFSET_BITS=64 build does not reference $s"
done
grep -qx pread "$T/lfs.syms" && fail "_FILE_OFFSET_BITS=64 build still references pread"

# Every row of the table has a case, and the driver knows no other row.
$CC -I"$BG_ROOT" -o "$T/gencalls" "$BG_ROOT/tools/gencalls.c"
"$T/gencalls" list | awk '{ print ($1 == "sys" ? "sys_" : "") $2 }' | sort >"$T/table.rows"
"$T/calls-plain" --rows | sort >"$T/driver.rows"
cmp -s "$T/table.rows" "$T/driver.rows" || { diff "$T/table.rows" "$T/driver.rows"; fail "driver rows differ from the table"; }

# Rows whose offload column is URING(shape): they also run with io_uring=0 (run_row.sh).
"$T/gencalls" list | awk '$6 ~ /^uring:/ { print $2 }' >"$T/uring.rows"

rows=${CALLS_ROWS:-$(cat "$T/table.rows")}
start=$(date +%s)
echo $rows | tr ' ' '\n' | xargs -P 2 -n 1 sh "$C/run_row.sh" || true
for r in $rows; do cat "$T/out/$r.result"; done >"$T/results.txt"
nok=$(grep -c '^ok ' "$T/results.txt" || true)
nfail=$(grep -c '^FAIL ' "$T/results.txt" || true)
echo "calls: $nok rows ok, $nfail failed, $(($(date +%s) - start))s"
noff=$(cat "$T"/out/plain.*.offload.err 2>/dev/null | grep -c '^offloaded: .*[1-9]' || true)
echo "calls: $noff rows ran on a worker, a timer or io_uring under mode=offload"
if [ "$nfail" -ne 0 ]; then
  grep -v '^ok ' "$T/results.txt"
  fail "$nfail call rows failed"
fi

# Every URING row made its call through io_uring, except where the case's arguments
# send it to a worker by design (preload/offload_uring.h): write/__write/writev write
# to a pipe, where a ring write may return short and write(2) does not.  Needs a kernel
# that allows io_uring to this process (Linux 6.1+, not disabled by sysctl or seccomp).
by_design="write __write writev"
$CC -o "$T/ringprobe" "$BG_ROOT/tests/integration/offload/ringprobe.c"
if why=$("$T/ringprobe"); then
  missed=""
  for r in $(grep -x -F -f "$T/uring.rows" "$T/table.rows"); do
    case " $by_design " in *" $r "*) continue ;; esac
    [ -z "${CALLS_ROWS:-}" ] || case " $CALLS_ROWS " in *" $r "*) ;; *) continue ;; esac
    grep -q "ring=[1-9]" "$T/out/plain.$r.offload.err" || missed="$missed $r"
  done
  [ -z "$missed" ] || fail "URING rows that did not use io_uring:$missed"
  echo "calls: $(wc -l <"$T/uring.rows") URING rows, all but [$by_design] through io_uring"
else
  echo "SKIP io_uring check: io_uring not usable here ($(uname -r), $why): URING rows ran on workers"
fi
