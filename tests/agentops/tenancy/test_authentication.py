"""Ingest keys authenticate through DRF (IngestKeyAuthentication), after the personal token's
authenticator has let them pass, and may call only the endpoints that opt in: GET /api/v1/ingest-key/."""

from __future__ import annotations

import pytest
from django.http import Http404
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from agentops.tenancy import access, services
from agentops.tenancy.authentication import ApiTokenAuthentication, IngestKeyAuthentication, IngestKeyPrincipal
from agentops.tenancy.models import IngestKey

pytestmark = pytest.mark.django_db

WHOAMI = "/api/v1/ingest-key/"


def _request(**headers: str) -> Request:
    return Request(APIRequestFactory().get("/", headers=headers))


def test_the_url_is_stable():
    assert reverse("api_ingest_key") == WHOAMI


def test_the_token_authenticator_leaves_an_ingest_key_to_the_next(personas):
    """Before, it answered 401 to any Bearer secret it did not know, so no later authenticator ever
    saw an ingest key."""
    secret = services.ingest_key_create(project=personas.project).secret
    assert ApiTokenAuthentication().authenticate(_request(Authorization=f"Bearer {secret}")) is None
    assert ApiTokenAuthentication().authenticate(_request(Authorization="Bearer not-shaped-like-a-token")) is None
    with pytest.raises(exceptions.AuthenticationFailed):
        ApiTokenAuthentication().authenticate(_request(Authorization="Bearer aop_made-up"))


def test_the_ingest_key_authenticator_returns_the_keys_project(personas):
    minted = services.ingest_key_create(project=personas.project, name="ci exporter")
    for headers in ({"Authorization": f"Bearer {minted.secret}"}, {"x-api-key": minted.secret}):
        user, auth = IngestKeyAuthentication().authenticate(_request(**headers))  # type: ignore[misc]
        assert isinstance(user, IngestKeyPrincipal)
        assert user.project == personas.project
        assert auth == minted.key == user.key
    assert IngestKeyAuthentication().authenticate(_request(Authorization="Bearer aop_a-personal-token")) is None
    with pytest.raises(exceptions.AuthenticationFailed):
        IngestKeyAuthentication().authenticate(_request(Authorization="Bearer aok_made-up"))


def test_an_agent_checks_its_key(client, personas):
    minted = services.ingest_key_create(project=personas.project, name="ci exporter")
    expected = {
        "project": personas.project.slug,
        "organization": personas.project.organization.slug,
        "key_prefix": minted.key.prefix,
        "key_name": "ci exporter",
    }
    assert client.get(WHOAMI, headers={"Authorization": f"Bearer {minted.secret}"}).json() == expected
    assert client.get(WHOAMI, headers={"x-api-key": minted.secret}).json() == expected
    minted.key.refresh_from_db()
    assert minted.key.last_used_at is not None


def test_a_wrong_or_revoked_key_is_401(client, personas):
    minted = services.ingest_key_create(project=personas.project)
    services.ingest_key_revoke(key=minted.key)
    for secret in (minted.secret, "aok_made-up"):
        response = client.get(WHOAMI, headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
    assert client.get(WHOAMI).status_code == 401


def test_people_are_refused_by_the_agents_endpoint(client, personas):
    token = services.api_token_create(user=personas.admin).secret
    assert client.get(WHOAMI, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    client.force_login(personas.admin)
    assert client.get(WHOAMI).status_code == 403


def test_a_garbage_bearer_is_anonymous(client, personas):
    assert client.get("/api/v1/projects/", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_the_chokepoint_grants_an_ingest_key_nothing(personas, rf):
    """Even a view that let an ingest key in would read nothing through the chokepoint."""
    key = services.ingest_key_create(project=personas.project).key
    principal = IngestKeyPrincipal(project=personas.project, key=IngestKey.objects.get(pk=key.pk))
    assert not access.projects_for(principal).exists()
    assert access.perms_on(principal, personas.project) == frozenset()
    request = rf.get("/")
    request.user = principal
    with pytest.raises(Http404):
        access.project_access(request, personas.project.slug)


class OwnPermissions(APIView):
    """A view that sets its own permission classes, as a future view might."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"user": str(request.user)})


def test_a_view_with_its_own_is_authenticated_still_refuses_ingest_keys(personas):
    secret = services.ingest_key_create(project=personas.project).secret
    view = OwnPermissions.as_view()
    response = view(APIRequestFactory().get("/", headers={"Authorization": f"Bearer {secret}"}))
    assert response.status_code == 403
    token = services.api_token_create(user=personas.viewer).secret
    assert view(APIRequestFactory().get("/", headers={"Authorization": f"Bearer {token}"})).status_code == 200
