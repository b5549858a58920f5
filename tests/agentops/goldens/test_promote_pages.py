"""Promotion into golden sets from the UI (agentops.goldens.promote_views): a run or a step from its replay,
and the runs of a run-list filter in bulk with a preview and a cap; who sees the buttons, who may act."""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agentops.goldens import selectors
from agentops.goldens.models import GoldenCase, GoldenSet
from agentops.goldens.services import case_add, cases_add_runs, golden_set_create
from agentops.tenancy.models import AuditEvent
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.models import Run

pytestmark = pytest.mark.django_db

NO_ERROR = json.dumps({"type": "no_error"})
TOOLS = json.dumps({"type": "tools_called", "tools": ["lookup_order"]})


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _run_url(project, trace: AgentTrace) -> str:
    return reverse("golden_promote_run", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})


def _step_url(project, trace: AgentTrace, position: int) -> str:
    span = trace.spans[position].span_id.hex()
    return reverse("golden_promote_step", kwargs={"slug": project.slug, "trace_id": trace.trace_hex, "span_id": span})


def _bulk_url(project) -> str:
    return reverse("golden_promote_runs", kwargs={"slug": project.slug})


def _replay(project, trace: AgentTrace) -> str:
    return reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})


def test_the_form_shows_the_input_the_prefilled_output_and_the_suggested_assertions(personas):
    project = personas.project
    trace = make_run(project, AgentTrace(tool_error=True))
    page = _client(personas.engineer).get(_run_url(project, trace))
    body = html.unescape(page.content.decode())
    assert page.status_code == 200
    assert "Where is order 100?" in body  # the input case_add takes: the first LLM step's messages
    assert ">Answer 1</textarea>" in body  # the last LLM step's answer, as text
    assert f'value="{NO_ERROR}" checked' in body and f'value="{TOOLS}" checked' in body


def test_an_engineer_adds_a_run_to_a_new_set_with_an_edited_expected_output(personas):
    project, client = personas.project, _client(personas.engineer)
    trace = make_run(project, AgentTrace(tool_error=True))
    added = client.post(
        _run_url(project, trace),
        {
            "new_set": "checkout-failures",
            "expected_output": "Your order 100 has shipped.",
            "expected_format": "text",
            "assertion": [TOOLS],  # no_error dropped
            "assertions": '[{"type": "contains", "value": "shipped"}]',
            "tags": "failed, refund",
            "notes": "seen in prod",
        },
    )
    assert added.status_code == 302
    golden_set = GoldenSet.objects.get(project=project, name="checkout-failures")
    assert added["Location"] == reverse("golden_set", kwargs={"slug": project.slug, "set_name": golden_set.name})
    (case,) = selectors.cases_at(golden_set)
    assert case.expected_output == "Your order 100 has shipped."
    assert [a["type"] for a in case.assertions] == ["tools_called", "contains"]
    assert case.tags == ["failed", "refund"] and case.notes == "seen in prod"
    assert case.source_trace_id is not None and case.source_trace_id.hex == trace.trace_hex
    assert case.source_status == "error" and case.added_by == personas.engineer
    assert isinstance(case.input, list) and case.input[1]["role"] == "user"
    assert AuditEvent.objects.filter(action="golden_case.add", project=project).count() == 1

    again = client.post(_run_url(project, trace), {"set": "checkout-failures", "expected_output": '{"a": 1}'})
    assert again.status_code == 302
    golden_set.refresh_from_db()
    assert golden_set.version == 2


def test_a_refused_case_is_shown_beside_its_field_and_leaves_no_new_set(personas):
    project, client = personas.project, _client(personas.engineer)
    trace = make_run(project)
    refused = client.post(
        _run_url(project, trace),
        {"new_set": "fresh", "assertion": [NO_ERROR], "assertions": '[{"type": "max_steps", "value": "many"}]'},
    )
    body = refused.content.decode()
    assert refused.status_code == 400 and 'id="error-assertions"' in body and "assertions[1].value" in body
    assert 'value="fresh"' in body  # what was typed stays
    assert not GoldenSet.objects.filter(project=project).exists()  # the set and the case: one transaction
    no_set = client.post(_run_url(project, trace), {"expected_output": ""})
    assert no_set.status_code == 400 and 'id="error-set"' in no_set.content.decode()
    golden_set_create(project=project, user=None, data={"name": "taken"})
    clash = client.post(_run_url(project, trace), {"new_set": "TAKEN"})
    assert clash.status_code == 409 and 'id="error-set"' in clash.content.decode()


