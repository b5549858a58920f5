"""Writes of golden sets and their cases. Each is audited (agentops.tenancy.audit.audit_record).

Every change to a set's cases (add, edit, remove, import) runs in one transaction with the set's row
locked first: it writes the next version (GoldenSet.version + 1, a GoldenSetVersion saying what changed)
and its case rows together, so two people changing one set at once make two versions, one after the
other, never two versions of the same number. A change that changes nothing (an edit to the same
values, an import of what is there) makes no version.

Renaming a set or changing its description is not a change of its cases and makes no version.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.db.models.functions import Lower

from agentops.goldens.models import GoldenCase, GoldenSet, GoldenSetVersion
from agentops.goldens.sources import Source, source_of, sources_of_runs
from agentops.goldens.validation import (
    CASE_FIELDS,
    GoldenConflict,
    GoldenError,
    check_case_size,
    clean_case_fields,
    clean_description,
    clean_name,
    clean_span_id,
    clean_trace_id,
)
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project
from traces import selectors as trace_selectors

ADD_FIELDS = CASE_FIELDS | {"source_trace_id", "source_span_id"}


def _person(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _audit(golden_set: GoldenSet, user: Any, action: str, after: dict[str, Any], before: Any = None) -> None:
    audit_record(
        actor=user,
        action=action,
        target_type="golden_set",
        target_id=golden_set.pk,
        target_label=golden_set.name,
        before=before,
        after=after,
        project=golden_set.project,
    )


def _unknown(data: dict[str, Any], allowed: set[str] | frozenset[str], prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise GoldenError(f"{prefix}{str(key)[:60]}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise GoldenError("detail", "send a JSON object")
    return data


def _name_taken(project: Project, name: str, but: GoldenSet | None = None) -> bool:
    sets = GoldenSet.objects.filter(project=project).annotate(lower=Lower("name")).filter(lower=name.lower())
    return (sets.exclude(pk=but.pk) if but else sets).exists()


# --- Sets ---------------------------------------------------------------------------------------------


@transaction.atomic
def golden_set_create(*, project: Project, user: Any, data: Any) -> GoldenSet:
    data = _object(data)
    _unknown(data, {"name", "description"})
    name = clean_name(data.get("name"))
    description = clean_description(data.get("description"))
    if _name_taken(project, name):
        raise GoldenConflict("name", "this project has a golden set of that name")
    try:
        with transaction.atomic():
            golden_set = GoldenSet.objects.create(
                project=project, name=name, description=description, created_by=_person(user)
            )
    except IntegrityError:  # created by someone else since the check
        raise GoldenConflict("name", "this project has a golden set of that name") from None
    _audit(golden_set, user, "golden_set.create", {"name": name, "description": description})
    return golden_set


def _locked(golden_set: GoldenSet) -> GoldenSet:
    return GoldenSet.objects.select_for_update().select_related("project").get(pk=golden_set.pk)


@transaction.atomic
def golden_set_update(*, golden_set: GoldenSet, user: Any, data: Any) -> GoldenSet:
    data = _object(data)
    _unknown(data, {"name", "description"})
    golden_set = _locked(golden_set)
    before = {"name": golden_set.name, "description": golden_set.description}
    if "name" in data:
        name = clean_name(data["name"])
        if _name_taken(golden_set.project, name, but=golden_set):
            raise GoldenConflict("name", "this project has a golden set of that name")
        golden_set.name = name
    if "description" in data:
        golden_set.description = clean_description(data["description"])
    after = {"name": golden_set.name, "description": golden_set.description}
    if after != before:
        golden_set.save(update_fields=["name", "description", "updated_at"])
        _audit(golden_set, user, "golden_set.update", after, before)
    return golden_set


@transaction.atomic
def golden_set_delete(*, golden_set: GoldenSet, user: Any) -> None:
    golden_set = _locked(golden_set)
    cases = GoldenCase.objects.filter(golden_set=golden_set, removed_in__isnull=True).count()
    _audit(golden_set, user, "golden_set.delete", {"version": golden_set.version, "cases": cases})
    golden_set.delete()


# --- Versions -----------------------------------------------------------------------------------------


def _new_version(
    golden_set: GoldenSet, user: Any, note: str, *, added: int = 0, edited: int = 0, removed: int = 0
) -> int:
    """The next version of the locked set, recorded; its number."""
    golden_set.version += 1
    golden_set.save(update_fields=["version", "updated_at"])
    GoldenSetVersion.objects.create(
        golden_set=golden_set,
        number=golden_set.version,
        note=note[:500],
        added=added,
        edited=edited,
        removed=removed,
        created_by=_person(user),
    )
    return golden_set.version


def _new_key(golden_set: GoldenSet) -> str:
    while True:
        key = secrets.token_hex(6)
        if not GoldenCase.objects.filter(golden_set=golden_set, case_key=key).exists():
            return key


def _fresh_key(taken: set[str]) -> str:
    """A new case key not in `taken` (the set's keys, current and old), which it joins: the bulk writes
    pick keys in memory, one query for all."""
    key = secrets.token_hex(6)
    while key in taken:
        key = secrets.token_hex(6)
    taken.add(key)
    return key


def _next_ordinal(golden_set: GoldenSet) -> int:
    top = GoldenCase.objects.filter(golden_set=golden_set).aggregate(top=Max("ordinal"))["top"]
    return (top or 0) + 1


def _live(golden_set: GoldenSet, case_key: str) -> GoldenCase | None:
    return GoldenCase.objects.filter(golden_set=golden_set, case_key=case_key, removed_in__isnull=True).first()


def _source_fields(source: Source | None) -> dict[str, Any]:
    if source is None:
        return {}
    return {
        "source_trace_id": source.trace_id,
        "source_span_id": source.span_id,
        "source_agent": source.agent,
        "source_bundle": source.bundle,
        "source_status": source.status,
        "source_at": source.at,
    }


def _content(case: GoldenCase) -> dict[str, Any]:
    return {k: getattr(case, k) for k in CASE_FIELDS}


# --- Cases --------------------------------------------------------------------------------------------


def _new_case(
    golden_set: GoldenSet,
    user: Any,
    *,
    key: str,
    ordinal: int,
    version: int,
    fields: dict[str, Any],
    source: dict[str, Any],
) -> GoldenCase:
    """A new case of `golden_set` (not saved): its cleaned `fields`, its `source` (_source_fields)."""
    return GoldenCase(
        golden_set=golden_set,
        project_id=golden_set.project_id,
        case_key=key,
        ordinal=ordinal,
        added_in=version,
        input=fields["input"],
        expected_output=fields.get("expected_output"),
        assertions=fields.get("assertions", []),
        tags=fields.get("tags", []),
        notes=fields.get("notes", ""),
        added_by=_person(user),
        reviewed_by=_person(user),
        **source,
    )


@transaction.atomic
def case_add(*, golden_set: GoldenSet, user: Any, data: Any, payloads: bool) -> GoldenCase:
    """Add one case; from a stored run when `source_trace_id` is given (its input taken from the run,
    or from the step `source_span_id`, when no `input` is given: only for callers with `payloads`)."""
    data = _object(data)
    _unknown(data, ADD_FIELDS)
    fields = clean_case_fields(data)
    source = None
    if data.get("source_trace_id") is not None:
        trace_id = clean_trace_id(data["source_trace_id"])
        span = data.get("source_span_id")
        span_id = clean_span_id(span) if span is not None else None
        want_input = fields.get("input") is None
        source = source_of(golden_set.project, trace_id, span_id, want_input=want_input, payloads=payloads)
        if want_input:
            fields["input"] = source.input
    elif data.get("source_span_id") is not None:
        raise GoldenError("source_span_id", "give source_trace_id with it")
    if fields.get("input") is None:
        raise GoldenError("input", "give the case's input, or a source_trace_id to take it from")
    check_case_size(fields)
    golden_set = _locked(golden_set)
    key = _new_key(golden_set)
    version = _new_version(golden_set, user, f"added case {key}", added=1)
    ordinal = _next_ordinal(golden_set)
    case = _new_case(
        golden_set, user, key=key, ordinal=ordinal, version=version, fields=fields, source=_source_fields(source)
    )
    case.save()
    _audit(golden_set, user, "golden_case.add", {"version": version, "case_key": case.case_key})
    return case


def _successor(old: GoldenCase, version: int, fields: dict[str, Any], user: Any) -> GoldenCase:
    """The new row of an edited case: its content with `fields` changed, its key, place and source kept."""
    content = {**_content(old), **fields}
    return GoldenCase(
        golden_set_id=old.golden_set_id,
        project_id=old.project_id,
        case_key=old.case_key,
        ordinal=old.ordinal,
        added_in=version,
        source_trace_id=old.source_trace_id,
        source_span_id=old.source_span_id,
        source_agent=old.source_agent,
        source_bundle=old.source_bundle,
        source_status=old.source_status,
        source_at=old.source_at,
        added_by=old.added_by,
        reviewed_by=_person(user) or old.reviewed_by,
        **content,
    )


@transaction.atomic
def case_edit(*, golden_set: GoldenSet, case_key: str, user: Any, data: Any) -> GoldenCase | None:
    """Change the fields given of the current case `case_key`; None when the set has no such case. The
    case as it was stays in the versions before this one."""
    data = _object(data)
    _unknown(data, CASE_FIELDS)
    fields = clean_case_fields(data)
    if "input" in fields and fields["input"] is None:
        raise GoldenError("input", "a case needs an input")
    golden_set = _locked(golden_set)
    old = _live(golden_set, case_key)
    if old is None:
        return None
    changed = {k: v for k, v in fields.items() if getattr(old, k) != v}
    if not changed:
        return old
    check_case_size({**_content(old), **fields})
    version = _new_version(golden_set, user, f"edited case {case_key}: {', '.join(sorted(changed))}", edited=1)
    old.removed_in = version
    old.save(update_fields=["removed_in"])
    new = _successor(old, version, changed, user)
    new.save()
    _audit(golden_set, user, "golden_case.edit", {"version": version, "case_key": case_key, "fields": sorted(changed)})
    return new


@transaction.atomic
def case_remove(*, golden_set: GoldenSet, case_key: str, user: Any) -> int | None:
    """Remove the current case `case_key`: the new version's number, or None when there is no such case."""
    golden_set = _locked(golden_set)
    old = _live(golden_set, case_key)
    if old is None:
        return None
    version = _new_version(golden_set, user, f"removed case {case_key}", removed=1)
    old.removed_in = version
    old.save(update_fields=["removed_in"])
    _audit(golden_set, user, "golden_case.remove", {"version": version, "case_key": case_key})
    return version


# --- Import ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    version: int
    added: int
    edited: int
    unchanged: int


@transaction.atomic
def cases_import(*, golden_set: GoldenSet, user: Any, cases: list[dict[str, Any]]) -> ImportResult:
    """Apply parsed import lines (agentops.goldens.jsonl.parse_import) as one new version: a line whose
    case_key is a current case edits it (or leaves it, when equal); any other line adds a case (keeping
    its case_key when it has one)."""
    golden_set = _locked(golden_set)
    version = golden_set.version + 1
    live = {c.case_key: c for c in GoldenCase.objects.filter(golden_set=golden_set, removed_in__isnull=True)}
    ordinal = _next_ordinal(golden_set)
    taken = set(GoldenCase.objects.filter(golden_set=golden_set).values_list("case_key", flat=True))
    new_rows: list[GoldenCase] = []
    closed: list[int] = []
    added = edited = unchanged = 0
    for line in cases:
        key, fields, source = line["case_key"], line["fields"], line["source"]
        old = live.get(key) if key else None
        if old is not None:
            changed = {k: v for k, v in fields.items() if getattr(old, k) != v}
            if not changed:
                unchanged += 1
                continue
            closed.append(old.pk)
            new_rows.append(_successor(old, version, changed, user))
            edited += 1
            continue
        if key:
            taken.add(key)
        else:
            key = _fresh_key(taken)
        new_rows.append(
            _new_case(golden_set, user, key=key, ordinal=ordinal, version=version, fields=fields, source=source)
        )
        ordinal += 1
        added += 1
    if not new_rows:
        return ImportResult(version=golden_set.version, added=0, edited=0, unchanged=unchanged)
    note = f"imported {len(cases)} line(s): {added} added, {edited} edited, {unchanged} unchanged"
    _new_version(golden_set, user, note, added=added, edited=edited)
    GoldenCase.objects.filter(pk__in=closed).update(removed_in=version)
    GoldenCase.objects.bulk_create(new_rows, batch_size=500)
    _audit(
        golden_set,
        user,
        "golden_set.import",
        {"version": version, "added": added, "edited": edited, "unchanged": unchanged},
    )
    return ImportResult(version=version, added=added, edited=edited, unchanged=unchanged)


# --- Promotion of runs in bulk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunsAdded:
    version: int
    added: int
    skipped: int  # already in the set: a current case has the run as its source
    without_input: int  # no input could be taken from the run (none stored, or the project stores none)


@transaction.atomic
def cases_add_runs(*, golden_set: GoldenSet, user: Any, trace_ids: list[Any], data: Any, payloads: bool) -> RunsAdded:
    """Add one case per run of `trace_ids` (runs of the set's project; their input taken as case_add takes
    it) as one new version, with the `assertions`, `tags` and `notes` of `data` on every case. A run the
    current version already holds as a source is skipped; a run without an input to take is left out
    and counted. No version when nothing is added."""
    data = _object(data)
    _unknown(data, {"assertions", "tags", "notes"})
    fields = clean_case_fields(data)
    if not payloads:
        raise GoldenError("input", "you may not see these runs' payloads")
    golden_set = _locked(golden_set)
    present = set(
        GoldenCase.objects.filter(
            golden_set=golden_set, removed_in__isnull=True, source_trace_id__in=trace_ids
        ).values_list("source_trace_id", flat=True)
    )
    wanted = [t for t in dict.fromkeys(trace_ids) if t not in present]
    runs = {r.trace_id: r for r in trace_selectors.project_runs(golden_set.project).filter(trace_id__in=wanted)}
    sources = sources_of_runs(golden_set.project, list(runs.values()))
    version = golden_set.version + 1
    ordinal = _next_ordinal(golden_set)
    taken = set(GoldenCase.objects.filter(golden_set=golden_set).values_list("case_key", flat=True))
    rows: list[GoldenCase] = []
    skipped = len(set(trace_ids) & present)
    without_input = 0
    for trace_id in wanted:
        source = sources.get(trace_id)
        try:
            if source is None:
                raise GoldenError("input", "no input to take from this run")
            check_case_size({**fields, "input": source.input})
        except GoldenError:
            without_input += 1
            continue
        key = _fresh_key(taken)
        case_fields = {**fields, "input": source.input, "expected_output": None}
        rows.append(
            _new_case(
                golden_set,
                user,
                key=key,
                ordinal=ordinal,
                version=version,
                fields=case_fields,
                source=_source_fields(source),
            )
        )
        ordinal += 1
    if not rows:
        return RunsAdded(version=golden_set.version, added=0, skipped=skipped, without_input=without_input)
    note = f"added {len(rows)} run(s); {skipped} already in the set, {without_input} without an input"
    _new_version(golden_set, user, note, added=len(rows))
    GoldenCase.objects.bulk_create(rows, batch_size=500)
    _audit(
        golden_set,
        user,
        "golden_case.add_runs",
        {"version": version, "added": len(rows), "skipped": skipped, "case_keys": [r.case_key for r in rows]},
    )
    return RunsAdded(version=version, added=len(rows), skipped=skipped, without_input=without_input)
