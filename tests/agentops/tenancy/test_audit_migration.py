"""The migration to per-project chains leaves the events written before it verifiable as they are."""

import hashlib
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from agentops.tenancy.audit import GENESIS, verify
from agentops.tenancy.models import AuditEvent
from tests.factories import make_project, make_user

BEFORE = [("tenancy", "0001_initial")]
AFTER = [("tenancy", "0002_audit_chains")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _migrate_all():
    """Every app to its latest migration: going back to tenancy 0001 also unapplied every migration that
    depends on a later tenancy one (goldens, budgets...), which the tests after this one need."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_events_written_the_old_way_verify_after_the_migration():
    project, user = make_project(), make_user("old@example.com")
    AuditEvent.objects.all().delete()
    _migrate(BEFORE)
    try:
        prev = GENESIS
        with connection.cursor() as cursor:
            # Exactly what the old audit_record stored: one global chain, hashes of the old body.
            for actor_id, label in [
                (None, "system (command line)"),
                (user.pk, "old@example.com"),
                (None, "system (command line)"),
            ]:
                at = timezone.now()
                body = {
                    "organization": project.organization_id,
                    "project": project.pk,
                    "actor": label,
                    "action": "old.thing",
                    "target_type": "thing",
                    "target_id": "7",
                    "target_label": "",
                    "before": None,
                    "after": {"k": "v"},
                    "created_at": at.isoformat(),
                }
                canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
                digest = hashlib.sha256((prev + canonical).encode()).hexdigest()
                cursor.execute(
                    "INSERT INTO tenancy_auditevent (organization_id, project_id, actor_id, actor_label, action,"
                    " target_type, target_id, target_label, before, after, created_at, prev_hash, hash)"
                    " VALUES (%s, %s, %s, %s, 'old.thing', 'thing', '7', '', NULL, %s, %s, %s, %s)",
                    [project.organization_id, project.pk, actor_id, label, '{"k": "v"}', at, prev, digest],
                )
                prev = digest
    finally:
        _migrate(AFTER)
        _migrate_all()
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.chain for e in events] == ["legacy"] * 3
    assert [e.actor_kind for e in events] == ["system", "user", "system"]
    assert verify() is None
