"""Search finds a run by any word of its steps, kept at ingest as the run's search document
(traces.ingest.words, traces.models.RunWords): tool arguments and results and error messages, not only
the previews. Stored through the real ingest pipeline, read through the REST API."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.utils import timezone

from agentops.retention.services import retention_apply
from tests.agentops.retention.helpers import DAY, old_run, set_policy
from tests.factories import make_run
from tests.otlp import NS, AgentTrace, SpanSpec, protobuf
from tests.traces import test_api
from tests.traces.test_api import listed, runs_url
from traces import filters
from traces.ingest.decode import decode_request
from traces.models import IngestPolicy, Run, RunWords
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

pytestmark = pytest.mark.django_db


team = test_api.team  # the API tests' fixture: a project, its members, and an outsider's project


def tool_run(project, *, arguments=None, result=None, error=None, **fields) -> AgentTrace:
    """A run whose tool call took `arguments` and gave `result` (JSON), or failed with `error`."""
    trace = AgentTrace(tool_error=error is not None, **fields)
    tool = trace.spans[-1]
    tool.attrs["gen_ai.tool.call.arguments"] = json.dumps(arguments or {"order": 100})
    tool.attrs["gen_ai.tool.call.result"] = json.dumps(result or {"status": "shipped"})
    if error is not None:
        tool.error = error
    return make_run(project, trace)


def document(trace: AgentTrace) -> list[str]:
    run = Run.objects.get(trace_id=trace.trace_hex)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_to_string(tsvector_to_array(words), ' ') FROM traces_runwords WHERE run_id = %s", [run.pk]
        )
        row = cursor.fetchone()
    return row[0].split() if row else []


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ORD-7301", {"arguments"}),  # a tool's argument
        ("7301", {"arguments"}),
        ("backordered", {"result"}),  # a word deep in a tool's result
        ("warehouse", {"result", "error"}),
        ("warehouse unreachable", {"error"}),  # every word, anywhere in the run
        ("lookup_order", {"arguments", "result", "error", "plain"}),  # the tool's name
        ("qty", {"arguments"}),  # an argument's name
        ("Where", {"arguments", "result", "error", "plain"}),  # the previews, as before
    ],
)
def test_search_finds_words_of_tool_arguments_results_and_error_messages(client, team, q, expected):
    runs = {
        "arguments": tool_run(team.project, arguments={"order_id": "ORD-7301", "qty": 2}),
        "result": tool_run(team.project, result={"items": [{"sku": "A1", "note": "Backordered at the warehouse"}]}),
        "error": tool_run(team.project, error="warehouse unreachable after 3 retries"),
        "plain": tool_run(team.project),
    }
    client.force_login(team.engineer)
    names = {trace.trace_hex: name for name, trace in runs.items()}
    assert {names[t] for t in listed(client, team.project, q=q)} == expected


@pytest.mark.parametrize("rare_matches", [1, 2000])
def test_documents_select_the_same_runs_whether_matches_are_few_or_many(client, team, monkeypatch, rare_matches):
    monkeypatch.setattr("traces.filters.RARE_MATCHES", rare_matches)
    start = timezone.now().timestamp() * NS
    traces = [
        tool_run(team.project, result={"note": "backordered"}, start_ns=int(start - h * 3600 * NS)) for h in range(3)
    ]
    tool_run(team.project)
    client.force_login(team.engineer)
    newest_first = [trace.trace_hex for trace in traces]
    assert listed(client, team.project, q="backordered") == newest_first
    assert listed(client, team.project, q="backordered", limit=2) == newest_first[:2]


def test_another_projects_words_find_nothing_here_and_fill_no_quota(client, team, monkeypatch):
    """Another project's many matches neither show here nor use up the RARE_MATCHES looked at: this
    project's one match is picked by its id, not by walking its runs."""
    monkeypatch.setattr("traces.filters.RARE_MATCHES", 2)
    counted: list[list[int] | None] = []
    rare = filters._rare

    def counting(ids):
        counted.append(rare(ids))
        return counted[-1]

    monkeypatch.setattr("traces.filters._rare", counting)
    theirs = [tool_run(team.other_project, result={"note": "backordered"}) for _ in range(3)]
    ours = tool_run(team.project, result={"note": "backordered"})
    client.force_login(team.engineer)
    assert listed(client, team.project, q="backordered") == [ours.trace_hex]
    assert None not in counted and counted[-1] == [Run.objects.get(trace_id=ours.trace_hex).pk]
    client.force_login(team.outsider)
    assert set(listed(client, team.other_project, q="backordered")) == {t.trace_hex for t in theirs}
    assert client.get(runs_url(team.project), {"q": "backordered"}).status_code == 404


