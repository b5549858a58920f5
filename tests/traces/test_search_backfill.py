"""`agentops search_backfill`: runs stored before search documents were kept get the documents ingest
would have written for them (traces.search_backfill)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from tests.factories import make_project, make_run
from tests.otlp import AgentTrace
from traces.models import IngestPolicy, Run, RunWords
from traces.search_backfill import backfill_documents

pytestmark = pytest.mark.django_db


def stored_run(project, note: str) -> Run:
    trace = AgentTrace(llm_calls=1)
    trace.spans[-1].attrs["gen_ai.tool.call.result"] = json.dumps({"note": note})
    make_run(project, trace)
    return Run.objects.get(trace_id=trace.trace_hex)


def documents() -> dict[int, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT run_id, tsvector_to_array(words) FROM traces_runwords")
        return {run_id: sorted(words) for run_id, words in cursor.fetchall()}


def test_runs_get_the_document_ingest_writes():
    project, other = make_project(), make_project()
    runs = [stored_run(project, "backordered"), stored_run(other, "discontinued"), stored_run(project, "lost")]
    written = documents()
    assert set(written) == {run.pk for run in runs}
    RunWords.objects.all().delete()  # as before migration 0014

    assert backfill_documents(batch=2) == 3
    assert documents() == written
    assert "backordered" in written[runs[0].pk] and "discontinued" in written[runs[1].pk]
    assert backfill_documents() == 3 and documents() == written  # a second pass changes nothing


def test_it_resumes_after_a_run_id_and_passes_runs_with_no_words():
    project = make_project()
    first, second, bare = (stored_run(project, note) for note in ("backordered", "lost", "gone"))
    silent = make_project()
    IngestPolicy.objects.update_or_create(project=silent, defaults={"drop_content": True})
    dropped = stored_run(silent, "never stored")
    with connection.cursor() as cursor:  # steps expired (retention): nothing left to read
        cursor.execute("DELETE FROM traces_step WHERE trace_id = %s", [bare.trace_id])
    RunWords.objects.filter(run_id__in=[first.pk, second.pk, bare.pk, dropped.pk]).delete()

    assert backfill_documents(after=first.pk) == 2  # second, and the tool name of the dropped one
    assert set(documents()) == {second.pk, dropped.pk}
    assert "lookup" in documents()[dropped.pk] and "never" not in documents()[dropped.pk]
    assert bare.pk not in documents()  # no steps left: nothing to build, and passed, not looped on


def test_a_run_that_was_arriving_at_the_upgrade_gets_all_its_steps_words():
    project = make_project()
    run = stored_run(project, "backordered")
    RunWords.objects.all().delete()
    with connection.cursor() as cursor:  # only its last step's words, as if only it came after the upgrade
        cursor.execute(
            "INSERT INTO traces_runwords (run_id, project_id, words) VALUES (%s, %s, to_tsvector('simple', 'late'))",
            [run.pk, project.pk],
        )
    assert backfill_documents() == 1
    assert {"late", "backordered", "lookup"} <= set(documents()[run.pk])


def test_the_command_says_what_it_did():
    project = make_project()
    stored_run(project, "backordered")
    RunWords.objects.all().delete()
    out = io.StringIO()
    call_command("search_backfill", "--batch", "10", stdout=out)
    assert "done: 1 runs' search documents built" in out.getvalue()
    assert len(documents()) == 1
