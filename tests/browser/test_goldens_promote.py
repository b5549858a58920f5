"""Failed runs become golden cases in chromium, without a line of script of ours: one from its replay (the
expected output edited before saving), then the rest in bulk from the filtered run list with a preview and a
cap; the set page then shows the cases and the new version, and the version picker reads the old one.

Runs are stored through the real ingest pipeline (tests.factories.make_run), as the replay tests do.
Screenshots: artifacts/screenshots/goldens-*.png.
"""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from agentops.goldens.models import GoldenCase, GoldenSet
from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project, make_run
from tests.otlp import NS, AgentTrace

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000


def test_failed_runs_are_promoted_from_the_replay_and_in_bulk(logged_in_page):
    project = make_project(name="Goldens project")
    engineer = make_member(project, Role.ENGINEER)
    now = time.time_ns()
    # Three failed runs of agent A, the oldest first, and a run that went well.
    failed = [make_run(project, AgentTrace(tool_error=True, start_ns=now - (30 - i) * 60 * NS)) for i in range(3)]
    make_run(project, AgentTrace(start_ns=now - 5 * 60 * NS))
    oldest = failed[0]

    page = logged_in_page(engineer)
    page.goto(reverse("run_replay", kwargs={"slug": project.slug, "trace_id": oldest.trace_hex}))
    page.get_by_role("link", name="Add run to golden set").click()
    page.locator("#promote-form").wait_for(timeout=WAIT_MS)
    assert "Where is order 100?" in page.locator("#source-input").inner_text()
    assert page.locator("#expected-output").input_value() == "Answer 1"
    page.locator("#new-set").fill("checkout-failures")
    page.locator("#expected-output").fill("Order 100 has shipped.")
    page.get_by_label("text", exact=True).first.check()
    page.locator("#tags").fill("failed, from-replay")
    screenshot(page, "goldens-promote-run")
    page.get_by_role("button", name="Add to the set").click()

    page.locator("#shown-version").wait_for(timeout=WAIT_MS)
    assert page.locator("#shown-version").inner_text() == "version 1"
    assert "Order 100 has shipped." in page.locator("table.cases").inner_text()
    golden_set = GoldenSet.objects.get(project=project, name="checkout-failures")
    (case,) = GoldenCase.objects.filter(golden_set=golden_set)
    assert case.expected_output == "Order 100 has shipped." and case.source_trace_id is not None
    assert case.source_trace_id.hex == oldest.trace_hex

    # The failed runs of the run list, in bulk: the preview counts them, the cap takes the newest two.
    page.goto(reverse("run_list", kwargs={"slug": project.slug}) + "?status=error")
    page.get_by_role("link", name="Add these runs to a golden set").click()
    page.locator("#bulk-summary").wait_for(timeout=WAIT_MS)
    assert "3 runs match" in page.locator("#bulk-summary").inner_text()
    page.locator("#cap-preview").fill("2")
    page.locator("#set-preview").select_option("checkout-failures")
    page.get_by_role("button", name="Update preview").click()
    page.wait_for_url("**cap=2**", timeout=WAIT_MS)
    summary = page.locator("#bulk-summary").inner_text()
    assert "the newest 2 (cap 2)" in summary and "0 of them already in" in summary
    assert page.locator("tr.preview-row").count() == 2
    page.locator("#target-set").select_option("checkout-failures")
    page.locator("#tags").fill("failed, bulk")
    screenshot(page, "goldens-bulk-preview")
    page.get_by_role("button", name="Add 2 runs as one new version").click()

    page.locator("#shown-version").wait_for(timeout=WAIT_MS)
    assert page.locator("#shown-version").inner_text() == "version 2"
    assert "Added 2 run(s) to checkout-failures as version 2" in page.locator(".messages").inner_text()
    assert page.locator("tr.case").count() == 3
    changes = page.locator("#version-changes").inner_text()
    assert "+2 added" in changes and engineer.email in changes
    newest = {failed[1].trace_hex, failed[2].trace_hex}
    added = GoldenCase.objects.filter(golden_set=golden_set, added_in=2)
    assert {c.source_trace_id.hex for c in added if c.source_trace_id} == newest
    screenshot(page, "goldens-set")

    # The version picker reads version 1 as it was: the one case from the replay, read only.
    page.locator("#version-number").select_option("1")
    page.get_by_role("button", name="Show").click()
    page.locator("#old-version").wait_for(timeout=WAIT_MS)
    assert page.locator("tr.case").count() == 1
    assert page.get_by_role("link", name="Edit").count() == 0
