"""Budget rules: spend over a calendar window in a time zone against a limit, on runs of known cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agentops.alerts.evaluation import budget
from agentops.alerts.evaluation.base import BadRule
from agentops.alerts.evaluation.budget import period_bounds
from agentops.alerts.models import AlertRule, RuleKind, Severity
from tests.agentops.alerts.spend import add_run, refresh
from tests.factories import make_project
from traces.models import RunHourBreakdown

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
M = timedelta(minutes=1)


def _at(zone, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


# --- calendar windows (no database) ---


def test_a_day_is_local_midnight_to_local_midnight():
    start, end = period_bounds(_at(UTC, 2026, 11, 10, 12, 0), "day", PARIS)
    assert (start, end) == (_at(UTC, 2026, 11, 9, 23, 0), _at(UTC, 2026, 11, 10, 23, 0))
    # Just after local midnight, it is already the next day in Paris though not in UTC.
    start, _ = period_bounds(_at(UTC, 2026, 11, 9, 23, 30), "day", PARIS)
    assert start == _at(UTC, 2026, 11, 9, 23, 0)


def test_daylight_saving_days_are_23_and_25_hours_long():
    start, end = period_bounds(_at(UTC, 2026, 3, 29, 12, 0), "day", PARIS)  # clocks go forward at 02:00
    assert (start, end) == (_at(UTC, 2026, 3, 28, 23, 0), _at(UTC, 2026, 3, 29, 22, 0))
    start, end = period_bounds(_at(UTC, 2026, 10, 25, 12, 0), "day", PARIS)  # and back at 03:00
    assert (start, end) == (_at(UTC, 2026, 10, 24, 22, 0), _at(UTC, 2026, 10, 25, 23, 0))
    # Havana skips midnight itself (00:00 -> 01:00): the day starts when the clocks jump.
    havana = ZoneInfo("America/Havana")
    start, end = period_bounds(_at(UTC, 2026, 3, 8, 12, 0), "day", havana)
    assert (start, end) == (_at(UTC, 2026, 3, 8, 5, 0), _at(UTC, 2026, 3, 9, 4, 0))
    assert start.astimezone(havana).hour == 1


def test_a_week_starts_on_monday_and_a_month_on_the_first():
    wednesday = _at(UTC, 2026, 11, 11, 12, 0)
    start, end = period_bounds(wednesday, "week", NEW_YORK)
    assert (start, end) == (_at(NEW_YORK, 2026, 11, 9), _at(NEW_YORK, 2026, 11, 16))
    assert start.weekday() == 0
    start, end = period_bounds(_at(UTC, 2026, 12, 31, 12, 0), "month", NEW_YORK)
    assert (start, end) == (_at(NEW_YORK, 2026, 12, 1), _at(NEW_YORK, 2027, 1, 1))
    # 2026-11-01 is a Sunday and a daylight-saving change in New York: November is 30 days and one hour.
    start, end = period_bounds(_at(UTC, 2026, 11, 20), "month", NEW_YORK)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=30, hours=1)


# --- evaluation ---


def _rule(project, **params) -> AlertRule:
    scope = params.pop("scope", {})
    values = {"limit_usd": 10, "period": "day", "timezone": "UTC"} | params
    return AlertRule.objects.create(
        project=project, name="Budget", kind=RuleKind.BUDGET, metric="cost_usd", scope=scope, params=values
    )


def _judge(rule, now):
    (finding,) = budget.evaluate(rule, now=now)
    return finding


@pytest.fixture
def project(db):
    return make_project()


NOW = _at(UTC, 2026, 11, 10, 15, 30)


@pytest.mark.parametrize(
    ("spend", "severity", "crossed"),
    [
        ("4.99", None, None),
        ("7.99", Severity.WARNING, 50),
        ("8", Severity.WARNING, 80),
        ("9.5", Severity.WARNING, 90),
        ("10", Severity.CRITICAL, 100),
    ],
)
def test_warning_at_the_highest_soft_percent_and_critical_at_the_limit(project, spend, severity, crossed):
    add_run(project, _at(UTC, 2026, 11, 10, 0, 0), cost=spend)  # midnight: today
    add_run(project, _at(UTC, 2026, 11, 9, 23, 59), cost="100")  # yesterday
    add_run(project, NOW, cost="100")  # not yet started at `now`
    refresh()
    finding = _judge(_rule(project, soft_percents=[50, 80, 90]), NOW)
    assert finding.severity == severity
    assert finding.details["percent_crossed"] == crossed
    assert finding.value == pytest.approx(float(spend))
    assert finding.baseline_value == 10
    assert finding.details["percent"] == pytest.approx(float(spend) * 10)
    assert finding.details["window_start"] == _at(UTC, 2026, 11, 10).isoformat()
    assert finding.details["window_end"] == _at(UTC, 2026, 11, 11).isoformat()
    assert finding.details["limit_usd"] == 10
    assert finding.runs_filter == {"from": _at(UTC, 2026, 11, 10).isoformat()}


def test_the_default_soft_percent_is_80(project):
    add_run(project, NOW - 60 * M, cost="8.5")
    refresh()
    finding = _judge(_rule(project), NOW)
    assert (finding.severity, finding.details["soft_percents"]) == (Severity.WARNING, [80])
    assert "$8.50 is 85% of the daily budget of $10.00" in finding.summary


def test_no_runs_is_a_spend_of_zero_and_is_judged(project):
    finding = _judge(_rule(project), NOW)
    assert (finding.severity, finding.value, finding.details["runs"]) == (None, 0, 0)


def test_a_day_in_a_time_zone_across_a_spring_daylight_saving_change(project):
    now = _at(UTC, 2026, 3, 29, 21, 30)  # 23:30 in Paris, on a 23-hour day
    add_run(project, _at(UTC, 2026, 3, 28, 22, 59), cost="100")  # 23:59 on the 28th in Paris
    add_run(project, _at(UTC, 2026, 3, 28, 23, 0), cost="3")  # midnight in Paris
    add_run(project, _at(UTC, 2026, 3, 29, 1, 30), cost="3")  # 03:30 CEST, just after the change
    add_run(project, _at(UTC, 2026, 3, 29, 21, 0), cost="3")
    refresh()
    finding = _judge(_rule(project, timezone="Europe/Paris"), now)
    assert (finding.value, finding.severity) == (9, Severity.WARNING)
    assert finding.details["window_start"] == "2026-03-29T00:00:00+01:00"
    assert finding.details["window_end"] == "2026-03-30T00:00:00+02:00"
    assert finding.details["timezone"] == "Europe/Paris"


def test_a_day_in_a_time_zone_across_an_autumn_daylight_saving_change(project):
    add_run(project, _at(UTC, 2026, 10, 24, 21, 59), cost="100")  # 23:59 CEST on the 24th
    add_run(project, _at(UTC, 2026, 10, 24, 22, 0), cost="4")  # midnight CEST
    add_run(project, _at(UTC, 2026, 10, 25, 22, 30), cost="4")  # 23:30 CET: the 25th had 25 hours
    add_run(project, _at(UTC, 2026, 10, 25, 23, 0), cost="100")  # the 26th
    refresh()
    finding = _judge(_rule(project, timezone="Europe/Paris"), _at(UTC, 2026, 10, 25, 22, 45))
    assert (finding.value, finding.severity) == (8, Severity.WARNING)
    assert finding.details["window_end"] == "2026-10-26T00:00:00+01:00"


def test_a_week_starts_on_monday_in_the_rules_time_zone(project):
    now = _at(NEW_YORK, 2026, 11, 11, 9, 0)  # a Wednesday
    add_run(project, _at(NEW_YORK, 2026, 11, 8, 23, 59), cost="100")  # Sunday night in New York
    add_run(project, _at(NEW_YORK, 2026, 11, 9, 0, 0), cost="20")  # Monday, 05:00 UTC
    add_run(project, _at(NEW_YORK, 2026, 11, 10, 12, 0), cost="30")
    refresh()
    finding = _judge(_rule(project, period="week", timezone="America/New_York", limit_usd=50), now)
    assert (finding.value, finding.severity) == (50, Severity.CRITICAL)
    assert "weekly budget" in finding.summary


def test_a_month_of_runs_from_the_rollups_and_the_runs(project):
    now = _at(UTC, 2026, 11, 30, 18, 20)
    for day in (1, 7, 15, 30):
        add_run(project, _at(UTC, 2026, 11, day, 0, 5), cost="10")
    add_run(project, _at(UTC, 2026, 11, 30, 18, 10), cost="10")  # in the hour `now` is in
    add_run(project, _at(UTC, 2026, 10, 31, 23, 59), cost="1000")
    refresh()
    finding = _judge(_rule(project, period="month", limit_usd=100), now)
    assert (finding.value, finding.details["percent"], finding.severity) == (50, 50, None)
    assert finding.details["runs"] == 5


def test_a_customers_spend_counts_every_run_of_theirs_even_when_not_a_top_spender(project):
    hour = _at(UTC, 2026, 11, 10, 9, 0)
    for i in range(11):  # eleven bigger spenders in the same hour: the rollups keep the top ten
        add_run(project, hour + i * M, cost=str(20 + i), user=f"big-{i}")
    add_run(project, hour + 30 * M, cost="4", user="small")
    add_run(project, hour + 40 * M, cost="4.5", user="small", agent="billing-agent")
    add_run(project, NOW - M, cost="0.5", user="small")
    refresh()
    kept = RunHourBreakdown.objects.filter(project=project, dim="user", hour=hour, agent="support-bot")
    assert kept.count() == 10 and not kept.filter(key="small").exists()  # the breakdown would say 5, not 9
    finding = _judge(_rule(project, scope={"user": "small"}), NOW)
    assert (finding.value, finding.severity) == (9, Severity.WARNING)
    assert finding.scope == {"user": "small"}
    assert finding.runs_filter == {"user": "small", "from": _at(UTC, 2026, 11, 10).isoformat()}


def test_a_day_in_a_time_zone_half_an_hour_off_utc(project):
    """Kolkata is UTC+5:30: its days start at half past a UTC hour, inside an hour of the rollups."""
    now = _at(UTC, 2026, 11, 10, 18, 29, 30)  # 23:59:30 in Kolkata
    add_run(project, _at(UTC, 2026, 11, 9, 18, 20), cost="100")  # 23:50 on the 9th in Kolkata
    add_run(project, _at(UTC, 2026, 11, 9, 18, 40), cost="2")  # 00:10 on the 10th
    add_run(project, _at(UTC, 2026, 11, 10, 3, 0), cost="3")
    add_run(project, _at(UTC, 2026, 11, 10, 18, 29), cost="4")  # 23:59 on the 10th
    refresh()
    finding = _judge(_rule(project, timezone="Asia/Kolkata"), now)
    assert (finding.value, finding.details["window_start"]) == (9, "2026-11-10T00:00:00+05:30")


def test_scope_by_agent_and_environment(project):
    add_run(project, NOW - 120 * M, cost="6", agent="billing-agent", environment="prod")
    add_run(project, NOW - 110 * M, cost="5", agent="billing-agent", environment="staging")
    add_run(project, NOW - 100 * M, cost="7", agent="support-bot", environment="prod")
    refresh()
    rule = _rule(project, scope={"agent": "billing-agent", "environment": "prod"})
    assert _judge(rule, NOW).value == 6
    assert _judge(_rule(project, scope={"agent": "billing-agent"}), NOW).value == 11
    assert _judge(_rule(project, scope={"environment": "prod"}), NOW).value == 13


def test_another_projects_runs_never_count(project):
    other = make_project()
    add_run(project, NOW - 60 * M, cost="1")
    add_run(other, NOW - 60 * M, cost="500", user="user-1")
    refresh()
    assert _judge(_rule(project), NOW).value == 1
    assert _judge(_rule(project, scope={"user": "user-1"}), NOW).value == 1


def test_hostile_names_in_scope_are_just_data(project):
    hostile = "x' OR '1'='1'; DROP TABLE traces_run; --<img src=x onerror=alert(1)>%(project)s"
    add_run(project, NOW - 60 * M, cost="9", agent=hostile, user=hostile)
    add_run(project, NOW - 50 * M, cost="5")
    refresh()
    for scope in ({"agent": hostile}, {"user": hostile}):
        finding = _judge(_rule(project, scope=scope), NOW)
        assert (finding.value, finding.severity, finding.scope) == (9, Severity.WARNING, scope)
        assert hostile not in finding.summary


@pytest.mark.parametrize(
    "params",
    [
        {"limit_usd": 0},
        {"limit_usd": "ten"},
        {"period": "year"},
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "../../etc/passwd"},
        {"soft_percents": [120]},
        {"soft_percents": "80"},
    ],
)
def test_params_this_kind_cannot_take_are_refused_naming_the_param(project, params):
    with pytest.raises(BadRule, match=f"params.{next(iter(params))}"):
        budget.evaluate(_rule(project, **params), now=NOW)
