#!/bin/sh
# format.sh check|fix - clang-format over the files tools/format.list names.
#
#   check  fail (listing each file and the first lines that differ) when a listed file
#          is not as .clang-format would write it; `make check-format`
#   fix    rewrite the listed files in place; `make format`
#
# Globs are expanded by the shell from the top of the tree; a glob that matches no
# file is an error (the list went stale), as is a missing clang-format.
set -eu
cd "$(dirname "$0")/.."
mode=${1:-check}
command -v clang-format >/dev/null 2>&1 ||
  { echo "format: clang-format not found (tools/deps.sh check installs it)" >&2; exit 2; }
files="" excluded=""
while IFS= read -r line; do
  case "$line" in
  '' | '#'*) continue ;;
  '!'*) excluded="$excluded ${line#!}" ;;
  *)
    found=0
    for f in $line; do [ -f "$f" ] && files="$files $f" && found=1; done
    [ "$found" = 1 ] || { echo "format: tools/format.list: '$line' matches no file" >&2; exit 2; }
    ;;
  esac
done < tools/format.list
list=""
for f in $files; do
  case " $excluded " in *" $f "*) continue ;; esac
  list="$list $f"
done
case "$mode" in
fix) clang-format -i $list ;;
check)
  bad=0 n=0
  for f in $list; do
    n=$((n + 1))
    if ! clang-format "$f" | cmp -s "$f" -; then
      bad=$((bad + 1))
      echo "format: $f differs from clang-format's output:"
      clang-format "$f" | diff -u "$f" - | sed -n '3,12p'
    fi
  done
  if [ "$bad" -gt 0 ]; then
    echo "format: $bad of $n files not formatted: run 'make format' (tools/format.list)"
    exit 1
  fi
  echo "format: $n files clean (tools/format.list)"
  ;;
*) echo "usage: tools/format.sh check|fix" >&2; exit 2 ;;
esac
