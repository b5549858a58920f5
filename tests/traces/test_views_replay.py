"""The replay, step panel, export and compare pages, per persona, with runs stored through ingest."""

from __future__ import annotations

import html
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def replay_url(project, trace: AgentTrace) -> str:
    return reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})


def panel_url(project, trace: AgentTrace, position: int) -> str:
    span = trace.spans[position].span_id.hex()
    return reverse("run_step_panel", kwargs={"slug": project.slug, "trace_id": trace.trace_hex, "span_id": span})


def export_url(project, trace: AgentTrace) -> str:
    return reverse("run_export", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})


def compare_url(project, a: AgentTrace, b: AgentTrace) -> str:
    return reverse("run_compare", kwargs={"slug": project.slug}) + f"?a={a.trace_hex}&b={b.trace_hex}"


def text(response) -> str:
    return html.unescape(response.content.decode())


# AgentTrace spans: [root, chat 0, chat 1, execute_tool lookup_order]; tree order is the same.
ROOT, CHAT0, CHAT1, TOOL = 0, 1, 2, 3


@pytest.fixture
def run(personas) -> AgentTrace:
    return make_run(personas.project, AgentTrace(tool_error=True))


def test_the_replay_page_lists_every_step_with_its_waterfall(personas, run):
    response = client_for(personas.engineer).get(replay_url(personas.project, run))
    assert response.status_code == 200
    page = text(response)
    assert page.count('data-index="') == 4
    for span in run.spans:
        assert f'data-span="{span.span_id.hex()}"' in page
    figure = json.loads(page.split('id="waterfall-data" type="application/json">')[1].split("</script>")[0])
    assert figure["data"][0]["y"] == [1, 2, 3, 4]
    # The failed tool call is the first error, and the button to jump to it is there.
    assert 'data-first-error="3"' in page
    assert 'id="first-error"' in page
    assert "vendor/plotly.min.js" in page and "replay.js" in page


def test_the_replay_page_reads_no_payload_even_for_engineers(personas, run):
    page = text(client_for(personas.engineer).get(replay_url(personas.project, run)))
    assert "Where is order" not in page
    assert "shipped" not in page


def test_a_run_without_errors_has_no_jump_button(personas):
    trace = make_run(personas.project)
    page = text(client_for(personas.engineer).get(replay_url(personas.project, trace)))
    assert "data-first-error" not in page and 'id="first-error"' not in page


def test_open_at_a_step(personas, run):
    page = text(client_for(personas.viewer).get(replay_url(personas.project, run) + "?step=2"))
    assert 'data-current="2"' in page
    page = text(client_for(personas.viewer).get(replay_url(personas.project, run) + "?step=junk"))
    assert 'data-current="0"' in page


def test_the_tool_panel_shows_arguments_and_result_to_an_engineer(personas, run):
    response = client_for(personas.engineer).get(panel_url(personas.project, run, TOOL))
    assert response.status_code == 200
    page = text(response)
    assert "Arguments" in page and '"order": 100' in page
    assert '"status": "shipped"' in page
    assert "lookup failed" in page  # the exception
    # What the agent knew: the last LLM call's input and its answer.
    assert "What the agent knew at this step" in page
    assert "Where is order 101?" in page and "Answer 1" in page
    assert "Raw attributes" in page


def test_the_llm_panel_shows_the_conversation_the_model_saw(personas, run):
    page = text(client_for(personas.engineer).get(panel_url(personas.project, run, CHAT0)))
    assert "Messages the model saw" in page
    assert "You are helpful." in page and "Where is order 100?" in page
    assert "Answer 0" in page  # its output
    assert "Where is order 101?" not in page  # a later call is not known yet
    assert "gpt-4o" in page and "1000 in" in page


def test_a_viewer_sees_structure_timing_tokens_and_cost_but_no_payload(personas, run):
    for position in (CHAT0, TOOL):
        response = client_for(personas.viewer).get(panel_url(personas.project, run, position))
        assert response.status_code == 200
        page = text(response)
        for secret in (
            "Where is order",
            "You are helpful",
            "Answer 0",
            '"order"',
            "shipped",
            "Raw attributes",
            "gen_ai.",
        ):
            assert secret not in page, secret
        assert "your role does not include viewing payloads" in page
    page = text(client_for(personas.viewer).get(panel_url(personas.project, run, CHAT0)))
    assert "1000 in" in page and "gpt-4o" in page and "Latency" in page and "Cost" in page
    page = text(client_for(personas.viewer).get(panel_url(personas.project, run, TOOL)))
    # That it failed, not the exception's message, which is payload (test_error_messages.py).
    assert "lookup failed" not in page and "Error" in page and "lookup_order" in page


