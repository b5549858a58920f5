"""A project's retention policy: read, create with the environment's defaults, change (audited).

- `retention_policy(project)` -> the stored policy, or one (unsaved) with the environment's defaults for
  a project that has none (created before this app).
- `policy_create_default(project)`: the row a new project gets (agentops.retention.signals).
- `retention_policy_update(project=, data=, actor=)`: `data` holds any of payload_days, step_days and
  run_days (a whole number of days >= 1, or None for ever); the result must keep payload <= step <= run.
  RetentionError names the field; an accepted change is audited ("retention.policy", before and after).
"""

from __future__ import annotations

import itertools
from typing import Any

from django.conf import settings
from django.db import transaction

from agentops.retention.errors import RetentionError
from agentops.retention.models import RetentionPolicy
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project

FIELDS = ("payload_days", "step_days", "run_days")
MAX_DAYS = 36500  # a century: beyond, the cutoff date is out of Python's range


def defaults() -> dict[str, int | None]:
    return {
        "payload_days": settings.RETENTION_PAYLOAD_DAYS,
        "step_days": settings.RETENTION_STEP_DAYS,
        "run_days": settings.RETENTION_RUN_DAYS,
    }


def retention_policy(project: Project) -> RetentionPolicy:
    return RetentionPolicy.objects.filter(project=project).first() or RetentionPolicy(project=project, **defaults())


def policy_create_default(project: Project) -> RetentionPolicy:
    policy, _ = RetentionPolicy.objects.get_or_create(project=project, defaults=defaults())
    return policy


def as_dict(policy: RetentionPolicy) -> dict[str, int | None]:
    return {name: getattr(policy, name) for name in FIELDS}


def _days(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise RetentionError(field, f"must be a whole number of days from 1 to {MAX_DAYS}, or null to keep for ever")
    return value


def validate(values: dict[str, int | None]) -> None:
    """payload <= step <= run, null being for ever (RetentionError names the shorter-lived field)."""
    for shorter, longer in itertools.pairwise(FIELDS):
        short, long = values[shorter], values[longer]
        if long is not None and (short is None or short > long):
            raise RetentionError(shorter, f"must be at most {longer} ({long} days): nothing outlives what holds it")


@transaction.atomic
def retention_policy_update(*, project: Project, data: dict[str, Any], actor: Any) -> RetentionPolicy:
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise RetentionError(unknown[0], "is not a retention setting")
    policy_create_default(project)
    policy = RetentionPolicy.objects.select_for_update().get(project=project)
    before = as_dict(policy)
    after = before | {name: _days(name, data[name]) for name in FIELDS if name in data}
    validate(after)
    if after != before:
        for name, value in after.items():
            setattr(policy, name, value)
        policy.save()
        audit_record(
            actor=actor,
            action="retention.policy",
            target_type="retention_policy",
            target_id=project.pk,
            target_label=f"retention of {project.slug}",
            before=before,
            after=after,
            project=project,
        )
    return policy
