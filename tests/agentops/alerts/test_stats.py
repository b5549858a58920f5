"""The comparison engine on known data: published examples, scipy itself, and the cases that fool Kayenta."""

from __future__ import annotations

import random

import pytest
from scipy.stats import fisher_exact, mannwhitneyu

from agentops.alerts.stats import (
    Config,
    Direction,
    Kind,
    MetricResult,
    MetricSpec,
    Outcome,
    Proportion,
    Statistic,
    Verdict,
    compare_proportion,
    compare_values,
    judge,
)

SMALL = Config(min_metric_n=1, min_sample=1)
LATENCY = MetricSpec("duration_ms", Kind.CONTINUOUS, unit="ms")
ERRORS = MetricSpec("error_rate", Kind.PROPORTION, limit=0.01, critical=True)


def lognormal(n: int, median: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [median * rng.lognormvariate(0, 0.3) for _ in range(n)]


# Published examples -----------------------------------------------------------------------------------


def test_fisher_lady_tasting_tea():
    # Fisher (1935): 3 of 4 cups right each way; one-sided p = 17/70.
    result = compare_proportion(ERRORS, Proportion(1, 4), Proportion(3, 4), SMALL)
    assert result.p_value == pytest.approx(17 / 70)
    assert result.effect == pytest.approx(0.5)
    assert result.verdict is Outcome.PASS  # 0.24 is no evidence


def test_fisher_two_sided_matches_the_scipy_documentation():
    # scipy.stats.fisher_exact docs: [[6, 2], [1, 4]] -> p = 0.10256...
    spec = MetricSpec("rate", Kind.PROPORTION, direction=Direction.EITHER, limit=0.0)
    result = compare_proportion(spec, Proportion(1, 5), Proportion(6, 8), SMALL)
    assert result.p_value == pytest.approx(0.10256410256410257)


def test_mann_whitney_published_example():
    # Conover / scipy docs: males [19, 22, 16, 29, 24] against females [20, 11, 17, 12]: U = 17,
    # exact two-sided p = 0.1111, one-sided 0.0556.
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    either = MetricSpec("x", Kind.CONTINUOUS, direction=Direction.EITHER)
    assert compare_values(either, females, males, SMALL).p_value == pytest.approx(0.1111, abs=1e-4)
    assert compare_values(LATENCY, females, males, SMALL).p_value == pytest.approx(0.0556, abs=1e-4)


@pytest.mark.parametrize("direction", list(Direction))
def test_p_values_are_scipys_with_the_candidate_first(direction: Direction):
    base, cand = lognormal(60, 1000, 1), lognormal(45, 1100, 2)
    spec = MetricSpec("duration_ms", Kind.CONTINUOUS, direction=direction)
    alternative = {"increase": "greater", "decrease": "less", "either": "two-sided"}[direction]
    assert compare_values(spec, base, cand, Config()).p_value == pytest.approx(
        mannwhitneyu(cand, base, alternative=alternative).pvalue
    )
    table = [[7, 33], [2, 48]]
    prop = MetricSpec("rate", Kind.PROPORTION, direction=direction)
    assert compare_proportion(prop, Proportion(2, 50), Proportion(7, 40), Config()).p_value == pytest.approx(
        fisher_exact(table, alternative=alternative).pvalue
    )


# Continuous metrics -----------------------------------------------------------------------------------


def test_a_clear_latency_regression_fails_with_its_numbers():
    result = compare_values(LATENCY, lognormal(50, 1000, 3), lognormal(50, 1500, 4), Config())
    assert result.verdict is Outcome.FAIL
    assert (result.baseline_n, result.candidate_n) == (50, 50)
    assert result.effect == pytest.approx(1.5, rel=0.15)
    assert result.p_value is not None and result.p_value < 0.001
    assert "median" in result.reason and "Mann-Whitney U" in result.reason and "ms" in result.reason


def test_the_same_distribution_passes():
    result = compare_values(LATENCY, lognormal(80, 1000, 5), lognormal(80, 1000, 6), Config())
    assert result.verdict is Outcome.PASS


def test_a_significant_but_small_change_is_within_the_limit():
    base = lognormal(3000, 1000, 7)
    result = compare_values(LATENCY, base, [v * 1.05 for v in lognormal(3000, 1000, 8)], Config())
    assert result.p_value is not None and result.p_value < 0.02
    assert result.verdict is Outcome.PASS
    assert "within the limit x1.20" in result.reason


def test_a_big_change_on_noise_is_not_proven():
    result = compare_values(LATENCY, [100, 5000, 300, 90, 8000] * 2, [150, 7000, 450, 130, 9000] * 2, Config())
    assert result.effect is not None and result.effect > 1.2
    assert result.verdict is Outcome.PASS


def test_a_decrease_metric_fails_on_a_drop_and_passes_a_rise():
    spec = MetricSpec("throughput", Kind.CONTINUOUS, direction=Direction.DECREASE)
    assert compare_values(spec, lognormal(50, 100, 9), lognormal(50, 50, 10), Config()).verdict is Outcome.FAIL
    assert compare_values(spec, lognormal(50, 100, 9), lognormal(50, 200, 10), Config()).verdict is Outcome.PASS


def test_the_mean_can_be_chosen():
    spec = MetricSpec("cost_usd", Kind.CONTINUOUS, statistic=Statistic.MEAN)
    result = compare_values(spec, [1.0] * 40, [1.0] * 30 + [9.0] * 10, Config())
    assert result.candidate_value == pytest.approx(3.0)
    assert result.verdict is Outcome.FAIL
    assert "mean" in result.reason


# Zero-heavy, all-equal, missing -------------------------------------------------------------------------


def test_zero_heavy_regression_fails():
    # Baseline: no tool errors at all; candidate: 40% of runs have one. Both medians are 0.
    tool_errors = MetricSpec("tool_errors", Kind.CONTINUOUS)
    result = compare_values(tool_errors, [0] * 40, [0] * 24 + [1] * 16, Config())
    assert result.verdict is Outcome.FAIL
    assert (result.baseline_value, result.candidate_value) == (0.0, pytest.approx(0.4))
    assert result.effect is None
    assert "mean" in result.reason and "risen from 0" in result.reason


def test_zero_heavy_with_no_change_passes():
    tool_errors = MetricSpec("tool_errors", Kind.CONTINUOUS)
    result = compare_values(tool_errors, [0] * 36 + [1] * 4, [0] * 45 + [1] * 5, Config())
    assert result.verdict is Outcome.PASS


def test_zero_heavy_mostly_still_fails_on_a_shift():
    # Medians both 0 in a sparse metric, candidate's nonzero values far more often: Kayenta's issue 426.
    base = [0] * 90 + [1] * 10
    cand = [0] * 60 + [1] * 20 + [3] * 20
    result = compare_values(MetricSpec("tool_calls", Kind.CONTINUOUS), base, cand, Config())
    assert result.verdict is Outcome.FAIL
    assert result.effect == pytest.approx(8.0)


@pytest.mark.parametrize("value", [0, 5])
def test_all_equal_samples_pass_without_a_test(value: int):
    result = compare_values(MetricSpec("steps", Kind.CONTINUOUS), [value] * 40, [value] * 40, Config())
    assert (result.verdict, result.p_value, result.effect) == (Outcome.PASS, 1.0, 1.0)


def test_constant_arms_that_differ_fail():
    result = compare_values(MetricSpec("steps", Kind.CONTINUOUS), [3] * 40, [6] * 40, Config())
    assert result.verdict is Outcome.FAIL
    assert result.effect == 2.0


def test_missing_values_are_dropped_and_too_few_is_nodata():
    values = [1.0, None, float("nan"), *[2.0] * 8]
    result = compare_values(LATENCY, values, [1.0] * 20, Config())
    assert result.verdict is Outcome.NODATA
    assert (result.baseline_n, result.candidate_n) == (9, 20)
    assert "too few values" in result.reason


# Proportions --------------------------------------------------------------------------------------------


def test_an_error_rate_regression_fails():
    result = compare_proportion(ERRORS, Proportion(1, 100), Proportion(15, 100), Config())
    assert result.verdict is Outcome.FAIL
    assert (result.baseline_value, result.candidate_value, result.effect) == (0.01, 0.15, pytest.approx(0.14))
    assert "Fisher's exact" in result.reason and "+14.0 points" in result.reason


def test_no_errors_on_either_side_passes():
    result = compare_proportion(ERRORS, Proportion(0, 50), Proportion(0, 50), Config())
    assert (result.verdict, result.p_value) == (Outcome.PASS, 1.0)


def test_an_empty_arm_is_nodata_not_a_crash():
    result = compare_proportion(ERRORS, Proportion(0, 0), Proportion(9, 30), Config())
    assert result.verdict is Outcome.NODATA
    assert result.baseline_value is None


def test_a_proportion_must_be_possible():
    with pytest.raises(ValueError):
        Proportion(5, 3)


# The verdict --------------------------------------------------------------------------------------------


def metric(name: str, outcome: Outcome, *, critical: bool = False) -> MetricResult:
    return MetricResult(name, outcome, 100, 100, 1.0, 1.0, 1.0, 0.5, "", critical)


def test_the_score_is_the_share_of_passing_metrics():
    passes = [metric(f"m{i}", Outcome.PASS) for i in range(19)]
    assert judge([*passes, metric("x", Outcome.FAIL)], baseline_n=100, candidate_n=100, config=Config()).verdict is (
        Verdict.PASS
    )
    four = [metric(f"m{i}", Outcome.PASS) for i in range(4)]
    marginal = judge([*four, metric("x", Outcome.FAIL)], baseline_n=100, candidate_n=100, config=Config())
    assert (marginal.verdict, marginal.score) == (Verdict.MARGINAL, 0.8)
    failing = judge([*four[:2], metric("x", Outcome.FAIL)], baseline_n=100, candidate_n=100, config=Config())
    assert failing.verdict is Verdict.FAIL
    assert "failed: x" in failing.reason


def test_nodata_metrics_do_not_count_in_the_score():
    metrics = [metric("a", Outcome.PASS), metric("b", Outcome.PASS), metric("c", Outcome.NODATA)]
    result = judge(metrics, baseline_n=100, candidate_n=100, config=Config())
    assert (result.verdict, result.score) == (Verdict.PASS, 1.0)


def test_mostly_nodata_is_inconclusive():
    metrics = [metric("a", Outcome.PASS), metric("b", Outcome.NODATA), metric("c", Outcome.NODATA)]
    assert judge(metrics, baseline_n=100, candidate_n=100, config=Config()).verdict is Verdict.INCONCLUSIVE


def test_a_failing_critical_metric_fails_whatever_the_score():
    metrics = [*(metric(f"m{i}", Outcome.PASS) for i in range(30)), metric("error_rate", Outcome.FAIL, critical=True)]
    result = judge(metrics, baseline_n=100, candidate_n=100, config=Config())
    assert result.verdict is Verdict.FAIL
    assert result.reason == "critical metric failed: error_rate"


@pytest.mark.parametrize(("baseline_n", "candidate_n"), [(29, 500), (500, 29), (0, 100)])
def test_too_few_runs_is_inconclusive_never_pass(baseline_n: int, candidate_n: int):
    metrics = [metric("a", Outcome.PASS), metric("error_rate", Outcome.FAIL, critical=True)]
    result = judge(metrics, baseline_n=baseline_n, candidate_n=candidate_n, config=Config())
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "too few runs" in result.reason
    assert judge(metrics[:1], baseline_n=baseline_n, candidate_n=candidate_n, config=Config()).verdict is (
        Verdict.INCONCLUSIVE
    )


def test_the_minimum_sample_is_configurable():
    metrics = [metric("a", Outcome.PASS)]
    assert judge(metrics, baseline_n=10, candidate_n=10, config=Config(min_sample=10)).verdict is Verdict.PASS


@pytest.mark.parametrize(
    "kwargs", [{"alpha": 0}, {"alpha": 1.5}, {"pass_score": 0.5, "marginal_score": 0.7}, {"min_sample": 0}]
)
def test_a_bad_config_is_refused(kwargs: dict[str, float]):
    with pytest.raises(ValueError):
        Config(**kwargs)  # type: ignore[arg-type]
