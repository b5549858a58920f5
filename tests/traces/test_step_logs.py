"""A step's log records (POST /v1/logs) read back with the step: the REST API's step detail (`logs`, and
the messages of GenAI log events when the step has none of its own) and the replay's step panel (one
Events list with the span events), per persona; records sent before their span; redaction at ingest."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from agentops.tenancy import services
from tests.factories import make_run
from tests.otlp import NS, AgentTrace, attributes
from traces.presenters import with_logs
from traces.replay import event_timeline

pytestmark = pytest.mark.django_db

ROOT, CHAT0, CHAT1, TOOL = 0, 1, 2, 3  # AgentTrace's spans, in tree order


def value(v: Any) -> AnyValue:
    if isinstance(v, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=value(x)) for k, x in v.items()]))
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    if isinstance(v, int):
        return AnyValue(int_value=v)
    return AnyValue(string_value=str(v))


def genai_events(trace: AgentTrace, position: int) -> bytes:
    """The log events opentelemetry-instrumentation-openai-v2 2.0b0 emits for one chat call: a system and
    a user message, then the choice; event names in the `event.name` attribute, as SDK 1.29 wrote them."""
    span = trace.spans[position]
    t = span.start_ns

    def event(name: str, at: int, body: dict[str, Any]) -> LogRecord:
        return LogRecord(
            time_unix_nano=at,
            observed_time_unix_nano=at,
            trace_id=trace.trace_id,
            span_id=span.span_id,
            attributes=attributes({"event.name": name, "gen_ai.system": "openai"}),
            body=value(body),
        )

    records = [
        # Out of time order on purpose: the step shows them in time order.
        event("gen_ai.choice", t + 900, {"index": 0, "finish_reason": "stop", "message": {"content": "It is sunny."}}),
        event("gen_ai.system.message", t + 100, {"content": "You are a weather assistant."}),
        event("gen_ai.user.message", t + 200, {"content": "Weather in Paris? Mail bob@example.com"}),
    ]
    scope = ScopeLogs(scope={"name": "opentelemetry.instrumentation.openai_v2"}, log_records=records)  # type: ignore[arg-type]
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[scope])]).SerializeToString()


def without_messages(trace: AgentTrace, position: int) -> AgentTrace:
    for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
        trace.spans[position].attrs.pop(key)
    return trace


def post_logs(project: Any, body: bytes) -> None:
    key = services.ingest_key_create(project=project).secret
    response = Client().post(
        "/v1/logs", data=body, content_type="application/x-protobuf", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.content
    assert response.content == b""


def step_api(user: Any, project: Any, trace: AgentTrace, position: int) -> dict[str, Any]:
    token = services.api_token_create(user=user).secret
    url = f"/api/v1/projects/{project.slug}/runs/{trace.trace_hex}/steps/{trace.spans[position].span_id.hex()}/"
    response = Client().get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


def panel(user: Any, project: Any, trace: AgentTrace, position: int) -> str:
    client = Client()
    client.force_login(user)
    span = trace.spans[position].span_id.hex()
    url = reverse("run_step_panel", kwargs={"slug": project.slug, "trace_id": trace.trace_hex, "span_id": span})
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


SYSTEM = {"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant."}]}
USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris? Mail [REDACTED:email]"}]}
CHOICE = {"role": "assistant", "parts": [{"type": "text", "content": "It is sunny."}], "finish_reason": "stop"}


def test_an_engineer_gets_the_records_and_the_messages_they_carry(personas: Any) -> None:
    trace = make_run(personas.project, without_messages(AgentTrace(), CHAT0))
    post_logs(personas.project, genai_events(trace, CHAT0))

    step = step_api(personas.engineer, personas.project, trace, CHAT0)
    assert [log["event_name"] for log in step["logs"]] == [
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.choice",
    ]
    first = step["logs"][0]
    assert first["body"] == {"content": "You are a weather assistant."}
    assert first["attributes"] == {"event.name": "gen_ai.system.message", "gen_ai.system": "openai"}
    assert first["scope"] == "opentelemetry.instrumentation.openai_v2"
    assert first["time_ns"] == trace.spans[CHAT0].start_ns + 100  # to the nanosecond
    # The step had no messages of its own: they are made of its log events, redacted as stored.
    assert step["input"] == [SYSTEM, USER]
    assert step["output"] == [CHOICE]
    assert step["derived_from_logs"] == ["input", "output"]
    assert step["events"] == []  # the span's own events stay what the span sent


def test_a_record_sent_before_its_span_attaches_when_the_span_arrives(personas: Any) -> None:
    trace = without_messages(AgentTrace(), CHAT0)
    post_logs(personas.project, genai_events(trace, CHAT0))  # the span is not stored yet
    make_run(personas.project, trace)
    step = step_api(personas.engineer, personas.project, trace, CHAT0)
    assert len(step["logs"]) == 3
    assert step["output"] == [CHOICE]


def test_a_step_with_messages_of_its_own_keeps_them(personas: Any) -> None:
    trace = make_run(personas.project, AgentTrace())
    post_logs(personas.project, genai_events(trace, CHAT0))
    step = step_api(personas.engineer, personas.project, trace, CHAT0)
    assert len(step["logs"]) == 3
    assert step["output"][0]["parts"][0]["content"] == "Answer 0"
    assert "derived_from_logs" not in step
    # Another step of the run has no records.
    assert step_api(personas.engineer, personas.project, trace, TOOL)["logs"] == []


def test_a_viewer_gets_each_records_time_and_name_only(personas: Any) -> None:
    trace = make_run(personas.project, without_messages(AgentTrace(), CHAT0))
    post_logs(personas.project, genai_events(trace, CHAT0))
    step = step_api(personas.viewer, personas.project, trace, CHAT0)
    assert [set(log) for log in step["logs"]] == [{"time", "time_ns", "event_name"}] * 3
    assert "input" not in step and "output" not in step


def test_the_panel_shows_records_with_the_span_events_and_the_messages_they_carry(personas: Any) -> None:
    trace = make_run(personas.project, without_messages(AgentTrace(), CHAT0))
    post_logs(personas.project, genai_events(trace, CHAT0))
    page = panel(personas.engineer, personas.project, trace, CHAT0)
    assert "Events (3)" in page
    assert page.index("gen_ai.system.message") < page.index("gen_ai.user.message") < page.index("gen_ai.choice")
    assert "It is sunny." in page
    assert "Messages the model saw (2)" in page
    assert "input and output messages come from its log records" in page
    assert "bob@example.com" not in page


def test_a_viewers_panel_names_the_records_and_reads_no_payload_of_them(personas: Any) -> None:
    trace = make_run(personas.project, without_messages(AgentTrace(), CHAT0))
    post_logs(personas.project, genai_events(trace, CHAT0))
    with CaptureQueriesContext(connection) as queries:
        page = panel(personas.viewer, personas.project, trace, CHAT0)
    assert "Events (3)" in page
    assert "gen_ai.choice" in page
    assert "It is sunny." not in page
    assert "weather assistant" not in page
    log_sql = [q["sql"] for q in queries.captured_queries if "traces_logrecord" in q["sql"]]
    assert len(log_sql) == 1
    assert '"traces_logrecord"."body"' not in log_sql[0]
    assert '"traces_logrecord"."attributes"' not in log_sql[0]


# --- pure: the timeline and the derived messages ------------------------------------------------------


def test_span_events_and_records_are_one_list_in_time_order() -> None:
    events = [{"name": "exception", "time_ns": 3_000, "attributes": {"exception.type": "ValueError"}}]
    logs = [
        {"time_ns": 5_000, "event_name": "", "severity_text": "WARN", "body": "slow", "attributes": {}},
        {"time_ns": 3_000, "event_name": "gen_ai.choice"},  # a viewer's: no payload fields
        {"time_ns": 1_000, "event_name": "gen_ai.user.message", "body": {"content": "hi"}, "attributes": {}},
    ]
    timeline = event_timeline(events, logs)
    assert [(e["source"], e["name"]) for e in timeline] == [
        ("log", "gen_ai.user.message"),
        ("span event", "exception"),  # before the record of the same time
        ("log", "gen_ai.choice"),
        ("log", "(log record)"),
    ]
    assert "detail" not in timeline[2]
    assert '"content": "hi"' in timeline[0]["detail"]
    assert timeline[3]["severity"] == "WARN"
    assert timeline[0]["time"] == "00:00:00.000001"


def test_messages_are_derived_only_where_the_step_has_none_and_payloads_are_shown() -> None:
    logs = [{"time_ns": 1, "event_name": "gen_ai.user.message", "body": {"content": "hi"}, "attributes": {}}]
    derived = with_logs({"input": None, "output": "done"}, logs)
    assert derived["input"] == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert derived["output"] == "done"
    assert derived["derived_from_logs"] == ["input"]
    viewer = with_logs({"span_id": "x"}, [{"time_ns": 1, "event_name": "gen_ai.user.message"}])
    assert "input" not in viewer and "derived_from_logs" not in viewer
    plain = with_logs({"input": None, "output": None}, [{"time_ns": 1, "event_name": "", "body": "a log line"}])
    assert plain["input"] is None and "derived_from_logs" not in plain


def test_a_timestamp_is_shown_to_the_microsecond() -> None:
    (entry,) = event_timeline([], [{"time_ns": 1_760_000_000 * NS + 123_456_789, "event_name": "x"}])
    assert entry["time"] == "08:53:20.123456"


def test_an_operation_details_event_gives_the_messages_in_its_attributes() -> None:
    details = {
        "time_ns": 2,
        "event_name": "gen_ai.client.inference.operation.details",
        "body": None,
        "attributes": {
            "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
            "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}],
        },
    }
    step = with_logs({"input": None, "output": None}, [details])
    assert step["input"] == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert step["output"] == [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
    assert step["derived_from_logs"] == ["input", "output"]


def test_the_export_holds_each_steps_records_for_what_the_caller_may_see(personas: Any) -> None:
    trace = make_run(personas.project, without_messages(AgentTrace(), CHAT0))
    post_logs(personas.project, genai_events(trace, CHAT0))
    url = reverse("run_export", kwargs={"slug": personas.project.slug, "trace_id": trace.trace_hex})
    for user, fields in ((personas.engineer, "body"), (personas.viewer, None)):
        client = Client()
        client.force_login(user)
        steps = {s["span_id"]: s for s in client.get(url).json()["steps"]}
        chat = steps[trace.spans[CHAT0].span_id.hex()]
        assert [log["event_name"] for log in chat["logs"]][-1] == "gen_ai.choice"
        assert all((fields in log) == (fields is not None) for log in chat["logs"])
        assert steps[trace.spans[TOOL].span_id.hex()]["logs"] == []
        if fields:
            assert chat["output"] == [CHOICE]


def test_hostile_names_and_bodies_are_shown_as_text(personas: Any) -> None:
    trace = make_run(personas.project, AgentTrace())
    span = trace.spans[TOOL]
    hostile = LogRecord(
        time_unix_nano=span.start_ns + 10,
        trace_id=trace.trace_id,
        span_id=span.span_id,
        event_name='<img src=x onerror="alert(1)">',
        severity_text="<b>WARN</b>",
        body=value({"content": "<script>alert(2)</script>"}),
    )
    scope = ScopeLogs(log_records=[hostile])
    post_logs(
        personas.project, ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[scope])]).SerializeToString()
    )
    client = Client()
    client.force_login(personas.engineer)
    url = reverse(
        "run_step_panel",
        kwargs={"slug": personas.project.slug, "trace_id": trace.trace_hex, "span_id": span.span_id.hex()},
    )
    raw = client.get(url).content.decode()
    assert "<img" not in raw and "<script>" not in raw and "<b>WARN" not in raw
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in raw
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in raw
