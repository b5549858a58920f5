import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.tenancy import services
from agentops.tenancy.roles import Perm, Role
from tests.factories import make_project, make_user

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"


def _bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_the_url_is_stable():
    assert reverse("api_projects") == PROJECTS


def test_anonymous_gets_401_with_the_scheme_to_use(client, personas):
    response = client.get(PROJECTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_personal_token_lists_the_projects_with_role_and_permissions(client, personas):
    secret = services.api_token_create(user=personas.engineer).secret
    response = client.get(PROJECTS, **_bearer(secret))
    assert response.status_code == 200
    project = personas.project
    assert response.json() == [
        {
            "slug": project.slug,
            "name": project.name,
            "organization": {"slug": project.organization.slug, "name": project.organization.name},
            "role": "engineer",
            "permissions": ["view_project", "view_payloads", "manage_goldens", "manage_alerts"],
        }
    ]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_its_permissions(client, personas, role):
    client.force_login(personas.by_role()[role.value])
    (item,) = client.get(PROJECTS).json()
    assert item["role"] == role.value
    assert set(item["permissions"]) == {p.value for p in role.perms}


def test_session_authentication_works_for_reads(client, personas):
    client.force_login(personas.viewer)
    response = client.get(PROJECTS)
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()] == [personas.project.slug]


def test_a_revoked_token_is_401(client, personas):
    minted = services.api_token_create(user=personas.admin)
    services.api_token_revoke(token=minted.token)
    assert client.get(PROJECTS, **_bearer(minted.secret)).status_code == 401


def test_a_made_up_token_is_401(client, personas):
    assert client.get(PROJECTS, **_bearer("aop_not-a-real-token")).status_code == 401


def test_an_ingest_key_reads_nothing(client, personas):
    key = services.ingest_key_create(project=personas.project).secret
    response = client.get(PROJECTS, **_bearer(key))
    # Authenticated (it is a real key) but refused: this endpoint did not opt in to ingest keys.
    assert response.status_code == 403
    assert "Ingest keys may not call this endpoint" in response.json()["detail"]
    assert personas.project.slug not in response.content.decode()


def test_a_token_of_a_deactivated_user_is_401(client, personas):
    secret = services.api_token_create(user=personas.admin).secret
    personas.admin.is_active = False
    personas.admin.save()
    assert client.get(PROJECTS, **_bearer(secret)).status_code == 401


def test_the_outsider_sees_only_their_own_projects(client, personas):
    secret = services.api_token_create(user=personas.outsider).secret
    slugs = [p["slug"] for p in client.get(PROJECTS, **_bearer(secret)).json()]
    assert slugs == [personas.other_project.slug]


def test_a_superuser_sees_every_project_with_every_permission(client, personas):
    client.force_login(make_user(superuser=True))
    items = client.get(PROJECTS).json()
    assert {p["slug"] for p in items} == {personas.project.slug, personas.other_project.slug}
    for item in items:
        assert item["role"] is None
        assert item["permissions"] == [p.value for p in Perm]


def test_the_list_costs_the_same_queries_for_one_project_or_many(client):
    user = make_user()
    services.membership_grant(user=user, project=make_project(), role=Role.ADMIN)
    client.force_login(user)
    client.get(PROJECTS)  # warms the process's content type cache, which an earlier test may have filled
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(PROJECTS).json()) == 1
    for role in Role:
        services.membership_grant(user=user, project=make_project(), role=role)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(PROJECTS).json()) == 5
    assert len(many) == len(one)


def test_the_openapi_schema_describes_the_endpoint(client):
    response = client.get(reverse("api_schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"][PROJECTS]["get"]
    item = schema["components"]["schemas"]["Project"]
    assert set(item["properties"]) == {"slug", "name", "organization", "role", "permissions"}
    assert operation["responses"]["200"]
    assert {"apiToken": []} in operation["security"]
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token (aop_...), created on the API tokens page.",
    }


def test_the_docs_page_loads_its_assets_locally(client):
    response = client.get(reverse("api_docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for asset in assets:
        # Swagger UI's start-up code is served by the page itself (?script), as a file: no inline script.
        assert asset.startswith("/static/") or asset == reverse("api_docs") + "?script=", asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        # Reading a streamed file to its end is what closes it (calling close() would end the test's transaction).
        assert b"".join(served.streaming_content) if served.streaming else served.content, asset
    assert "cdn" not in html.lower()
