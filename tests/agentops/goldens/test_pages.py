"""The golden set pages (agentops.goldens.views): the list and its create form, a set at a version, a case's
edit and removal, the import; who sees what, outsiders, hostile values, and a page's query count."""

from __future__ import annotations

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.goldens import selectors
from agentops.goldens.models import GoldenSet
from agentops.goldens.services import case_add, golden_set_create
from agentops.tenancy.models import AuditEvent
from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("x")</script>'


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _sets_url(project) -> str:
    return reverse("golden_sets", kwargs={"slug": project.slug})


def _set_url(project, name) -> str:
    return reverse("golden_set", kwargs={"slug": project.slug, "set_name": name})


def _case_url(project, name, key, action="edit") -> str:
    return reverse(f"golden_case_{action}", kwargs={"slug": project.slug, "set_name": name, "case_key": key})


def _set_with_case(project, user=None, **fields):
    golden_set = golden_set_create(project=project, user=user, data={"name": "smoke", "description": SCRIPT})
    data = {"input": {"question": SCRIPT}, "expected_output": SCRIPT, "tags": [SCRIPT], "notes": SCRIPT} | fields
    case = case_add(golden_set=golden_set, user=user, data=data, payloads=True)
    return golden_set, case


def test_an_engineer_creates_a_set_and_sees_it_listed(personas):
    client, project = _client(personas.engineer), personas.project
    page = client.get(_sets_url(project))
    assert page.status_code == 200 and 'id="create-set"' in page.content.decode()
    created = client.post(_sets_url(project), {"name": "checkout-smoke", "description": SCRIPT})
    assert created.status_code == 302 and created["Location"] == _set_url(project, "checkout-smoke")
    assert AuditEvent.objects.filter(action="golden_set.create", project=project).count() == 1
    listed = client.get(_sets_url(project)).content.decode()
    assert "checkout-smoke" in listed and SCRIPT not in listed and html.escape(SCRIPT) in listed

    duplicate = client.post(_sets_url(project), {"name": "Checkout-Smoke"})
    assert duplicate.status_code == 409
    assert 'id="error-set"' in duplicate.content.decode()
    refused = client.post(_sets_url(project), {"name": SCRIPT})
    body = refused.content.decode()
    assert refused.status_code == 400 and 'id="error-set"' in body and SCRIPT not in body
    assert GoldenSet.objects.filter(project=project).count() == 1


def test_viewers_read_names_and_counts_without_payloads_and_change_nothing(personas):
    project = personas.project
    golden_set, case = _set_with_case(project, personas.engineer, assertions=[{"type": "contains", "value": "secret"}])
    viewer = _client(personas.viewer)
    listed = viewer.get(_sets_url(project)).content.decode()
    assert "smoke" in listed and 'id="create-set"' not in listed
    page = viewer.get(_set_url(project, "smoke"))
    body = page.content.decode()
    assert page.status_code == 200 and case.case_key in body and "contains" in body
    assert "secret" not in body and "question" not in body and 'id="export-link"' not in body
    assert html.escape(SCRIPT) in body and SCRIPT not in body  # the tag (no payload), escaped
    assert _case_url(project, "smoke", case.case_key) not in body
    # Every write is 404 for a Viewer, as for a project they cannot see.
    assert viewer.post(_sets_url(project), {"name": "mine"}).status_code == 404
    assert viewer.get(_case_url(project, "smoke", case.case_key)).status_code == 404
    assert viewer.post(_case_url(project, "smoke", case.case_key), {"notes": "x"}).status_code == 404
    assert viewer.post(_case_url(project, "smoke", case.case_key, "remove")).status_code == 404
    imported = reverse("golden_set_import", kwargs={"slug": project.slug, "set_name": "smoke"})
    assert viewer.post(imported, {"file": SimpleUploadedFile("a.jsonl", b'{"input": 1}')}).status_code == 404
    golden_set.refresh_from_db()
    assert golden_set.version == 1 and not GoldenSet.objects.filter(name="mine").exists()


def test_outsiders_get_404_from_every_page(personas):
    project = personas.project
    _, case = _set_with_case(project)
    outsider = _client(personas.outsider)
    run = make_run(project)
    urls = [
        _sets_url(project),
        _set_url(project, "smoke"),
        _case_url(project, "smoke", case.case_key),
        _case_url(project, "smoke", case.case_key, "remove"),
        reverse("golden_set_import", kwargs={"slug": project.slug, "set_name": "smoke"}),
        reverse("golden_promote_run", kwargs={"slug": project.slug, "trace_id": run.trace_hex}),
        reverse("golden_promote_runs", kwargs={"slug": project.slug}),
    ]
    for url in urls:
        assert outsider.get(url).status_code == 404, url
        assert outsider.post(url, {"name": "x", "set": "smoke", "new_set": "x"}).status_code == 404, url
    # A set of the outsider's own project is not found under this project's slug, even by its admin.
    golden_set_create(project=personas.other_project, user=None, data={"name": "theirs"})
    assert _client(personas.admin).get(_set_url(project, "theirs")).status_code == 404


