"""bench/seed_scale.py writes runs and steps by COPY: they must be exactly what ingest would store.

A seeded run is compared, column by column, with the same steps put through ingest's own stage and
store; and the 1,000-step run, stored through the real store, is checked for its shape.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import replace

import pytest
from django.db import connection, transaction

from bench import seed_scale as seed
from tests.factories import make_project
from traces.ingest.rows import stage
from traces.ingest.store import store_rows
from traces.models import Run, Step
from traces.partitions import ensure_months
from traces.selectors import load_ingest_config

pytestmark = pytest.mark.django_db

_RUN_COLUMNS = [
    f.name for f in Run._meta.fields if f.name not in {"id", "project", "trace_id", "root_span_id", "updated_at"}
]
_STEP_COLUMNS = [
    f.attname for f in Step._meta.fields if f.attname not in {"id", "trace_id", "span_id", "parent_span_id"}
]
SHAPES = {
    "ok": seed.Shape(0, 1, "production", seed.MODELS[0], ("lookup_order", "refund"), False, 900),
    "error": seed.Shape(2, 0, "staging", seed.MODELS[2], ("search_kb",), True, 300),
    "unpriced": seed.Shape(1, 2, "production", seed.UNPRICED_MODEL, ("send_email", "refund"), False, 2500),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_seeded_run_is_what_ingest_stores_for_its_steps(name, monkeypatch):
    shape = SHAPES[name]
    project = make_project()
    config = load_ingest_config(project.pk)
    now = time.time()
    ensure_months(seed._months(now, 1))
    # Every pick gets this one shape, so that the test knows which steps each seeded run stands for.
    monkeypatch.setattr(seed, "_TEMPLATES", [seed._template(shape, config)])
    monkeypatch.setattr(seed, "_BY_KEY", defaultdict(int))
    monkeypatch.setattr(seed, "_PROJECT_ID", project.pk)

    assert seed._load_chunk((500, 2, now, 1, 10)) == 2

    seeded = list(Run.objects.filter(project=project))
    assert len(seeded) == 2
    for run in seeded:
        order = run.input_preview.split()[4].rstrip("?")
        assert order.startswith("A-0000")
        t0 = int(run.start_time.timestamp() * 1_000_000) * 1000
        trace = uuid.uuid4().hex
        steps = [
            replace(s, trace_id=trace, session_id=run.session_id, user_id=run.user_id)
            for s in seed._steps(shape, llm_calls=6, t0=t0, order=order)
        ]
        with transaction.atomic():
            store_rows(stage(steps, config).rows)
        stored = Run.objects.get(project=project, trace_id=trace)
        assert {c: getattr(run, c) for c in _RUN_COLUMNS} == {c: getattr(stored, c) for c in _RUN_COLUMNS}
        mine = Step.objects.filter(project_id=project.pk, trace_id=run.trace_id).order_by("start_time")
        theirs = Step.objects.filter(project_id=project.pk, trace_id=stored.trace_id).order_by("start_time")
        assert [[getattr(s, c) for c in _STEP_COLUMNS] for s in mine] == [
            [getattr(s, c) for c in _STEP_COLUMNS] for s in theirs
        ]
        assert [s.parent_span_id is None for s in mine] == [True] + [False] * 11
        assert _document(run) == _document(stored) and order.lower().split("-")[1] in _document(run)
    if name == "error":
        assert all(r.status == "error" for r in seeded)
    if name == "unpriced":
        assert all(r.unpriced_steps == 6 and not r.cost_complete for r in seeded)


def _document(run: Run) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(words) FROM traces_runwords WHERE run_id = %s", [run.pk])
        (words,) = cursor.fetchone()
    return sorted(words)


def test_the_long_run_has_a_thousand_steps_stored_by_ingest():
    project = make_project()
    trace = seed._store_long_run(load_ingest_config(project.pk), time.time())
    run = Run.objects.get(project=project, trace_id=trace)
    assert (run.step_count, run.llm_calls, run.tool_calls) == (1000, 500, 499)
    assert run.status == "error"
    assert Step.objects.filter(project_id=project.pk, trace_id=run.trace_id).count() == 1000
