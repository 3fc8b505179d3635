"""asyncio_run.py - an asyncio program (tests/integration/loops/corpus.py): one blocking
call inside a coroutine (a violation: it stalls the loop), then one more after the loop
was closed by asyncio.run() (ordinary synchronous code: not a violation).  Runs on every
CPython with asyncio (3.6 has no asyncio.run)."""
import asyncio
import time


async def main():
    await asyncio.sleep(0.005)
    time.sleep(0.002)  # blocks the running loop


if hasattr(asyncio, "run"):
    asyncio.run(main())
else:
    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
time.sleep(0.002)  # the loop is closed
