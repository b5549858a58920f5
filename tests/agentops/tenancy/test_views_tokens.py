import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.tenancy import services
from agentops.tenancy.models import ApiToken, AuditEvent, hash_secret
from agentops.tenancy.selectors import active_api_token
from tests.factories import make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TOKENS = "/account/tokens/"


def _revoke(token):
    return reverse("account_token_revoke", kwargs={"token_id": token.pk})


def test_anonymous_is_sent_to_login(client):
    for response in (client.get(TOKENS), client.post(reverse("account_token_create"))):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert not ApiToken.objects.exists()


def test_every_user_manages_their_own_tokens(client, personas):
    for user in personas.by_role().values():
        client.force_login(user)
        assert client.get(reverse("account_tokens")).status_code == 200


def test_a_new_token_is_shown_once(client, user):
    client.force_login(user)
    response = client.post(reverse("account_token_create"), {"name": "ci"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    html = response.content.decode()
    start = html.index('<code class="value">') + len('<code class="value">')
    secret = html[start : html.index("</code>", start)]
    assert secret.startswith("aop_") and token.token_hash == hash_secret(secret)
    assert f'curl -H "Authorization: Bearer {secret}" ' in html
    assert active_api_token(secret) == token
    event = AuditEvent.objects.first()
    assert event is not None
    assert (event.action, event.actor, event.after) == (
        "api_token.create",
        user,
        {"name": "ci", "prefix": token.prefix},
    )

    listing = client.get(TOKENS).content.decode()
    assert token.prefix in listing
    assert secret not in listing
    assert secret[len(token.prefix) :] not in listing


def test_users_see_only_their_own_tokens(client, personas):
    mine = services.api_token_create(user=personas.viewer, name="mine")
    theirs = services.api_token_create(user=personas.admin, name="theirs")
    client.force_login(personas.viewer)
    html = client.get(TOKENS).content.decode()
    assert mine.token.prefix in html
    assert theirs.token.prefix not in html


def test_a_user_revokes_their_token(client, user):
    minted = services.api_token_create(user=user)
    client.force_login(user)
    response = client.post(_revoke(minted.token))
    assert response.status_code == 302
    assert response["Location"] == TOKENS
    assert active_api_token(minted.secret) is None
    event = AuditEvent.objects.first()
    assert event is not None
    assert (event.action, event.actor) == ("api_token.revoke", user)


def test_revoking_through_htmx_returns_the_row(client, user):
    minted = services.api_token_create(user=user)
    client.force_login(user)
    response = client.post(_revoke(minted.token), **HTMX)
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith(f'<tr id="token-{minted.token.pk}" class="revoked"')


def test_another_users_token_is_404(client, personas):
    theirs = services.api_token_create(user=personas.admin)
    client.force_login(personas.viewer)
    assert client.post(_revoke(theirs.token)).status_code == 404
    assert client.post(_revoke(theirs.token), **HTMX).status_code == 404
    assert active_api_token(theirs.secret) is not None


def test_the_page_costs_the_same_queries_for_one_token_or_many(client):
    user = make_user()
    services.api_token_create(user=user)
    client.force_login(user)
    with CaptureQueriesContext(connection) as one:
        assert client.get(TOKENS).status_code == 200
    for n in range(5):
        minted = services.api_token_create(user=user, name=f"t{n}")
    services.api_token_revoke(token=minted.token)
    with CaptureQueriesContext(connection) as many:
        response = client.get(TOKENS)
    assert response.content.decode().count('<tr id="token-') == 6
    assert len(many) == len(one)
