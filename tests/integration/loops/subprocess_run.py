"""subprocess_run.py - CPython's subprocess.run(capture_output=True), which waits on the
child's pipes with selectors.PollSelector (tests/integration/loops/corpus.py): a plain
synchronous program, no event loop, so the sleep after it is nobody's violation."""
import subprocess
import time

out = subprocess.run(["seq", "200000"], capture_output=True, check=True).stdout
assert len(out) > 1000000
subprocess.run(["sh", "-c", "seq 2000; seq 2000 >&2"], capture_output=True, check=True)
time.sleep(0.002)
