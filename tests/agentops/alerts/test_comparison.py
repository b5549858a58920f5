"""compare(): the per-run metrics of two samples, per tool for the tools the baseline used."""

from __future__ import annotations

from agentops.alerts.comparison import MAX_TOOLS, Sample, ToolSample, compare
from agentops.alerts.stats import Outcome, Verdict


def sample(n: int, *, errors: int = 0, tools: dict[str, ToolSample] | None = None, llm: int = 2) -> Sample:
    return Sample(
        error=[i < errors for i in range(n)],
        unfinished=[False] * n,
        duration_ms=[1000.0 + i for i in range(n)],
        cost_usd=[0.01] * n,
        tokens=[2000] * n,
        steps=[4] * n,
        llm_calls=[llm] * n,
        tool_calls=[1] * n,
        tool_errors=[0] * n,
        unpriced_steps=[0] * n,
        tools=tools or {},
    )


def names(judgement) -> list[str]:
    return [m.name for m in judgement.metrics]


def test_every_run_metric_is_judged_in_order():
    result = compare(sample(40), sample(40))
    assert names(result) == [
        "error_rate", "unfinished_rate", "duration_ms", "cost_usd", "tokens", "steps", "llm_calls", "tool_calls",
        "tool_errors", "unpriced_steps",
    ]  # fmt: skip
    assert (result.verdict, result.score) == (Verdict.PASS, 1.0)


def test_per_tool_metrics_cover_the_baselines_busiest_tools_only():
    base_tools = {f"tool{i}": ToolSample([i] * 40, 40 * i, 0) for i in range(1, MAX_TOOLS + 3)}
    cand_tools = {"brand_new": ToolSample([1] * 40, 40, 0), "tool12": ToolSample([12] * 40, 480, 0)}

    result = compare(sample(40, tools=base_tools), sample(40, tools=cand_tools))

    per_tool = [n for n in names(result) if n.startswith("tool.")]
    assert len(per_tool) == 2 * MAX_TOOLS
    assert "tool.tool12.calls" in per_tool and "tool.tool1.calls" not in per_tool
    assert not any("brand_new" in n for n in per_tool)
    # A tool the candidate stopped calling: its calls per run fell (no regression in an increase metric).
    dropped = next(m for m in result.metrics if m.name == "tool.tool11.calls")
    assert dropped.verdict is Outcome.PASS and dropped.candidate_value == 0


def test_a_tool_that_starts_failing_fails_its_error_rate():
    base = sample(40, tools={"search": ToolSample([1] * 40, 40, 0)})
    cand = sample(40, tools={"search": ToolSample([1] * 40, 40, 12)})

    failed = next(m for m in compare(base, cand).metrics if m.name == "tool.search.error_rate")

    assert failed.verdict is Outcome.FAIL
    assert (failed.baseline_value, failed.candidate_value) == (0.0, 0.3)


def test_the_critical_error_rate_fails_the_verdict():
    result = compare(sample(60), sample(60, errors=15))
    assert result.verdict is Verdict.FAIL
    assert result.reason == "critical metric failed: error_rate"


def test_more_model_calls_fail_one_metric_and_the_score_shows_it():
    result = compare(sample(40), sample(40, llm=4))
    assert [m.name for m in result.metrics if m.verdict is Outcome.FAIL] == ["llm_calls"]
    assert (result.verdict, result.score) == (Verdict.MARGINAL, 0.9)
