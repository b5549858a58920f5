"""Channels and attempts as plain data for the API (and the pages' JSON-free templates read the same).

Secrets never appear here. A Slack incoming-webhook URL is a credential in its path, so it is shown
only as its host; a webhook URL is shown in full only to those who may edit the channel.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from agentops.notify.models import Channel, DeliveryAttempt


def shown_url(channel: Channel, *, manage: bool) -> str:
    if not channel.url:
        return ""
    if channel.kind == Channel.Kind.WEBHOOK and manage:
        return channel.url
    parts = urlsplit(channel.url)
    return f"{parts.scheme}://{parts.hostname}/…"


def channel_dict(channel: Channel, *, manage: bool) -> dict[str, Any]:
    return {
        "id": channel.pk,
        "name": channel.name,
        "kind": channel.kind,
        "url": shown_url(channel, manage=manage),
        "recipients": list(channel.recipients),
        "enabled": channel.enabled,
        "state": channel.state,
        "consecutive_failures": channel.consecutive_failures,
        "last_error": channel.last_error,
        "last_delivery_at": channel.last_delivery_at,
        "pending": getattr(channel, "pending", None),
        "created_at": channel.created_at,
        "created_by": channel.created_by.email if channel.created_by else None,
    }


def attempt_dict(attempt: DeliveryAttempt) -> dict[str, Any]:
    message = attempt.message
    return {
        "id": attempt.pk,
        "at": attempt.at,
        "ok": attempt.ok,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "message": {
            "id": message.pk,
            "event": message.event,
            "state": message.state,
            "attempts": message.attempts,
            "next_attempt_at": message.next_attempt_at if message.state == message.State.PENDING else None,
        },
    }
