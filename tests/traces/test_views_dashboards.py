"""The project and agent dashboards as pages: parameters, slices, agents with odd names, access, and a
query count that does not grow with the data."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import make_run
from tests.otlp import AgentTrace
from traces import rollups
from traces.views.dashboards import RangeError, parse_params

pytestmark = pytest.mark.django_db

NS = 1_000_000_000
ODD_AGENT = "billing/v2 ?#%20& 🤖"
NOW = datetime(2026, 11, 22, 12, 30, tzinfo=UTC)


def _run(project, *, agent="support-bot", bundle="b1", env="prod", hours_ago=1.0, **kw):
    trace = AgentTrace(start_ns=time.time_ns() - int(hours_ago * 3600 * NS), agent=agent, **kw)
    resource = {"service.name": agent, "agentops.bundle.id": bundle, "deployment.environment.name": env}
    run = make_run(project, trace, resource)
    rollups.refresh()  # what beat does every minute
    return run


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _figure(response, name: str) -> dict:
    match = re.search(rf'<script id="figure-{name}" type="application/json">(.*?)</script>', response.text, re.S)
    assert match, f"no figure {name}"
    return json.loads(match.group(1))


def _dashboard(project, **params) -> str:
    query = QueryDict(mutable=True)
    query.update(params)
    return reverse("project_dashboard", kwargs={"slug": project.slug}) + ("?" + query.urlencode() if params else "")


def _agent_url(project, agent: str) -> str:
    return reverse("agent_dashboard", kwargs={"slug": project.slug, "agent": agent})


# --- parameters ---


def _parse(query: str):
    return parse_params(QueryDict(query), NOW)


def test_parse_params_defaults_to_seven_days():
    params = _parse("")
    assert (params.range, params.end, (params.end - params.start).days) == ("7d", NOW, 7)
    assert params.window().bucket == "hour"
    assert params.bundle is None and params.environment is None


def test_parse_params_30_days_are_drawn_per_day_and_slices_are_kept():
    params = _parse("range=30d&bundle=b1&environment=prod")
    window = params.window(agent="a")
    assert (window.bucket, window.bundle, window.environment, window.agent) == ("day", "b1", "prod", "a")
    assert params.window(sliced=False).bundle is None


def test_parse_params_custom_dates_include_the_last_day():
    params = _parse("range=custom&from=2026-11-01&to=2026-11-02")
    assert params.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert params.end == datetime(2026, 11, 3, tzinfo=UTC)
    params = _parse("range=custom&from=2026-11-01T06:00")
    assert (params.start, params.end) == (datetime(2026, 11, 1, 6, tzinfo=UTC), NOW)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("range=1y", "unknown range"),
        ("range=custom", "needs a start"),
        ("range=custom&from=yesterday", "not a date"),
        ("range=custom&from=2026-11-05&to=2026-11-01", "end after it starts"),
        ("range=custom&from=2020-01-01&to=2026-01-01", "at most a year"),
    ],
)
def test_parse_params_rejects_bad_ranges(query, message):
    with pytest.raises(RangeError, match=message):
        _parse(query)


# --- the project dashboard ---


def test_the_dashboard_draws_every_chart_from_the_project_runs(personas):
    _run(personas.project)
    _run(personas.project, tool_error=True)
    _run(personas.other_project)  # never shown
    response = _client(personas.viewer).get(_dashboard(personas.project))
    assert response.status_code == 200
    assert 'data-testid="total-runs">2<' in response.text
    for name in ("runs", "errors", "latency", "cost", "cost_agent", "cost_bundle", "cost_model", "cost_user",
                 "tools", "steps"):  # fmt: skip
        assert f'data-figure="figure-{name}"' in response.text, name
    ok, failed = _figure(response, "runs")["data"]
    assert sum(ok["y"]) + sum(failed["y"]) == 2 and sum(failed["y"]) == 1
    ok, failed = _figure(response, "tools")["data"]
    assert (ok["y"], ok["x"], failed["x"]) == (["lookup_order"], [1], [1])
    assert "vendor/plotly.min.js" in response.text
    assert reverse("project_dashboard", kwargs={"slug": personas.project.slug}) in response.text  # the tab


def test_an_empty_project_says_there_is_no_data(personas):
    response = _client(personas.viewer).get(_dashboard(personas.project))
    assert response.status_code == 200
    assert "data-figure=" not in response.text
    assert "No data in this range." in response.text


def test_slices_by_bundle_and_environment(personas):
    _run(personas.project, bundle="b1", env="prod")
    _run(personas.project, bundle="b2", env="prod")
    _run(personas.project, bundle="b2", env="staging")
    client = _client(personas.viewer)
    assert 'total-runs">2<' in client.get(_dashboard(personas.project, bundle="b2")).text
    assert 'total-runs">1<' in client.get(_dashboard(personas.project, bundle="b2", environment="staging")).text
    page = client.get(_dashboard(personas.project, bundle="b2")).text
    # The pickers still offer every bundle of the window, whatever is selected.
    assert '<option value="b1">' in page and '<option value="b2" selected>' in page


def test_time_ranges_select_runs(personas):
    _run(personas.project, hours_ago=2)
    _run(personas.project, hours_ago=24 * 3)
    _run(personas.project, hours_ago=24 * 20)
    client = _client(personas.viewer)
    counts = {r: client.get(_dashboard(personas.project, range=r)).text for r in ("24h", "7d", "30d")}
    assert 'total-runs">1<' in counts["24h"]
    assert 'total-runs">2<' in counts["7d"]
    assert 'total-runs">3<' in counts["30d"]


def test_a_bad_range_answers_400_with_the_message(personas):
    response = _client(personas.viewer).get(_dashboard(personas.project, range="custom", **{"from": "soon"}))
    assert response.status_code == 400
    assert "not a date" in response.text


def test_the_agent_table_links_to_agent_dashboards(personas):
    _run(personas.project, agent=ODD_AGENT)
    response = _client(personas.viewer).get(_dashboard(personas.project))
    assert _agent_url(personas.project, ODD_AGENT) in response.text.replace("&amp;", "&")


# --- the agent dashboard ---


def test_an_agent_with_an_odd_name_has_its_dashboard(personas):
    _run(personas.project, agent=ODD_AGENT, bundle="new", hours_ago=1)
    _run(personas.project, agent=ODD_AGENT, bundle="old", hours_ago=30, tool_error=True)
    _run(personas.project, agent="support-bot", bundle="other")
    url = _agent_url(personas.project, ODD_AGENT)
    # One opaque segment (traces.converters): ?, # and % escaped, / too, so no browser can resolve it away.
    assert "billing%252Fv2%20%3F%23%252520" in url
    response = _client(personas.viewer).get(url)
    assert response.status_code == 200
    assert 'data-testid="agent-name">billing/v2 ?#%20&amp; 🤖<' in response.text
    rows = re.findall(r'<td class="mono">(.*?)</td>', response.text)
    assert rows == ["new", "old"]  # newest first; other agents' bundles are not listed
    assert "50.0%" in response.text  # each bundle has half the traffic
    side = _figure(response, "side_by_side")
    # The first panel is the error rate, a bar per bundle.
    errors = [(t["name"], t["y"]) for t in side["data"] if t["xaxis"] == "x"]
    assert errors == [("new", [0.0]), ("old", [100.0])]
    # The table shows the same per-run metrics as text: the old bundle's error rate, its cost per run.
    cells = re.findall(r'<td class="num">(.*?)</td>', response.text)
    assert cells[:1] == ["0.0"] and "100.0" in cells
    traffic = _figure(response, "traffic")
    assert sorted(t["name"] for t in traffic["data"]) == ["new", "old"]


def test_an_unknown_agent_is_404(personas):
    _run(personas.project)
    assert _client(personas.viewer).get(_agent_url(personas.project, "nobody")).status_code == 404
    # An agent of another project is unknown here.
    _run(personas.other_project, agent="elsewhere")
    assert _client(personas.viewer).get(_agent_url(personas.project, "elsewhere")).status_code == 404


def test_outsiders_get_404_from_both_dashboards(personas):
    _run(personas.project)
    client = _client(personas.outsider)
    assert client.get(_dashboard(personas.project)).status_code == 404
    assert client.get(_agent_url(personas.project, "support-bot")).status_code == 404


# --- query counts ---


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_query_count_does_not_grow_with_the_data(personas):
    client = _client(personas.viewer)
    _run(personas.project, bundle="b1")
    urls = [_dashboard(personas.project), _dashboard(personas.project, range="30d", bundle="b1"),
            _agent_url(personas.project, "support-bot")]  # fmt: skip
    small = [_queries(client, url) for url in urls]
    for i in range(6):
        _run(personas.project, bundle=f"b{i % 3}", env=f"e{i % 2}", agent="support-bot", hours_ago=i * 20,
             tool_error=bool(i % 2), llm_calls=1 + i)  # fmt: skip
    assert [_queries(client, url) for url in urls] == small


def test_a_new_run_shows_without_waiting_for_the_rollup_refresh(personas):
    make_run(personas.project, AgentTrace())  # stored, and no refresh has run
    assert 'total-runs">1<' in _client(personas.viewer).get(_dashboard(personas.project)).text


def test_chart_points_link_to_the_run_list_of_this_project_with_the_slice(personas):
    """Each linked figure's points lead to this project's run list, filtered to the point and to the
    dashboard's slice; the list answers those filters (no 400) with the runs behind the point."""
    _run(personas.project, agent=ODD_AGENT, env="prod")
    _run(personas.project, agent="other-bot", env="staging")
    client = _client(personas.viewer)
    response = client.get(_dashboard(personas.project, environment="prod"))
    run_list = reverse("run_list", kwargs={"slug": personas.project.slug})
    (agents,) = _figure(response, "cost_agent")["links"]
    assert len(agents) == 1 and agents[0].startswith(run_list + "?")
    query = QueryDict(agents[0].split("?", 1)[1])
    assert query["agent"] == ODD_AGENT and query["environment"] == "prod"
    listed = client.get(agents[0])
    assert listed.status_code == 200 and listed.text.count(' data-trace="') == 1
    _ok, errors = _figure(response, "runs")["links"]
    assert QueryDict(errors[0].split("?", 1)[1])["status"] == "error"
    assert client.get(errors[0]).status_code == 200
    assert "links" not in _figure(response, "steps")  # no run list filter for a step count
