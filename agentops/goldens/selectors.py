"""Reads of golden sets, scoped to a project the caller resolved through the tenancy chokepoint.

`cases_at(golden_set, version)` is a version's content (see agentops.goldens.models for how rows make
versions); `pinned_trace_ids(project)` is what retention must keep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from django.db.models import Count, Q, QuerySet

from agentops.goldens.models import GoldenCase, GoldenSet, GoldenSetVersion
from agentops.tenancy.models import Project

EXPORT_CHUNK = 500


def project_sets(project: Project) -> QuerySet[GoldenSet]:
    """The project's sets with `case_count`, their current version's number of cases."""
    live = Q(cases__removed_in__isnull=True)
    return GoldenSet.objects.filter(project=project).annotate(case_count=Count("cases", filter=live))


def project_set(project: Project, name: str) -> GoldenSet | None:
    return GoldenSet.objects.filter(project=project, name=name).first()


def _live_at(version: int) -> Q:
    return Q(added_in__lte=version) & (Q(removed_in__isnull=True) | Q(removed_in__gt=version))


def cases_at(golden_set: GoldenSet, version: int | None = None) -> QuerySet[GoldenCase]:
    """The cases of `version` (default: the current one), in the order they were first added (an edit
    keeps a case's place)."""
    at = golden_set.version if version is None else version
    cases = GoldenCase.objects.filter(golden_set=golden_set).filter(_live_at(at))
    return cases.select_related("added_by", "reviewed_by").order_by("ordinal", "id")


def case_count_at(golden_set: GoldenSet, version: int) -> int:
    return GoldenCase.objects.filter(golden_set=golden_set).filter(_live_at(version)).count()


def case_at(golden_set: GoldenSet, case_key: str, version: int | None = None) -> GoldenCase | None:
    return cases_at(golden_set, version).filter(case_key=case_key).first()


def set_version(golden_set: GoldenSet, number: int) -> GoldenSetVersion | None:
    return GoldenSetVersion.objects.filter(golden_set=golden_set, number=number).select_related("created_by").first()


def set_versions(golden_set: GoldenSet, limit: int) -> list[GoldenSetVersion]:
    """The set's newest `limit` versions, newest first (version 0, the creation, has no row)."""
    versions = GoldenSetVersion.objects.filter(golden_set=golden_set).select_related("created_by")
    return list(versions.order_by("-number")[:limit])


def iter_cases(golden_set: GoldenSet, version: int) -> Iterator[GoldenCase]:
    """A version's cases for the export, read in chunks: constant memory for any set size."""
    return cases_at(golden_set, version).iterator(chunk_size=EXPORT_CHUNK)


def pinned_trace_ids(project: Project) -> QuerySet[GoldenCase, uuid.UUID | None]:
    """The trace ids of every run a case of the project came from, in any version of any set: retention
    must not delete these runs (`Run.objects.filter(trace_id__in=...)` excludes them in one query). Never
    None: rows without a source are left out."""
    rows = GoldenCase.objects.filter(project=project, source_trace_id__isnull=False)
    # No ordering: the model's default order would be selected too and make DISTINCT per row.
    return rows.order_by().values_list("source_trace_id", flat=True).distinct()
