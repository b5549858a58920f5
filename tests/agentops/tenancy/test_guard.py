"""The tenancy guard: a project-scoped view that skips the chokepoint fails the system check at startup
and is refused at run time; the only way around is visibly named `dangerously_skip_tenancy`."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import path, re_path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentops import urls as root_urls
from agentops.pages import project_view
from agentops.tenancy import guard
from agentops.tenancy.checks import check_project_views, refuse_to_start
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

pytestmark = pytest.mark.django_db

ran: list[str] = []


def leaky_page(request: HttpRequest, slug: str) -> HttpResponse:
    """What someone might write: looks the project up by slug alone, for anyone."""
    ran.append("leaky_page")
    return HttpResponse(Project.objects.get(slug=slug).name)


class LeakyAPI(APIView):
    def get(self, request: Request, slug: str) -> Response:
        ran.append("LeakyAPI")
        return Response({"name": Project.objects.get(slug=slug).name})


@guard.dangerously_skip_tenancy("a probe for tests: answers the slug it was given, nothing stored")
def echo_slug(request: HttpRequest, slug: str) -> HttpResponse:
    return JsonResponse({"slug": slug})


@project_view(Perm.VIEW_PROJECT)
def declared_page(request: HttpRequest, project: Project) -> HttpResponse:
    return HttpResponse(project.name)


@guard.mark_project_view
def falsely_marked(request: HttpRequest, slug: str) -> HttpResponse:
    """Carries the mark by hand but never resolves its project: the guard's second look catches it."""
    return HttpResponse(Project.objects.get(slug=slug).name)


class ForgotSuper(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        pass  # skips authentication and the chokepoint

    def get(self, request: Request, slug: str) -> Response:
        return Response({"name": Project.objects.get(slug=slug).name})


def _urlconf(*extra: Any) -> ModuleType:
    module = ModuleType("urls_with_extra_views")
    module.urlpatterns = [*root_urls.urlpatterns, *extra]  # type: ignore[attr-defined]
    return module


LEAKS = _urlconf(
    path("p/<slug:slug>/leak/", leaky_page, name="leak_page"),
    path("api/v1/projects/<slug:slug>/leak/", LeakyAPI.as_view(), name="leak_api"),
    re_path(r"^p/(?P<slug>[-\w]+)/leak-re/$", leaky_page, name="leak_re"),
    # Under /p/ without capturing `slug`: still a project URL.
    path("p/<str:project>/other/", leaky_page, name="leak_other_name"),
)
DECLARED = _urlconf(
    path("p/<slug:slug>/declared/", declared_page, name="declared"),
    path("p/<slug:slug>/echo/", echo_slug, name="echo"),
    path("p/<slug:slug>/falsely-marked/", falsely_marked, name="falsely_marked"),
    path("api/v1/projects/<slug:slug>/forgot-super/", ForgotSuper.as_view(), name="forgot_super"),
)


def test_every_project_scoped_url_of_the_product_passes_the_chokepoint():
    assert check_project_views() == []
    call_command("check", "--fail-level", "ERROR")
    refuse_to_start()


def test_a_view_without_the_chokepoint_fails_the_system_check():
    with override_settings(ROOT_URLCONF=LEAKS):
        errors = check_project_views()
        assert [e.id for e in errors] == ["agentops.tenancy.E001"] * 4
        assert all(isinstance(e, Error) for e in errors)
        assert "p/<slug:slug>/leak/" in errors[0].msg and "leaky_page" in errors[0].msg
        assert "dangerously_skip_tenancy" in (errors[0].hint or "")
        assert any("LeakyAPI" in e.msg for e in errors)
        # `check` (and so `agentops up`) refuses to go on, and so does the web process as it loads.
        with pytest.raises(SystemCheckError, match=r"agentops\.tenancy\.E001"):
            call_command("check")
        with pytest.raises(ImproperlyConfigured, match=r"agentops\.tenancy\.E001.*leaky_page"):
            refuse_to_start()


def test_declared_views_and_the_named_escape_pass_the_check():
    with override_settings(ROOT_URLCONF=DECLARED):
        assert check_project_views() == []
    assert guard.declaration(echo_slug) == (
        "dangerously_skip_tenancy: a probe for tests: answers the slug it was given, nothing stored"
    )


def test_the_escape_needs_a_reason():
    with pytest.raises(ImproperlyConfigured, match="needs a reason"):
        guard.dangerously_skip_tenancy("  ")


@pytest.mark.parametrize("url", ["/p/{slug}/leak/", "/api/v1/projects/{slug}/leak/", "/p/{slug}/leak-re/"])
def test_a_view_without_the_chokepoint_is_refused_at_run_time(client, personas, url):
    """An outsider asking a leaky view for the project gets the same 404 as for any other project, and
    the view never runs (even for a member)."""
    ran.clear()
    url = url.format(slug=personas.project.slug)
    with override_settings(ROOT_URLCONF=LEAKS):
        for user in (personas.outsider, personas.admin):
            client.force_login(user)
            response = client.get(url)
            assert response.status_code == 404
            assert personas.project.name not in response.content.decode()
    assert ran == []


def test_in_debug_the_refusal_says_what_to_do(client, personas):
    client.force_login(personas.admin)
    with (
        override_settings(ROOT_URLCONF=LEAKS, DEBUG=True),
        pytest.raises(ImproperlyConfigured, match=r"without the tenancy chokepoint.*dangerously_skip_tenancy"),
    ):
        client.get(f"/p/{personas.project.slug}/leak/")


def test_declared_views_run(client, personas):
    client.force_login(personas.viewer)
    slug = personas.project.slug
    with override_settings(ROOT_URLCONF=DECLARED):
        assert client.get(f"/p/{slug}/declared/").status_code == 200
        assert client.get(f"/p/{slug}/echo/").json() == {"slug": slug}
        client.force_login(personas.outsider)
        assert client.get(f"/p/{slug}/declared/").status_code == 404


@pytest.mark.parametrize("url", ["/p/{slug}/falsely-marked/", "/api/v1/projects/{slug}/forgot-super/"])
def test_a_declared_view_that_never_resolved_its_project_is_refused(client, personas, url):
    client.force_login(personas.outsider)
    url = url.format(slug=personas.project.slug)
    with override_settings(ROOT_URLCONF=DECLARED):
        response = client.get(url)
        assert response.status_code == 404
        assert personas.project.name not in response.content.decode()
        with override_settings(DEBUG=True), pytest.raises(ImproperlyConfigured, match="without resolving"):
            client.get(url)


@pytest.mark.parametrize(
    ("route", "scoped"),
    [
        ("p/<slug:slug>/", True),
        ("^p/(?P<slug>[-a-zA-Z0-9_]+)/runs/(?P<trace_id>[0-9a-fA-F]{32})/$", True),
        ("api/v1/projects/<slug:slug>/runs/", True),
        ("api/v1/projects/<str:name>/", True),
        ("p/<str:project>/", True),
        ("reports/<slug:slug>/", True),
        ("api/v1/projects/", False),
        ("account/tokens/<int:token_id>/revoke/", False),
        ("v1/traces", False),
        ("", False),
    ],
)
def test_which_routes_are_project_scoped(route, scoped):
    assert guard.is_project_scoped(route) is scoped
