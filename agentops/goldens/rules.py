"""Sampling rules: their checks and writes (create, update, delete), each audited.

What a person sends for a rule (API and page alike), every field checked here and a bad one a
`GoldenError` naming it:
- `name`: 1 to 100 letters, digits, ".", "_", "-" (as set names), unique in the project in any case;
- `golden_set`: the name of a set of the project, where accepted runs go;
- `filter`: the run list's query string (`status=error&agent=support-bot`), or a whole run list URL
  (the part after "?"); parsed by the run list's own parser (traces.filters.parse_filters), so a rule
  matches exactly the runs the run list shows for it. A parameter the run list does not take, or given
  twice, is refused: a typo would otherwise widen the rule to every run;
- `sample_rate`: the percent of matching runs to sample, more than 0 and at most 100, to 0.01;
- `auto_accept` (default false): add sampled runs to the set with no review; `enabled` (default true).

A new rule starts at the runs that change from its creation on (its cursor is the database's clock
then): it samples what finishes from now, not the project's history.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import DateTimeField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.http import QueryDict

from agentops.goldens.models import GoldenSet, SamplingRule
from agentops.goldens.validation import GoldenConflict, GoldenError, clean_name
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project
from traces.filters import FilterError, RunFilters, parse_filters
from traces.models import RunStatus

RULE_FIELDS = frozenset({"name", "golden_set", "filter", "sample_rate", "auto_accept", "enabled"})
MAX_FILTER = 2000
# What traces.filters.parse_filters reads (one per RunFilters field; tests hold the two together). The
# run list's paging parameters (cursor, limit) select no runs and are refused with the rest.
FILTER_PARAMS = frozenset(
    {
        "from",
        "to",
        "status",
        "agent",
        "bundle",
        "environment",
        "model",
        "tool",
        "session",
        "user",
        "min_cost",
        "min_duration_ms",
        "max_cost",
        "max_duration_ms",
        "q",
        "approval",
        "runaway",
    }
)
_RATE_STEP = Decimal("0.01")
_BUCKETS = 10_000  # a rate in hundredths of a percent is a number of buckets out of these


def sampled(trace_id: uuid.UUID, rate: Decimal) -> bool:
    """Whether a run is in the sample of `rate` percent: its trace id hashed into one of 10,000 buckets,
    in when the bucket is below the rate's share. The same run is always in or out at a rate (a pass
    that reads it again decides the same), and a run in the sample of a rate is in that of any higher
    rate. Hashed, not read off the id, as test and replayed trace ids are not always random."""
    bucket = int.from_bytes(hashlib.blake2b(trace_id.bytes, digest_size=8).digest(), "big") % _BUCKETS
    return bucket < int(rate * 100)


def _query(value: Any) -> str:
    if not isinstance(value, str):
        raise GoldenError("filter", "give the run list's query string, such as status=error&agent=support-bot")
    text = value.strip()
    if "?" in text:  # a run list URL pasted whole
        text = text.split("?", 1)[1]
    text = text.split("#", 1)[0].strip().lstrip("&")
    if len(text) > MAX_FILTER or "\x00" in text:
        raise GoldenError("filter", f"give a query string of at most {MAX_FILTER} characters")
    return text


def parse_rule_filter(query: str, *, payloads: bool = True) -> RunFilters:
    """The run filters of a rule's query string (FilterError naming what is wrong)."""
    params = QueryDict(query)
    for key in params:
        if key not in FILTER_PARAMS:
            raise FilterError(f"{key[:60]!r} is not a run list filter; use {', '.join(sorted(FILTER_PARAMS))}")
        if len(params.getlist(key)) > 1:
            raise FilterError(f"{key} is given more than once")
    return parse_filters(params, payloads=payloads)


def clean_filter(value: Any, *, payloads: bool) -> str:
    """A rule's filter, checked by the run list's parser; `payloads`: whether the person may search
    inputs and outputs (the run list's `q`), as on the run list."""
    query = _query(value)
    try:
        filters = parse_rule_filter(query, payloads=payloads)
    except FilterError as exc:
        raise GoldenError("filter", str(exc)) from None
    if filters.status == RunStatus.UNFINISHED:
        raise GoldenError("filter", "rules sample finished runs only: status=unfinished would match none")
    return query


def clean_rate(value: Any) -> Decimal:
    problem = "give a percent of the matching runs: more than 0, at most 100, such as 10 or 2.5"
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise GoldenError("sample_rate", problem)
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise GoldenError("sample_rate", problem) from None
    if not rate.is_finite() or not 0 < rate <= 100:
        raise GoldenError("sample_rate", problem)
    if rate != rate.quantize(_RATE_STEP):
        raise GoldenError("sample_rate", "give the percent to at most two decimals (0.01 is the smallest)")
    return rate.quantize(_RATE_STEP)


