"""The incremental rollup refresh (traces.rollup_ledger) against recomputes from scratch.

Runs' spans arrive in shuffled batches: late roots (the start moves earlier, the user changes to the
root's), errors arriving last (the status turns to error), runs spanning two hours, a bundle and an
environment named by a later batch. Between batches the refresh applies what changed (the beat refresh
and pages' catch-ups, interleaved); at the end the rollups must equal a rebuild from scratch, and the
dashboards' tables must equal the whole-hour recompute (traces.rollup_whole), an independent query."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from tests.factories import make_project
from tests.otlp import NS, AgentTrace, protobuf
from traces import rollup_ledger, rollups
from traces.ingest.decode import decode_request
from traces.models import RollupWatermark, Run, RunHour, RunHourBreakdown, RunHourUser, RunRollup
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

HOUR_NS = 3600 * NS


def _send(project, trace: AgentTrace, spans, resource=None) -> None:
    batch = decode_request(protobuf([s.build(trace.trace_id) for s in spans], resource), "application/x-protobuf")
    ingest_batch(config=load_ingest_config(project.pk), batch=batch)


def _traffic(rng: random.Random, runs: int) -> list[tuple[AgentTrace, list[Any], dict[str, str] | None]]:
    """(trace, spans, resource) batches of `runs` runs, in a shuffled order."""
    top = (time.time_ns() // HOUR_NS - 2) * HOUR_NS  # the top of an hour, two hours ago
    batches = []
    for i in range(runs):
        # Some start just before the top of the hour and end after it.
        start = top + rng.choice([-2 * NS, -30 * NS, 5 * 60 * NS, -HOUR_NS + 60 * NS, HOUR_NS + 60 * NS])
        trace = AgentTrace(
            start_ns=start + i * NS,
            agent=rng.choice(["support-bot", "billing-agent"]),
            user=f"user-{rng.randrange(14)}",
            llm_calls=rng.randrange(1, 4),
            tool_error=rng.random() < 0.4,
        )
        if rng.random() < 0.3:
            trace.spans[1].attrs["gen_ai.request.model"] = "claude-3-5-sonnet"
        for span in trace.spans[1:]:
            if rng.random() < 0.3:  # a child names another user: the root's wins when it arrives
                span.attrs["user.id"] = f"early-{rng.randrange(3)}"
        spans = list(trace.spans)
        rng.shuffle(spans)
        cuts = sorted(rng.sample(range(1, len(spans)), rng.randrange(0, min(3, len(spans) - 1))))
        parts = [spans[a:b] for a, b in zip([0, *cuts], [*cuts, len(spans)], strict=True)]
        for n, part in enumerate(parts):
            resource = None
            if n == len(parts) - 1 and len(parts) > 1 and rng.random() < 0.5:
                # A later batch names the bundle (explicit beats service.version) or the environment.
                resource = rng.choice(
                    [
                        {"service.name": trace.agent, "agentops.bundle.id": f"{trace.agent}@2"},
                        {"service.name": trace.agent, "deployment.environment.name": "staging"},
                    ]
                )
            batches.append((trace, part, resource))
    # Shuffled, but each run's batches keep their order: "later" above means later.
    queues: dict[bytes, list[Any]] = {}
    for b in batches:
        queues.setdefault(b[0].trace_id, []).append(b)
    rng.shuffle(batches)
    return [queues[b[0].trace_id].pop(0) for b in batches]


def _snapshot(project) -> dict[str, list[tuple[Any, ...]]]:
    def rows(model, exclude=("id", "computed_at")):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
        return sorted(
            tuple(str(sorted(v.items())) if isinstance(v, dict) else v for v in row)
            for row in model.objects.filter(project=project).values_list(*fields)
        )

    return {
        "runhour": rows(RunHour),
        "breakdown": rows(RunHourBreakdown),
        "users": rows(RunHourUser),
        "ledger": rows(RunRollup, exclude=()),
    }


def _whole_hour_recompute(project) -> dict[str, list[tuple[Any, ...]]]:
    hours = sorted(
        {r.start_time.replace(minute=0, second=0, microsecond=0) for r in Run.objects.filter(project=project)}
    )
    rollups.recompute_hours(project.pk, hours, now=datetime.now(UTC))
    snap = _snapshot(project)
    return {"runhour": snap["runhour"], "breakdown": snap["breakdown"]}


def _feed_and_check(project, seed: int, runs: int) -> None:
    rng = random.Random(seed)
    rollups.refresh()  # the first refresh: a rebuild of nothing; every later one is incremental
    assert RollupWatermark.objects.exists()
    batches = _traffic(rng, runs)
    applied = 0
    for i, (trace, spans, resource) in enumerate(batches):
        _send(project, trace, spans, resource)
        if rng.random() < 0.3:
            if rng.random() < 0.5:
                applied += rollups.refresh().runs
            else:
                applied += rollups.refresh_project(project.pk, budget_ms=10_000)
        if i == len(batches) // 2:
            assert _snapshot(project)["runhour"], "some runs applied midway"
    rollups.refresh()
    assert applied > 0
    incremental = _snapshot(project)
    assert sum(r[5] for r in incremental["runhour"]) == Run.objects.filter(project=project).count() == runs

    rollups.rebuild([project.pk])
    assert _snapshot(project) == incremental

    whole = _whole_hour_recompute(project)
    assert whole == {"runhour": incremental["runhour"], "breakdown": incremental["breakdown"]}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_refresh_equals_a_recompute_from_scratch(seed):
    _feed_and_check(make_project(), seed, runs=12)


# Committed transactions: each batch its own updated_at, as in production.
@pytest.mark.django_db(transaction=True)
def test_incremental_refresh_equals_a_recompute_from_scratch_across_transactions():
    _feed_and_check(make_project(), 7, runs=10)


@pytest.mark.django_db
def test_the_scenarios_move_runs_between_rows():
    """The changes the ledger must retract: start, user, status, bundle and environment."""
    project = make_project()
    rollups.refresh()
    top = (time.time_ns() // HOUR_NS - 2) * HOUR_NS
    trace = AgentTrace(start_ns=top - NS // 2, user="root-user")  # the root starts before the top of the hour
    root, llm, *rest = trace.spans
    llm.attrs["user.id"] = "early-user"
    tool = trace.spans[-1]
    _send(project, trace, [llm])
    rollups.refresh()
    (row,) = RunHour.objects.filter(project=project)
    assert (row.hour, row.bundle, row.environment, row.errors) == (
        datetime.fromtimestamp(top / NS, UTC),
        "1.0.0",
        "",
        0,
    )
    assert RunHourUser.objects.get(project=project).user_id == "early-user"

    tool.error = "lookup failed"
    _send(project, trace, [tool], {"service.name": "support-bot", "agentops.bundle.id": "bundle-2",
                                   "deployment.environment.name": "staging"})  # fmt: skip
    rollups.refresh()
    (row,) = RunHour.objects.filter(project=project)
    assert (row.bundle, row.environment, row.errors) == ("bundle-2", "staging", 1)

    _send(project, trace, [root, *[s for s in rest if s is not tool]])
    rollups.refresh()
    (row,) = RunHour.objects.filter(project=project)
    assert row.hour == datetime.fromtimestamp(top / NS, UTC) - timedelta(hours=1)
    assert (row.runs, row.errors, row.steps) == (1, 1, len(trace.spans))
    (user,) = RunHourUser.objects.filter(project=project)
    assert (user.hour, user.user_id) == (row.hour, "root-user")
    assert set(RunHourBreakdown.objects.filter(project=project).values_list("hour", flat=True)) == {row.hour}
    assert RunRollup.objects.get(project=project).hour == row.hour


@pytest.mark.django_db
def test_a_run_that_is_gone_is_retracted():
    project = make_project()
    rollups.refresh()
    from tests.factories import make_run

    make_run(project, AgentTrace())
    make_run(project, AgentTrace())
    rollups.refresh()
    gone = Run.objects.filter(project=project).first()
    assert gone is not None
    Run.objects.filter(pk=gone.pk).delete()
    assert rollup_ledger.apply_runs(project.pk, [gone.pk], now=datetime.now(UTC)).runs == 1
    assert RunHour.objects.get(project=project).runs == 1
    assert RunRollup.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_a_catch_up_adds_nothing_to_rollups_written_before_the_ledger():
    """After the migration that brought the ledger, the rollups are the whole-hour recompute's and the
    ledger is empty: a page's catch-up must not add runs to them again; the next refresh rebuilds."""
    from tests.factories import make_run

    project = make_project()
    make_run(project, AgentTrace())
    run = Run.objects.get(project=project)
    rollups.recompute_hours(project.pk, [run.start_time.replace(minute=0, second=0, microsecond=0)],
                            now=datetime.now(UTC))  # fmt: skip
    before = _snapshot(project)
    assert rollups.refresh_project(project.pk) == 0
    assert _snapshot(project) == before
    assert rollups.refresh().since is None  # no watermark: a rebuild
    assert RunHour.objects.get(project=project).runs == 1
    assert RunRollup.objects.filter(project=project).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_refresh_watermark_waits_for_open_transactions():
    """A transaction open when a refresh begins may commit runs stamped with its start: the watermark
    stays at or before that start (within the cap), so the next refresh looks that far back."""
    import psycopg

    other = psycopg.connect(**connection.get_connection_params())
    try:
        other.execute("SELECT 1")  # a transaction is open (psycopg does not autocommit)
        (opened,) = other.execute("SELECT now()").fetchone() or (None,)
        assert opened is not None
        rollups.refresh()
        assert RollupWatermark.objects.get().refreshed_at <= opened
    finally:
        other.close()
