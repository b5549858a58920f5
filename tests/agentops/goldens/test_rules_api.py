"""/api/v1/projects/<slug>/golden-rules/: the contract, validation naming the field, roles, the audit trail."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from agentops.goldens.models import ReviewItem, SamplingRule
from agentops.goldens.rules import rule_create
from agentops.goldens.services import golden_set_create
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.services import api_token_create

pytestmark = pytest.mark.django_db


def _url(project, *rest):
    return "/".join([f"/api/v1/projects/{project.slug}/golden-rules", *map(str, rest), ""])


def _as(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user).secret}")


def _post(api, url, body):
    return api.post(url, json.dumps(body), content_type="application/json")


def _patch(api, url, body):
    return api.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def prod(personas):
    return golden_set_create(project=personas.project, user=personas.engineer, data={"name": "prod"})


def test_an_engineer_creates_reads_changes_and_deletes_a_rule(personas, prod):
    api, project = _as(personas.engineer), personas.project
    body = {"name": "agent-a-failures", "golden_set": "prod", "filter": "status=error&agent=A", "sample_rate": 10}
    created = _post(api, _url(project), body)
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert {k: rule[k] for k in ("name", "golden_set", "filter", "sample_rate", "auto_accept", "enabled")} == {
        "name": "agent-a-failures",
        "golden_set": "prod",
        "filter": "status=error&agent=A",
        "sample_rate": 10.0,
        "auto_accept": False,
        "enabled": True,
    }
    assert rule["created_by"] == personas.engineer.email and rule["pending"] == 0
    listed = api.get(_url(project)).json()["results"]
    assert [r["id"] for r in listed] == [rule["id"]]

    # A pasted run list URL keeps its query string.
    patched = _patch(
        api, _url(project, rule["id"]), {"filter": "http://x/p/s/runs/?status=error&bundle=b2", "sample_rate": "2.5"}
    )
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["filter"], patched.json()["sample_rate"]) == ("status=error&bundle=b2", 2.5)
    assert api.get(_url(project, rule["id"])).json()["filter"] == "status=error&bundle=b2"

    assert api.delete(_url(project, rule["id"])).status_code == 204
    assert not SamplingRule.objects.exists()
    actions = AuditEvent.objects.filter(project=project, target_type="sampling_rule").values_list("action", flat=True)
    assert list(actions.order_by("id")) == ["sampling_rule.create", "sampling_rule.update", "sampling_rule.delete"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"filter": "status=broken"}, "filter", "status must be one of"),
        ({"filter": "stauts=error"}, "filter", "'stauts' is not a run list filter"),
        ({"filter": "agent=a&agent=b"}, "filter", "more than once"),
        ({"filter": "from=yesterday"}, "filter", "ISO 8601"),
        ({"filter": "status=unfinished"}, "filter", "finished runs only"),
        ({"filter": 5}, "filter", "query string"),
        ({"sample_rate": 0}, "sample_rate", "more than 0"),
        ({"sample_rate": 100.5}, "sample_rate", "at most 100"),
        ({"sample_rate": -3}, "sample_rate", "more than 0"),
        ({"sample_rate": "ten"}, "sample_rate", "percent"),
        ({"sample_rate": "NaN"}, "sample_rate", "percent"),
        ({"sample_rate": True}, "sample_rate", "percent"),
        ({"sample_rate": 0.001}, "sample_rate", "two decimals"),
        ({"golden_set": "nope"}, "golden_set", "no golden set"),
        ({"name": "<b>"}, "name", "letters"),
        ({"auto_accept": "yes"}, "auto_accept", "true or false"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_a_bad_rule_is_400_naming_the_field(personas, prod, change, field, words):
    body = {"name": "r", "golden_set": "prod", "sample_rate": 10, **change}
    response = _post(_as(personas.engineer), _url(personas.project), body)
    assert response.status_code == 400, response.json()
    assert list(response.json()) == [field]
    assert words in response.json()[field][0]
    assert not SamplingRule.objects.exists()


def test_missing_fields_and_a_taken_name(personas, prod):
    api = _as(personas.engineer)
    missing = _post(api, _url(personas.project), {"name": "r", "golden_set": "prod"})
    assert (missing.status_code, list(missing.json())) == (400, ["sample_rate"])
    assert _post(api, _url(personas.project), {"name": "r", "golden_set": "prod", "sample_rate": 1}).status_code == 201
    taken = _post(api, _url(personas.project), {"name": "R", "golden_set": "prod", "sample_rate": 1})
    assert (taken.status_code, list(taken.json())) == (409, ["name"])
    rule = SamplingRule.objects.get()
    bad = _patch(api, _url(personas.project, rule.pk), {"sample_rate": 101})
    assert (bad.status_code, list(bad.json())) == (400, ["sample_rate"])


def test_viewers_read_and_only_engineers_write(personas, prod):
    rule = rule_create(project=personas.project, user=None, data={"name": "r", "golden_set": "prod", "sample_rate": 5})
    viewer = _as(personas.viewer)
    assert viewer.get(_url(personas.project)).json()["results"][0]["name"] == "r"
    assert viewer.get(_url(personas.project, rule.pk)).status_code == 200
    body = {"name": "v", "golden_set": "prod", "sample_rate": 5}
    assert _post(viewer, _url(personas.project), body).status_code == 404
    assert _patch(viewer, _url(personas.project, rule.pk), {"enabled": False}).status_code == 404
    assert viewer.delete(_url(personas.project, rule.pk)).status_code == 404
    assert SamplingRule.objects.filter(pk=rule.pk, enabled=True).exists()


def test_outsiders_and_other_projects_rules_are_404(personas, prod):
    rule = rule_create(project=personas.project, user=None, data={"name": "r", "golden_set": "prod", "sample_rate": 5})
    outsider = _as(personas.outsider)
    for response in (
        outsider.get(_url(personas.project)),
        outsider.get(_url(personas.project, rule.pk)),
        _post(outsider, _url(personas.project), {"name": "x", "golden_set": "prod", "sample_rate": 5}),
        _patch(outsider, _url(personas.project, rule.pk), {"enabled": False}),
        outsider.delete(_url(personas.project, rule.pk)),
        # The outsider's own project, with the other project's rule id.
        outsider.get(_url(personas.other_project, rule.pk)),
        outsider.delete(_url(personas.other_project, rule.pk)),
    ):
        assert response.status_code == 404
    # A set of another project is not a target.
    golden_set_create(project=personas.other_project, user=None, data={"name": "theirs"})
    body = {"name": "y", "golden_set": "theirs", "sample_rate": 5}
    assert list(_post(_as(personas.engineer), _url(personas.project), body).json()) == ["golden_set"]
    assert SamplingRule.objects.filter(pk=rule.pk, enabled=True).exists()
    assert not ReviewItem.objects.exists()


def test_q_in_a_filter_needs_the_payload_permission_as_on_the_run_list(personas, prod):
    from agentops.goldens.validation import GoldenError

    data = {"name": "r", "golden_set": "prod", "sample_rate": 5, "filter": "q=refund"}
    with pytest.raises(GoldenError, match="your role may not see"):
        rule_create(project=personas.project, user=None, data=data, payloads=False)
    assert rule_create(project=personas.project, user=None, data=data, payloads=True).filter == "q=refund"
