"""Retention objects as the API shows them."""

from __future__ import annotations

from typing import Any

from agentops.retention.models import Erasure, Pin, RetentionPolicy
from agentops.retention.policy import FIELDS, defaults


def policy_dict(policy: RetentionPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in FIELDS} | {"defaults": defaults()}


def pin_dict(pin: Pin) -> dict[str, Any]:
    return {
        "trace_id": pin.trace_id.hex,
        "reason": pin.reason,
        "pinned_by": str(pin.pinned_by) if pin.pinned_by else None,
        "created_at": pin.created_at.isoformat(),
    }


def erasure_dict(erasure: Erasure) -> dict[str, Any]:
    return {
        "id": erasure.pk,
        "user_id": erasure.user_id,
        "reason": erasure.reason,
        "requested_by": erasure.requested_by_label,
        "created_at": erasure.created_at.isoformat(),
        "deleted": {"runs": erasure.runs, "steps": erasure.steps, "log_records": erasure.log_records},
    }
