"""Reads of notifications: a project's channels with their delivery state, and recent attempts."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from agentops.notify.models import Channel, DeliveryAttempt, OutboxMessage
from agentops.tenancy.models import Project

RECENT_ATTEMPTS = 50


def project_channels(project: Project) -> QuerySet[Channel]:
    """The project's channels, each with `pending`: its messages still to go."""
    return (
        Channel.objects.filter(project=project)
        .select_related("created_by")
        .annotate(pending=Count("messages", filter=Q(messages__state=OutboxMessage.State.PENDING)))
        .order_by("name", "id")
    )


def project_channel(project: Project, channel_id: int) -> Channel | None:
    """One channel of the project; None for a channel of another project, whatever its id."""
    return project_channels(project).filter(pk=channel_id).first()


def channel_attempts(channel: Channel, limit: int = RECENT_ATTEMPTS) -> list[DeliveryAttempt]:
    """The channel's latest delivery attempts, newest first, each with its message."""
    return list(
        DeliveryAttempt.objects.filter(channel=channel).select_related("message").order_by("-at", "-id")[:limit]
    )


def recent_attempts_by_channel(channels: list[Channel], per_channel: int = 5) -> dict[int, list[DeliveryAttempt]]:
    """The latest `per_channel` attempts of each channel, in one query whatever the number of channels."""
    ranked = (
        DeliveryAttempt.objects.filter(channel__in=[c.pk for c in channels])
        .select_related("message")
        .annotate(rank=Window(RowNumber(), partition_by="channel_id", order_by=["-at", "-id"]))
        .filter(rank__lte=per_channel)
        .order_by("channel_id", "rank")
    )
    found: dict[int, list[DeliveryAttempt]] = defaultdict(list)
    for attempt in ranked:
        found[attempt.channel_id].append(attempt)
    return found


def pending_messages(channel: Channel) -> list[OutboxMessage]:
    return list(channel.messages.filter(state=OutboxMessage.State.PENDING).order_by("next_attempt_at", "id")[:20])
