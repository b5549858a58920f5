"""Exception messages are payload: they repeat tool arguments ("refund of 4990.00 USD exceeds order total
49.90 for ORD-7301"). A Viewer sees that a step failed and the exception's type, never its message, in the
replay (tree tooltip and step panel), the compare page, the REST API and the export; an Engineer sees it."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

MESSAGE = "refund of 4990.00 USD exceeds order total 49.90 for ORD-7301"
SECRET = "ORD-7301"


@pytest.fixture
def failed(personas) -> AgentTrace:
    trace = AgentTrace(tool_error=True)
    tool = trace.spans[-1]
    tool.error = MESSAGE
    tool.attrs["error.type"] = "RefundError"
    return make_run(personas.project, trace)


def _urls(project, trace: AgentTrace) -> dict[str, str]:
    slug, trace_hex, tool = project.slug, trace.trace_hex, trace.spans[-1].span_id.hex()
    run = {"slug": slug, "trace_id": trace_hex}
    return {
        "replay": reverse("run_replay", kwargs=run),
        "panel": reverse("run_step_panel", kwargs={**run, "span_id": tool}),
        "export": reverse("run_export", kwargs=run),
        "compare": reverse("run_compare", kwargs={"slug": slug}) + f"?a={trace_hex}&b={trace_hex}",
        "api run": f"/api/v1/projects/{slug}/runs/{trace_hex}/",
        "api step": f"/api/v1/projects/{slug}/runs/{trace_hex}/steps/{tool}/",
    }


def _texts(user, project, trace) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    out = {}
    for name, url in _urls(project, trace).items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        out[name] = html.unescape(response.content.decode())
    return out


def test_a_viewer_sees_the_failure_and_its_type_but_not_the_message(personas, failed):
    for name, body in _texts(personas.viewer, personas.project, failed).items():
        assert SECRET not in body, name
    texts = _texts(personas.viewer, personas.project, failed)
    assert "RefundError" in texts["panel"] and "RefundError" in texts["api step"]


def test_an_engineer_sees_the_message_everywhere(personas, failed):
    texts = _texts(personas.engineer, personas.project, failed)
    for name in ("replay", "panel", "export", "api run", "api step"):
        assert MESSAGE in texts[name], name
