"""The comparison engine: a candidate against a baseline, metric by metric, then one verdict.

Pure (no Django): drift alerts, the canary API, the bundle comparison page and the eval gate feed it
numbers and read the result.

Per metric, after dropping missing values (None, NaN):
- a proportion (error rate, unfinished rate, a tool's error rate) by Fisher's exact test on the 2x2
  table of events; the effect is the difference of the rates, in points (0.05 = 5 points);
- a continuous or count metric (latency, cost, tokens, steps, tool calls) by the Mann-Whitney U test;
  the effect is the ratio of the candidate's statistic (median by default, or mean) to the baseline's.
A metric FAILS only when the test is significant (p < alpha, one-sided in the metric's bad direction,
two-sided for "either") AND the effect passes its limit in that direction: a tiny but significant change
on a big sample is no regression, and a big change on noise is not proven. NODATA when either arm has
fewer than `min_metric_n` values.

Zero-heavy samples (Kayenta's known blind spot): when both medians are 0 the median ratio says nothing,
so the effect falls back to the ratio of means; a baseline statistic of 0 against a positive candidate
is an unbounded increase (effect None, "from 0"). All-equal samples: p = 1, a pass, no test run.

The verdict (Kayenta-like): score = passing / (passing + failing) metrics. INCONCLUSIVE (never pass)
when either arm has fewer than `min_sample` runs, or when more than half the metrics have no data;
FAIL when a critical metric fails (error rate by default); else PASS at score >= pass_score, MARGINAL
at score >= marginal_score, FAIL below.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from scipy.stats import fisher_exact, mannwhitneyu


class Kind(StrEnum):
    PROPORTION = "proportion"
    CONTINUOUS = "continuous"


class Direction(StrEnum):
    """Which change is a regression."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class Statistic(StrEnum):
    MEDIAN = "median"
    MEAN = "mean"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NODATA = "nodata"


