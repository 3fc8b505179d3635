#!/usr/bin/env python3
"""test_benchlib.py - the statistics and verdicts every bench row relies on
(run by tests/integration/t_bench_lib.sh; no benchmark is run)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Bench, Samples, Target  # noqa: E402


class SamplesTest(unittest.TestCase):
    def test_median_and_spread(self):
        s = Samples([3.0, 1.0, 2.0], "ms")
        self.assertEqual(s.median, 2.0)
        self.assertEqual((s.lo, s.hi), (1.0, 3.0))
        self.assertEqual(s.text(), "2.00 ms (1.00–3.00, 3 runs)")

    def test_bimodal_found(self):
        s = Samples([1.6, 1.8, 60.0, 61.0, 59.0], "µs")
        lo, hi = s.bimodal()
        self.assertEqual(sorted(lo), [1.6, 1.8])
        self.assertEqual(sorted(hi), [59.0, 60.0, 61.0])
        self.assertIn("BIMODAL", s.text())

    def test_not_bimodal(self):
        self.assertIsNone(Samples([10, 11, 12, 13, 14]).bimodal())
        self.assertIsNone(Samples([1, 1, 100]).bimodal())  # fewer than 4 runs: cannot say
        self.assertIsNone(Samples([1, 100, 101, 102]).bimodal())  # a lone outlier is not a mode


class TargetTest(unittest.TestCase):
    def test_verdicts(self):
        t = Target(300, "<=", unit="ns")
        self.assertEqual(t.text, "≤ 300 ns")
        self.assertEqual(t.verdict(Samples([200, 250, 280])), "met")
        self.assertEqual(t.verdict(Samples([290, 310, 320])), "MISSED (within spread)")
        self.assertEqual(t.verdict(Samples([310, 320, 330])), "MISSED")
        self.assertEqual(t.verdict(Samples([])), "ERROR: no measurement")
        u = Target(0.97, ">=", unit="×")
        self.assertEqual(u.text, "≥ 0.97×")
        self.assertEqual(u.verdict(Samples([0.95, 0.96, 0.98])), "MISSED (within spread)")
        self.assertEqual(u.verdict(1.0), "met")


class AddTest(unittest.TestCase):
    def test_rows_need_a_verdict(self):
        with tempfile.TemporaryDirectory() as d:
            b = Bench(d)
            r = b.add("x", Samples([1, 2, 3], "ns"), target=b.at_most(2.5, "ns"), key="k")
            self.assertEqual(r["verdict"], "met")
            self.assertEqual(b.values["k"], r["measured"])
            r = b.add("ref", Samples([1, 2, 3]), target="comparison", verdict="reference")
            self.assertEqual(r["verdict"], "reference")
            r = b.add("info", 5.0)  # no target given: says so
            self.assertEqual((r["target"], r["verdict"]), ("—", "reference"))
            r = b.add("ratio decides", Samples([100, 100, 100], "ns"),
                      ratio=Samples([1.3, 1.4, 1.5], "×"), target=b.at_most(1.15, "×"))
            self.assertEqual(r["verdict"], "MISSED")


if __name__ == "__main__":
    unittest.main()
