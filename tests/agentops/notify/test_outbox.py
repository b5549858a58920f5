"""Delivery through the outbox, against real local HTTP receivers: signed, retried, disabled, claimed once."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from agentops.notify import outbox, services
from agentops.notify.models import Channel, DeliveryAttempt, OutboxMessage
from agentops.notify.signing import verify
from tests.agentops.notify.receiver import receiver
from tests.factories import make_project

PAYLOAD = {"summary": "error rate 2% -> 9% on bundle b2", "url": "https://agentops.example/p/x/alerts/1"}


def _webhook(project, url, **kwargs):
    return services.channel_create(project=project, kind="webhook", url=url, **kwargs).channel


def _due_now() -> None:
    """Jump past every backoff: the next sweep finds all pending messages due."""
    OutboxMessage.objects.filter(state="pending").update(next_attempt_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_a_message_arrives_signed_with_its_event_and_delivery_id(hook):
    project = make_project()
    minted = services.channel_create(project=project, kind="webhook", url=hook.url)
    [message] = services.enqueue(project, "opened", PAYLOAD)

    sweep = outbox.deliver_due()

    assert (sweep.claimed, sweep.delivered) == (1, 1)
    [request] = hook.requests
    assert minted.secret and verify(minted.secret, request.headers["X-Agentops-Signature"], request.body)
    assert not verify("whsec_not-the-channel-secret", request.headers["X-Agentops-Signature"], request.body)
    assert request.headers["X-Agentops-Event"] == "opened"
    assert request.headers["X-Agentops-Delivery"] == str(message.pk)
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["event"] == "opened" and body["delivery"] == str(message.pk) and body["project"] == project.slug
    assert body["summary"] == PAYLOAD["summary"]
    message.refresh_from_db()
    assert message.state == "delivered" and message.attempts == 1 and message.claimed_until is None
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.ok and attempt.status_code == 200
    channel = Channel.objects.get()
    assert channel.state == "ok" and channel.last_delivery_at is not None


@pytest.mark.django_db
def test_a_payload_cannot_forge_the_envelope(hook):
    project = make_project()
    _webhook(project, hook.url)
    [message] = services.enqueue(project, "opened", {"event": "resolved", "delivery": "1", "project": "other"})
    outbox.deliver_due()
    body = json.loads(hook.requests[0].body)
    assert (body["event"], body["delivery"], body["project"]) == ("opened", str(message.pk), project.slug)


@pytest.mark.django_db
def test_a_given_secret_signs(hook):
    project = make_project()
    _webhook(project, hook.url, secret="my-own-secret-of-20-chars")
    services.enqueue(project, "test", PAYLOAD)
    outbox.deliver_due()
    request = hook.requests[0]
    assert verify("my-own-secret-of-20-chars", request.headers["X-Agentops-Signature"], request.body)


@pytest.mark.django_db
def test_rows_are_written_in_the_callers_transaction(hook, django_capture_on_commit_callbacks):
    project = make_project()
    _webhook(project, hook.url)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), django_capture_on_commit_callbacks() as kicks, transaction.atomic():
        services.enqueue(project, "opened", PAYLOAD)
        raise Abort
    assert OutboxMessage.objects.count() == 0 and kicks == []

    with django_capture_on_commit_callbacks() as kicks, transaction.atomic():
        services.enqueue(project, "opened", PAYLOAD)
        assert kicks == []  # no worker is asked before the rows are committed
    assert OutboxMessage.objects.count() == 1 and len(kicks) == 1


@pytest.mark.django_db
def test_a_kick_the_broker_refuses_is_swallowed(monkeypatch):
    from agentops.notify import tasks

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.deliver_outbox, "apply_async", broken)
    services.kick()  # must not raise: the beat sweep delivers instead


@pytest.mark.django_db
def test_the_same_key_queues_once_per_channel(hook):
    project = make_project()
    _webhook(project, hook.url)
    _webhook(project, hook.url, name="second")
    first = services.enqueue(project, "opened", PAYLOAD, key="alert:1:opened")
    again = services.enqueue(project, "opened", PAYLOAD, key="alert:1:opened")
    assert len(first) == 2 and [m.pk for m in again] == [m.pk for m in first]
    assert OutboxMessage.objects.count() == 2


@pytest.mark.django_db
def test_enqueue_goes_to_enabled_channels_of_the_project_only(hook):
    project, other = make_project(), make_project()
    mine = _webhook(project, hook.url)
    off = _webhook(project, hook.url, name="off")
    services.channel_update(channel=off, enabled=False)
    foreign = _webhook(other, hook.url)
    assert [m.channel_id for m in services.enqueue(project, "opened", PAYLOAD)] == [mine.pk]
    assert services.enqueue(project, "opened", PAYLOAD, [foreign]) == []


@pytest.mark.django_db
def test_failures_retry_with_backoff_then_disable_the_channel_after_five():
    project = make_project()
    with receiver(status=500) as failing:
        channel = _webhook(project, failing.url)
        [message] = services.enqueue(project, "opened", PAYLOAD)
        delays = []
        for attempt in range(1, 6):
            before = timezone.now()
            outbox.deliver_due()
            message.refresh_from_db()
            channel.refresh_from_db()
            assert message.attempts == attempt
            assert channel.consecutive_failures == attempt
            if attempt < 5:
                assert message.state == "pending" and channel.state == "failing" and channel.enabled
                delays.append((message.next_attempt_at - before).total_seconds())
                assert outbox.deliver_due().claimed == 0  # not due before its backoff
                _due_now()
        assert len(failing.requests) == 5

    # 30 s, 2 min, 10 min, 1 h, each within the +-20% jitter.
    for delay, base in zip(delays, outbox.BACKOFF_SECONDS, strict=False):
        assert 0.8 * base - 1 <= delay <= 1.2 * base + 1, (delay, base)
    assert channel.state == "disabled" and not channel.enabled
    assert channel.last_error.startswith("HTTP 500")
    attempts = list(DeliveryAttempt.objects.order_by("at"))
    assert [a.ok for a in attempts] == [False] * 5 and {a.status_code for a in attempts} == {500}

    # Disabled: its pending message is skipped, never sent; nothing new is queued to it.
    _due_now()
    sweep = outbox.deliver_due()
    message.refresh_from_db()
    assert sweep.skipped == 1 and message.state == "skipped"
    assert services.enqueue(project, "opened", PAYLOAD) == []


@pytest.mark.django_db
def test_a_success_resets_the_count_and_enabling_starts_afresh(hook):
    project = make_project()
    channel = _webhook(project, hook.url)
    hook.status = 503
    services.enqueue(project, "opened", PAYLOAD)
    outbox.deliver_due()
    channel.refresh_from_db()
    assert (channel.state, channel.consecutive_failures) == ("failing", 1)
    hook.status = 204
    _due_now()
    outbox.deliver_due()
    channel.refresh_from_db()
    assert (channel.state, channel.consecutive_failures, channel.last_error) == ("ok", 0, "")

    Channel.objects.filter(pk=channel.pk).update(state="disabled", enabled=False, consecutive_failures=5)
    services.channel_update(channel=channel, enabled=True)
    channel.refresh_from_db()
    assert (channel.state, channel.enabled, channel.consecutive_failures) == ("ok", True, 0)


@pytest.mark.django_db
def test_a_message_gives_up_after_max_attempts(hook):
    project = make_project()
    channel = _webhook(project, hook.url)
    hook.status = 500
    [message] = services.enqueue(project, "opened", PAYLOAD)
    for _ in range(outbox.MAX_ATTEMPTS):
        # Keep the channel enabled to see the message's own limit.
        Channel.objects.filter(pk=channel.pk).update(consecutive_failures=0, state="ok", enabled=True)
        _due_now()
        outbox.deliver_due()
    message.refresh_from_db()
    assert message.state == "failed" and message.attempts == outbox.MAX_ATTEMPTS
    _due_now()
    assert outbox.deliver_due().claimed == 0
    assert len(hook.requests) == outbox.MAX_ATTEMPTS


@pytest.mark.django_db
def test_redirects_are_not_followed(hook):
    project = make_project()
    with receiver() as elsewhere:
        hook.status, hook.location = 302, elsewhere.url
        _webhook(project, hook.url)
        [message] = services.enqueue(project, "opened", PAYLOAD)
        outbox.deliver_due()
        assert elsewhere.requests == []
    message.refresh_from_db()
    assert message.state == "pending" and message.last_error.startswith("HTTP 302")


@pytest.mark.django_db
def test_an_unreachable_receiver_is_a_failed_attempt():
    project = make_project()
    with receiver() as gone:
        url = gone.url
    _webhook(project, url)  # its port is closed now
    services.enqueue(project, "opened", PAYLOAD)
    outbox.deliver_due()
    [attempt] = DeliveryAttempt.objects.all()
    assert not attempt.ok and attempt.status_code is None and "Connection" in attempt.error


@pytest.mark.django_db
def test_a_claim_whose_worker_died_is_claimed_again_and_delivered_once(hook):
    project = make_project()
    _webhook(project, hook.url)
    [message] = services.enqueue(project, "opened", PAYLOAD)
    assert outbox.claim() == [message.pk]  # a worker claims it, then is killed before sending

    assert outbox.deliver_due().claimed == 0  # leased: nobody else takes it
    OutboxMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert outbox.deliver_due().delivered == 1
    assert outbox.deliver_due().claimed == 0
    assert len(hook.requests) == 1


@pytest.mark.django_db
def test_a_worker_hands_back_what_its_lease_leaves_no_time_for(hook):
    project = make_project()
    _webhook(project, hook.url)
    services.enqueue(project, "opened", PAYLOAD)
    sweep = outbox.deliver_due(lease_seconds=5, max_seconds=0.5)
    assert (sweep.claimed, sweep.released, sweep.delivered) == (1, 1, 0)
    assert OutboxMessage.objects.get().claimed_until is None
    assert outbox.deliver_due().delivered == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_deliver_a_message_twice(hook):
    project = make_project()
    for n in range(3):
        _webhook(project, hook.url, name=f"hook {n}")
    for n in range(10):
        services.enqueue(project, "opened", {**PAYLOAD, "n": n})
    assert OutboxMessage.objects.count() == 30
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            outbox.deliver_due(batch=2)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    deliveries = [r.headers["X-Agentops-Delivery"] for r in hook.requests]
    assert len(deliveries) == 30 and len(set(deliveries)) == 30
    assert OutboxMessage.objects.filter(state="delivered", attempts=1).count() == 30
    assert DeliveryAttempt.objects.count() == 30


@pytest.mark.django_db
def test_private_addresses_are_refused_unless_allowed(hook, settings):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = False
    project = make_project()
    channel = _webhook(project, hook.url.replace("127.0.0.1", "localhost"))
    services.enqueue(project, "opened", PAYLOAD)
    outbox.deliver_due()
    assert hook.requests == []
    channel.refresh_from_db()
    assert "private or loopback address" in channel.last_error and "NOTIFY_ALLOW_PRIVATE_URLS" in channel.last_error

    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    _due_now()
    assert outbox.deliver_due().delivered == 1 and len(hook.requests) == 1


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1"])
def test_link_local_multicast_and_reserved_addresses_are_always_refused(address):
    from agentops.notify.senders import refused_address

    assert refused_address(address, allow_private=True)


def test_private_and_loopback_addresses_depend_on_the_setting():
    from agentops.notify.senders import refused_address

    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "fd00::1", "::ffff:10.0.0.1"):
        assert refused_address(address, allow_private=False), address
        assert not refused_address(address, allow_private=True), address
    assert not refused_address("93.184.215.14", allow_private=False)
    assert not refused_address("2606:4700::1111", allow_private=False)
