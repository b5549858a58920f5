"""The budgets page in chromium: the history chart is drawn by the vendored plotly (no other host is
asked: the conftest fails any external request), and a viewer's raise request reaches a reviewer's
inbox, whose approval raises the limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentops.budgets import services
from agentops.budgets.models import Budget
from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000


def test_the_chart_renders_offline_and_a_raise_request_reaches_the_inbox(logged_in_page):
    project = make_project(name="Budgets project")
    admin = make_member(project, Role.ADMIN)
    viewer = make_member(project, Role.VIEWER)
    reviewer = make_member(project, Role.REVIEWER)
    data = {"scope": {"customer": "<b>acme</b>"}, "limit_usd": 40, "window": "week", "soft_percent": [80]}
    budget = services.budget_create(project=project, data=data, user=admin)

    page = logged_in_page(viewer)
    page.goto(f"/p/{project.slug}/budgets/")
    card = page.locator(f"#budget-{budget.pk}")
    card.locator(".main-svg").first.wait_for(timeout=WAIT_MS)  # plotly drew it
    assert card.get_by_text("customer <b>acme</b>").first.is_visible()  # as text, not markup
    assert page.locator("nav.tabs a.active").inner_text() == "Budgets"
    screenshot(page, "budgets-page")

    card.get_by_role("link", name="Request a raise").click()
    page.get_by_label("New hard limit (US dollars)").fill("60")
    page.get_by_label("Reason").fill("A new customer onboards this week")
    page.get_by_role("button", name="Request the raise").click()
    page.get_by_text("waits in the inbox").wait_for(timeout=WAIT_MS)

    inbox = logged_in_page(reviewer)
    inbox.goto(f"/p/{project.slug}/approvals/")
    row = inbox.locator("article.approval").first
    row.wait_for(timeout=WAIT_MS)
    assert "budget.raise" in row.inner_text() and "A new customer onboards this week" in row.inner_text()
    screenshot(inbox, "budgets-raise-in-inbox")
    row.get_by_role("button", name="Approve").first.click()
    row.wait_for(state="detached", timeout=WAIT_MS)
    assert Budget.objects.get(pk=budget.pk).limit_usd == Decimal(60)
