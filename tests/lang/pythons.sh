# pythons.sh - the CPython interpreters to test with (sourced by t_lang_*.sh): Debian's
# /usr/bin/python3 (always there: tools/deps.sh check), every pyenv build 3.8+ in
# $PYENV_ROOT/versions (this machine; CI has none), and any in $BG_PYTHONS.
pythons() {
  for p in /usr/bin/python3 "${PYENV_ROOT:-/root/.pyenv}"/versions/3.*/bin/python3 ${BG_PYTHONS:-}; do
    [ -x "$p" ] || continue
    m=$("$p" -c 'import sys; print(sys.version_info[1])' 2>/dev/null) || continue
    [ "$m" -ge 8 ] || { echo "note: $p is 3.$m (older than 3.8: not supported)" >&2; continue; }
    echo "$p"
  done
}
