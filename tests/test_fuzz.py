"""A quick run of the fuzz corpus (``benchmarks/fuzz.py``): seeded mutations of the example runbooks,
estates and settings through `validate` and `plan`; every case exits 0 or 2, without a traceback, within
the time limit, in bounded memory. The long run is the benchmark itself (10,000 cases and more)."""

from __future__ import annotations

from benchmarks import fuzz

CASES = 480  # 120 per target


def test_the_quick_fuzz_run_finds_no_crash_no_hang_and_stays_small():
    figures = fuzz.fuzz(CASES, seed=19, targets=fuzz.TARGETS, shared=True)  # the suite runs beside others
    assert figures["cases"] == CASES
    assert figures["causes"] == {}, figures["causes"]
    assert figures["crashes"] == figures["hangs"] == figures["bad_exits"] == figures["slow"] == 0
    assert set(figures["exits"]) <= {"0", "2"} and figures["exits"].get("2", 0) > CASES / 2
    assert figures["exits"].get("0", 0) > 0  # some mutants stay valid: the corpus reaches the plan rules
    assert figures["max_case_cpu_s"] < fuzz.SLOW_S
    assert 0 < figures["peak_rss_mb"] < 200


def test_the_mutator_is_seeded():
    seeds = fuzz.Seeds()
    first = [seeds.case(fuzz.random.Random(7), target) for target in fuzz.TARGETS]
    again = [seeds.case(fuzz.random.Random(7), target) for target in fuzz.TARGETS]
    other = [seeds.case(fuzz.random.Random(8), target) for target in fuzz.TARGETS]
    assert first == again and first != other
