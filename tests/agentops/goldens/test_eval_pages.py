"""The eval run pages: the list with its filters and trend chart, one eval run, two side by side."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agentops.goldens import eval_page_selectors, eval_views
from agentops.goldens.eval_services import eval_create, eval_score, results_submit
from tests.agentops.goldens.eval_factories import evaluate, golden_set
from tests.factories import make_run
from tests.otlp import AgentTrace

pytestmark = pytest.mark.django_db

HOSTILE = '<img src=x onerror=alert(1)>%{customdata}"};</script>'


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(project, name, **kwargs):
    return reverse(name, kwargs={"slug": project.slug, **kwargs})


def _regressed(project):
    """v1 passes both cases; v2, against v1, answers the first wrongly."""
    _, (first, second) = golden_set(project)
    v1 = evaluate(project, "smoke", "v1", {first: "shipped", second: "shipped"})
    v2 = evaluate(project, "smoke", "v2", {first: "lost in transit", second: "shipped"}, baseline="v1")
    assert (v1.eval_run.verdict, v2.eval_run.verdict) == ("pass", "fail")
    return first, second, v1, v2


def _case_row(html: str, key: str) -> str:
    match = re.search(rf'<tr id="case-{key}".*?</tr>', html, re.S)
    assert match, f"no row for case {key}"
    return match.group(0)


def test_an_eval_run_shows_its_verdict_reasons_and_each_case_linked_to_its_run_and_the_baseline(personas):
    project = personas.project
    first, second, v1, v2 = _regressed(project)
    html = _client(personas.engineer).get(_url(project, "eval_run", eval_run_id=v2.eval_run.pk)).content.decode()

    assert 'id="verdict">fail<' in html
    assert "Regressions against the baseline" in html
    assert f"regression against eval run {v1.eval_run.pk}: case {first}: failed; attempt 1: equals failed" in html
    row = _case_row(html, first)
    assert "case-fail" in row and ">equals<" in row
    assert "lost in transit" in row  # the output and the scorer's reason quoting it: payloads
    assert f'href="/p/{project.slug}/runs/{v2.traces[first]}/"' in row
    assert f'href="/p/{project.slug}/evals/{v1.eval_run.pk}/#case-{first}"' in row
    assert "case-pass" in _case_row(html, second)
    compare = f"/p/{project.slug}/evals/compare/?a={v1.eval_run.pk}&amp;b={v2.eval_run.pk}"
    assert f'href="{compare}" id="compare-baseline"' in html
    assert f'href="/p/{project.slug}/golden-sets/smoke/gate/" id="set-gate"' in html
    # Finished: no polling.
    assert "hx-trigger" not in html


def test_a_viewer_sees_pass_and_fail_but_no_output_nor_the_scorers_reasons(personas):
    project = personas.project
    first, _, _, v2 = _regressed(project)
    response = _client(personas.viewer).get(_url(project, "eval_run", eval_run_id=v2.eval_run.pk))
    html = response.content.decode()
    assert response.status_code == 200
    row = _case_row(html, first)
    assert "case-fail" in row and ">equals<" in row and "/runs/" in row
    assert "lost in transit" not in html
    assert "<th>Output</th>" not in html
    assert 'id="set-gate"' not in html  # the gate is edited by Engineers and above


def test_failures_only(personas):
    project = personas.project
    first, second, _, v2 = _regressed(project)
    client = _client(personas.engineer)
    html = client.get(_url(project, "eval_run", eval_run_id=v2.eval_run.pk), {"failures": "1"}).content.decode()
    assert f'id="case-{first}"' in html and f'id="case-{second}"' not in html
    everything = client.get(_url(project, "eval_run", eval_run_id=v2.eval_run.pk)).content.decode()
    assert f'id="case-{second}"' in everything


def test_repeated_cases_show_each_attempt_with_its_run(personas):
    project = personas.project
    _, (key,) = golden_set(project, cases=1)
    eval_run = eval_create(project=project, user=None, data={"set": "smoke", "bundle": "v1", "repeat": 3}).eval_run
    traces = [make_run(project, AgentTrace()).trace_hex for _ in range(3)]
    outputs = ["shipped", "lost", "shipped"]
    results = [{"case_key": key, "attempt": n + 1, "output": outputs[n], "trace_id": traces[n]} for n in range(3)]
    results_submit(eval_run=eval_run, data=results)
    assert eval_score(eval_run=eval_run, user=None, final=True).eval_run.verdict == "pass"  # 2 of 3

    html = _client(personas.engineer).get(_url(project, "eval_run", eval_run_id=eval_run.pk)).content.decode()
    row = _case_row(html, key)
    assert "case-pass" in row and "each case 3 times" in html
    attempts = re.findall(r"<li>(pass|fail)(?:: (\w+))? · <a href=\"([^\"]+)\">run</a>", row)
    assert attempts == [
        ("pass", "", f"/p/{project.slug}/runs/{traces[0]}/"),
        ("fail", "equals", f"/p/{project.slug}/runs/{traces[1]}/"),
        ("pass", "", f"/p/{project.slug}/runs/{traces[2]}/"),
    ]
    # The case's own link and its failing assertion point at the attempt that failed.
    assert f'href="/p/{project.slug}/runs/{traces[1]}/" class="replay"' in row


def test_a_large_run_shows_its_cases_a_page_at_a_time(personas, monkeypatch):
    project = personas.project
    _, keys = golden_set(project, cases=3)
    done = evaluate(project, "smoke", "v1", {keys[0]: "no", keys[1]: "shipped", keys[2]: "no"}).eval_run
    monkeypatch.setattr(eval_views, "CASES_SHOWN", 1)
    client = _client(personas.viewer)
    url = _url(project, "eval_run", eval_run_id=done.pk)

    def shown(**params):
        html = client.get(url, params).content.decode()
        return re.findall(r'<tr id="case-(\w+)"', html), html

    assert shown()[0] == [keys[0]]
    page, html = shown(**{"from": "1"})
    assert page == [keys[1]] and "Cases 2 to 2 of 3" in html
    assert 'href="?from=2" id="next-cases"' in html and 'href="?from=0" id="previous-cases"' in html
    page, html = shown(failures="1", **{"from": "1"})
    assert page == [keys[2]] and 'href="?failures=1&amp;from=0" id="previous-cases"' in html
    assert 'id="next-cases"' not in html


def test_a_running_eval_polls_until_it_is_final(personas):
    project = personas.project
    _, (first, second) = golden_set(project)
    running = evaluate(project, "smoke", "v1", {first: "shipped"}, score=False).eval_run
    client = _client(personas.engineer)
    url = _url(project, "eval_run", eval_run_id=running.pk)
    html = client.get(url).content.decode()
    assert 'hx-get="' + url + '?live=1"' in html and 'hx-trigger="every 2s"' in html
    assert "pending" in _case_row(html, second)

    live = client.get(url, {"live": "1"}).content.decode()
    assert 'id="eval-live"' in live
    assert '<nav class="tabs">' not in live  # the fragment alone
    eval_score(eval_run=running, user=None, final=True)
    final = client.get(url, {"live": "1"}).content.decode()
    assert "hx-trigger" not in final and 'id="verdict">fail<' in final


def test_the_list_filters_by_set_and_bundle_newest_first_in_bounded_pages(personas, monkeypatch):
    project = personas.project
    _, (first, second) = golden_set(project)
    golden_set(project, name="other", cases=1)
    made = [evaluate(project, "smoke", f"v{i}", {first: "shipped", second: "shipped"}).eval_run for i in range(3)]
    other = eval_create(project=project, user=None, data={"set": "other", "bundle": "v0"}).eval_run
    client = _client(personas.viewer)

    def shown(**params):
        html = client.get(_url(project, "eval_runs"), params).content.decode()
        return [int(i) for i in re.findall(r'<tr id="eval-run-(\d+)">', html)], html

    assert shown()[0] == [other.pk, made[2].pk, made[1].pk, made[0].pk]
    assert shown(set="smoke")[0] == [made[2].pk, made[1].pk, made[0].pk]
    assert shown(bundle="v0")[0] == [other.pk, made[0].pk]
    assert shown(set="other", bundle="v0")[0] == [other.pk]
    ids, html = shown(set="smoke")
    assert "100.0%" in html and "2/2" in html and "smoke@2" in html

    monkeypatch.setattr(eval_page_selectors, "PAGE_SIZE", 2)
    ids, html = shown(set="smoke")
    assert ids == [made[2].pk, made[1].pk]
    older = re.search(r'href="\?([^"]+)" id="older"', html)
    assert older
    query = dict(p.split("=") for p in unescape(older.group(1)).split("&"))
    assert query == {"set": "smoke", "before": str(made[1].pk)}
    assert shown(**query)[0] == [made[0].pk]


def test_the_trend_chart_holds_hostile_bundle_names_as_inert_text(personas):
    project = personas.project
    _, (first, second) = golden_set(project)
    good = evaluate(project, "smoke", "v1", {first: "shipped", second: "shipped"}).eval_run
    bad = evaluate(project, "smoke", HOSTILE, {first: "no", second: "shipped"}).eval_run
    html = _client(personas.viewer).get(_url(project, "eval_runs"), {"set": "smoke"}).content.decode()

    assert "<img src=x" not in html and '"};</script>' not in html
    script = re.search(r'<script id="figure-eval-trend" type="application/json">(.*?)</script>', html, re.S)
    assert script
    figure = json.loads(script.group(1))
    by_name = {trace["name"]: trace for trace in figure["data"]}
    hostile = by_name['&lt;img src=x onerror=alert(1)&gt;%{customdata}"};&lt;/script&gt;']
    assert hostile["y"] == [50.0]
    assert hostile["customdata"] == [[f"/p/{project.slug}/evals/{bad.pk}/", bad.pk]]
    # The name in the hover is text: plotly's %{...} is escaped, so it cannot pull another field in.
    assert hostile["hovertemplate"].startswith("&lt;img src=x onerror=alert(1)&gt;%&#123;customdata}")
    assert "%{y}% of cases passed" in hostile["hovertemplate"]
    assert by_name["v1"]["y"] == [100.0] and by_name["v1"]["customdata"][0][0].endswith(f"/evals/{good.pk}/")
    assert "vendor/plotly.min.js" in html


def test_compare_shows_what_flipped_first(personas):
    project = personas.project
    _, keys = golden_set(project, cases=4)
    a = evaluate(project, "smoke", "v1", {keys[0]: "shipped", keys[1]: "no", keys[2]: "shipped", keys[3]: "no"})
    b = evaluate(project, "smoke", "v2", {keys[0]: "shipped", keys[1]: "shipped", keys[2]: "no", keys[3]: "no"})
    client = _client(personas.viewer)
    html = client.get(_url(project, "eval_compare"), {"a": a.eval_run.pk, "b": b.eval_run.pk}).content.decode()
    rows = re.findall(r'<tr class="change-(\w+)" data-case="(\w+)">', html)
    assert rows == [("broke", keys[2]), ("fixed", keys[1]), ("same", keys[0]), ("same", keys[3])]
    assert "1 case went from pass to fail, 1 from fail to pass." in html
    broke = re.search(rf'data-case="{keys[2]}">.*?</tr>', html, re.S)
    assert broke
    assert f'href="/p/{project.slug}/runs/{a.traces[keys[2]]}/"' in broke.group(0)
    assert f'href="/p/{project.slug}/runs/{b.traces[keys[2]]}/"' in broke.group(0)

    assert client.get(_url(project, "eval_compare")).status_code == 200  # the form
    assert client.get(_url(project, "eval_compare"), {"a": "x", "b": "1"}).status_code == 400


def test_outsiders_and_other_projects_eval_runs_get_404(personas):
    project = personas.project
    _, _, v1, v2 = _regressed(project)
    _, (theirs,) = golden_set(personas.other_project, name="theirs", cases=1)
    foreign = evaluate(personas.other_project, "theirs", "x", {theirs: "shipped"}).eval_run
    urls = [
        _url(project, "eval_runs"),
        _url(project, "eval_run", eval_run_id=v2.eval_run.pk),
        _url(project, "eval_compare") + f"?a={v1.eval_run.pk}&b={v2.eval_run.pk}",
        _url(project, "golden_set_gate", set_name="smoke"),
        _url(project, "judge_settings"),
    ]
    outsider = _client(personas.outsider)
    for url in urls:
        assert outsider.get(url).status_code == 404, url
        assert outsider.post(url).status_code == 404, url
    admin = _client(personas.admin)
    assert admin.get(_url(project, "eval_run", eval_run_id=foreign.pk)).status_code == 404
    # Another project's set of the same name: neither its runs nor its trend points show here.
    _, (same,) = golden_set(personas.other_project, name="smoke", cases=1)
    namesake = evaluate(personas.other_project, "smoke", "v1", {same: "shipped"}).eval_run
    listed = admin.get(_url(project, "eval_runs"), {"set": "smoke"}).content.decode()
    shown = {int(i) for i in re.findall(r'<tr id="eval-run-(\d+)">', listed)}
    assert shown == {v1.eval_run.pk, v2.eval_run.pk}
    assert f"/evals/{namesake.pk}/" not in listed and f"/evals/{foreign.pk}/" not in listed
    assert ">x<" not in listed  # the foreign bundle is not a filter choice either
    compare = _url(project, "eval_compare")
    assert admin.get(compare, {"a": v1.eval_run.pk, "b": foreign.pk}).status_code == 404
    assert admin.get(_url(project, "golden_set_gate", set_name="theirs")).status_code == 404


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_pages_cost_the_same_queries_whatever_the_number_of_cases_and_runs(personas):
    project = personas.project
    client = _client(personas.engineer)
    _, small_keys = golden_set(project, name="small", cases=1)
    _, big_keys = golden_set(project, name="big", cases=5)
    evaluate(project, "small", "v1", dict.fromkeys(small_keys, "shipped"))
    small = evaluate(project, "small", "v2", dict.fromkeys(small_keys, "no"), baseline="v1").eval_run
    for bundle in ("v1", "v3"):
        evaluate(project, "big", bundle, dict.fromkeys(big_keys, "shipped"))
    big = evaluate(project, "big", "v2", dict.fromkeys(big_keys, "no"), baseline="v1").eval_run

    assert _queries(client, _url(project, "eval_run", eval_run_id=small.pk)) == _queries(
        client, _url(project, "eval_run", eval_run_id=big.pk)
    )
    assert _queries(client, _url(project, "eval_runs") + "?set=small") == _queries(
        client, _url(project, "eval_runs") + "?set=big"
    )
