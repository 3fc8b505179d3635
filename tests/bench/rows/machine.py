"""machine.py - this machine's own costs, first in the table (machine.c): every other
figure is made of system calls and thread hand-offs, and what they cost differs by an
order of magnitude between bare metal and a nested VM."""
from benchlib import section


@section("machine", title="This machine (no blockguard)", owner="perfa", order=0, budget_s=10)
def machine(b):
    prog = b.prog("machine")
    sc = b.samples(lambda: float(b.run([prog, "syscall", "20000"])), runs=5, unit="ns")
    b.add("one system call (getppid via syscall(), fastest of 31 blocks)", sc,
          target="reference", verdict="reference", key="machine.syscall")
    ho = b.samples(lambda: float(b.run([prog, "handoff", "2000"])), runs=5, unit="µs")
    b.add("thread hand-off round trip (mutex + condvar, two threads, median of 2,000)", ho,
          target="reference", verdict="reference", key="machine.handoff")
    ck = b.samples(lambda: float(b.run([prog, "clock", "20000"])), runs=3, unit="ns")
    b.add("clock_gettime(CLOCK_MONOTONIC) (vDSO)", ck, target="reference", verdict="reference",
          key="machine.clock")
