"""ProjectAPIView: the per-method permission map (project first, then method, then permission), and the
rules that fail at import: no map, a handler outside the map, an overridden get_queryset. AgentAPIView:
ingest keys in, a person's project through the chokepoint."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from agentops import urls as root_urls
from agentops.tenancy.endpoints import AgentAPIView, ProjectAPIView
from agentops.tenancy.roles import Perm
from agentops.tenancy.services import api_token_create, ingest_key_create

pytestmark = pytest.mark.django_db


class Probe(ProjectAPIView):
    """Reads for any member; writes for admins; DELETE is not mapped (and not served)."""

    required_perms = {"GET": Perm.VIEW_PROJECT, "POST": Perm.ADMIN_PROJECT}

    def get(self, request: Request, slug: str) -> Response:
        return Response({"project": self.project.slug, "payloads": self.payloads})

    def post(self, request: Request, slug: str) -> Response:
        return Response({"done": True})


urlconf = ModuleType("urls_with_a_probe")
urlconf.urlpatterns = [  # type: ignore[attr-defined]
    *root_urls.urlpatterns,
    path("api/v1/projects/<slug:slug>/probe/", Probe.as_view(), name="probe"),
]


@pytest.fixture
def probe(personas):
    with override_settings(ROOT_URLCONF=urlconf):
        yield f"/api/v1/projects/{personas.project.slug}/probe/"


@pytest.mark.parametrize(
    ("persona", "get", "post", "delete"),
    [
        ("viewer", 200, 404, 405),
        ("engineer", 200, 404, 405),
        ("reviewer", 200, 404, 405),
        ("admin", 200, 200, 405),
        # The project is resolved first: an outsider learns nothing from the method either.
        ("outsider", 404, 404, 404),
    ],
)
def test_each_method_needs_its_permission(client, personas, probe, persona, get, post, delete):
    client.force_login(personas.by_role()[persona])
    assert client.get(probe).status_code == get
    assert client.post(probe).status_code == post
    assert client.delete(probe).status_code == delete


def test_anonymous_gets_401_whatever_the_method(client, probe):
    assert [client.generic(m, probe).status_code for m in ("GET", "POST", "DELETE")] == [401, 401, 401]


def test_head_follows_get_and_options_describes_to_members(client, personas, probe):
    client.force_login(personas.viewer)
    assert client.head(probe).status_code == 200
    assert client.options(probe).status_code == 200
    client.force_login(personas.outsider)
    assert client.head(probe).status_code == 404
    assert client.options(probe).status_code == 404


def test_the_view_gets_the_project_and_the_payload_permission(client, personas, probe):
    client.force_login(personas.viewer)
    assert client.get(probe).json() == {"project": personas.project.slug, "payloads": False}
    client.force_login(personas.engineer)
    assert client.get(probe).json()["payloads"] is True


def _define(**body: Any) -> type:
    return type("Defined", (ProjectAPIView,), {"__module__": __name__, **body})


def _get(self: Any, request: Request, slug: str) -> Response:
    return Response({})


def test_a_view_without_a_map_fails_at_import():
    with pytest.raises(ImproperlyConfigured, match="has no required_perms"):
        _define(get=_get)


def test_a_handler_outside_the_map_fails_at_import():
    with pytest.raises(ImproperlyConfigured, match=r"serves \['POST'\] without a permission"):
        _define(required_perms={"GET": Perm.VIEW_PROJECT}, get=_get, post=_get)


def test_get_queryset_is_refused_and_the_bypass_is_named():
    with pytest.raises(ImproperlyConfigured, match=r"defines get_queryset.*dangerously_get_queryset"):
        _define(required_perms={"GET": Perm.VIEW_PROJECT}, get=_get, get_queryset=lambda self: None)
    _define(required_perms={"GET": Perm.VIEW_PROJECT}, get=_get, dangerously_get_queryset=lambda self: None)


def test_an_abstract_base_needs_no_map():
    base = _define()
    with pytest.raises(ImproperlyConfigured, match="has no required_perms"):
        type("Concrete", (base,), {"get": _get})


def test_a_map_removed_after_import_still_refuses(client, personas, probe, monkeypatch):
    client.force_login(personas.admin)
    monkeypatch.setattr(Probe, "required_perms", None)
    with pytest.raises(ImproperlyConfigured, match="has no required_perms"):
        client.get(probe)


def test_the_products_api_views_map_their_methods():
    from traces import api

    for view in (api.RunList, api.RunDetail, api.StepDetail):
        assert view.required_perms == {"GET": Perm.VIEW_PROJECT}


class AgentProbe(AgentAPIView):
    """An ingest key answers with its own project; a person names one (?project=)."""

    def get(self, request: Request) -> Response:
        if self.ingest_key is not None:
            return Response({"key": self.ingest_key.prefix, "project": self.ingest_key.project.slug})
        return Response({"key": None, "project": self.person_project(request.query_params.get("project")).slug})


agent_urlconf = ModuleType("urls_with_an_agent_probe")
agent_urlconf.urlpatterns = [  # type: ignore[attr-defined]
    *root_urls.urlpatterns,
    path("api/v1/agent-probe/", AgentProbe.as_view(), name="agent_probe"),
]


def test_an_agent_view_takes_ingest_keys_and_resolves_a_persons_project(personas):
    minted = ingest_key_create(project=personas.project)
    with override_settings(ROOT_URLCONF=agent_urlconf):
        agent = Client(HTTP_AUTHORIZATION=f"Bearer {minted.secret}")
        assert agent.get("/api/v1/agent-probe/").json() == {"key": minted.key.prefix, "project": personas.project.slug}
        viewer = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=personas.viewer).secret}")
        url = f"/api/v1/agent-probe/?project={personas.project.slug}"
        assert viewer.get(url).json() == {"key": None, "project": personas.project.slug}
        outsider = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=personas.outsider).secret}")
        assert outsider.get(url).status_code == 404
        assert viewer.get("/api/v1/agent-probe/").status_code == 404
        assert Client().get(url).status_code == 401
