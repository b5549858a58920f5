"""Per-project audit chains: actors, verification (and tampering caught), legacy events, locking."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from agentops.tenancy import services
from agentops.tenancy.audit import GENESIS, LEGACY_CHAIN, _digest, audit_record, verify, verify_chain
from agentops.tenancy.authentication import IngestKeyPrincipal
from agentops.tenancy.models import AuditEvent
from tests.factories import make_org, make_project, make_user


def _note(project, n, **kwargs):
    return audit_record(actor=None, action="test.note", target_type="note", target_id=n, project=project, **kwargs)


def _legacy(project, action, actor_label="system (command line)"):
    """An event written the way the code before per-project chains wrote it: one global chain, the old body."""
    last = AuditEvent.objects.filter(chain=LEGACY_CHAIN).order_by("-id").values_list("hash", flat=True).first()
    event = AuditEvent(
        organization=project.organization,
        project=project,
        chain=LEGACY_CHAIN,
        actor_kind="system",
        actor_label=actor_label,
        action=action,
        target_type="thing",
        target_id="1",
        after={"n": action},
        created_at=timezone.now(),
        prev_hash=last or GENESIS,
    )
    old_body = {
        "organization": event.organization_id,
        "project": event.project_id,
        "actor": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "before": event.before,
        "after": event.after,
        "created_at": event.created_at.isoformat(),
    }
    event.hash = _digest(event.prev_hash, old_body)
    event.save()
    return event


def _raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_each_project_has_its_own_chain_and_project_less_events_their_organizations():
    a, b = make_project(), make_project()
    first_a, first_b, second_a = _note(a, 1), _note(b, 1), _note(a, 2)
    assert first_a.chain == f"project:{a.pk}" and first_b.chain == f"project:{b.pk}"
    assert second_a.prev_hash == first_a.hash
    # b's first note starts after project b's own creation event, not after a's note.
    assert first_b.prev_hash == AuditEvent.objects.get(chain=first_b.chain, action="project.create").hash
    org_event = audit_record(actor=None, action="org.note", target_type="org", target_id=1, organization=a.organization)
    assert org_event.chain == f"org:{a.organization.pk}"
    assert verify() is None and verify(a) is None


@pytest.mark.django_db
def test_actors_are_users_ingest_keys_or_a_named_part_of_the_system():
    project = make_project()
    user = make_user("alice@example.com")
    key = services.ingest_key_create(project=project, name="agent-7").key
    by_user = audit_record(actor=user, action="a", target_type="t", target_id=1, project=project)
    assert (by_user.actor_kind, by_user.actor_label, by_user.actor) == ("user", "alice@example.com", user)
    by_key = audit_record(actor=key, action="a", target_type="t", target_id=1, project=project)
    assert by_key.actor_kind == "ingest_key" and by_key.actor is None
    assert by_key.actor_label == f"ingest key {key.prefix}… (agent-7)"
    by_principal = audit_record(
        actor=IngestKeyPrincipal(project=project, key=key), action="a", target_type="t", target_id=1, project=project
    )
    assert by_principal.actor_label == by_key.actor_label
    assert _note(project, 2).actor_label == "system (command line)"
    beat = _note(project, 3, system="beat job alerts.evaluate")
    assert (beat.actor_kind, beat.actor_label) == ("system", "system (beat job alerts.evaluate)")
    assert verify() is None


@pytest.mark.django_db
def test_an_edited_field_is_caught_and_named():
    project = make_project()
    events = [_note(project, n) for n in range(4)]
    assert verify() is None
    victim = events[2]
    _raw("UPDATE tenancy_auditevent SET target_id = %s WHERE id = %s", ["forged", victim.pk])
    broken = verify()
    assert broken is not None and broken.event_id == victim.pk
    assert broken.check == "hash does not match the event's content"
    assert verify(project) == broken
    assert verify_chain() == victim.pk
    with pytest.raises(CommandError, match=f"event {victim.pk} .*hash does not match"):
        call_command("audit", "verify")
    with pytest.raises(CommandError, match=f"event {victim.pk} "):
        call_command("audit", "verify", "--project", project.slug)


@pytest.mark.django_db
def test_a_deleted_event_is_caught_at_the_next_one():
    project = make_project()
    events = [_note(project, n) for n in range(4)]
    _raw("DELETE FROM tenancy_auditevent WHERE id = %s", [events[1].pk])
    broken = verify()
    assert broken is not None and broken.event_id == events[2].pk
    assert "prev_hash" in broken.check and broken.chain == f"project:{project.pk}"


@pytest.mark.django_db
def test_moving_an_event_to_another_chain_is_caught():
    a, b = make_project(), make_project()
    moved = _note(a, 1)
    _raw("UPDATE tenancy_auditevent SET chain = %s WHERE id = %s", [f"project:{b.pk}", moved.pk])
    assert verify() is not None


@pytest.mark.django_db
def test_other_projects_are_not_blamed_and_an_intact_project_verifies(capsys):
    a, b = make_project(), make_project()
    _note(a, 1)
    victim = _note(b, 1)
    _raw("UPDATE tenancy_auditevent SET after = %s WHERE id = %s", ['{"x": 1}', victim.pk])
    assert verify(a) is None
    call_command("audit", "verify", "--project", a.slug)
    assert f"project {a.slug}" in capsys.readouterr().out


@pytest.mark.django_db
def test_legacy_events_still_verify_beside_new_chains_and_their_tampering_is_caught():
    AuditEvent.objects.all().delete()  # the fixtures' own events would sit between legacy ones
    a, b = make_project(), make_project()
    AuditEvent.objects.all().delete()
    old = [_legacy(a, "old.1"), _legacy(b, "old.2"), _legacy(a, "old.3")]
    _note(a, 1), _note(b, 1)
    old.append(_legacy(b, "old.4"))  # cannot happen after the cut-over, but the chains stay apart
    assert verify() is None
    call_command("audit", "verify")
    _raw("UPDATE tenancy_auditevent SET actor_label = %s WHERE id = %s", ["someone else", old[1].pk])
    broken = verify()
    assert broken is not None and broken.event_id == old[1].pk and broken.chain == LEGACY_CHAIN


@pytest.mark.django_db
def test_verify_exits_zero_when_intact(capsys):
    _note(make_project(), 1)
    call_command("audit", "verify")
    assert "intact" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_two_projects_write_in_overlapping_transactions_one_project_waits():
    org = make_org()
    a, b = make_project(org), make_project(org)
    holding, release = threading.Event(), threading.Event()
    failures = []

    def hold_a_open():
        try:
            with transaction.atomic():
                _note(a, 1)
                holding.set()
                release.wait(60)  # a safety net only: the main thread releases it
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            holding.set()
            connections.close_all()

    writer = threading.Thread(target=hold_a_open)
    writer.start()
    try:
        assert holding.wait(60)
        # Project b is not held up by a's open transaction: with a's lock shared it would time out here.
        with transaction.atomic():
            _raw("SET LOCAL lock_timeout = '20s'", [])
            _note(b, 1)
        # A second writer to project a is: its chain's lock is held.
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            _raw("SET LOCAL lock_timeout = '200ms'", [])
            _note(a, 2)
    finally:
        release.set()
        writer.join()
    assert not failures
    assert verify() is None
    assert AuditEvent.objects.filter(action="test.note").count() == 2
