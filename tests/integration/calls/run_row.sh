#!/bin/sh
# run_row.sh ROW - runs one call-table row's case in every build (see t_calls.sh for
# the environment): bare and under the shim, outputs must be identical and the shim
# run's own verdict checks must pass; the plain build also runs it with mode=raise, and
# inside a coroutine with mode=offload (output identical to the bare run).
# Prints "ok ROW" or the failure with both outputs; exit status 1 on failure.
row=$1
exec >"$CALLS_DIR/out/$row.result" 2>&1  # one file per row: parallel rows never interleave
opts="threads=none:categories=all:verbosity=0"
extra=$("$CALLS_DIR/calls-plain" --opts "$row") || exit 1
[ -n "$extra" ] && opts="$opts:$extra"
status=0
for build in $CALLS_BUILDS; do
  bin="$CALLS_DIR/calls-$build"
  d="$CALLS_DIR/out/$build.$row"
  mkdir -p "$CALLS_DIR/scratch/$build.$row"
  export BGT_TMP="$CALLS_DIR/scratch/$build.$row"
  timeout "$CALLS_TIMEOUT" "$bin" "$row" >"$d.bare" 2>"$d.bare.err"
  rc_bare=$?
  timeout "$CALLS_TIMEOUT" env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$opts" \
    "$bin" "$row" >"$d.shim" 2>"$d.shim.err"
  rc_shim=$?
  why=""
  if [ $rc_bare -ne 0 ]; then why="bare run exited $rc_bare"
  elif [ $rc_shim -ne 0 ]; then why="run under the shim exited $rc_shim"
  elif ! cmp -s "$d.bare" "$d.shim"; then why="results differ with the shim"
  fi
  if [ -z "$why" ] && [ "$build" = plain ]; then
    timeout "$CALLS_TIMEOUT" env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$opts:mode=raise" \
      "$bin" --raise "$row" >"$d.raise" 2>"$d.raise.err" || why="mode=raise check failed"
  fi
  # mode=offload: the same runs inside a coroutine, the guarded call on a worker (or a
  # timer, or the scheduler's io_uring: URING rows also run with io_uring=0, on a worker).
  if [ -z "$why" ] && [ "$build" = plain ]; then
    timeout "$CALLS_TIMEOUT" env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$opts:mode=offload" \
      "$bin" --offload "$row" >"$d.offload" 2>"$d.offload.err"
    rc=$?
    if [ $rc -ne 0 ]; then why="offload run exited $rc"
    elif ! cmp -s "$d.bare" "$d.offload"; then why="results differ when offloaded"
    fi
  fi
  if [ -z "$why" ] && [ "$build" = plain ] && grep -qx "$row" "$CALLS_DIR/uring.rows"; then
    timeout "$CALLS_TIMEOUT" env LD_PRELOAD="$BG_PRELOAD" \
      BLOCKGUARD_OPTIONS="$opts:mode=offload:io_uring=0" \
      "$bin" --offload "$row" >"$d.offload0" 2>"$d.offload0.err"
    rc=$?
    if [ $rc -ne 0 ]; then why="offload run with io_uring=0 exited $rc"
    elif ! cmp -s "$d.bare" "$d.offload0"; then why="results differ when offloaded to a worker"
    elif grep -q "ring=[1-9]" "$d.offload0.err"; then why="io_uring=0 still used the ring"
    fi
  fi
  if [ -n "$why" ]; then
    echo "FAIL $row ($build): $why"
    for f in "$d.bare" "$d.bare.err" "$d.shim" "$d.shim.err" "$d.raise.err" "$d.offload" \
             "$d.offload.err" "$d.offload0" "$d.offload0.err"; do
      [ -s "$f" ] && { echo "  --- $(basename "$f")"; sed 's/^/  /' "$f"; }
    done
    status=1
  fi
done
[ $status -eq 0 ] && echo "ok $row"
exit $status