def _flag(data: dict[str, Any], field: str, default: bool) -> bool:
    value = data.get(field, default)
    if not isinstance(value, bool):
        raise GoldenError(field, "give true or false")
    return value


def _target(project: Project, value: Any) -> GoldenSet:
    name = clean_name(value, "golden_set")
    found = GoldenSet.objects.filter(project=project, name=name).first()
    if found is None:
        raise GoldenError("golden_set", "this project has no golden set of that name")
    return found


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise GoldenError("detail", "send a JSON object")
    for key in data:
        if key not in RULE_FIELDS:
            raise GoldenError(str(key)[:60], f"unknown field; allowed: {', '.join(sorted(RULE_FIELDS))}")
    return data


def _name_taken(project: Project, name: str, but: SamplingRule | None = None) -> bool:
    rules = SamplingRule.objects.filter(project=project).annotate(lower=Lower("name")).filter(lower=name.lower())
    return (rules.exclude(pk=but.pk) if but else rules).exists()


def _state(rule: SamplingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "golden_set": rule.golden_set.name,
        "filter": rule.filter,
        "sample_rate": str(rule.sample_rate),
        "auto_accept": rule.auto_accept,
        "enabled": rule.enabled,
    }


def _audit(rule: SamplingRule, user: Any, action: str, after: dict[str, Any], before: Any = None) -> None:
    audit_record(
        actor=user,
        action=action,
        target_type="sampling_rule",
        target_id=rule.pk,
        target_label=rule.name,
        before=before,
        after=after,
        project=rule.project,
    )


def _person(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


@transaction.atomic
def rule_create(*, project: Project, user: Any, data: Any, payloads: bool = True) -> SamplingRule:
    data = _object(data)
    for field in ("name", "golden_set", "sample_rate"):
        if field not in data:
            raise GoldenError(field, "this field is required")
    name = clean_name(data["name"])
    golden_set = _target(project, data["golden_set"])
    query = clean_filter(data.get("filter", ""), payloads=payloads)
    rate = clean_rate(data["sample_rate"])
    auto_accept, enabled = _flag(data, "auto_accept", False), _flag(data, "enabled", True)
    if _name_taken(project, name):
        raise GoldenConflict("name", "this project has a sampling rule of that name")
    try:
        with transaction.atomic():
            rule = SamplingRule.objects.create(
                project=project,
                name=name,
                golden_set=golden_set,
                filter=query,
                sample_rate=rate,
                auto_accept=auto_accept,
                enabled=enabled,
                # The clock that stamps runs' updated_at (ingest's now(), its transaction's start; Now()
                # would be the statement's): from here on, nothing before.
                cursor_at=RawSQL("transaction_timestamp()", [], output_field=DateTimeField()),
                created_by=_person(user),
            )
    except IntegrityError:  # created by someone else since the check
        raise GoldenConflict("name", "this project has a sampling rule of that name") from None
    rule.refresh_from_db(fields=["cursor_at"])
    _audit(rule, user, "sampling_rule.create", _state(rule))
    return rule


@transaction.atomic
def rule_update(*, rule: SamplingRule, user: Any, data: Any, payloads: bool = True) -> SamplingRule:
    """Change the fields given. The cursor stays: a changed filter or rate applies from where the rule
    has got to, not to runs it has passed."""
    data = _object(data)
    rule = SamplingRule.objects.select_for_update().select_related("project", "golden_set").get(pk=rule.pk)
    before = _state(rule)
    if "name" in data:
        name = clean_name(data["name"])
        if _name_taken(rule.project, name, but=rule):
            raise GoldenConflict("name", "this project has a sampling rule of that name")
        rule.name = name
    if "golden_set" in data:
        rule.golden_set = _target(rule.project, data["golden_set"])
    if "filter" in data:
        rule.filter = clean_filter(data["filter"], payloads=payloads)
    if "sample_rate" in data:
        rule.sample_rate = clean_rate(data["sample_rate"])
    if "auto_accept" in data:
        rule.auto_accept = _flag(data, "auto_accept", False)
    if "enabled" in data:
        rule.enabled = _flag(data, "enabled", True)
    after = _state(rule)
    if after != before:
        rule.save()
        _audit(rule, user, "sampling_rule.update", after, before)
    return rule


@transaction.atomic
def rule_delete(*, rule: SamplingRule, user: Any) -> None:
    """Delete the rule with its queue; cases it added stay in their set."""
    rule = SamplingRule.objects.select_for_update().select_related("project", "golden_set").get(pk=rule.pk)
    pending = rule.review_items.filter(state="pending").count()
    _audit(rule, user, "sampling_rule.delete", {**_state(rule), "pending_dropped": pending})
    rule.delete()
