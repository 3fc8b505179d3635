#!/bin/sh
# t_lang_layout.sh - the offsets the Python frame reader uses (guard/lang_py_layout.c)
# are those of each installed CPython's own headers; for 3.13+ the parser of
# _Py_DebugOffsets is run on the real libpython's _PyRuntime.  Versions without
# headers (no -dev package) are skipped, saying so.
. "$(dirname "$0")/lib.sh"
. "$BG_ROOT/tests/lang/pythons.sh"
n=0
for py in $(pythons); do
  eval "$("$py" - <<'PY'
import sysconfig, os
inc = sysconfig.get_paths()["include"]
lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("INSTSONAME") or "")
print("inc='%s' lib='%s' minor=%d" % (inc, lib, __import__("sys").version_info[1]))
PY
)"
  if [ ! -f "$inc/Python.h" ] || [ ! -d "$inc/internal" ]; then
    echo "SKIP: $py: no headers in $inc"; continue
  fi
  extra=""
  if [ "$minor" -ge 13 ]; then
    [ -f "$lib" ] || { echo "SKIP: $py: 3.$minor without a shared libpython ($lib)"; continue; }
    extra=$lib
  fi
  $CC -w -I"$BG_ROOT" -I"$inc" -o "$T/layout-$n" "$BG_ROOT/tests/lang/py_layout.c" \
    "$BG_ROOT/guard/lang_py_layout.c" -ldl || fail "$py: layout check does not compile"
  "$T/layout-$n" $extra || fail "$py: layout table differs from the headers"
  n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no CPython with headers (tools/deps.sh check installs python3-dev)"
