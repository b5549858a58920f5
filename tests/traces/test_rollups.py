"""The hourly rollups: the latency histogram's percentiles, and a refresh that is right whatever order
spans arrive in, applies only what changed, and can run again without counting twice. (The incremental
refresh against a recompute from scratch: test_rollups_incremental.py.)"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from tests.factories import make_project, make_run
from tests.otlp import AgentTrace, protobuf
from traces import rollup_ledger, rollups
from traces.ingest.decode import decode_request
from traces.models import RollupWatermark, Run, RunHour, RunHourBreakdown, RunHourUser
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

NS = 1_000_000_000


# --- histogram ---


@pytest.mark.parametrize("ms", [0.001, 0.5, 1, 7, 999.9, 1000, 123_456.7])
def test_a_latency_falls_in_its_bucket(ms):
    low, high = rollups.bucket_bounds(rollups.latency_bucket(ms))
    assert low <= max(ms, 0.01) < high
    assert high / low == pytest.approx(2 ** (1 / 8))


def test_percentiles_of_the_histogram_are_close_to_the_exact_ones():
    latencies = [10 * 1.07**i for i in range(200)] + [5_000.0] * 5
    hist: dict[int, int] = {}
    for ms in latencies:
        hist[rollups.latency_bucket(ms)] = hist.get(rollups.latency_bucket(ms), 0) + 1
    for q in (0.5, 0.95, 0.99):
        exact = statistics.quantiles(latencies, n=100, method="inclusive")[round(q * 100) - 1]
        assert rollups.percentile(hist, q) == pytest.approx(exact, rel=0.09), q


def test_percentile_edge_cases():
    assert rollups.percentile({}, 0.5) is None
    one = rollups.percentile({rollups.latency_bucket(250): 1}, 0.95)
    assert one == pytest.approx(250, rel=0.09)
    # Two values far apart: the median interpolates between them, as percentile_cont does.
    hist = {rollups.latency_bucket(100): 1, rollups.latency_bucket(300): 1}
    assert rollups.percentile(hist, 0.5) == pytest.approx(200, rel=0.09)


# --- refresh ---

pytestmark_db = pytest.mark.django_db


def _send(project, trace: AgentTrace, spans, resource=None):
    batch = decode_request(protobuf([s.build(trace.trace_id) for s in spans], resource), "application/x-protobuf")
    ingest_batch(config=load_ingest_config(project.pk), batch=batch)


def _rows(project):
    return sorted(
        (r.hour, r.agent, r.runs, r.errors, r.steps, r.cost_usd, r.latency_hist, r.steps_hist)
        for r in RunHour.objects.filter(project=project)
    )


@pytestmark_db
def test_refresh_matches_the_runs_and_is_idempotent():
    project = make_project()
    for i in range(3):
        make_run(project, AgentTrace(start_ns=time.time_ns() - (i + 1) * 3600 * NS, tool_error=i == 1))
    assert rollups.refresh().hours >= 3
    rows = _rows(project)
    assert sum(r[2] for r in rows) == Run.objects.filter(project=project).count() == 3
    assert sum(r[3] for r in rows) == 1
    assert sum(r[4] for r in rows) == sum(r.step_count for r in Run.objects.filter(project=project))
    breakdowns = list(RunHourBreakdown.objects.filter(project=project).values_list("dim", "key", "count"))
    assert sorted({(d, k) for d, k, _ in breakdowns}) == [
        ("model", "gpt-4o"),
        ("tool", "lookup_order"),
        ("user", "user-1"),
    ]
    rollups.refresh(since=datetime(2000, 1, 1, tzinfo=UTC))  # everything again
    assert _rows(project) == rows
    assert RunHourBreakdown.objects.filter(project=project).count() == len(breakdowns)


# Committed transactions: inside one test transaction every run has the same updated_at (now()).
@pytest.mark.django_db(transaction=True)
def test_a_refresh_recomputes_only_hours_with_changed_runs():
    project = make_project()
    make_run(project, AgentTrace(start_ns=time.time_ns() - 5 * 3600 * NS))
    rollups.refresh()
    assert rollups.refresh(since=datetime.now(UTC) + timedelta(minutes=1)).hours == 0
    before_second = datetime.now(UTC)
    make_run(project, AgentTrace(start_ns=time.time_ns() - 1 * 3600 * NS))
    assert rollups.refresh(since=before_second).hours == 1
    assert sum(r[2] for r in _rows(project)) == 2


@pytestmark_db
def test_late_spans_move_a_run_to_an_earlier_hour_and_the_old_hour_is_emptied():
    project = make_project()
    top = (time.time_ns() // (3600 * NS) - 3) * 3600 * NS  # the top of an hour, three hours ago
    trace = AgentTrace(start_ns=top - NS // 2, tool_error=True)  # the root starts just before it
    root, children = trace.spans[0], trace.spans[1:]
    _send(project, trace, children)
    rollups.refresh()
    hour = datetime.fromtimestamp(top / NS, UTC)
    assert [(r[0], r[2], r[3]) for r in _rows(project)] == [(hour, 1, 1)]

    _send(project, trace, [root])  # the root arrives late: the run now starts in the hour before
    rollups.refresh()
    rows = _rows(project)
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [(hour - timedelta(hours=1), 1, 1, len(trace.spans))]
    (run,) = Run.objects.filter(project=project)
    assert sum(rows[0][6].values()) == 1  # the latency histogram counts the run once, now that it ended
    assert rows[0][7] == {str(run.step_count): 1}


@pytestmark_db
def test_refresh_keeps_projects_apart():
    a, b = make_project(), make_project()
    make_run(a, AgentTrace())
    make_run(b, AgentTrace())
    make_run(b, AgentTrace())
    rollups.refresh()
    assert sum(r[2] for r in _rows(a)) == 1
    assert sum(r[2] for r in _rows(b)) == 2


@pytestmark_db
def test_a_project_catches_up_with_its_newest_runs_only(monkeypatch):
    project, other = make_project(), make_project()
    for hours_ago in (1, 2, 3):
        make_run(project, AgentTrace(start_ns=time.time_ns() - hours_ago * 3600 * NS - 60 * NS))
    make_run(other, AgentTrace())
    monkeypatch.setattr(rollups, "CATCH_UP_RUNS", 2)  # the newest two by start time
    assert rollups.refresh_project(project.pk) == 2
    now = datetime.now(UTC)
    assert [r[0] for r in _rows(project)] == [
        (now - timedelta(hours=h, minutes=1)).replace(minute=0, second=0, microsecond=0) for h in (2, 1)
    ]
    assert not _rows(other)  # another project's runs wait for their own catch-up or the full refresh
    assert rollups.refresh_project(project.pk) == 1  # the third
    assert rollups.refresh_project(project.pk) == 0  # caught up: its ledger is as new as its runs
    rollups.refresh()
    assert sum(r[2] for r in _rows(project)) == 3


@pytestmark_db
def test_a_project_catch_up_leaves_the_full_refresh_watermark_alone():
    project = make_project()
    make_run(project, AgentTrace())
    rollups.refresh_project(project.pk)
    assert not RollupWatermark.objects.exists()
    rollups.refresh()
    assert RollupWatermark.objects.get().refreshed_at is not None


@pytestmark_db
def test_each_hour_keeps_its_top_spending_end_users():
    project = make_project()
    start = (time.time_ns() // (3600 * NS) - 2) * 3600 * NS + 60 * NS  # all in one hour
    for i in range(rollups.TOP_USERS + 2):
        make_run(project, AgentTrace(start_ns=start + i * NS, user=f"u{i:02d}"))
    make_run(project, AgentTrace(start_ns=start, user="zz-big", llm_calls=4))  # last by name, first by cost
    rollups.refresh()
    users = RunHourBreakdown.objects.filter(project=project, dim="user").order_by("-cost_usd", "key")
    assert users.count() == rollups.TOP_USERS
    assert users[0].key == "zz-big"
    assert [u.key for u in users[1:]] == [f"u{i:02d}" for i in range(rollups.TOP_USERS - 1)]
    # The runs themselves are all counted, whatever the user breakdown keeps.
    assert RunHour.objects.get(project=project).runs == rollups.TOP_USERS + 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_recomputes_of_one_project_queue_instead_of_colliding():
    """Two dashboard requests may catch the same project up at once, beside the beat refresh or a
    rebuild: the advisory lock makes each wait, then see what the others wrote (the ledger) instead of
    adding the same run twice or failing on a unique key."""
    import threading

    from django.db import connection as main_connection

    project = make_project()
    make_run(project, AgentTrace())
    run = Run.objects.get(project=project)
    hour = run.start_time.replace(minute=0, second=0, microsecond=0)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)
    ways = [
        lambda: rollup_ledger.apply_runs(project.pk, [run.pk], now=datetime.now(UTC)),
        lambda: rollups.refresh_project(project.pk, budget_ms=10_000),
        lambda: rollup_ledger.rebuild_project(project.pk, now=datetime.now(UTC)),
        lambda: rollups.recompute_hours(project.pk, [hour], now=datetime.now(UTC)),
    ]

    def recompute(way) -> None:
        from django.db import connection

        try:
            barrier.wait()
            for _ in range(5):
                way()
        except BaseException as exc:  # reported below, whatever it is
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=recompute, args=(way,)) for way in ways]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    main_connection.ensure_connection()
    assert [r[2] for r in _rows(project)] == [1]
    assert RunHourUser.objects.get(project=project).runs == 1


@pytest.mark.django_db
def test_a_catch_up_that_cannot_finish_in_its_budget_gives_up_and_leaves_the_transaction_usable():
    """A page's catch-up waits for nothing: here a full refresh holds the project's rollup lock."""
    project = make_project()
    make_run(project, AgentTrace())
    holder = psycopg.connect(**connection.get_connection_params())
    try:
        holder.execute("SELECT pg_advisory_lock(hashtext('traces.rollups'), %s)", [project.pk])
        assert rollups.refresh_project(project.pk, budget_ms=200) == 0
        assert not RunHour.objects.filter(project=project).exists()
        with connection.cursor() as cursor:  # the budget did not outlive the catch-up
            cursor.execute("SELECT current_setting('statement_timeout')")
            assert cursor.fetchone()[0] == "0"
    finally:
        holder.close()
    assert rollups.refresh_project(project.pk) > 0
    assert RunHour.objects.filter(project=project).exists()
