"""An approval's arguments read in the order the agent sent them, in the inbox, the detail page and the
API, and a reviewer's edit in the order the reviewer wrote it; the hash still compares them sorted."""

from __future__ import annotations

import html
import json

import pytest
from django.test import Client
from django.urls import reverse

from agentops.approvals.models import ApprovalRequest
from agentops.approvals.services import arguments_hash
from agentops.tenancy.services import ingest_key_create

pytestmark = pytest.mark.django_db

# Neither sorted nor by length (jsonb's order: b, zeta, alpha, order_id).
ARGUMENTS = {"zeta": 1, "alpha": 2, "order_id": "ORD-7301", "b": {"yy": True, "x": 0}}
KEYS = ["zeta", "alpha", "order_id", "b", "yy", "x"]


def _positions(text: str, keys: list[str]) -> list[int]:
    return [text.index(f'"{key}"') for key in keys]


def _ask(project, agent: Client | None = None) -> dict:
    agent = agent or Client(HTTP_AUTHORIZATION=f"Bearer {ingest_key_create(project=project).secret}")
    body = {"action": "refund", "arguments": ARGUMENTS, "summary": "Refund"}
    response = agent.post("/api/v1/approvals/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_inbox_detail_and_api_show_the_arguments_as_sent(client, personas):
    agent = Client(HTTP_AUTHORIZATION=f"Bearer {ingest_key_create(project=personas.project).secret}")
    created = _ask(personas.project, agent)
    assert json.dumps(created["arguments"]) == json.dumps(ARGUMENTS)
    approval = ApprovalRequest.objects.get(pk=created["id"])
    assert json.dumps(approval.arguments) == json.dumps(ARGUMENTS)

    client.force_login(personas.reviewer)
    for url in (
        reverse("approvals_inbox", kwargs={"slug": personas.project.slug}),
        reverse("approval_detail", kwargs={"slug": personas.project.slug, "approval_id": approval.pk}),
    ):
        page = html.unescape(client.get(url).content.decode())
        shown = page.split('<pre class="json')[1].split("</pre>")[0]
        assert _positions(shown, KEYS) == sorted(_positions(shown, KEYS)), (url, shown)
        # The edit box starts from the same text.
        box = page.split('<textarea name="arguments"')[1].split("</textarea>")[0]
        assert _positions(box, KEYS) == sorted(_positions(box, KEYS)), (url, box)

    read = agent.get(f"/api/v1/approvals/{approval.pk}/").json()
    assert json.dumps(read["arguments"]) == json.dumps(ARGUMENTS)


def test_a_viewer_reads_the_argument_names_in_the_order_sent(client, personas):
    _ask(personas.project)
    client.force_login(personas.viewer)
    page = client.get(reverse("approvals_inbox", kwargs={"slug": personas.project.slug})).content.decode()
    names = ", ".join(f'<span class="mono">{key}</span>' for key in ARGUMENTS)
    assert f"4 arguments: {names}" in page


def test_a_reviewers_edit_keeps_the_order_it_was_written_in(client, personas):
    approval = ApprovalRequest.objects.get(pk=_ask(personas.project)["id"])
    edited = {"order_id": "ORD-7301", "zeta": 0, "alpha": 2, "b": {"x": 0, "yy": True}}
    client.force_login(personas.reviewer)
    decide = reverse("approval_decide", kwargs={"slug": personas.project.slug, "approval_id": approval.pk})
    response = client.post(decide, {"decision": "edit", "arguments": json.dumps(edited), "from": "detail"})
    assert response.status_code in (200, 302)
    approval.refresh_from_db()
    assert json.dumps(approval.final_arguments) == json.dumps(edited)
    assert json.dumps(approval.decisions.get().arguments) == json.dumps(edited)


def test_the_hash_of_arguments_does_not_depend_on_their_order():
    assert arguments_hash(ARGUMENTS) == arguments_hash(dict(reversed(ARGUMENTS.items())))
