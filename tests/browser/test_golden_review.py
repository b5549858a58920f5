"""Sampling rules and the review queue in chromium: create a rule with the form, then review a sampled
failed run and accept it into the set with an edited expected output (plain forms, no script)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agentops.goldens.models import GoldenCase, SamplingRule
from agentops.goldens.rules_sampling import rules_advance
from agentops.goldens.services import golden_set_create
from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import AgentTrace

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_rule_samples_a_failed_run_that_an_engineer_accepts(logged_in_page):
    project = make_project(name="Goldens project")
    engineer = make_member(project, Role.ENGINEER)
    golden_set_create(project=project, user=engineer, data={"name": "prod"})
    page = logged_in_page(engineer)

    page.goto(f"/p/{project.slug}/golden-rules/")
    page.get_by_role("link", name="New sampling rule").click()
    page.fill("#id_name", "failures")
    page.select_option("#id_golden_set", "prod")
    page.fill("#id_filter", "status=error&agent=<b>bot</b>")
    page.fill("#id_sample_rate", "100")
    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url(f"**/p/{project.slug}/golden-rules/")
    rule = SamplingRule.objects.get(project=project)
    assert page.locator(f"#golden-rule-{rule.pk}").get_by_text("status=error&agent=<b>bot</b>").is_visible()
    screenshot(page, "golden-rules")

    trace = make_run(project, AgentTrace(agent="<b>bot</b>", tool_error=True))
    assert rules_advance(now=timezone.now() + timedelta(minutes=5)).queued == 1
    page.get_by_role("link", name="review queue", exact=True).click()
    page.wait_for_url(f"**/p/{project.slug}/golden-review/")
    assert page.locator("table.review").get_by_text("<b>bot</b>").first.is_visible()
    screenshot(page, "golden-review")
    page.get_by_role("link", name="Review", exact=True).click()
    assert page.locator("#run-input").get_by_text("Where is order").first.is_visible()
    page.fill("#id_expected_output", '{"status": "shipped"}')
    page.fill("#id_tags", "sampled")
    screenshot(page, "golden-review-item")
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(f"**/p/{project.slug}/golden-review/")
    assert page.get_by_text("Added to prod as case").is_visible()
    case = GoldenCase.objects.get(golden_set__project=project)
    assert case.expected_output == {"status": "shipped"} and case.reviewed_by == engineer
    assert case.source_trace_id is not None and case.source_trace_id.hex == trace.trace_hex
