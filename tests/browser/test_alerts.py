"""The alerts pages in chromium: create a rule in the editor and see it listed; acknowledge an alert
and see its history change without a reload."""

from __future__ import annotations

import pytest

from agentops.alerts.models import Alert, AlertRule
from agentops.tenancy.roles import Role
from tests.agentops.alerts.alert_factories import make_alert
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_create_a_rule_then_acknowledge_an_alert(logged_in_page):
    project = make_project(name="Alerts project")
    engineer = make_member(project, Role.ENGINEER)
    page = logged_in_page(engineer)

    page.goto(f"/p/{project.slug}/")
    page.get_by_role("link", name="Alerts", exact=True).click()
    page.wait_for_url(f"**/p/{project.slug}/alerts/")
    page.get_by_role("link", name="alert rules").click()
    page.wait_for_url(f"**/p/{project.slug}/alerts/rules/")
    assert page.get_by_text("Drift of new bundles").is_visible()  # the defaults are there from the start
    page.get_by_role("link", name="Threshold (a metric over a rolling window)").click()
    page.fill("#id_name", "Slow <agent>")
    page.select_option("#id_metric", "latency_p95_ms")
    page.fill("#id_warning", "2000")
    page.fill("#id_critical", "5000")
    page.fill("#id_scope_agent", "support")
    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url(f"**/p/{project.slug}/alerts/rules/")
    rule = AlertRule.objects.get(project=project, name="Slow <agent>")
    row = page.locator(f"#rule-{rule.pk}")
    assert row.get_by_text("Slow <agent>").is_visible() and row.get_by_text("latency_p95_ms").is_visible()
    screenshot(page, "alert-rules")

    alert = make_alert(project, rule, severity="critical", scope={"agent": "support"}, summary="p95 is 9 s <b>")
    page.goto(f"/p/{project.slug}/alerts/")
    page.get_by_role("link", name="p95 is 9 s <b>").click()
    page.wait_for_url(f"**/p/{project.slug}/alerts/{alert.pk}/")
    page.get_by_label("Acknowledgement note").fill("on it")
    page.get_by_role("button", name="Acknowledge").click()
    page.locator("#alert-state").get_by_text(f"acknowledged by {engineer.email}").wait_for()
    history = page.locator("table.history")
    assert history.locator("tr.event-opened").is_visible()
    assert history.locator("tr.event-acknowledged").get_by_text("on it").is_visible()
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    screenshot(page, "alert-acknowledged")
    assert Alert.objects.get(pk=alert.pk).state == "acknowledged"
