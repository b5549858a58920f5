"""What is compared between two bundles: the per-run metrics ("execution shape") and how each is judged.

Pure (no Django): `Sample` is one arm's runs as the selector (agentops.alerts.selectors) read them;
`compare` turns a baseline and a candidate sample into the engine's judgement (agentops.alerts.stats).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentops.alerts.stats import (
    Config,
    Judgement,
    Kind,
    MetricResult,
    MetricSpec,
    Proportion,
    compare_proportion,
    compare_values,
    judge,
)

# Per-tool metrics for at most this many tools (the baseline's most called): a bounded answer.
MAX_TOOLS = 10


@dataclass(frozen=True, slots=True)
class ToolSample:
    calls_per_run: list[int]  # one value per run of the arm, 0 for runs that did not call it
    calls: int
    errors: int


@dataclass(frozen=True, slots=True)
class Sample:
    """One arm: its runs (in-flight ones left out), as columns of equal length except duration_ms,
    which holds finished runs only."""

    error: list[bool] = field(default_factory=list)
    unfinished: list[bool] = field(default_factory=list)
    duration_ms: list[float] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    llm_calls: list[int] = field(default_factory=list)
    tool_calls: list[int] = field(default_factory=list)
    tool_errors: list[int] = field(default_factory=list)
    unpriced_steps: list[int] = field(default_factory=list)
    tools: dict[str, ToolSample] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.error)


def _count(flags: Sequence[bool]) -> Proportion:
    return Proportion(sum(flags), len(flags))


# (spec, how to read it from a sample). Error rate is critical: any proven rise fails the verdict.
PROPORTIONS: list[tuple[MetricSpec, Callable[[Sample], Proportion]]] = [
    (MetricSpec("error_rate", Kind.PROPORTION, limit=0.01, critical=True), lambda s: _count(s.error)),
    (MetricSpec("unfinished_rate", Kind.PROPORTION, limit=0.01), lambda s: _count(s.unfinished)),
]
VALUES: list[tuple[MetricSpec, Callable[[Sample], Sequence[float | int]]]] = [
    (MetricSpec("duration_ms", Kind.CONTINUOUS, unit="ms"), lambda s: s.duration_ms),
    (MetricSpec("cost_usd", Kind.CONTINUOUS, unit="USD"), lambda s: s.cost_usd),
    (MetricSpec("tokens", Kind.CONTINUOUS), lambda s: s.tokens),
    (MetricSpec("steps", Kind.CONTINUOUS), lambda s: s.steps),
    (MetricSpec("llm_calls", Kind.CONTINUOUS), lambda s: s.llm_calls),
    (MetricSpec("tool_calls", Kind.CONTINUOUS), lambda s: s.tool_calls),
    (MetricSpec("tool_errors", Kind.CONTINUOUS), lambda s: s.tool_errors),
    (MetricSpec("unpriced_steps", Kind.CONTINUOUS), lambda s: s.unpriced_steps),
]


def _tool_metrics(baseline: Sample, candidate: Sample, config: Config) -> list[MetricResult]:
    """Per tool the baseline used (a tool new in the candidate shows in tool_calls): calls per run, and
    the share of its calls that failed."""
    results = []
    busiest = sorted(baseline.tools.items(), key=lambda item: (-item[1].calls, item[0]))[:MAX_TOOLS]
    for name, base in busiest:
        cand = candidate.tools.get(name) or ToolSample([0] * candidate.runs, 0, 0)
        calls = MetricSpec(f"tool.{name}.calls", Kind.CONTINUOUS)
        errors = MetricSpec(f"tool.{name}.error_rate", Kind.PROPORTION, limit=0.01)
        results.append(compare_values(calls, base.calls_per_run, cand.calls_per_run, config))
        results.append(
            compare_proportion(errors, Proportion(base.errors, base.calls), Proportion(cand.errors, cand.calls), config)
        )
    return results


def compare(baseline: Sample, candidate: Sample, config: Config | None = None) -> Judgement:
    config = config or Config()
    metrics = [compare_proportion(spec, read(baseline), read(candidate), config) for spec, read in PROPORTIONS]
    metrics += [compare_values(spec, read(baseline), read(candidate), config) for spec, read in VALUES]
    metrics += _tool_metrics(baseline, candidate, config)
    return judge(metrics, baseline_n=baseline.runs, candidate_n=candidate.runs, config=config)