def test_a_step_is_added_with_its_own_input_and_output(personas):
    project, client = personas.project, _client(personas.engineer)
    trace = make_run(project, AgentTrace(llm_calls=1))
    # Tree order: root, chat, execute_tool lookup_order.
    form = client.get(_step_url(project, trace, 2))
    body = html.unescape(form.content.decode())
    assert form.status_code == 200 and '"order": 100' in body and '"status": "shipped"' in body
    assert f'value="{TOOLS}" checked' in body  # the step's own subtree: the tool itself
    added = client.post(_step_url(project, trace, 2), {"new_set": "tools", "expected_output": '{"status": "shipped"}'})
    assert added.status_code == 302
    case = GoldenCase.objects.get(golden_set__name="tools")
    assert case.source_span_id is not None and case.input == {"order": 100}
    assert case.expected_output == {"status": "shipped"}
    page = client.get(added["Location"]).content.decode()
    assert f"{_replay(project, trace)}?span={trace.spans[2].span_id.hex()}" in html.unescape(page)
    # The replay opens at that step.
    replay = client.get(_replay(project, trace), {"span": trace.spans[2].span_id.hex()}).content.decode()
    assert 'data-current="2"' in replay


def test_only_managers_with_payloads_see_the_buttons_and_may_promote(personas):
    project = personas.project
    trace = make_run(project)
    panel = reverse(
        "run_step_panel",
        kwargs={"slug": project.slug, "trace_id": trace.trace_hex, "span_id": trace.spans[1].span_id.hex()},
    )
    runs = reverse("run_list", kwargs={"slug": project.slug})
    engineer, viewer = _client(personas.engineer), _client(personas.viewer)
    assert 'id="add-run-to-golden"' in engineer.get(_replay(project, trace)).content.decode()
    assert _step_url(project, trace, 1) in engineer.get(panel).content.decode()
    assert 'id="add-runs-to-golden"' in engineer.get(runs, {"status": "ok"}).content.decode()
    assert 'id="add-run-to-golden"' not in viewer.get(_replay(project, trace)).content.decode()
    assert "add-to-golden-set" not in viewer.get(panel).content.decode()
    assert 'id="add-runs-to-golden"' not in viewer.get(runs).content.decode()
    for url in (_run_url(project, trace), _step_url(project, trace, 1), _bulk_url(project)):
        assert viewer.get(url).status_code == 404, url
        assert viewer.post(url, {"new_set": "mine"}).status_code == 404, url
    assert not GoldenSet.objects.exists()
    # Another project's run or step under this project's slug is 404, even for its admin.
    theirs = make_run(personas.other_project)
    admin = _client(personas.admin)
    assert admin.get(_run_url(project, theirs)).status_code == 404
    assert admin.get(_step_url(project, theirs, 1)).status_code == 404
    # A step of another run of this project is not a step of this run.
    mine = make_run(project)
    wrong = reverse(
        "golden_promote_step",
        kwargs={"slug": project.slug, "trace_id": trace.trace_hex, "span_id": mine.spans[1].span_id.hex()},
    )
    assert admin.get(wrong).status_code == 404


def _runs(project, count, **kwargs):
    now = timezone.now()
    return [
        make_run(project, AgentTrace(start_ns=int((now - timedelta(minutes=10 + i)).timestamp() * 1e9), **kwargs))
        for i in range(count)
    ]


def test_bulk_preview_counts_the_filtered_runs_and_caps_them(personas):
    project, client = personas.project, _client(personas.engineer)
    failed = _runs(project, 4, tool_error=True)
    _runs(project, 2)
    golden_set = golden_set_create(project=project, user=None, data={"name": "failures"})
    case_add(golden_set=golden_set, user=None, data={"source_trace_id": failed[0].trace_hex}, payloads=True)
    runs_page = client.get(reverse("run_list", kwargs={"slug": project.slug}), {"status": "error"}).content.decode()
    assert f'{_bulk_url(project)}?status=error"' in runs_page

    preview = client.get(_bulk_url(project), {"status": "error", "cap": "3", "set": "failures"})
    body = preview.content.decode()
    assert preview.status_code == 200
    assert "<strong>4</strong> runs match" in body and "the newest <strong>3</strong> (cap 3)" in body
    assert "<strong>1</strong> of them already in" in body  # failed[0], the newest
    assert body.count('class="preview-row') == 3 and body.count("already in the set</span>") == 1
    assert 'name="to" value="' in body  # the end pinned for the confirmation
    assert client.get(_bulk_url(project), {"cap": "501"}).status_code == 400
    assert client.get(_bulk_url(project), {"status": "bogus"}).status_code == 400