def test_the_set_page_shows_cases_escaped_with_their_source_and_versions(personas):
    project, engineer = personas.project, personas.engineer
    trace = make_run(project, AgentTrace(tool_error=True))
    golden_set = golden_set_create(project=project, user=engineer, data={"name": "smoke"})
    from_run = case_add(
        golden_set=golden_set,
        user=engineer,
        data={
            "source_trace_id": trace.trace_hex,
            "source_span_id": trace.spans[1].span_id.hex(),
            "expected_output": {"answer": SCRIPT},
            "assertions": [{"type": "no_error"}],
            "tags": ["failed", SCRIPT],
            "notes": SCRIPT,
        },
        payloads=True,
    )
    typed = case_add(golden_set=golden_set, user=engineer, data={"input": SCRIPT}, payloads=True)
    page = _client(engineer).get(_set_url(project, "smoke"))
    body = page.content.decode()
    assert page.status_code == 200 and SCRIPT not in body
    assert body.count("&lt;script&gt;alert(") >= 4  # the typed input, expected output, tag and notes
    assert "Where is order 100?" in body  # the run's input, summarized as its last user message
    replay = reverse("run_replay", kwargs={"slug": project.slug, "trace_id": trace.trace_hex})
    assert f"{replay}?span={trace.spans[1].span_id.hex()}" in html.unescape(body)
    assert "no_error" in body and engineer.email in body
    assert _case_url(project, "smoke", from_run.case_key) in body
    assert _case_url(project, "smoke", typed.case_key, "remove") in body
    export = reverse("api_golden_set_export", kwargs={"slug": project.slug, "set_name": "smoke"})
    assert f"{export}?version=2" in body and f"/p/{project.slug}/evals/?set=smoke" in body
    assert f"added case {typed.case_key}" in body  # the versions table

    old = _client(engineer).get(_set_url(project, "smoke"), {"version": 1}).content.decode()
    assert 'id="old-version"' in old and f'data-key="{from_run.case_key}"' in old
    assert f'data-key="{typed.case_key}"' not in old
    assert _case_url(project, "smoke", from_run.case_key) not in old  # read only
    assert 'id="import-form"' not in old
    client = _client(engineer)
    assert client.get(_set_url(project, "smoke"), {"version": 3}).status_code == 404
    assert client.get(_set_url(project, "smoke"), {"version": "x"}).status_code == 404


def test_editing_a_case_makes_a_version_and_a_refusal_is_shown_beside_its_field(personas):
    project, client = personas.project, _client(personas.engineer)
    golden_set, case = _set_with_case(project)
    form = client.get(_case_url(project, "smoke", case.case_key))
    assert form.status_code == 200 and SCRIPT not in form.content.decode()
    refused = client.post(
        _case_url(project, "smoke", case.case_key),
        {"expected_output": "ok", "expected_format": "text", "assertions": '[{"type": "no_error"}, {"type": "bogus"}]'},
    )
    body = refused.content.decode()
    assert refused.status_code == 400 and 'id="error-assertions"' in body and "assertions[1].type" in body
    not_json = client.post(_case_url(project, "smoke", case.case_key), {"expected_output": "{oops"})
    assert not_json.status_code == 400 and 'id="error-expected_output"' in not_json.content.decode()
    golden_set.refresh_from_db()
    assert golden_set.version == 1  # nothing stored

    saved = client.post(
        _case_url(project, "smoke", case.case_key),
        {
            "expected_output": '{"status": "lost"}',
            "expected_format": "json",
            "assertions": '[{"type": "contains", "value": "lost"}]',
            "tags": "a, b , ,a",
            "notes": "checked",
        },
    )
    assert saved.status_code == 302
    golden_set.refresh_from_db()
    now = selectors.case_at(golden_set, case.case_key)
    assert now is not None and now.added_in == 2
    assert (now.expected_output, now.tags, now.notes) == ({"status": "lost"}, ["a", "b"], "checked")
    assert now.assertions[0]["type"] == "contains" and now.input == {"question": SCRIPT}
    again = client.post(
        _case_url(project, "smoke", case.case_key),
        {
            "expected_output": '{"status": "lost"}',
            "assertions": json.dumps(now.assertions),
            "tags": "a, b",
            "notes": "checked",
        },
    )
    assert again.status_code == 302
    golden_set.refresh_from_db()
    assert golden_set.version == 2  # the same values: no new version


