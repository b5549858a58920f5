import pytest

from agentops.tenancy import services
from agentops.tenancy.audit import verify_chain
from agentops.tenancy.models import AuditEvent, IngestKey, Membership, hash_secret
from agentops.tenancy.roles import Role
from agentops.tenancy.selectors import active_api_token, active_ingest_key
from tests.factories import make_project, make_user

pytestmark = pytest.mark.django_db


def test_ingest_key_is_shown_once_and_stored_as_a_hash():
    project = make_project()
    minted = services.ingest_key_create(project=project, name="ci")
    assert minted.secret.startswith("aok_")
    assert minted.key.prefix == minted.secret[:10]
    stored = IngestKey.objects.get(pk=minted.key.pk)
    assert stored.key_hash == hash_secret(minted.secret)
    assert minted.secret not in {stored.key_hash, stored.prefix, stored.name}
    assert active_ingest_key(minted.secret) == stored
    assert IngestKey.objects.get(pk=stored.pk).last_used_at is not None


def test_revoked_ingest_key_no_longer_authenticates():
    minted = services.ingest_key_create(project=make_project())
    services.ingest_key_revoke(key=minted.key)
    assert active_ingest_key(minted.secret) is None
    assert active_ingest_key("aok_not-a-key") is None
    assert active_ingest_key("") is None


def test_api_token_authenticates_its_user_until_revoked():
    user = make_user()
    minted = services.api_token_create(user=user)
    assert minted.secret.startswith("aop_")
    token = active_api_token(minted.secret)
    assert token is not None and token.user == user
    services.api_token_revoke(token=minted.token)
    assert active_api_token(minted.secret) is None


def test_an_ingest_key_is_not_an_api_token():
    minted = services.ingest_key_create(project=make_project())
    assert active_api_token(minted.secret) is None


def test_role_changes_are_audited_with_before_and_after():
    project = make_project()
    actor = make_user()
    user = make_user()
    services.membership_grant(user=user, project=project, role=Role.VIEWER, actor=actor)
    services.membership_grant(user=user, project=project, role=Role.ENGINEER, actor=actor)
    membership = Membership.objects.get(user=user, project=project)
    services.membership_revoke(membership=membership, actor=actor)
    events = list(AuditEvent.objects.filter(project=project, target_type="user").order_by("id"))
    assert [(e.action, e.before, e.after) for e in events] == [
        ("membership.grant", None, {"role": "viewer"}),
        ("membership.change_role", {"role": "viewer"}, {"role": "engineer"}),
        ("membership.revoke", {"role": "engineer"}, None),
    ]
    assert all(e.actor == actor and e.actor_label == actor.email for e in events)


def test_the_last_admin_cannot_be_removed_or_demoted():
    project = make_project()
    admin = make_user()
    services.membership_grant(user=admin, project=project, role=Role.ADMIN)
    with pytest.raises(services.TenancyError, match="last admin"):
        services.membership_grant(user=admin, project=project, role=Role.VIEWER)
    with pytest.raises(services.TenancyError, match="last admin"):
        services.membership_revoke(membership=Membership.objects.get(user=admin))
    second = make_user()
    services.membership_grant(user=second, project=project, role=Role.ADMIN)
    services.membership_grant(user=admin, project=project, role=Role.VIEWER)


def test_audit_chain_verifies_and_detects_tampering():
    project = make_project()
    services.ingest_key_create(project=project)
    services.ingest_key_create(project=project)
    assert verify_chain() is None
    victim = AuditEvent.objects.filter(action="ingest_key.create").order_by("id").first()
    assert victim is not None
    AuditEvent.objects.filter(pk=victim.pk).update(after={"name": "forged"})
    assert verify_chain() == victim.pk


def test_duplicate_slugs_are_numbered_and_explicit_duplicates_refused():
    org = services.organization_create(name="Acme")
    assert org.slug == "acme"
    assert services.organization_create(name="Acme").slug == "acme-2"
    with pytest.raises(services.TenancyError, match="exists already"):
        services.organization_create(name="Other", slug="acme")
    with pytest.raises(services.TenancyError, match="lowercase"):
        services.organization_create(name="Other", slug="Not A Slug")


def test_bootstrap_runs_once():
    first = services.bootstrap_first_run()
    assert first is not None
    assert first.admin.check_password(first.password)
    key = active_ingest_key(first.ingest_key.secret)
    assert key is not None and key.project == first.project
    assert services.bootstrap_first_run() is None