def test_bulk_confirm_adds_the_runs_as_one_version_and_skips_those_in_the_set(personas):
    project, client = personas.project, _client(personas.engineer)
    failed = _runs(project, 4, tool_error=True, agent="A")
    _runs(project, 2, agent="A")
    _runs(project, 1, tool_error=True, agent="B")
    golden_set = golden_set_create(project=project, user=None, data={"name": "failures"})
    case_add(golden_set=golden_set, user=None, data={"source_trace_id": failed[1].trace_hex}, payloads=True)
    to = timezone.now().isoformat()
    form = {
        "status": "error",
        "agent": "A",
        "to": to,
        "cap": "3",
        "set": "failures",
        "assertion": [NO_ERROR],
        "tags": "bulk, <b>",
    }
    done = client.post(_bulk_url(project), form)
    assert done.status_code == 302
    golden_set.refresh_from_db()
    assert golden_set.version == 2  # one version for the whole batch
    version = selectors.set_version(golden_set, 2)
    assert version is not None and version.added == 2
    added = GoldenCase.objects.filter(golden_set=golden_set, added_in=2)
    assert {c.source_trace_id.hex for c in added if c.source_trace_id} == {failed[0].trace_hex, failed[2].trace_hex}
    assert all(c.assertions == [{"type": "no_error"}] and c.tags == ["bulk", "<b>"] for c in added)
    assert all(isinstance(c.input, list) and c.input[1]["role"] == "user" and c.source_agent == "A" for c in added)
    audit = AuditEvent.objects.get(action="golden_case.add_runs", project=project)
    assert audit.after == {"version": 2, "added": 2, "skipped": 1, "case_keys": [c.case_key for c in added]}
    page = client.get(done["Location"]).content.decode()
    assert "Added 2 run(s) to failures as version 2; 1 already in the set." in html.unescape(page)

    again = client.post(_bulk_url(project), form)
    assert again.status_code == 302
    golden_set.refresh_from_db()
    assert golden_set.version == 2  # every run already in the set: no version
    bigger = client.post(_bulk_url(project), {**form, "cap": "10", "set": "", "new_set": "all-a"})
    assert bigger.status_code == 302
    assert selectors.case_count_at(GoldenSet.objects.get(name="all-a"), 1) == 4
    refused = client.post(_bulk_url(project), {**form, "assertions": '{"type": "nope"}'})
    assert refused.status_code == 400 and 'id="error-assertions"' in refused.content.decode()


def test_bulk_takes_each_runs_input_as_case_add_does_and_counts_runs_without_one(personas):
    project = personas.project
    with_input, without = make_run(project, AgentTrace(llm_calls=2)), make_run(project, AgentTrace(llm_calls=0))
    one = golden_set_create(project=project, user=None, data={"name": "one"})
    single = case_add(golden_set=one, user=None, data={"source_trace_id": with_input.trace_hex}, payloads=True)
    bulk = golden_set_create(project=project, user=None, data={"name": "bulk"})
    ids = [Run.objects.get(project=project, trace_id=t.trace_hex).trace_id for t in (with_input, without)]
    result = cases_add_runs(golden_set=bulk, user=None, trace_ids=ids, data={}, payloads=True)
    assert (result.version, result.added, result.skipped, result.without_input) == (1, 1, 0, 1)
    (case,) = selectors.cases_at(GoldenSet.objects.get(pk=bulk.pk))
    fields = ("input", "source_trace_id", "source_span_id", "source_agent", "source_bundle", "source_status")
    assert [getattr(case, f) for f in fields] == [getattr(single, f) for f in fields]
    # Another project's run is not taken, whatever id is given.
    theirs = make_run(personas.other_project)
    other = Run.objects.get(project=personas.other_project, trace_id=theirs.trace_hex).trace_id
    refused = cases_add_runs(golden_set=bulk, user=None, trace_ids=[other], data={}, payloads=True)
    assert (refused.added, refused.without_input) == (0, 1)


def test_hostile_values_from_the_trace_are_escaped_in_the_form_and_stored_as_sent(personas):
    project, client = personas.project, _client(personas.engineer)
    script = '<script>alert("x")</script>'
    trace = AgentTrace(llm_calls=1)
    asked = [{"role": "user", "parts": [{"type": "text", "content": script}]}]
    answered = [{"role": "assistant", "parts": [{"type": "text", "content": script}]}]
    trace.spans[1].attrs["gen_ai.input.messages"] = json.dumps(asked)
    trace.spans[1].attrs["gen_ai.output.messages"] = json.dumps(answered)
    trace.spans[2].attrs["gen_ai.tool.name"] = script
    make_run(project, trace)
    form = client.get(_run_url(project, trace))
    body = form.content.decode()
    assert form.status_code == 200 and script not in body
    assert html.escape(script) in body  # the input, and the prefilled expected output
    hostile_tools = json.dumps({"type": "tools_called", "tools": [script]})
    assert f'value="{html.escape(hostile_tools)}"' in body
    added = client.post(
        _run_url(project, trace),
        {"new_set": "hostile", "assertion": [hostile_tools], "expected_output": script, "expected_format": "text"},
    )
    assert added.status_code == 302
    case = GoldenCase.objects.get(golden_set__name="hostile")
    assert [(a["type"], a["tools"]) for a in case.assertions] == [("tools_called", [script])]
    assert case.expected_output == script and case.input == asked
    page = client.get(added["Location"]).content.decode()
    assert script not in page
