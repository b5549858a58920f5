"""A golden set's own gate: the thresholds an eval run of the set uses when its request names none.

The gate is cleaned by the same code as a request's (agentops.goldens.gate.clean_gate), so a typo in a
key is refused here as it is from `agentops eval`. Changing it is audited with the old and new gate.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agentops.goldens.gate import GateConfigError, clean_gate
from agentops.goldens.models import GoldenSet
from agentops.goldens.validation import GoldenError
from agentops.tenancy.audit import audit_record


@transaction.atomic
def golden_set_gate_update(*, golden_set: GoldenSet, user: Any, gate: Any) -> GoldenSet:
    """Replace the set's gate ({} or null: the defaults, every case must pass); GoldenError naming the
    bad key (`gate.accuracy.tool_calls`) and nothing saved otherwise."""
    try:
        cleaned = clean_gate(gate)
    except GateConfigError as exc:
        raise GoldenError(exc.field, exc.message) from None
    golden_set = GoldenSet.objects.select_for_update().select_related("project").get(pk=golden_set.pk)
    before = golden_set.gate
    if cleaned != before:
        golden_set.gate = cleaned
        golden_set.save(update_fields=["gate", "updated_at"])
        audit_record(
            actor=user,
            action="golden_set.gate",
            target_type="golden_set",
            target_id=golden_set.pk,
            target_label=golden_set.name,
            before={"gate": before},
            after={"gate": cleaned},
            project=golden_set.project,
        )
    return golden_set
