"""agentops.agents.charts: the comparison page's box plots, as data (no browser, no database)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agentops.agents import charts
from agentops.alerts.comparison import Sample, ToolSample, compare
from agentops.alerts.stats import Config

HOSTILE = ["<img src=x onerror=alert(1)>", '"};alert(1)//']


def _sample(runs: int, *, steps: int, tool: str = "lookup") -> Sample:
    return Sample(
        error=[False] * runs,
        unfinished=[False] * runs,
        duration_ms=[100.0 + i for i in range(runs)],
        cost_usd=[0.01] * runs,
        tokens=[1000 + i for i in range(runs)],
        steps=[steps + i % 3 for i in range(runs)],
        llm_calls=[1 + i % 3 for i in range(runs)],
        tool_calls=[1] * runs,
        tool_errors=[0] * runs,
        unpriced_steps=[0] * runs,
        tools={tool: ToolSample([1] * runs, runs, 0)},
    )


@pytest.mark.parametrize(
    "values", [[3.0], [1, 2], [5, 1, 4, 2, 3], [0, 0, 0, 0, 1, 0, 0, 250, 2, 3, 4], list(range(101))]
)
def test_box_stats_match_numpy_linear_quartiles(values):
    stats = charts.box_stats(values)

    assert stats is not None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    assert (stats.q1, stats.median, stats.q3) == pytest.approx((q1, median, q3))
    assert stats.mean == pytest.approx(np.mean(values))
    assert stats.n == len(values)


def test_whiskers_stop_at_the_furthest_value_within_one_and_a_half_iqr():
    stats = charts.box_stats([1, 2, 3, 4, 5, 6, 7, 8, 100])

    assert stats is not None
    assert (stats.q1, stats.q3) == (3, 7)
    assert (stats.lowerfence, stats.upperfence) == (1, 8)  # 100 is past 7 + 1.5 * 4


def test_no_values_no_box():
    assert charts.box_stats([]) is None
    assert charts.box_stats([None, float("nan")]) is None


def test_metric_values_reads_the_engines_continuous_metrics_only():
    sample = _sample(4, steps=3, tool="search")

    assert charts.metric_values(sample, "steps") == [3, 4, 5, 3]
    assert charts.metric_values(sample, "tool.search.calls") == [1, 1, 1, 1]
    # A tool the arm never called counts as 0 calls in each run, as the engine does.
    assert charts.metric_values(sample, "tool.other.calls") == [0, 0, 0, 0]
    assert charts.metric_values(sample, "error_rate") is None
    assert charts.metric_values(sample, "tool.search.error_rate") is None


def test_a_figure_per_continuous_metric_with_both_arms_side_by_side():
    baseline, candidate = _sample(40, steps=3), _sample(40, steps=9)
    judgement = compare(baseline, candidate, Config())

    figures = dict(
        charts.comparison_boxes(
            judgement, baseline="v1", baseline_sample=baseline, candidate="v2", candidate_sample=candidate
        )
    )

    assert set(figures) == {
        "duration_ms", "cost_usd", "tokens", "steps", "llm_calls", "tool_calls", "tool_errors", "unpriced_steps",
        "tool.lookup.calls",
    }  # fmt: skip
    steps = figures["steps"]
    assert [t["name"] for t in steps["data"]] == ["v1 (baseline)", "v2 (candidate)"]
    assert [t["median"] for t in steps["data"]] == [[4.0], [10.0]]
    assert all(t["type"] == "box" and t["boxpoints"] is False for t in steps["data"])
    assert figures["duration_ms"]["layout"]["title"]["text"] == "duration_ms (ms)"
    json.dumps(figures)  # plain JSON for the page


def test_an_arm_without_values_has_no_box():
    figure = charts.metric_boxes("duration_ms", baseline="v1", baseline_values=[], candidate="v2", candidate_values=[5])

    assert [t["name"] for t in figure["data"]] == ["v2 (candidate)"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_bundle_and_tool_names_are_plotly_text(hostile):
    baseline, candidate = _sample(20, steps=3, tool=hostile), _sample(20, steps=3, tool=hostile)
    judgement = compare(baseline, candidate, Config(min_sample=10))

    figures = charts.comparison_boxes(
        judgement, baseline=hostile, baseline_sample=baseline, candidate="v2 " + hostile, candidate_sample=candidate
    )

    text = json.dumps([figure for _, figure in figures])
    assert "<" not in text and ">" not in text
    by_name = dict(figures)
    tool_figure = by_name[f"tool.{hostile}.calls"]
    escaped = hostile.replace("<", "&lt;").replace(">", "&gt;")
    assert tool_figure["layout"]["title"]["text"] == f"tool.{escaped}.calls"
    assert [t["name"] for t in tool_figure["data"]] == [f"{escaped} (baseline)", f"v2 {escaped} (candidate)"]
    assert [t["x"] for t in tool_figure["data"]] == [[f"{escaped} (baseline)"], [f"v2 {escaped} (candidate)"]]
