"""Security headers (agentops.headers) and the public API docs (agentops.api_docs)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from agentops.headers import CONTENT_SECURITY_POLICY
from tests.factories import make_run

pytestmark = pytest.mark.django_db


def test_pages_and_api_answers_carry_the_policy_and_are_never_stored(personas):
    trace = make_run(personas.project)
    client = Client()
    client.force_login(personas.engineer)
    slug = personas.project.slug
    for url in (
        reverse("run_list", kwargs={"slug": slug}),
        reverse("run_replay", kwargs={"slug": slug, "trace_id": trace.trace_hex}),
        reverse("run_export", kwargs={"slug": slug, "trace_id": trace.trace_hex}),
        f"/api/v1/projects/{slug}/runs/{trace.trace_hex}/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
        assert response["Cache-Control"] == "no-store", url
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_every_method_on_the_api_docs_answers_without_a_server_error(client):
    assert client.options("/api/docs/").status_code == 200
    assert client.post("/api/docs/").status_code == 405
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/docs/?script=")["Content-Type"].startswith("application/javascript")
    assert client.options("/api/schema/").status_code == 200


def test_the_public_schema_names_no_tenant(client, personas):
    make_run(personas.project)
    schema = client.get("/api/schema/").content.decode()
    for secret in (personas.project.slug, personas.project.name, personas.project.organization.name):
        assert secret not in schema
    assert "/api/v1/projects/{slug}/runs/" in schema
