"""The dashboard selectors (reading the hourly rollups) against the same numbers computed in Python from
the stored runs and steps."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import make_project, make_run
from tests.otlp import AgentTrace
from traces import rollups
from traces.models import Run, Step
from traces.selectors import dashboards as sel
from traces.selectors.dashboards import Window

pytestmark = pytest.mark.django_db

NS = 1_000_000_000
HOUR = 3600 * NS


def _run(project, *, hours_ago: float, agent="support-bot", bundle="b1", env="prod", user="u1", **kw):
    trace = AgentTrace(start_ns=time.time_ns() - int(hours_ago * HOUR), agent=agent, user=user, **kw)
    resource = {"service.name": agent, "agentops.bundle.id": bundle, "deployment.environment.name": env}
    return make_run(project, trace, resource)


def _window(days: float = 7, **slices) -> Window:
    now = timezone.now()
    return Window(now - timedelta(days=days), now, "hour", **slices)


def _percentile(values: list[float], q: float) -> float:
    """percentile_cont: linear interpolation between the closest ranks."""
    values = sorted(values)
    pos = q * (len(values) - 1)
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


@pytest.fixture
def project():
    project = make_project()
    _run(project, hours_ago=1)
    _run(project, hours_ago=2, tool_error=True, llm_calls=3)
    _run(project, hours_ago=5, agent="billing/v2 ?#%", bundle="b9", env="staging", user="u2")
    _run(project, hours_ago=30, bundle="b2", llm_calls=1)
    _run(project, hours_ago=24 * 20, bundle="b0")  # outside the 7-day window
    _run(make_project(), hours_ago=1)  # another project: never counted
    rollups.refresh()
    return project


def _expected_runs(project, window: Window) -> list[Run]:
    # The window starts at the top of the hour holding `start`: rollups are hourly.
    start = window.start.replace(minute=0, second=0, microsecond=0)
    runs = Run.objects.filter(project=project, start_time__gte=start, start_time__lt=window.end)
    for column in ("agent", "bundle", "environment"):
        if getattr(window, column) is not None:
            runs = runs.filter(**{column: getattr(window, column)})
    return list(runs)


@pytest.mark.parametrize("slices", [{}, {"bundle": "b1"}, {"environment": "staging"}, {"agent": "support-bot"}])
def test_totals_match_the_stored_runs(project, slices):
    window = _window(**slices)
    runs = _expected_runs(project, window)
    assert runs, "the fixture must leave runs in every tested slice"
    totals = sel.run_totals(project, window)
    latencies = [r.duration_ms for r in runs if r.duration_ms is not None]
    assert totals.runs == len(runs)
    assert totals.errors == sum(1 for r in runs if r.error_count)
    assert totals.cost_usd == sum((r.cost_usd for r in runs), Decimal(0))
    assert totals.input_tokens == sum(r.input_tokens for r in runs)
    assert totals.output_tokens == sum(r.output_tokens for r in runs)
    # From the rollups' histogram: within a bucket (~9%) of the exact percentile.
    assert totals.p50_ms == pytest.approx(_percentile(latencies, 0.5), rel=0.1)
    assert totals.p95_ms == pytest.approx(_percentile(latencies, 0.95), rel=0.1)


def test_the_series_adds_up_to_the_totals_bucket_by_bucket(project):
    window = _window()
    series = sel.run_series(project, window)
    runs = _expected_runs(project, window)
    by_hour: dict = {}
    for r in runs:
        hour = r.start_time.replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault(hour, []).append(r)
    assert [p.at for p in series] == sorted(by_hour)
    for point in series:
        bucket = by_hour[point.at]
        assert point.runs == len(bucket)
        assert point.errors == sum(1 for r in bucket if r.error_count)
        assert point.cost_usd == sum((r.cost_usd for r in bucket), Decimal(0))


def test_day_buckets_cover_the_30_day_window(project):
    now = timezone.now()
    series = sel.run_series(project, Window(now - timedelta(days=30), now, "day"))
    assert sum(p.runs for p in series) == 5
    assert all(p.at.hour == 0 and p.at.minute == 0 for p in series)


def test_breakdowns_by_agent_bundle_user_and_environment(project):
    window = _window()
    runs = _expected_runs(project, window)
    shares = sel.run_breakdowns(project, window)
    for column in sel.BREAKDOWNS:
        expected: dict[str, tuple[int, Decimal]] = {}
        for r in runs:
            n, cost = expected.get(getattr(r, column), (0, Decimal(0)))
            expected[getattr(r, column)] = (n + 1, cost + r.cost_usd)
        assert {s.key: (s.runs, s.cost_usd) for s in shares[column]} == expected, column
        costs = [s.cost_usd for s in shares[column]]
        assert costs == sorted(costs, reverse=True)


def test_breakdowns_keep_the_top_n_of_each(project):
    shares = sel.run_breakdowns(project, _window(), limit=1)
    assert all(len(v) == 1 for v in shares.values())
    assert shares["bundle"][0].key == "b1"  # two runs of b1 cost the most


def test_step_level_figures_count_the_steps_of_the_sliced_runs(project):
    window = _window(bundle="b1")
    traces = [r.trace_id for r in _expected_runs(project, window)]
    steps = list(Step.objects.filter(project=project, trace_id__in=traces))
    tools = sel.tool_stats(project, window)
    tool_steps = [s for s in steps if s.kind == "TOOL"]
    assert [(t.tool, t.calls, t.errors) for t in tools] == [
        ("lookup_order", len(tool_steps), sum(1 for s in tool_steps if s.status == "error"))
    ]
    assert tools[0].errors == 1
    (model,) = sel.cost_by_model(project, window)
    llm = [s for s in steps if s.model]
    assert (model.key, model.runs) == ("gpt-4o", len(llm)) and len(llm) == 5
    assert model.cost_usd == sum((s.cost_usd for s in llm if s.cost_usd is not None), Decimal(0))


def test_steps_per_run_and_unpriced_steps(project):
    window = _window()
    runs = _expected_runs(project, window)
    counts: dict[int, int] = {}
    for r in runs:
        counts[r.step_count] = counts.get(r.step_count, 0) + 1
    assert sel.steps_per_run(project, window) == sorted(counts.items())
    assert sel.run_totals(project, window).unpriced_steps == sum(r.unpriced_steps for r in runs)


def test_unpriced_steps_are_counted():
    project = make_project()
    trace = AgentTrace(llm_calls=2)
    trace.spans[1].attrs["gen_ai.request.model"] = "a-model-nobody-prices"
    make_run(project, trace)
    rollups.refresh()
    totals = sel.run_totals(project, _window())
    assert (totals.unpriced_steps, totals.runs_with_unpriced) == (1, 1)


def test_slice_values_list_bundles_and_environments_of_the_window(project):
    values = sel.slice_values(project, _window(bundle="b1", environment="prod"))
    assert values == {"bundle": ["b1", "b2", "b9"], "environment": ["prod", "staging"]}


def test_agent_bundles_newest_first_with_first_and_last_seen(project):
    _run(project, hours_ago=26, bundle="b2")
    rollups.refresh()
    bundles = sel.agent_bundles(project, "support-bot", _window())
    assert [b.bundle for b in bundles] == ["b1", "b2", "b0"]
    b1, b2, b0 = bundles
    assert (b1.runs, b1.errors, b2.runs, b0.runs) == (2, 1, 2, 0)
    assert b0.p50_ms is None and b0.cost_usd == 0  # seen, but not in the window
    runs_b2 = Run.objects.filter(project=project, agent="support-bot", bundle="b2")
    assert b2.first_seen == min(r.start_time for r in runs_b2)
    assert b2.last_seen == max(r.start_time for r in runs_b2)
    assert b2.steps == sum(r.step_count for r in runs_b2)
    assert b2.tool_calls == sum(r.tool_calls for r in runs_b2)
    assert b2.p95_ms == pytest.approx(
        _percentile([r.duration_ms for r in runs_b2 if r.duration_ms is not None], 0.95), rel=0.1
    )


def test_agent_bundles_respect_the_environment_slice(project):
    (bundle,) = sel.agent_bundles(project, "billing/v2 ?#%", _window(environment="prod"))
    assert (bundle.bundle, bundle.runs) == ("b9", 0)
    (bundle,) = sel.agent_bundles(project, "billing/v2 ?#%", _window(environment="staging"))
    assert bundle.runs == 1


def test_bundle_series(project):
    rows = sel.bundle_series(project, _window(agent="support-bot"))
    assert sorted(b for b, _, _ in rows) == ["b1", "b1", "b2"]
    assert sum(n for _, _, n in rows) == 3