class Verdict(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one metric is judged. `limit` is the allowed effect: for a proportion a difference of rates
    (0.01 = one point), for a continuous metric a ratio of the statistic (1.2 = 20% more, or, for a
    decrease, 20% less: 1/1.2 of the baseline)."""

    name: str
    kind: Kind
    direction: Direction = Direction.INCREASE
    limit: float = 1.2
    statistic: Statistic = Statistic.MEDIAN
    critical: bool = False
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    alpha: float = 0.02  # Kayenta's 98% confidence
    min_sample: int = 30  # runs per arm below which the verdict is inconclusive
    min_metric_n: int = 10  # values per arm below which a metric has no data
    pass_score: float = 0.95
    marginal_score: float = 0.75

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be between 0 and 1")
        if not 0 <= self.marginal_score <= self.pass_score <= 1:
            raise ValueError("scores must satisfy 0 <= marginal <= pass <= 1")
        if self.min_sample < 1 or self.min_metric_n < 1:
            raise ValueError("minimum samples must be at least 1")


@dataclass(frozen=True, slots=True)
class Proportion:
    """`events` out of `trials` (errors out of runs, failed calls out of calls)."""

    events: int
    trials: int

    def __post_init__(self) -> None:
        if not 0 <= self.events <= self.trials:
            raise ValueError("events must be between 0 and trials")

    @property
    def rate(self) -> float | None:
        return self.events / self.trials if self.trials else None


@dataclass(frozen=True, slots=True)
class MetricResult:
    name: str
    verdict: Outcome
    baseline_n: int
    candidate_n: int
    baseline_value: float | None
    candidate_value: float | None
    effect: float | None  # None: no data, or unbounded (a rise from 0)
    p_value: float | None
    reason: str
    critical: bool = False


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    score: float | None
    baseline_n: int
    candidate_n: int
    metrics: list[MetricResult] = field(default_factory=list)
    reason: str = ""


def _alternative(direction: Direction) -> str:
    """The one-sided alternative for "candidate is worse" (candidate first in every test here)."""
    return {Direction.INCREASE: "greater", Direction.DECREASE: "less", Direction.EITHER: "two-sided"}[direction]


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{text} {unit}".rstrip()


def _p(p: float) -> str:
    return f"p={p:.2g}" if p >= 0.0001 else "p<0.0001"


def compare_proportion(spec: MetricSpec, baseline: Proportion, candidate: Proportion, config: Config) -> MetricResult:
    """Fisher's exact test on [[candidate events, non-events], [baseline events, non-events]]."""
    base_rate, cand_rate = baseline.rate, candidate.rate

    def result(verdict: Outcome, effect: float | None, p: float | None, reason: str) -> MetricResult:
        return MetricResult(
            spec.name, verdict, baseline.trials, candidate.trials, base_rate, cand_rate, effect, p, reason,
            spec.critical,
        )  # fmt: skip

    if base_rate is None or cand_rate is None or min(baseline.trials, candidate.trials) < config.min_metric_n:
        return result(Outcome.NODATA, None, None, _too_few(baseline.trials, candidate.trials, config))
    effect = cand_rate - base_rate
    table = [
        [candidate.events, candidate.trials - candidate.events],
        [baseline.events, baseline.trials - baseline.events],
    ]
    p = float(fisher_exact(table, alternative=_alternative(spec.direction)).pvalue)
    rates = f"{cand_rate:.1%} ({candidate.events}/{candidate.trials}) against {base_rate:.1%} ({baseline.events}/{baseline.trials})"
    worse = _worse_difference(spec.direction, effect, spec.limit)
    test = f"Fisher's exact {_p(p)}"
    if p < config.alpha and worse:
        return result(
            Outcome.FAIL,
            effect,
            p,
            f"{rates}: {effect * 100:+.1f} points, beyond the {spec.limit * 100:.1f} allowed; {test} < {config.alpha}",
        )
    why = (
        f"{test} >= {config.alpha}"
        if p >= config.alpha
        else f"{effect * 100:+.1f} points is within the {spec.limit * 100:.1f} allowed"
    )
    return result(Outcome.PASS, effect, p, f"{rates}: {why}")


def _worse_difference(direction: Direction, effect: float, limit: float) -> bool:
    if direction is Direction.INCREASE:
        return effect > limit
    if direction is Direction.DECREASE:
        return effect < -limit
    return abs(effect) > limit


def _too_few(baseline_n: int, candidate_n: int, config: Config) -> str:
    return f"too few values to compare ({baseline_n} baseline, {candidate_n} candidate; at least {config.min_metric_n} each)"


def _clean(values: Iterable[float | int | None]) -> list[float]:
    """Kayenta's nanStrategy "remove": missing and NaN values are not data."""
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def _stat(values: Sequence[float], statistic: Statistic) -> float:
    return statistics.median(values) if statistic is Statistic.MEDIAN else statistics.fmean(values)


def _ratio(base: float, cand: float) -> float | None:
    """cand / base; None for a rise from 0 (unbounded); 1 when both are 0."""
    if base == 0:
        return 1.0 if cand == 0 else None
    return cand / base


def _worse_ratio(direction: Direction, ratio: float | None, limit: float) -> bool:
    up = ratio is None or ratio > limit  # None: risen from 0
    down = ratio is not None and ratio < 1 / limit
    if direction is Direction.INCREASE:
        return up
    if direction is Direction.DECREASE:
        return down
    return up or down


def compare_values(
    spec: MetricSpec,
    baseline: Iterable[float | int | None],
    candidate: Iterable[float | int | None],
    config: Config,
) -> MetricResult:
    """Mann-Whitney U (candidate against baseline, one-sided in the bad direction) and the effect limit."""
    base, cand = _clean(baseline), _clean(candidate)

    def result(
        verdict: Outcome, values: tuple[float | None, float | None], effect: float | None, p: float | None, reason: str
    ) -> MetricResult:
        return MetricResult(spec.name, verdict, len(base), len(cand), *values, effect, p, reason, spec.critical)

    if min(len(base), len(cand)) < config.min_metric_n:
        return result(Outcome.NODATA, (None, None), None, None, _too_few(len(base), len(cand), config))
    statistic = spec.statistic
    base_stat, cand_stat = _stat(base, statistic), _stat(cand, statistic)
    if statistic is Statistic.MEDIAN and base_stat == 0 and cand_stat == 0:
        # Zero-heavy: medians of 0 hide any change in how often the value is not 0.
        statistic = Statistic.MEAN
        base_stat, cand_stat = statistics.fmean(base), statistics.fmean(cand)
    values = (base_stat, cand_stat)
    ratio = _ratio(base_stat, cand_stat)
    arms = f"{statistic} {_fmt(cand_stat, spec.unit)} against {_fmt(base_stat, spec.unit)}"
    effect_text = f"x{ratio:.2f}" if ratio is not None else "risen from 0"
    if min(base) == max(base) == min(cand) == max(cand):
        return result(Outcome.PASS, values, 1.0, 1.0, f"{arms}: every value is the same")
    p = float(mannwhitneyu(cand, base, alternative=_alternative(spec.direction)).pvalue)
    if math.isnan(p):  # defensive: scipy gives NaN when it cannot rank (not seen with the guard above)
        p = 1.0
    test = f"Mann-Whitney U {_p(p)}"
    limit = f"limit x{spec.limit:.2f}" if spec.direction is not Direction.DECREASE else f"limit x{1 / spec.limit:.2f}"
    if p < config.alpha and _worse_ratio(spec.direction, ratio, spec.limit):
        return result(Outcome.FAIL, values, ratio, p, f"{arms} ({effect_text}, {limit}); {test} < {config.alpha}")
    why = f"{test} >= {config.alpha}" if p >= config.alpha else f"{effect_text} is within the {limit}"
    return result(Outcome.PASS, values, ratio, p, f"{arms} ({effect_text}): {why}")


def judge(metrics: Sequence[MetricResult], *, baseline_n: int, candidate_n: int, config: Config) -> Judgement:
    """One verdict from the metrics of a comparison of `baseline_n` against `candidate_n` runs."""
    passed = sum(m.verdict is Outcome.PASS for m in metrics)
    failed = [m for m in metrics if m.verdict is Outcome.FAIL]
    nodata = sum(m.verdict is Outcome.NODATA for m in metrics)
    classified = passed + len(failed)
    score = passed / classified if classified else None

    def verdict(value: Verdict, reason: str) -> Judgement:
        return Judgement(value, score, baseline_n, candidate_n, list(metrics), reason)

    if min(baseline_n, candidate_n) < config.min_sample:
        return verdict(
            Verdict.INCONCLUSIVE,
            f"too few runs: {baseline_n} baseline, {candidate_n} candidate; at least {config.min_sample} each",
        )
    critical = [m.name for m in failed if m.critical]
    if critical:
        return verdict(Verdict.FAIL, f"critical metric failed: {', '.join(critical)}")
    if score is None or nodata * 2 > len(metrics):
        return verdict(Verdict.INCONCLUSIVE, f"{nodata} of {len(metrics)} metrics have no data")
    failing = f"; failed: {', '.join(m.name for m in failed)}" if failed else ""
    summary = f"{passed} of {classified} metrics pass (score {score:.2f}){failing}"
    if score >= config.pass_score:
        return verdict(Verdict.PASS, summary)
    if score >= config.marginal_score:
        return verdict(Verdict.MARGINAL, summary)
    return verdict(Verdict.FAIL, summary)
