"""Window totals for the spike and budget rules: how windows split between rollups and runs, and that
the rollups' whole hours plus the runs' edges add up to exactly what the runs say, whatever the split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agentops.alerts.evaluation import sums
from agentops.alerts.evaluation.sums import Totals, plan, window_totals
from tests.agentops.alerts.spend import add_run, refresh
from tests.factories import make_project
from traces.models import RollupWatermark, Run, RunHour

T = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def test_a_window_splits_into_settled_whole_hours_and_its_edges():
    windows = [(T - 3 * H + 20 * M, T + 30 * M)]
    got = plan(windows, settled=T + 5 * H)
    assert got.rollup_pieces == [(0, T - 2 * H, T)]
    assert got.run_pieces == [(0, T - 3 * H + 20 * M, T - 2 * H), (0, T, T + 30 * M)]


def test_hours_after_the_rollups_settled_come_from_the_runs():
    got = plan([(T - 5 * H, T + 30 * M)], settled=T - 2 * H)
    assert got.rollup_pieces == [(0, T - 5 * H, T - 2 * H)]
    assert got.run_pieces == [(0, T - 2 * H, T + 30 * M)]
    # Settled before the window's first whole hour, or never refreshed: the runs alone.
    assert plan([(T - 5 * H, T)], settled=T - 9 * H).run_pieces == [(0, T - 5 * H, T)]
    assert plan([(T - 5 * H, T)], settled=None).rollup_pieces == []


def test_a_window_within_one_hour_and_an_empty_window():
    got = plan([(T + 10 * M, T + 50 * M), (T, T)], settled=T + 5 * H)
    assert got.rollup_pieces == []
    assert got.run_pieces == [(0, T + 10 * M, T + 50 * M)]


def _exact(project, start, end, **where):
    runs = Run.objects.filter(project=project, start_time__gte=start, start_time__lt=end, **where)
    return Totals(
        runs.count(),
        runs.filter(error_count__gt=0).count(),
        sum((r.cost_usd for r in runs), Decimal(0)),
        sum(r.input_tokens + r.output_tokens for r in runs),
    )


@pytest.mark.django_db
def test_rollups_and_runs_add_up_to_the_runs_own_totals():
    project, other = make_project(), make_project()
    offsets = [-190, -121, -119, -61, -60, -59, -1, 0, 1, 29, 59, 61]  # minutes from T
    for i, minutes in enumerate(offsets):
        add_run(project, T + minutes * M, cost=f"{i + 1}.25", error=i % 4 == 0, user=f"user-{i % 2}")
    add_run(other, T - 30 * M, cost="1000")
    refresh()
    assert RunHour.objects.filter(project=project).exists()
    windows = [(T - 3 * H - 10 * M, T + 30 * M), (T - 2 * H, T), (T - 61 * M, T - 59 * M), (T - 9 * H, T - 8 * H)]
    expected = [_exact(project, s, e) for s, e in windows]
    assert window_totals(project.pk, {}, windows) == expected
    assert window_totals(project.pk, {"agent": "support-bot", "environment": "prod"}, windows) == expected
    # An end user's spend comes from the runs alone (the rollups keep only the top spenders of an hour).
    assert window_totals(project.pk, {"user": "user-1"}, windows) == [
        _exact(project, s, e, user_id="user-1") for s, e in windows
    ]
    # Never refreshed: the same answer from the runs alone.
    RollupWatermark.objects.all().delete()
    assert window_totals(project.pk, {}, windows) == expected


@pytest.mark.django_db
def test_whole_hours_are_read_from_the_rollups(monkeypatch):
    """The rollups really serve the settled hours: a rollup row changed by hand shows in the total."""
    project = make_project()
    add_run(project, T - 90 * M, cost="2")
    refresh()
    RunHour.objects.filter(project=project).update(cost_usd=Decimal(7))
    (totals,) = window_totals(project.pk, {}, [(T - 2 * H, T)])
    assert totals.cost_usd == 7
    monkeypatch.setattr(sums, "settled_until", lambda: None)
    (totals,) = window_totals(project.pk, {}, [(T - 2 * H, T)])
    assert totals.cost_usd == 2


@pytest.mark.django_db
def test_scopes_by_model_and_tool_read_the_runs():
    project = make_project()
    add_run(project, T - 30 * M, cost="3")
    windows = [(T - H, T)]
    assert window_totals(project.pk, {"model": "gpt-4o"}, windows)[0].cost_usd == 3
    assert window_totals(project.pk, {"tool": "lookup_order"}, windows)[0].runs == 1
    assert window_totals(project.pk, {"model": "gpt-5"}, windows)[0] == Totals()


@pytest.mark.django_db
def test_a_run_stored_since_the_last_refresh_counts_at_once():
    project = make_project()
    now = timezone.now()
    add_run(project, now - 3 * H, cost="1")
    refresh()
    add_run(project, now - M, cost="2")  # the rollups have not seen it: its hour is read from the runs
    (totals,) = window_totals(project.pk, {}, [(now - 4 * H, now)])
    assert (totals.runs, totals.cost_usd) == (2, 3)