def test_export_is_a_json_attachment_with_payloads_for_engineers_only(personas, run):
    response = client_for(personas.engineer).get(export_url(personas.project, run))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="run-{run.trace_hex}.json"'
    data = json.loads(response.content)
    assert data["trace_id"] == run.trace_hex
    assert len(data["steps"]) == 4
    tool = next(s for s in data["steps"] if s["kind"] == "TOOL")
    assert tool["input"] == {"order": 100} and "attributes" in tool

    data = json.loads(client_for(personas.viewer).get(export_url(personas.project, run)).content)
    assert len(data["steps"]) == 4
    assert "input_preview" not in data
    for key in ("input", "output", "attributes", "events"):
        assert all(key not in s for s in data["steps"]), key


def test_compare_marks_the_first_divergence(personas):
    a = make_run(personas.project, AgentTrace(llm_calls=2))
    b = make_run(personas.project, AgentTrace(llm_calls=3))
    response = client_for(personas.viewer).get(compare_url(personas.project, a, b))
    assert response.status_code == 200
    page = text(response)
    # [root, chat, chat, tool] against [root, chat, chat, chat, tool]: B's third chat faces a gap, and
    # the tools are aligned after it.
    assert "They diverge at row 4." in page
    row = page.split('id="divergence"')[1].split("</tr>")[0]
    assert "not in A" in row and "chat gpt-4o" in row and "execute_tool" not in row
    assert "bundle" in page
    assert "payloads are not compared for your role" in page


def test_compare_of_identical_runs_says_so(personas):
    a, b = make_run(personas.project), make_run(personas.project)
    page = text(client_for(personas.engineer).get(compare_url(personas.project, a, b)))
    assert "The two runs take the same steps, with the same tool arguments and results." in page
    assert 'id="divergence"' not in page


def test_compare_without_runs_is_a_form(personas):
    response = client_for(personas.viewer).get(reverse("run_compare", kwargs={"slug": personas.project.slug}))
    assert response.status_code == 200
    assert 'name="a"' in text(response) and 'name="b"' in text(response)


def test_a_run_of_another_project_is_404(personas):
    foreign = make_run(personas.other_project)
    client = client_for(personas.engineer)
    assert client.get(replay_url(personas.project, foreign)).status_code == 404
    assert client.get(export_url(personas.project, foreign)).status_code == 404
    assert client.get(panel_url(personas.project, foreign, TOOL)).status_code == 404
    mine = make_run(personas.project)
    response = client.get(compare_url(personas.project, mine, foreign))
    assert response.status_code == 404
    # The page itself, with its navigation and the form: not a bare 404.
    assert f"Run B: no run with trace id “{foreign.trace_hex}” in this project." in text(response)
    assert 'name="a"' in text(response) and reverse("run_list", kwargs={"slug": personas.project.slug}) in text(
        response
    )
    response = client.get(reverse("run_compare", kwargs={"slug": personas.project.slug}) + "?a=nothex&b=x")
    assert response.status_code == 404 and "Run A: no run with trace id" in text(response)
    # A step of another run, asked for under this one.
    wrong = reverse(
        "run_step_panel",
        kwargs={"slug": personas.project.slug, "trace_id": mine.trace_hex, "span_id": foreign.spans[1].span_id.hex()},
    )
    assert client.get(wrong).status_code == 404


def test_an_outsider_gets_404_from_every_page(personas, run):
    client = client_for(personas.outsider)
    other = make_run(personas.project)
    for url in (
        replay_url(personas.project, run),
        panel_url(personas.project, run, TOOL),
        export_url(personas.project, run),
        compare_url(personas.project, run, other),
        reverse("run_compare", kwargs={"slug": personas.project.slug}),
    ):
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url


def test_anonymous_is_sent_to_log_in(personas, run):
    response = Client().get(replay_url(personas.project, run))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_counts_do_not_grow_with_the_number_of_steps(personas):
    small = make_run(personas.project, AgentTrace(llm_calls=3))  # 5 steps
    large = make_run(personas.project, AgentTrace(llm_calls=198))  # 200 steps
    for user in (personas.engineer, personas.viewer):
        client = client_for(user)
        client.get(replay_url(personas.project, small))  # warm the session and content types
        last = len(small.spans) - 1
        large_last = len(large.spans) - 1
        assert _queries(client, replay_url(personas.project, small)) == _queries(
            client, replay_url(personas.project, large)
        )
        assert _queries(client, panel_url(personas.project, small, last)) == _queries(
            client, panel_url(personas.project, large, large_last)
        )
        assert _queries(client, export_url(personas.project, small)) == _queries(
            client, export_url(personas.project, large)
        )
        assert _queries(client, compare_url(personas.project, small, small)) == _queries(
            client, compare_url(personas.project, large, small)
        )


