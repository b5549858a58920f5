"""Reads of the retention app: a project's pins and past erasures, newest first, bounded."""

from __future__ import annotations

from django.db.models import QuerySet

from agentops.retention.models import Erasure, Pin
from agentops.tenancy.models import Project

LIST_LIMIT = 200


def pins_of(project: Project) -> QuerySet[Pin]:
    return Pin.objects.filter(project=project).select_related("pinned_by")[:LIST_LIMIT]


def erasures_of(project: Project) -> QuerySet[Erasure]:
    return Erasure.objects.filter(project=project)[:LIST_LIMIT]
