import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agentops.tenancy.access import perms_on
from agentops.tenancy.models import ApiToken, IngestKey, Membership, Organization, Project, User
from agentops.tenancy.roles import Perm
from agentops.tenancy.selectors import active_api_token, active_ingest_key

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict:
    out = StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_the_whole_setup_from_the_command_line():
    org = run("createorg", "Acme Corp")
    assert org["slug"] == "acme-corp"
    project = run("createproject", "--org", "acme-corp", "Support bot")
    assert project["slug"] == "support-bot"
    key_row = active_ingest_key(project["ingest_key"])
    assert key_row is not None and key_row.project.slug == "support-bot"
    key = run("createkey", "--project", "support-bot", "--name", "staging")
    assert IngestKey.objects.get(pk=key["id"]).name == "staging"
    user = run("createuser", "Eng@Example.com")
    assert user["email"] == "eng@example.com"
    assert User.objects.get(email="eng@example.com").check_password(user["password"])
    grant = run("grant", "eng@example.com", "--project", "support-bot", "--role", "Engineer")
    assert grant["role"] == "engineer"
    eng = User.objects.get(email="eng@example.com")
    assert Perm.VIEW_PAYLOADS in perms_on(eng, Project.objects.get(slug="support-bot"))
    token = run("createtoken", "eng@example.com")
    token_row = active_api_token(token["token"])
    assert token_row is not None and token_row.user == eng


def test_given_password_is_not_echoed():
    result = run("createuser", "a@example.com", "--password", "s3cret-enough-pass")
    assert "password" not in result
    assert User.objects.get(email="a@example.com").check_password("s3cret-enough-pass")


def test_text_output_prints_the_otel_lines():
    run("createorg", "Acme")
    out = StringIO()
    call_command("createproject", "--org", "acme", "Bot", stdout=out)
    text = out.getvalue()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http" in text
    assert "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20aok_" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("createproject", "--org", "nope", "Bot"), "no organization 'nope'"),
        (("createkey", "--project", "nope"), "no project with slug 'nope'"),
        (("grant", "ghost@example.com", "--project", "bot", "--role", "viewer"), "no user"),
        (("grant", "someone@example.com", "--project", "bot", "--role", "owner"), "unknown role 'owner'"),
        (("grant", "someone@example.com", "--project", "nope", "--role", "viewer"), "no project"),
        (("createtoken", "ghost@example.com"), "no user"),
        (("createuser", "someone@example.com"), "exists already"),
        (("createuser", "not-an-email"), "not an e-mail address"),
        (("createorg", "Acme"), None),  # a second org of the same name gets a numbered slug
        (("createorg", "Other", "--slug", "acme"), "exists already"),
    ],
)
def test_wrong_names_fail_with_a_message_and_change_nothing(args, message):
    run("createorg", "Acme")
    run("createproject", "--org", "acme", "Bot")
    run("createuser", "someone@example.com")
    counts = [m.objects.count() for m in (Organization, Project, User, Membership, IngestKey, ApiToken)]
    if message is None:
        run(*args)
        return
    with pytest.raises(CommandError, match=message):
        call_command(*args, stdout=StringIO())
    assert [m.objects.count() for m in (Organization, Project, User, Membership, IngestKey, ApiToken)] == counts


@pytest.mark.slow
def test_console_script_exit_codes(tmp_path):
    """The real `agentops` entry point, in a fresh AGENTOPS_HOME with its own embedded database."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env["AGENTOPS_HOME"] = str(tmp_path / "home")
    cmd = [sys.executable, "-m", "agentops"]
    subprocess.run([*cmd, "migrate", "-v", "0"], env=env, check=True, capture_output=True, timeout=300)
    ok = subprocess.run([*cmd, "createorg", "Acme", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["slug"] == "acme"
    bad = subprocess.run(
        [*cmd, "grant", "x@example.com", "--project", "p", "--role", "boss"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0
    assert "unknown role 'boss'" in bad.stderr
