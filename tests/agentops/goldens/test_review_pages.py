"""The sampling rules and review queue pages: plain forms (no script), roles, payloads, hostile values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agentops.goldens.models import GoldenCase, ReviewItem, SamplingRule
from agentops.goldens.rules import rule_create
from agentops.goldens.rules_sampling import rules_advance
from agentops.goldens.services import golden_set_create
from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HTML_ESCAPED = escape(HOSTILE)


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _page(project, name, **kwargs):
    return reverse(name, kwargs={"slug": project.slug, **kwargs})


def _sampled(personas, **trace):
    golden_set_create(project=personas.project, user=personas.engineer, data={"name": "prod"})
    data = {"name": "failures", "golden_set": "prod", "sample_rate": 100, "filter": f"agent={HOSTILE}"}
    rule = rule_create(project=personas.project, user=personas.engineer, data=data)
    trace = make_run(personas.project, AgentTrace(agent=HOSTILE, **trace))
    rules_advance(now=timezone.now() + timedelta(minutes=5))
    return rule, trace, ReviewItem.objects.get()


def test_an_engineer_creates_edits_disables_and_deletes_a_rule_with_forms(personas):
    golden_set_create(project=personas.project, user=personas.engineer, data={"name": "prod"})
    client = _client(personas.engineer)
    form = client.get(_page(personas.project, "golden_rule_create"))
    assert form.status_code == 200 and b'name="sample_rate"' in form.content
    body = {
        "name": "a-failures",
        "golden_set": "prod",
        "filter": "status=error&agent=A",
        "sample_rate": "0",
        "enabled": "on",
    }
    refused = client.post(_page(personas.project, "golden_rule_create"), body)
    assert refused.status_code == 400
    assert b"more than 0, at most 100" in refused.content and not SamplingRule.objects.exists()
    bad_filter = client.post(
        _page(personas.project, "golden_rule_create"), {**body, "sample_rate": "10", "filter": "stauts=error"}
    )
    assert bad_filter.status_code == 400 and b"is not a run list filter" in bad_filter.content

    created = client.post(_page(personas.project, "golden_rule_create"), {**body, "sample_rate": "10"})
    assert created.status_code == 302 and created["Location"] == _page(personas.project, "golden_rules")
    rule = SamplingRule.objects.get()
    assert (rule.filter, str(rule.sample_rate), rule.enabled, rule.auto_accept) == (
        "status=error&agent=A",
        "10.00",
        True,
        False,
    )
    listed = client.get(_page(personas.project, "golden_rules")).content.decode()
    assert "a-failures" in listed and "status=error&amp;agent=A" in listed
    assert _page(personas.project, "golden_review") in listed  # linked to the queue

    edit = _page(personas.project, "golden_rule_edit", golden_rule_id=rule.pk)
    assert b'value="10"' in client.get(edit).content
    saved = client.post(edit, {**body, "sample_rate": "2.5", "auto_accept": "on"})
    assert saved.status_code == 302
    rule.refresh_from_db()
    assert (str(rule.sample_rate), rule.auto_accept, rule.enabled) == ("2.50", True, True)

    client.post(_page(personas.project, "golden_rule_enabled", golden_rule_id=rule.pk), {"enabled": "0"})
    rule.refresh_from_db()
    assert not rule.enabled
    client.post(_page(personas.project, "golden_rule_delete", golden_rule_id=rule.pk))
    assert not SamplingRule.objects.exists()


def test_viewers_read_the_rules_without_the_editing_controls(personas):
    golden_set_create(project=personas.project, user=personas.engineer, data={"name": "prod"})
    rule_create(project=personas.project, user=None, data={"name": "r", "golden_set": "prod", "sample_rate": 5})
    page = _client(personas.viewer).get(_page(personas.project, "golden_rules")).content.decode()
    assert ">r<" in page or "r\n" in page
    assert "New sampling rule" not in page and "Delete" not in page


def test_the_queue_shows_runs_escaped_and_payloads_only_to_those_who_may(personas):
    _, trace, item = _sampled(personas)
    engineer = _client(personas.engineer).get(_page(personas.project, "golden_review")).content.decode()
    assert HTML_ESCAPED in engineer and HOSTILE not in engineer
    assert reverse("run_replay", kwargs={"slug": personas.project.slug, "trace_id": trace.trace_hex}) in engineer
    assert "Where is order" in engineer  # the input preview
    assert _page(personas.project, "golden_rules") in engineer
    rules_page = _client(personas.engineer).get(_page(personas.project, "golden_rules")).content.decode()
    assert HOSTILE not in rules_page and "&lt;script&gt;" in rules_page  # the filter, escaped

    viewer = _client(personas.viewer)
    listed = viewer.get(_page(personas.project, "golden_review")).content.decode()
    assert "Where is order" not in listed and "Answer" not in listed and HOSTILE not in listed
    assert 'action="' + _page(personas.project, "golden_review_discard", review_id=item.pk) not in listed
    detail = viewer.get(_page(personas.project, "golden_review_item", review_id=item.pk)).content.decode()
    assert 'id="payloads-hidden"' in detail and "Where is order" not in detail and "accept-form" not in detail
    assert viewer.post(_page(personas.project, "golden_review_accept", review_id=item.pk)).status_code == 404
    assert viewer.post(_page(personas.project, "golden_review_discard", review_id=item.pk)).status_code == 404


def test_an_engineer_accepts_with_an_edited_expected_output_without_script(personas):
    _, _, item = _sampled(personas)
    client = _client(personas.engineer)
    detail = client.get(_page(personas.project, "golden_review_item", review_id=item.pk)).content.decode()
    assert "Where is order" in detail and 'id="accept-form"' in detail
    assert HOSTILE not in detail
    assert "Answer 1" in detail  # the expected output is offered from the run's last answer

    accept = _page(personas.project, "golden_review_accept", review_id=item.pk)
    refused = client.post(accept, {"expected_output": "{not json", "as_json": "on"})
    assert refused.status_code == 400 and b"not JSON" in refused.content
    bad_assertion = client.post(accept, {"expected_output": "", "assertions": '[{"type": "telepathy"}]'})
    assert bad_assertion.status_code == 400 and b"assertions[0].type" in bad_assertion.content
    assert not GoldenCase.objects.exists()

    done = client.post(
        accept,
        {"expected_output": '{"status": "shipped"}', "as_json": "on", "tags": "sampled, refunds", "notes": HOSTILE},
    )
    assert done.status_code == 302 and done["Location"] == _page(personas.project, "golden_review")
    case = GoldenCase.objects.get()
    assert case.expected_output == {"status": "shipped"} and case.tags == ["sampled", "refunds"]
    assert case.reviewed_by == personas.engineer and case.notes == HOSTILE
    item.refresh_from_db()
    assert item.state == "accepted" and item.case == case
    accepted = client.get(_page(personas.project, "golden_review") + "?state=accepted").content.decode()
    assert case.case_key in accepted


def test_text_expected_output_and_discarding_from_the_list(personas):
    _, _, item = _sampled(personas)
    client = _client(personas.engineer)
    discarded = client.post(_page(personas.project, "golden_review_discard", review_id=item.pk))
    assert discarded.status_code == 302
    item.refresh_from_db()
    assert item.state == "discarded" and not GoldenCase.objects.exists()
    # Decided: the item's page offers no form, and a late accept adds nothing.
    detail = client.get(_page(personas.project, "golden_review_item", review_id=item.pk)).content.decode()
    assert "accept-form" not in detail
    late = client.post(_page(personas.project, "golden_review_accept", review_id=item.pk), {"expected_output": "ok"})
    assert late.status_code == 409 and b"discarded already" in late.content
    assert not GoldenCase.objects.exists()


def test_outsiders_get_404_from_every_page_and_action(personas):
    rule, _, item = _sampled(personas)
    outsider = _client(personas.outsider)
    urls = [
        _page(personas.project, "golden_rules"),
        _page(personas.project, "golden_rule_create"),
        _page(personas.project, "golden_rule_edit", golden_rule_id=rule.pk),
        _page(personas.project, "golden_rule_enabled", golden_rule_id=rule.pk),
        _page(personas.project, "golden_rule_delete", golden_rule_id=rule.pk),
        _page(personas.project, "golden_review"),
        _page(personas.project, "golden_review_item", review_id=item.pk),
        _page(personas.project, "golden_review_accept", review_id=item.pk),
        _page(personas.project, "golden_review_discard", review_id=item.pk),
    ]
    for url in urls:
        assert outsider.get(url).status_code == 404, url
        assert outsider.post(url).status_code == 404, url
    # Under their own project's slug (they are its admin), this project's ids are not found either.
    for name, kwargs in [
        ("golden_rule_edit", {"golden_rule_id": rule.pk}),
        ("golden_rule_enabled", {"golden_rule_id": rule.pk}),
        ("golden_rule_delete", {"golden_rule_id": rule.pk}),
        ("golden_review_item", {"review_id": item.pk}),
        ("golden_review_accept", {"review_id": item.pk}),
        ("golden_review_discard", {"review_id": item.pk}),
    ]:
        method = outsider.get if name == "golden_review_item" else outsider.post
        assert method(_page(personas.other_project, name, **kwargs)).status_code == 404, name
    assert SamplingRule.objects.filter(pk=rule.pk, enabled=True).exists()
    item.refresh_from_db()
    assert item.state == "pending"
