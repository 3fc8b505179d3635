# t_bench_lib.sh - the bench harness' statistics (tests/bench/benchlib.py): spread,
# bimodal detection, verdicts; and every section file imports and registers.
. tests/integration/lib.sh
python3 tests/bench/test_benchlib.py -v 2>&1 | tail -3
python3 tests/bench/test_benchlib.py >/dev/null 2>&1 || fail "benchlib unit tests"
python3 tests/bench/bench.py --build "$BUILD" --list >"$T/list" || fail "bench.py --list"
for s in machine startup percall exit offload redis; do
  grep -q "^$s " "$T/list" || fail "section $s not registered"
done
echo "t_bench_lib: ok"
