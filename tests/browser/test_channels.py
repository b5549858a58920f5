"""The channels page in chromium: create a webhook, copy its secret, send a test, watch it delivered."""

from __future__ import annotations

import pytest

from agentops.notify import outbox
from agentops.notify.signing import verify
from agentops.tenancy.roles import Role
from tests.agentops.notify.receiver import receiver
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_create_a_webhook_and_send_a_test_that_arrives(logged_in_page, settings):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    project = make_project(name="Channels project")
    page = logged_in_page(make_member(project, Role.ENGINEER))
    with receiver() as hook:
        page.goto(f"/p/{project.slug}/")
        page.get_by_role("link", name="Channels").click()
        page.wait_for_url(f"**/p/{project.slug}/channels/")
        page.select_option("#id_kind", "webhook")
        page.fill("#id_name", "On-call <hook>")
        page.fill("#id_url", hook.url)
        page.get_by_role("button", name="Create channel").click()
        secret = page.locator("#channel-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        screenshot(page, "channel-created")

        page.get_by_role("link", name="Back to the channels").click()
        assert secret not in page.content()
        row = page.locator("tbody.channel").first
        assert row.get_by_text("On-call <hook>").is_visible()
        row.get_by_role("button", name="Send test notification").click()
        row = page.locator("tbody.channel").first
        row.get_by_text("1 pending").wait_for()

        # The worker's job, run here: the page polls and shows the attempt without a reload.
        assert outbox.deliver_due().delivered == 1
        page.locator("tbody.channel").first.get_by_text("delivered").wait_for(timeout=10_000)
        assert page.locator("tbody.channel .badge.state-ok").is_visible()
        screenshot(page, "channel-delivered")

    [request] = hook.requests
    assert request.headers["X-Agentops-Event"] == "test"
    assert verify(secret, request.headers["X-Agentops-Signature"], request.body)
