"""py_stress.py SECONDS - Python threads block while others churn frames.

8 threads make blocking calls (a blocking pipe read, time.sleep) from varying depths,
so the guard reads their Python frames on every call, while 4 more create and destroy
frames, generators, coroutines and exceptions as fast as they can, and the GC runs.
Run under threads=all by tests/integration/t_lang_stress.sh: the program must finish
normally and print the number of calls it made.
"""
import asyncio, gc, os, sys, threading, time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 10
stop = time.monotonic() + SECONDS
calls = [0] * 8


def depth(n, fn):
    return depth(n - 1, fn) if n else fn()


def blocker(i):
    r, w = os.pipe()
    k = 0
    while time.monotonic() < stop:
        os.write(w, b"x")
        depth(k % 40, lambda: os.read(r, 1))
        if k % 50 == 0:
            depth(k % 7, lambda: time.sleep(0.0001))
        calls[i] += 1
        k += 1


def gens():
    def g(n):
        for j in range(n):
            yield j
    while time.monotonic() < stop:
        sum(g(50))
        list(x for x in range(20))


def coros():
    async def leaf(n):
        await asyncio.sleep(0)
        return n
    async def tree(n):
        return await leaf(n) if n < 5 else await tree(n - 1)
    async def main():
        while time.monotonic() < stop:
            await asyncio.gather(*(tree(k) for k in range(10)))
    asyncio.run(main())


def churn():
    while time.monotonic() < stop:
        try:
            depth(30, lambda: 1 / 0)
        except ZeroDivisionError:
            pass
        gc.collect(0)


threads = [threading.Thread(target=blocker, args=(i,)) for i in range(8)]
threads += [threading.Thread(target=f) for f in (gens, coros, churn, churn)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("calls", sum(calls))
