"""Erasure of one end user's data in a project (GDPR): `erase_user(project=, user_id=, reason=, actor=)`.

Deletes every run whose end user (Run.user_id) is `user_id`, with all their steps and log records, in
batches of expiry.BATCH runs (each its own transaction), then retracts those runs from the rollups
(traces.rollup_ledger.apply_runs), so that the per-user rollup rows (traces_runhouruser and the top-users
breakdown) no longer name them either. Pins, golden cases, alerts and approvals do not protect a run
from erasure: the user's right to have their data deleted comes first.

Recorded twice, with the counts only: an Erasure row (the list of past erasures) and an audit event
("retention.erasure"). Both keep the user id asked for, which is the proof of what was erased, and who
asked and why; neither keeps anything else of the user's (no run ids, sessions or previews). Whatever
an admin types as the reason is theirs to word: the form asks them not to repeat personal data there.

What it does not reach: golden cases copied from the user's runs, approval requests and budget
reservations that name the user, and exports already made.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentops.retention.errors import RetentionError
from agentops.retention.expiry import BATCH, delete_runs_rows
from agentops.retention.models import Erasure
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project
from traces.models import Run
from traces.rollup_ledger import apply_runs


def _text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RetentionError(field, "is required")
    if len(value) > limit:
        raise RetentionError(field, f"must be at most {limit} characters")
    return value


def erase_user(*, project: Project, user_id: Any, reason: Any, actor: Any) -> Erasure:
    user_id = _text("user_id", user_id, 200)
    reason = _text("reason", reason, 500)
    runs = steps = logs = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            rows = list(Run.objects.filter(project=project, user_id=user_id).values_list("id", "trace_id")[:BATCH])
            if not rows:
                break
            ids = [r[0] for r in rows]
            counts = delete_runs_rows(cursor, project.pk, ids, [r[1] for r in rows], ledger=False)
            # The runs are gone, their ledger rows not: the rollups subtract what those rows say.
            apply_runs(project.pk, ids, now=timezone.now())
        runs, steps, logs = runs + counts[0], steps + counts[1], logs + counts[2]
    with transaction.atomic():
        erasure = Erasure.objects.create(
            project=project,
            user_id=user_id,
            reason=reason,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            requested_by_label=str(actor)[:254],
            runs=runs,
            steps=steps,
            log_records=logs,
        )
        audit_record(
            actor=actor,
            action="retention.erasure",
            target_type="end_user",
            target_id=erasure.pk,
            target_label=f"end user {user_id}"[:254],
            after={"user_id": user_id, "reason": reason, "runs": runs, "steps": steps, "log_records": logs},
            project=project,
        )
    return erasure
