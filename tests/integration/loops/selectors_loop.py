"""selectors_loop.py - a hand-written event loop on selectors.DefaultSelector (epoll on
Linux), as small servers and test harnesses write them (tests/integration/loops/
corpus.py).  The handler blocks once (a violation); after sel.close() closed the epoll
fd, a sleep is ordinary synchronous code (not a violation)."""
import selectors
import socket
import time

sel = selectors.DefaultSelector()
a, b = socket.socketpair()
a.setblocking(False)
seen = 0


def on_read(sock):
    global seen
    sock.recv(100)
    seen += 1
    if seen == 1:
        time.sleep(0.002)  # blocks the loop


sel.register(a, selectors.EVENT_READ, on_read)
for _ in range(3):
    b.send(b"x")
    for key, _ in sel.select(timeout=1):
        key.data(key.fileobj)
sel.close()
time.sleep(0.002)  # the loop is closed
