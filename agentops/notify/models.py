"""Channels of a project, the outbox of messages to them, and every delivery attempt.

A message is written to the outbox in the transaction of the event it announces (an alert opening, an
approval asked for), so both commit or neither does; a worker then claims it (agentops.notify.outbox),
delivers it outside any transaction, and records the attempt. Nothing is sent from a request.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from agentops.tenancy.models import Project


class UserChannels(models.Manager["Channel"]):
    """The channels people made: what every page, API, alert rule and `enqueue` sees. The internal
    callback channels are left out here, so no code path can list, edit, pick or notify them by
    mistake; only the outbox (which follows a message's channel) and `Channel.every_kind` reach them."""

    def get_queryset(self) -> models.QuerySet[Channel]:
        return super().get_queryset().exclude(kind=Channel.Kind.CALLBACK)


# How many failed attempts in a row, over all of a channel's messages, disable it (as Langfuse does).
DISABLE_AFTER_FAILURES = 5


class Channel(models.Model):
    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        SLACK = "slack", "Slack"
        EMAIL = "email", "E-mail"
        # Internal, one per project: carries approval decisions to each request's own callback_url
        # (agentops.notify.services.enqueue_callback). Nobody makes, sees or edits it.
        CALLBACK = "callback", "Approval callback"

    class State(models.TextChoices):
        OK = "ok", "ok"  # the last delivery succeeded, or none was tried yet
        FAILING = "failing", "failing"  # the last delivery failed
        DISABLED = "disabled", "disabled"  # DISABLE_AFTER_FAILURES in a row: a user must enable it again

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.CharField(max_length=2000, blank=True)
    # The webhook signing secret: kept in clear because every delivery signs with it; shown once.
    secret = models.CharField(max_length=200, blank=True)
    recipients = ArrayField(models.CharField(max_length=254), default=list, blank=True)
    # The user's switch; the failure policy turns it off too (with state DISABLED).
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OK)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    every_kind = models.Manager()
    objects = UserChannels()

    class Meta:
        ordering = ["name", "id"]
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(kind="callback"), name="notify_channel_one_callback"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} channel {self.name!r} of {self.project_id}"


# What a person may choose when making a channel (forms, API, services).
USER_KINDS = [(k.value, k.label) for k in Channel.Kind if k != Channel.Kind.CALLBACK]


class OutboxMessage(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"  # gave up after the last retry
        SKIPPED = "skipped", "skipped"  # its channel was disabled or deleted before it could go

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="outbox_messages")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="messages")
    # opened, escalated, resolved, reminder, test, ...: free text, chosen by whoever enqueues.
    event = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Set by the worker that claimed the message; a claim in the past is a worker that died with it.
    claimed_until = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "idempotency_key"], name="notify_outbox_channel_key"),
        ]
        indexes = [
            # The claim query reads only pending messages, oldest due first.
            models.Index(
                fields=["next_attempt_at"],
                name="notify_outbox_due",
                condition=models.Q(state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to channel {self.channel_id} ({self.state})"


class DeliveryAttempt(models.Model):
    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="attempts_made")
    # Denormalized from the message: a channel's recent attempts are one index range.
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    ok = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["channel", "-at"], name="notify_attempt_channel_at")]

    def __str__(self) -> str:
        return f"attempt on message {self.message_id}: {'ok' if self.ok else 'failed'}"