def _step_sql(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries.captured_queries if "traces_step" in q["sql"]]


PAYLOAD_COLUMNS = (
    '"traces_step"."input"',
    '"traces_step"."output"',
    '"traces_step"."attributes"',
    '"traces_step"."events"',
)


def test_payload_columns_are_not_read_for_viewers_nor_for_the_replay_page(personas, run):
    viewer, engineer = client_for(personas.viewer), client_for(personas.engineer)
    for client, url in (
        (engineer, replay_url(personas.project, run)),
        (viewer, replay_url(personas.project, run)),
        (viewer, panel_url(personas.project, run, TOOL)),
        (viewer, export_url(personas.project, run)),
        (viewer, compare_url(personas.project, run, run)),
    ):
        sql = _step_sql(client, url)
        assert sql, url
        for column in PAYLOAD_COLUMNS:
            assert not any(column in q for q in sql), (url, column)
    # The engineer's panel does read them: the test above would notice a selector that never does.
    sql = _step_sql(engineer, panel_url(personas.project, run, TOOL))
    assert any('"traces_step"."input"' in q for q in sql)


def test_steps_are_read_within_the_runs_time_bounds(personas, run):
    """The step query bounds start_time by the run's: Postgres reads only the partitions the run spans."""
    sql = _step_sql(client_for(personas.viewer), replay_url(personas.project, run))
    assert all('"traces_step"."start_time" >=' in q and '"traces_step"."start_time" <=' in q for q in sql)


def test_different_tool_arguments_are_diffed_for_engineers_only(personas):
    a = make_run(personas.project, AgentTrace())
    other = AgentTrace()
    other.spans[-1].attrs["gen_ai.tool.call.arguments"] = json.dumps({"order": 7, "note": "<b>x</b>"})
    b = make_run(personas.project, other)
    response = client_for(personas.engineer).get(compare_url(personas.project, a, b))
    page = text(response)
    assert "The two runs take the same steps; 1 tool step differs in arguments or result" in page
    diff = page.split('class="payload-diff"')[1].split("</pre>")[0]
    assert '-  "order": 100' in diff and '+  "order": 7' in diff
    assert "<b>x</b>" not in response.content.decode()  # escaped
    page = text(client_for(personas.viewer).get(compare_url(personas.project, a, b)))
    assert "The two runs take the same steps (structure only" in page
    assert '"order"' not in page and "payload-diff" not in page


def test_the_compare_form_offers_recent_runs(personas, run):
    page = text(client_for(personas.viewer).get(reverse("run_compare", kwargs={"slug": personas.project.slug})))
    assert f'<option value="{run.trace_hex}">' in page


def test_a_run_links_to_its_session_and_the_run_list(personas, run):
    page = text(client_for(personas.viewer).get(replay_url(personas.project, run)))
    session = reverse("session_thread", kwargs={"slug": personas.project.slug, "session_id": "session-1"})
    assert f'href="{session}"' in page
    assert f'href="{reverse("run_list", kwargs={"slug": personas.project.slug})}"' in page


def test_the_panel_shows_exception_events_to_engineers_only(personas):
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from tests.otlp import attributes, protobuf
    from traces.ingest.decode import decode_request
    from traces.selectors import load_ingest_config
    from traces.services import ingest_batch

    trace = AgentTrace(tool_error=True)
    spans = trace.built()
    event = {
        "exception.type": "TimeoutError",
        "exception.message": "db slow",
        "exception.stacktrace": "Traceback: line 7",
    }
    spans[-1].events.append(
        Span.Event(time_unix_nano=spans[-1].start_time_unix_nano, name="exception", attributes=attributes(event))
    )
    batch = decode_request(protobuf(spans), "application/x-protobuf")
    ingest_batch(config=load_ingest_config(personas.project.pk), batch=batch)

    page = text(client_for(personas.engineer).get(panel_url(personas.project, trace, TOOL)))
    assert "TimeoutError: db slow" in page and "Traceback: line 7" in page
    page = text(client_for(personas.viewer).get(panel_url(personas.project, trace, TOOL)))
    assert "TimeoutError" in page  # the error's type and message are structure, as in the API
    assert "Traceback: line 7" not in page  # events are payload
