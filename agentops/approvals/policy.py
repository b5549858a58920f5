"""The approval settings of a project (ApprovalPolicy): its default expiry and its callback secret.

- `approval_settings(project)` -> the policy, or the defaults (unsaved) when the project has none.
- `approval_settings_update(project=, default_expires_in=, actor=)`: the expiry a request gets when its
  agent gives none, within services.MIN_EXPIRES_IN..MAX_EXPIRES_IN (ApprovalInvalid names the field).
- `callback_secret(project)`: the secret that signs the decisions POSTed to callback URLs, minted
  ("whsec_...") on first need, by the first decision with a callback or an admin's first look.
- `callback_secret_rotate(project=, actor=)`: a new secret; the callbacks still to go (retries
  included) are signed with it from then on.

Changes are audited ("approval.settings"), never with the secret in them.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction

from agentops.approvals.models import ApprovalPolicy
from agentops.approvals.services import MAX_EXPIRES_IN, MIN_EXPIRES_IN, ApprovalInvalid
from agentops.notify.services import SECRET_PREFIX
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project


def _mint() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def approval_settings(project: Project) -> ApprovalPolicy:
    """The project's settings, or the defaults (unsaved) when it has none yet: reading stores nothing."""
    return ApprovalPolicy.objects.filter(project=project).first() or ApprovalPolicy(project=project)


def _stored(project: Project) -> ApprovalPolicy:
    policy, _ = ApprovalPolicy.objects.get_or_create(project=project)
    return policy


def callback_secret(project: Project) -> str:
    policy = _stored(project)
    if not policy.callback_secret:
        # Only if still empty: two first decisions at once agree on one secret, the one stored first.
        ApprovalPolicy.objects.filter(pk=policy.pk, callback_secret="").update(callback_secret=_mint())
        policy.refresh_from_db(fields=["callback_secret"])
    return policy.callback_secret


def _audit(project: Project, actor: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
    audit_record(
        actor=actor,
        action="approval.settings",
        target_type="approval_settings",
        target_id=project.pk,
        target_label=f"approval settings of {project.slug}",
        before=before,
        after=after,
        project=project,
    )


@transaction.atomic
def approval_settings_update(*, project: Project, default_expires_in: Any, actor: Any) -> ApprovalPolicy:
    if isinstance(default_expires_in, bool) or not isinstance(default_expires_in, int):
        raise ApprovalInvalid("default_expires_in", "must be a whole number of seconds")
    if not MIN_EXPIRES_IN <= default_expires_in <= MAX_EXPIRES_IN:
        raise ApprovalInvalid("default_expires_in", f"must be between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN} seconds")
    _stored(project)
    policy = ApprovalPolicy.objects.select_for_update().get(project=project)
    before = policy.default_expires_in
    if before != default_expires_in:
        policy.default_expires_in = default_expires_in
        policy.save(update_fields=["default_expires_in"])
        _audit(project, actor, {"default_expires_in": before}, {"default_expires_in": default_expires_in})
    return policy


@transaction.atomic
def callback_secret_rotate(*, project: Project, actor: Any) -> str:
    _stored(project)
    policy = ApprovalPolicy.objects.select_for_update().get(project=project)
    policy.callback_secret = _mint()
    policy.save(update_fields=["callback_secret"])
    _audit(project, actor, {}, {"callback_secret": "rotated"})
    return policy.callback_secret
