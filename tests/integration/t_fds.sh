# t_fds.sh - the shim holds no fd of its own in the program's table and never reads or
# writes the program's fds (progs/fds.c: output identical with and without the shim),
# and a child started through subprocess (vfork + exec) from a guarded thread sees
# exactly the fds it was given (CPython's test_pass_fds_redirected, where this was
# found: libunwind's validation pipe sat at fds 3 and 4 and, once a program closed
# and reused those numbers, libunwind read a byte of its socket).
. tests/integration/lib.sh
P=tests/integration/progs
cc_prog "$T/fds" $P/fds.c
bare=$("$T/fds" 2>/dev/null)
for threads in main all; do
  shim=$(under_shim "threads=$threads:verbosity=0" "$T/fds" 2>"$T/err") || fail "fds under the shim failed"
  expect_eq "$shim" "$bare" "fd numbers and socket data (threads=$threads)"
  expect_grep "violations [1-9]" "$T/err"
done
expect_grep "received 10 '0123456789'" /dev/stdin <<EOF2
$bare
EOF2

cat > "$T/pass_fds.py" <<'PY'
import os, selectors, socket, subprocess, sys
a, b = socket.socketpair()
sel = selectors.DefaultSelector()
sel.register(a, selectors.EVENT_READ)
for _ in range(5):
    sel.select(0.001)   # a timed wait from one site, repeated: threads=auto guards us
child = ("import os\nfds = []\nfor fd in range(256):\n    try: os.fstat(fd)\n"
         "    except OSError: continue\n    fds.append(str(fd))\nprint(','.join(fds))")
for i in range(3):
    fds = [os.open(os.devnull, os.O_RDWR) for _ in range(2)]
    r, w = os.pipe()
    fds.insert(1, w)
    with subprocess.Popen([sys.executable, "-c", child], stdin=fds[0], stdout=fds[1],
                          stderr=fds[2], close_fds=True, pass_fds=fds):
        out = os.read(r, 1024).decode().strip()
    want = ",".join(str(f) for f in sorted({0, 1, 2} | set(fds)))
    print("child fds", out, "want", want, "ok" if out == want else "DIFFERENT")
    for f in fds + [r]:
        os.close(f)
PY
py=/usr/bin/python3; [ -x $py ] || py=python3
under_shim "threads=auto:verbosity=0" $py "$T/pass_fds.py" >"$T/py.out" 2>&1 || { cat "$T/py.out"; fail "pass_fds.py failed"; }
cat "$T/py.out"
expect_no_grep DIFFERENT "$T/py.out"
expect_eq "$(grep -c ' ok$' "$T/py.out")" 3 "three subprocess runs"
echo "t_fds: ok"
