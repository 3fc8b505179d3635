"""gevent_hub.py - greenlets on gevent's hub (tests/integration/loops/corpus.py).  While a
greenlet waits in gevent.sleep the hub runs libev, which waits in epoll_wait: the main
thread is the hub's loop thread.  An unpatched time.sleep in a greenlet blocks the hub
(gevent's own monitor thread would call it a blocked hub): one violation per greenlet."""
import time

import gevent


def greenlet():
    gevent.sleep(0.005)
    time.sleep(0.002)  # not monkey-patched: blocks the hub


gevent.joinall([gevent.spawn(greenlet) for _ in range(2)])