def test_removing_a_case_keeps_it_in_the_version_before(personas):
    project, client = personas.project, _client(personas.engineer)
    golden_set, case = _set_with_case(project)
    assert client.get(_case_url(project, "smoke", case.case_key, "remove")).status_code == 405
    assert client.post(_case_url(project, "smoke", case.case_key, "remove")).status_code == 302
    golden_set.refresh_from_db()
    assert golden_set.version == 2 and selectors.case_count_at(golden_set, 2) == 0
    assert selectors.case_at(golden_set, case.case_key, 1) is not None
    assert client.post(_case_url(project, "smoke", case.case_key, "remove")).status_code == 404


def test_importing_json_lines_makes_one_version_and_a_bad_line_is_named(personas):
    project, client = personas.project, _client(personas.engineer)
    golden_set_create(project=project, user=None, data={"name": "smoke"})
    url = reverse("golden_set_import", kwargs={"slug": project.slug, "set_name": "smoke"})
    lines = b'{"input": "a", "tags": ["x"]}\n{"input": {"q": 2}, "expected_output": "b"}\n'
    done = client.post(url, {"file": SimpleUploadedFile("cases.jsonl", lines)})
    assert done.status_code == 302
    golden_set = GoldenSet.objects.get(project=project, name="smoke")
    assert golden_set.version == 1 and selectors.case_count_at(golden_set, 1) == 2
    bad = client.post(url, {"file": SimpleUploadedFile("bad.jsonl", b'{"input": 1}\n{"nope": "<b>"}')})
    body = bad.content.decode()
    assert bad.status_code == 400 and 'id="error-file"' in body and "line 2: nope" in body
    missing = client.post(url, {})
    assert missing.status_code == 400 and 'id="error-file"' in missing.content.decode()
    golden_set.refresh_from_db()
    assert golden_set.version == 1


def test_the_tab_and_a_set_page_cost_the_same_queries_for_one_case_as_for_five(personas):
    project, client = personas.project, _client(personas.engineer)
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    trace = make_run(project)
    data = {"source_trace_id": trace.trace_hex, "tags": ["t"]}
    case_add(golden_set=golden_set, user=personas.engineer, data=data, payloads=True)
    with CaptureQueriesContext(connection) as one:
        assert client.get(_set_url(project, "smoke")).status_code == 200
    for _ in range(4):
        case_add(golden_set=golden_set, user=personas.admin, data=data, payloads=True)
    with CaptureQueriesContext(connection) as five:
        assert client.get(_set_url(project, "smoke")).status_code == 200
    assert len(one) == len(five)
    page = client.get(reverse("run_list", kwargs={"slug": project.slug})).content.decode()
    assert f'href="{_sets_url(project)}"' in page  # the project tab


@pytest.mark.parametrize("url_name", ["golden_sets", "eval_runs", "golden_rules", "golden_review"])
def test_the_golden_sets_area_links_its_pages_under_one_tab(personas, url_name):
    page = _client(personas.engineer).get(reverse(url_name, kwargs={"slug": personas.project.slug})).text
    nav = page.split('class="subtabs goldens-nav"')[1].split("</nav>")[0]
    for other in ("golden_sets", "eval_runs", "golden_rules", "golden_review"):
        assert f'href="{reverse(other, kwargs={"slug": personas.project.slug})}"' in nav
    assert "judge" not in nav  # the LLM judge settings are the Admin's
    tab = reverse("golden_sets", kwargs={"slug": personas.project.slug})
    assert f'<a href="{tab}" class="active">Golden sets</a>' in page
    admin_page = _client(personas.admin).get(reverse(url_name, kwargs={"slug": personas.project.slug})).text
    assert reverse("judge_settings", kwargs={"slug": personas.project.slug}) in admin_page


def test_the_run_list_offers_to_sample_its_runs_for_review(personas):
    make_run(personas.project, AgentTrace(tool_error=True))
    page = _client(personas.engineer).get(reverse("run_list", kwargs={"slug": personas.project.slug}) + "?status=error")
    link = reverse("golden_rule_create", kwargs={"slug": personas.project.slug}) + "?filter=status%3Derror"
    assert html.escape(link) in page.text or link in page.text