def test_words_of_spans_sent_in_separate_batches_are_one_document(client, team):
    """Every word of q is looked for in the whole run, whichever batch brought it."""
    trace = AgentTrace(llm_calls=1)
    trace.spans[-1].attrs["gen_ai.tool.call.result"] = json.dumps({"note": "backordered"})
    trace.spans[1].attrs["gen_ai.output.messages"] = json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "checking the warehouse"}]}]
    )
    config = load_ingest_config(team.project.pk)
    for span in trace.built():
        ingest_batch(config=config, batch=decode_request(protobuf([span]), "application/x-protobuf"))
    client.force_login(team.engineer)
    assert listed(client, team.project, q="warehouse backordered") == [trace.trace_hex]
    assert {"warehouse", "backordered", "checking"} <= set(document(trace))


def test_a_retried_batch_adds_nothing_and_words_are_kept_once(team):
    trace = tool_run(team.project, result={"note": "backordered backordered"})
    words = document(trace)
    body = protobuf(trace.built())
    ingest_batch(config=load_ingest_config(team.project.pk), batch=decode_request(body, "application/x-protobuf"))
    assert document(trace) == words and words.count("backordered") == 1
    assert RunWords.objects.filter(project=team.project).count() == 1


def test_redacted_values_are_not_searchable(client, team):
    """The document is made of what is stored, after redaction: a redacted address finds nothing."""
    IngestPolicy.objects.update_or_create(project=team.project, defaults={"builtin_redactions": ["email"]})
    trace = tool_run(team.project, arguments={"to": "jane.roe@example.com", "subject": "refund"})
    client.force_login(team.engineer)
    assert listed(client, team.project, q="refund") == [trace.trace_hex]
    assert listed(client, team.project, q="jane") == [] and listed(client, team.project, q="example") == []
    assert "jane" not in document(trace)


def test_a_project_that_drops_content_keeps_no_document(team):
    IngestPolicy.objects.update_or_create(project=team.project, defaults={"drop_content": True})
    trace = tool_run(team.project, arguments={"order_id": "ORD-7301"})
    assert not any(word in document(trace) for word in ("ord", "7301"))


def test_expired_payloads_take_the_document_and_deleted_runs_take_it_with_them(client, team):
    set_policy(team.project, payload=3, step=10, run=20)
    aged, kept, gone = (old_run(team.project, days=d) for d in (5, 1, 25))
    assert RunWords.objects.filter(project=team.project).count() == 3
    retention_apply(now=timezone.now())
    assert list(RunWords.objects.filter(project=team.project).values_list("run_id", flat=True)) == [kept.pk]
    assert not Run.objects.filter(pk=gone.pk).exists() and Run.objects.filter(pk=aged.pk).exists()
    client.force_login(team.engineer)
    assert listed(client, team.project, q="lookup") == [kept.trace_id.hex]
    # A span that comes late for the aged run brings words back; the next day's job takes them.
    late = SpanSpec("execute_tool late", {"gen_ai.tool.name": "late_lookup"}, start_ns=time.time_ns() - 5 * DAY)
    body = protobuf([late.build(aged.trace_id.bytes)])
    ingest_batch(config=load_ingest_config(team.project.pk), batch=decode_request(body, "application/x-protobuf"))
    assert RunWords.objects.filter(run_id=aged.pk).exists()
    retention_apply(now=timezone.now())
    assert not RunWords.objects.filter(run_id=aged.pk).exists()


def test_a_run_deleted_by_sql_takes_its_document(team):
    trace = tool_run(team.project)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM traces_run WHERE trace_id = %s", [trace.trace_hex])
    assert not RunWords.objects.filter(project=team.project).exists()


def test_a_viewer_cannot_search_documents(client, team):
    tool_run(team.project, result={"note": "backordered"})
    client.force_login(team.viewer)
    assert client.get(runs_url(team.project), {"q": "backordered"}).status_code == 400
