"""Writes of notifications: channels (create, update, delete, send a test) and `enqueue`, the one way
anything leaves the system.

`enqueue` writes its outbox rows in the caller's transaction: an alert and its notifications commit
together or not at all. Delivery is kicked after commit (a Celery task); if the broker cannot take the
kick, the beat sweep (agentops.notify.tasks) delivers the rows anyway, a few seconds later.

Every input is checked here, for the API and the pages alike: a ChannelError names the field at fault.
A webhook secret is returned once, by the call that made it (MintedChannel), and never again.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agentops.errors import FieldError
from agentops.notify.models import USER_KINDS, Channel, OutboxMessage
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
MAX_RECIPIENTS = 20
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f]")


class ChannelError(FieldError):
    pass


@dataclass(frozen=True)
class MintedChannel:
    """A channel and, when this call made or rotated it, its webhook secret (shown once)."""

    channel: Channel
    secret: str | None = None


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ChannelError("url", "Give the URL to send to.")
    url = url.strip()
    if len(url) > 2000 or _UNPRINTABLE.search(url):
        raise ChannelError("url", "The URL must be at most 2000 characters, without spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise ChannelError("url", "This is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError("url", "The URL must start with http:// or https:// and name a host.")
    return url


def _check_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200 or _UNPRINTABLE.search(secret):
        raise ChannelError("secret", "A secret has 16 to 200 characters, without spaces or control characters.")
    return secret


def _check_recipients(recipients: Any) -> list[str]:
    if isinstance(recipients, str):
        recipients = [r for r in re.split(r"[\s,;]+", recipients) if r]
    if not isinstance(recipients, list) or not recipients:
        raise ChannelError("recipients", "Give at least one e-mail address.")
    if len(recipients) > MAX_RECIPIENTS:
        raise ChannelError("recipients", f"At most {MAX_RECIPIENTS} addresses.")
    cleaned: list[str] = []
    for address in recipients:
        if not isinstance(address, str):
            raise ChannelError("recipients", "Each recipient is an e-mail address.")
        try:
            validate_email(address.strip())
        except ValidationError:
            raise ChannelError("recipients", f"{address[:100]!r} is not an e-mail address.") from None
        if address.strip() not in cleaned:
            cleaned.append(address.strip())
    return cleaned


def _check_name(name: Any, default: str) -> str:
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name) > 200:
        raise ChannelError("name", "A name has at most 200 characters.")
    return name.strip() or default


def _mint_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _audit_view(channel: Channel) -> dict[str, Any]:
    # Never the secret, nor the URL: a Slack webhook URL is itself a credential.
    return {"name": channel.name, "kind": channel.kind, "enabled": channel.enabled}


@transaction.atomic
def channel_create(
    *,
    project: Project,
    kind: str,
    name: str | None = None,
    url: str | None = None,
    secret: str | None = None,
    recipients: Any = None,
    actor: Any = None,
) -> MintedChannel:
    kinds = [value for value, _ in USER_KINDS]
    if kind not in kinds:
        raise ChannelError("kind", f"Choose one of {', '.join(kinds)}.")
    channel = Channel(project=project, kind=kind)
    if kind == Channel.Kind.EMAIL:
        for field, value in (("url", url), ("secret", secret)):
            if value:
                raise ChannelError(field, f"An e-mail channel has no {field}.")
        channel.recipients = _check_recipients(recipients)
        default_name = f"e-mail to {channel.recipients[0]}"
    else:
        if recipients:
            raise ChannelError("recipients", f"A {kind} channel has no recipients.")
        if secret and kind != Channel.Kind.WEBHOOK:
            raise ChannelError("secret", "Only webhook channels are signed.")
        channel.url = _check_url(url)
        default_name = f"{kind} to {urlsplit(channel.url).hostname}"
    if kind == Channel.Kind.WEBHOOK:
        channel.secret = _check_secret(secret) if secret else _mint_secret()
    channel.name = _check_name(name, default_name)
    channel.created_by = actor if getattr(actor, "is_authenticated", False) else None
    channel.save()
    audit_record(
        actor=actor,
        action="channel.create",
        target_type="channel",
        target_id=channel.pk,
        target_label=channel.name,
        after=_audit_view(channel),
        project=project,
    )
    return MintedChannel(channel=channel, secret=channel.secret or None)


@transaction.atomic
def channel_update(
    *,
    channel: Channel,
    name: str | None = None,
    url: str | None = None,
    enabled: bool | None = None,
    recipients: Any = None,
    rotate_secret: bool = False,
    actor: Any = None,
) -> MintedChannel:
    """Change what is given. Enabling a channel the failure policy disabled starts its count afresh."""
    channel = Channel.objects.select_for_update().select_related("project").get(pk=channel.pk)
    before = _audit_view(channel)
    if name is not None:
        channel.name = _check_name(name, channel.name)
    if url is not None:
        if channel.kind == Channel.Kind.EMAIL:
            raise ChannelError("url", "An e-mail channel has no url.")
        channel.url = _check_url(url)
    if recipients is not None:
        if channel.kind != Channel.Kind.EMAIL:
            raise ChannelError("recipients", f"A {channel.kind} channel has no recipients.")
        channel.recipients = _check_recipients(recipients)
    new_secret = None
    if rotate_secret:
        if channel.kind != Channel.Kind.WEBHOOK:
            raise ChannelError("rotate_secret", "Only webhook channels have a secret.")
        channel.secret = new_secret = _mint_secret()
    if enabled is True and not channel.enabled:
        channel.enabled = True
        channel.state = Channel.State.OK
        channel.consecutive_failures = 0
        channel.last_error = ""
    elif enabled is False:
        channel.enabled = False
    channel.save()
    changed = [f for f, v in (("url", url), ("recipients", recipients), ("secret", new_secret)) if v is not None]
    audit_record(
        actor=actor,
        action="channel.update",
        target_type="channel",
        target_id=channel.pk,
        target_label=channel.name,
        before=before,
        after={**_audit_view(channel), "changed": changed},
        project=channel.project,
    )
    return MintedChannel(channel=channel, secret=new_secret)


@transaction.atomic
def channel_delete(*, channel: Channel, actor: Any = None) -> None:
    """Delete the channel with its outbox messages and attempts (nothing pending for it goes out)."""
    audit_record(
        actor=actor,
        action="channel.delete",
        target_type="channel",
        target_id=channel.pk,
        target_label=channel.name,
        before=_audit_view(channel),
        project=channel.project,
    )
    channel.delete()


def kick() -> None:
    """Ask a worker to deliver now. A broker that cannot take it only delays delivery to the next sweep."""
    from agentops.notify.tasks import deliver_outbox

    try:
        deliver_outbox.apply_async(retry=False)
    except Exception as exc:  # any broker or transport failure: the beat sweep delivers instead
        log.warning("notify.kick_failed", extra={"event": "notify.kick_failed", "error": str(exc)[:200]})


def enqueue(
    project: Project,
    event: str,
    payload: dict[str, Any],
    channels: Iterable[Channel] | None = None,
    *,
    key: str | None = None,
) -> list[OutboxMessage]:
    """Queue `event` with `payload` to `channels` (default: every enabled channel of the project).

    Runs in the caller's transaction. `key` makes it idempotent: a second enqueue with the same key
    adds nothing to a channel that has it already (an alert's evaluation that ran twice notifies once).
    The payload's `summary` (one line) and `url` (a link back) are what Slack and e-mail show.
    Returns the channels' messages for this key.
    """
    if not event or len(event) > 64:
        raise ValueError("event must have 1 to 64 characters")
    scope = Channel.objects.filter(project=project, enabled=True)
    if channels is not None:
        # Only the project's own channels: a channel of another project passed by mistake is ignored.
        scope = scope.filter(pk__in=[c.pk for c in channels])
    targets = list(scope)
    if not targets:
        return []
    key = key or uuid.uuid4().hex
    now = timezone.now()
    rows = [
        OutboxMessage(
            project=project, channel=c, event=event, payload=payload, next_attempt_at=now, idempotency_key=key
        )
        for c in targets
    ]
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(kick)
    return list(OutboxMessage.objects.filter(channel__in=targets, idempotency_key=key).order_by("id"))


def enqueue_callback(project: Project, event: str, *, url: str, body: dict[str, Any], key: str) -> OutboxMessage:
    """Queue one signed POST of `body` to `url`: an approval's decision to the callback_url its agent
    gave. Runs in the caller's transaction; `key` makes it idempotent (a second call adds nothing).

    Callbacks reuse the outbox (claim, lease, backoff, attempts recorded) rather than a delivery loop
    of their own, through the project's internal callback channel: the URL is per message (in the
    payload), the signing secret is the project's approval callback secret (read at each attempt, so a
    retry after a rotation signs with the new one). That channel is hidden from people and from
    `enqueue` (Channel.objects), and the failure policy never disables it: one agent's dead URL must
    not stop the callbacks of every other request of the project.
    """
    channel, _ = Channel.every_kind.get_or_create(
        project=project, kind=Channel.Kind.CALLBACK, defaults={"name": "approval callbacks"}
    )
    message = OutboxMessage(
        project=project,
        channel=channel,
        event=event,
        payload={"callback_url": url, "body": body},
        next_attempt_at=timezone.now(),
        idempotency_key=key,
    )
    OutboxMessage.objects.bulk_create([message], ignore_conflicts=True)
    transaction.on_commit(kick)
    return OutboxMessage.objects.get(channel=channel, idempotency_key=key)


def channel_send_test(*, channel: Channel, actor: Any = None) -> OutboxMessage:
    if not channel.enabled:
        raise ChannelError("enabled", "The channel is disabled: enable it before sending a test.")
    project = channel.project
    who = getattr(actor, "email", None) or "agentops"
    payload = {
        "summary": f"Test notification for channel {channel.name}, sent by {who}",
        "url": settings.SITE_URL + reverse("channels", kwargs={"slug": project.slug}),
    }
    messages = enqueue(project, "test", payload, [channel])
    return messages[0]
