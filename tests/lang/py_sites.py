"""py_sites.py - Python code that blocks from places whose names and lines are known.

Run under the shim by tests/integration/t_lang_python.sh with every installed CPython.
Each blocking call is preceded, on the same line, by mark(), which records what the
interpreter itself says about that line (function as the version names it, file,
f_lineno): the oracle the report's innermost Python frame must match.  argv[1]: where
to write the expectations (JSON).
"""
import asyncio, json, os, sys, threading, time

expected = []
R, W = os.pipe()  # blocking pipe: each os.read of one byte is a violation ("read")


def mark(kind, repeat=1):
    f = sys._getframe(1)
    co = f.f_code
    expected.append({"kind": kind, "function": getattr(co, "co_qualname", co.co_name),
                     "file": co.co_filename, "line": f.f_lineno, "repeat": repeat})


def read1():
    os.write(W, b"x")
    return os.read(R, 1)


def alpha():
    mark("sleep"); time.sleep(0.001)


def beta():
    mark("sleep"); time.sleep(0.002)


class Store:
    def commit(self):
        mark("read"); read1()


def outer():
    def inner():
        mark("read"); read1()
    inner()


def gen():
    mark("read"); read1()
    yield 1


async def handler():
    await asyncio.sleep(0)
    mark("read"); read1()  # the classic bug: blocking inside a coroutine


def loop20():
    # one line, 20 calls: CPython specializes the call after a few; still one site
    for i in range(20):
        mark("read", 20) if i == 0 else None; read1()


FAR = "def far():\n" + "\n" * 400 + "    mark('read'); read1()\n"


def main():
    alpha()
    beta()
    Store().commit()
    outer()
    list(gen())
    asyncio.run(handler())
    loop20()
    ns = {"mark": mark, "read1": read1}
    exec(compile(FAR, "/generated/far.py", "exec"), ns)
    ns["far"]()
    with open(sys.argv[1], "w") as f:
        json.dump(expected, f)


main()
