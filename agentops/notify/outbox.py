"""The outbox worker's side: claim due messages atomically, deliver them, record what happened.

Claiming is one statement (UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING), so two
workers never hold the same message; a claim is a lease (`claimed_until`), so a message whose worker
died is claimed again once the lease is over. Delivery happens outside any transaction: a slow receiver
holds no lock and no connection in a transaction. A worker delivers only while its lease leaves room
for one more send; the rest of its batch it hands back.

Retries back off (BACKOFF_SECONDS, with +-20% jitter so that a receiver's outage does not come back as
a thundering herd) and stop after MAX_ATTEMPTS. A channel whose attempts failed
DISABLE_AFTER_FAILURES times in a row is disabled; its pending messages are then skipped, not sent.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agentops.notify import senders
from agentops.notify.models import DISABLE_AFTER_FAILURES, Channel, DeliveryAttempt, OutboxMessage

log = logging.getLogger(__name__)

# Delay after the 1st, 2nd, ... failed attempt; the last one repeats until MAX_ATTEMPTS.
BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600)
MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120
BATCH = 5
# A send may take TIMEOUT_SECONDS; a worker starts one only with that much lease left and this margin.
_LEASE_MARGIN_SECONDS = 5.0

# clock_timestamp(), not now(): inside a caller's transaction now() is when that transaction began.
_CLAIM_SQL = f"""
UPDATE {OutboxMessage._meta.db_table} SET claimed_until = clock_timestamp() + make_interval(secs => %s)
WHERE id IN (
    SELECT id FROM {OutboxMessage._meta.db_table}
    WHERE state = 'pending' AND next_attempt_at <= clock_timestamp()
      AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
    ORDER BY next_attempt_at, id
    LIMIT %s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after `attempts` failed attempts (1 for the first)."""
    base = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
    return timedelta(seconds=base * (rng or random).uniform(0.8, 1.2))


def claim(limit: int = BATCH, lease_seconds: float = CLAIM_SECONDS) -> list[int]:
    """Ids of up to `limit` due messages, now leased to the caller for `lease_seconds`, oldest first."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [lease_seconds, limit])
        ids = sorted(row[0] for row in cursor.fetchall())
    return ids


def release(ids: list[int]) -> None:
    """Hand back claimed messages this worker will not get to, so another may take them at once."""
    if ids:
        OutboxMessage.objects.filter(pk__in=ids, state=OutboxMessage.State.PENDING).update(claimed_until=None)


# The channel's bookkeeping goes through Channel.objects, which holds no internal callback channel: a
# callback's outcome is its message's alone and never disables anything (see services.enqueue_callback).
def _channel_succeeded(channel_id: int, now: object) -> None:
    Channel.objects.filter(pk=channel_id).update(consecutive_failures=0, last_delivery_at=now)
    # A success that was in flight while the channel was disabled does not enable it again.
    Channel.objects.filter(pk=channel_id).exclude(state=Channel.State.DISABLED).update(
        state=Channel.State.OK, last_error=""
    )


def _channel_failed(channel_id: int, error: str) -> bool:
    """Count the failure; True when it is the one that disabled the channel."""
    Channel.objects.filter(pk=channel_id).update(consecutive_failures=F("consecutive_failures") + 1, last_error=error)
    Channel.objects.filter(pk=channel_id, state=Channel.State.OK).update(state=Channel.State.FAILING)
    disabled = (
        Channel.objects.filter(pk=channel_id, consecutive_failures__gte=DISABLE_AFTER_FAILURES)
        .exclude(state=Channel.State.DISABLED)
        .update(state=Channel.State.DISABLED, enabled=False)
    )
    return bool(disabled)


@transaction.atomic
def record(message: OutboxMessage, outcome: senders.Outcome) -> OutboxMessage:
    """Store the attempt, move the message on (delivered, retry later, or given up) and count it on
    its channel. Returns the message as stored."""
    now = timezone.now()
    DeliveryAttempt.objects.create(
        message=message,
        channel_id=message.channel_id,
        at=now,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        error=outcome.error,
        ok=outcome.ok,
    )
    message.attempts += 1
    message.claimed_until = None
    message.last_error = outcome.error
    if outcome.ok:
        message.state = OutboxMessage.State.DELIVERED
        message.delivered_at = now
        _channel_succeeded(message.channel_id, now)
    else:
        if message.attempts >= MAX_ATTEMPTS:
            message.state = OutboxMessage.State.FAILED
        else:
            message.next_attempt_at = now + retry_delay(message.attempts)
        if _channel_failed(message.channel_id, outcome.error):
            log.warning(
                "notify.channel_disabled",
                extra={
                    "event": "notify.channel_disabled",
                    "project": message.project_id,
                    "channel": message.channel_id,
                },
            )
    message.save(update_fields=["attempts", "claimed_until", "last_error", "state", "delivered_at", "next_attempt_at"])
    return message


def _skip(message: OutboxMessage, reason: str) -> None:
    message.state = OutboxMessage.State.SKIPPED
    message.claimed_until = None
    message.last_error = reason
    message.save(update_fields=["state", "claimed_until", "last_error"])


def deliver(message_id: int) -> str:
    """Send one claimed message and record it; returns the message's new state."""
    message = OutboxMessage.objects.select_related("channel", "project").get(pk=message_id)
    if message.state != OutboxMessage.State.PENDING:  # finished by a worker whose lease ran out late
        return str(message.state)
    if not message.channel.enabled:
        _skip(message, "the channel is disabled")
        return str(message.state)
    outcome = senders.send(message.channel, message)
    log.info(
        "notify.attempt",
        extra={
            "event": "notify.attempt",
            "project": message.project_id,
            "channel": message.channel_id,
            "outbox_message": message.pk,
            "ok": outcome.ok,
            "status_code": outcome.status_code,
            "duration_ms": outcome.duration_ms,
        },
    )
    return str(record(message, outcome).state)


@dataclass
class Sweep:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0


def deliver_due(*, max_seconds: float = 30.0, batch: int = BATCH, lease_seconds: float = CLAIM_SECONDS) -> Sweep:
    """Claim and deliver due messages until none is due or `max_seconds` have passed."""
    sweep = Sweep()
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        ids = claim(batch, lease_seconds)
        if not ids:
            break
        sweep.claimed += len(ids)
        claimed_at = time.monotonic()
        for index, message_id in enumerate(ids):
            lease_left = lease_seconds - (time.monotonic() - claimed_at)
            if lease_left < senders.TIMEOUT_SECONDS + _LEASE_MARGIN_SECONDS:
                # Stop the sweep too: claiming again would only get the same messages back.
                release(ids[index:])
                sweep.released += len(ids) - index
                return sweep
            state = deliver(message_id)
            if state == OutboxMessage.State.PENDING:
                sweep.retrying += 1
            else:
                setattr(sweep, str(state), getattr(sweep, str(state)) + 1)
    return sweep
