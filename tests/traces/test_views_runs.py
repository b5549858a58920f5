"""The run list and session thread pages (traces.views.runs): every filter, the text search, keyset
pages, the live fragment, payload visibility by role, tenancy, and query counts that do not grow with
the runs. Runs are stored through the real ingest pipeline (tests.factories.make_run)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_run
from tests.otlp import NS, AgentTrace, protobuf
from traces.filters import RunFilters
from traces.ingest.decode import decode_request
from traces.models import Run
from traces.selectors import load_ingest_config, runlist
from traces.services import ingest_batch

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRACE = re.compile(r'data-trace="([0-9a-f]{32})"')


def store(project: Any, *, hours: float = 0, bundle: str = "b1", environment: str = "prod", **kwargs: Any) -> str:
    """Store an agent run starting `hours` after T0; its trace id (hex). Its duration is 2 s per LLM call
    plus 3 s, its cost that of its LLM calls (1000 tokens in, 100 out each)."""
    start_ns = int((T0 + timedelta(hours=hours)).timestamp() * NS)
    resource = {"service.name": "svc", "agentops.bundle.id": bundle, "deployment.environment.name": environment}
    return make_run(project, AgentTrace(start_ns=start_ns, **kwargs), resource).trace_hex


def list_url(project: Any) -> str:
    return f"/p/{project.slug}/runs/"


def shown(response: Any) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return TRACE.findall(response.content.decode())


@pytest.fixture
def three(personas: Any) -> dict[str, str]:
    """alpha: 2 LLM calls (7 s); beta: 1 call, a failed tool (5 s); gamma: 3 calls (9 s). An hour apart."""
    project = personas.project
    return {
        "alpha": store(project, hours=0, agent="alpha", session="s1", user="u1", llm_calls=2),
        "beta": store(
            project,
            hours=1,
            agent="beta",
            bundle="b2",
            environment="staging",
            session="s2",
            user="u2",
            llm_calls=1,
            tool_error=True,
        ),
        "gamma": store(project, hours=2, agent="alpha", session="s1", user="u2", llm_calls=3),
    }


def test_the_list_shows_runs_newest_first_with_their_columns(client, personas, three):
    Run.objects.filter(trace_id=three["gamma"]).update(input_preview="Where is order 102?")
    client.force_login(personas.engineer)
    response = client.get(list_url(personas.project))
    assert shown(response) == [three["gamma"], three["beta"], three["alpha"]]
    html = response.content.decode()
    gamma = Run.objects.get(trace_id=three["gamma"])
    assert "2026-03-01 14:00:00" in html  # start
    assert "9.0 s" in html  # duration
    assert f"${gamma.cost_usd:.4f}" in html
    assert "3000 / 300" in html  # tokens in / out
    assert 'class="badge status-error"' in html and 'class="badge status-ok"' in html
    assert "Where is order 102?" in html
    assert f'href="/p/{personas.project.slug}/runs/{three["gamma"]}/"' in html  # to the replay
    assert f'href="/p/{personas.project.slug}/sessions/s2/"' in html
    assert 'class="active">Runs</a>' in html  # the tab


def test_an_unpriced_run_is_flagged_incomplete(client, personas, three):
    Run.objects.filter(trace_id=three["beta"]).update(unpriced_steps=2)
    client.force_login(personas.viewer)
    html = client.get(list_url(personas.project)).content.decode()
    assert html.count(">incomplete</span>") == 1
    assert "2 step(s) could not be priced" in html


def _local(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")  # as <input type=datetime-local> sends


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"alpha", "beta", "gamma"}),
        ({"from": _local(1)}, {"beta", "gamma"}),  # a datetime-local value, taken as UTC
        ({"to": _local(1)}, {"alpha"}),
        ({"from": "2026-03-01T13:30:00Z"}, {"gamma"}),
        ({"status": "error"}, {"beta"}),
        ({"status": "ok"}, {"alpha", "gamma"}),
        ({"status": "unfinished"}, set()),
        ({"agent": "alpha"}, {"alpha", "gamma"}),
        ({"bundle": "b2"}, {"beta"}),
        ({"environment": "staging"}, {"beta"}),
        ({"model": "gpt-4o"}, {"alpha", "beta", "gamma"}),
        ({"model": "claude-3"}, set()),
        ({"tool": "lookup_order"}, {"alpha", "beta", "gamma"}),
        ({"tool": "refund"}, set()),
        ({"session": "s2"}, {"beta"}),
        ({"user": "u2"}, {"beta", "gamma"}),
        ({"min_duration_ms": "7000"}, {"alpha", "gamma"}),
        ({"max_duration_ms": "7000"}, {"alpha", "beta"}),
        ({"min_duration_ms": "6000", "max_duration_ms": "8000"}, {"alpha"}),
        ({"agent": "alpha", "user": "u2", "status": "", "bundle": ""}, {"gamma"}),  # empty fields: no filter
    ],
)
def test_each_filter_in_the_url_selects_its_runs(client, personas, three, params, expected):
    client.force_login(personas.viewer)
    names = {trace: name for name, trace in three.items()}
    assert {names[t] for t in shown(client.get(list_url(personas.project), params))} == expected


def test_cost_range(client, personas, three):
    cost = {name: Run.objects.get(trace_id=trace).cost_usd for name, trace in three.items()}
    assert cost["beta"] < cost["alpha"] < cost["gamma"]
    client.force_login(personas.viewer)
    names = {trace: name for name, trace in three.items()}

    def listed(**params: str) -> set[str]:
        return {names[t] for t in shown(client.get(list_url(personas.project), params))}

    assert listed(min_cost=str(cost["alpha"])) == {"alpha", "gamma"}
    assert listed(max_cost=str(cost["alpha"])) == {"alpha", "beta"}
    assert listed(min_cost=str(cost["alpha"]), max_cost=str(cost["alpha"])) == {"alpha"}
    assert listed(max_cost=str(cost["beta"] - Decimal("1e-9"))) == set()


def test_the_form_shows_the_filters_of_the_url_and_offers_recent_values(client, personas, three):
    client.force_login(personas.engineer)
    html = client.get(list_url(personas.project), {"agent": "beta", "status": "error", "q": "order"}).content.decode()
    assert 'name="agent" list="choices-agent" value="beta"' in html
    assert '<option value="error" selected>' in html
    assert 'name="q" value="order"' in html
    for value in ("alpha", "beta", "b1", "b2", "prod", "staging", "gpt-4o", "lookup_order"):
        assert f'<option value="{value}">' in html


def test_the_time_range_is_shown_in_utc_whatever_zone_the_url_gave(client, personas, three):
    client.force_login(personas.viewer)
    response = client.get(list_url(personas.project), {"from": "2026-03-01T13:30:00+01:00", "to": _local(2)})
    html = response.content.decode()
    assert 'name="from" value="2026-03-01T12:30:00"' in html
    assert 'name="to" value="2026-03-01T14:00:00"' in html
    assert shown(response) == [three["beta"]]  # 12:30 UTC <= start < 14:00 UTC


def test_filter_choices_are_distinct_sorted_and_from_the_newest_runs(personas, three, monkeypatch):
    choices = runlist.filter_choices(personas.project)
    assert choices.agents == ["alpha", "beta"]
    assert choices.bundles == ["b1", "b2"]
    assert choices.environments == ["prod", "staging"]
    assert choices.models == ["gpt-4o"]
    assert choices.tools == ["lookup_order"]
    monkeypatch.setattr(runlist, "CHOICE_WINDOW", 1)  # only gamma, the newest
    assert runlist.filter_choices(personas.project).agents == ["alpha"]
    assert runlist.filter_choices(personas.project).bundles == ["b1"]


def test_a_bad_filter_value_is_a_400_naming_it(client, personas, three):
    client.force_login(personas.viewer)
    for params, name in [({"min_cost": "cheap"}, "min_cost"), ({"to": "tomorrow"}, "to"), ({"cursor": "x"}, "cursor")]:
        response = client.get(list_url(personas.project), params)
        assert response.status_code == 400
        assert name in response.content.decode()
        assert not TRACE.findall(response.content.decode())


# --- text search -------------------------------------------------------------------------------------


def test_search_finds_runs_by_words_of_their_input_or_output(client, personas, three):
    Run.objects.filter(trace_id=three["alpha"]).update(input_preview="I need a refund for A-100")
    Run.objects.filter(trace_id=three["beta"]).update(output_preview="Refund issued.")
    Run.objects.filter(trace_id=three["gamma"]).update(input_preview="Where is my parcel?")
    client.force_login(personas.engineer)
    names = {trace: name for name, trace in three.items()}

    def found(q: str, **params: str) -> set[str]:
        return {names[t] for t in shown(client.get(list_url(personas.project), {"q": q, **params}))}

    assert found("refund") == {"alpha", "beta"}
    assert found("REFUND a-100") == {"alpha"}
    assert found("parc") == {"gamma"}  # a word's start
    assert found("refund", status="error") == {"beta"}  # with the other filters
    assert found("nothing-like-it") == set()


def test_a_viewer_has_no_search_box_and_cannot_search(client, personas, three):
    Run.objects.filter(trace_id=three["alpha"]).update(input_preview="I need a refund")
    client.force_login(personas.viewer)
    html = client.get(list_url(personas.project)).content.decode()
    assert 'name="q"' not in html
    response = client.get(list_url(personas.project), {"q": "refund"})
    assert response.status_code == 400
    assert "q searches run inputs and outputs, which your role may not see" in response.content.decode()
    assert not TRACE.findall(response.content.decode())


# --- payloads and tenancy ------------------------------------------------------------------------------


def test_a_viewer_sees_structure_but_no_previews(client, personas, three):
    Run.objects.filter(project=personas.project).update(input_preview="SECRET-INPUT", output_preview="SECRET-OUT")
    for user, sees in [(personas.viewer, False), (personas.engineer, True)]:
        client.force_login(user)
        for url in (list_url(personas.project), f"/p/{personas.project.slug}/sessions/s1/"):
            html = client.get(url).content.decode()
            assert ("SECRET-INPUT" in html) is sees, (user, url)
            assert "9.0 s" in html  # timing, for everyone
        html = client.get(f"/p/{personas.project.slug}/sessions/s1/").content.decode()
        assert ("SECRET-OUT" in html) is sees
        assert (">Input</th>" in client.get(list_url(personas.project)).content.decode()) is sees


def test_a_viewer_s_list_does_not_read_previews(personas, three):
    runs, _ = runlist.run_list_page(personas.project, RunFilters(), None, 10, payloads=False)
    assert all({"input_preview", "output_preview"} <= run.get_deferred_fields() for run in runs)
    runs, _ = runlist.run_list_page(personas.project, RunFilters(), None, 10, payloads=True)
    assert not {"input_preview", "output_preview"} & runs[0].get_deferred_fields()


def test_outsiders_get_404_and_anonymous_go_to_login(client, personas, three):
    urls = [
        list_url(personas.project),
        f"/p/{personas.project.slug}/sessions/s1/",
        f"{list_url(personas.project)}?after=0",
    ]
    for url in urls:
        assert client.get(url).status_code == 302
        client.force_login(personas.outsider)
        assert client.get(url).status_code == 404
        client.logout()


def test_another_project_s_runs_are_not_listed(client, personas, three):
    store(personas.other_project, agent="elsewhere", session="s1")
    client.force_login(personas.admin)
    assert len(shown(client.get(list_url(personas.project)))) == 3
    assert len(shown(client.get(f"/p/{personas.project.slug}/sessions/s1/"))) == 2
    assert "elsewhere" not in client.get(list_url(personas.project)).content.decode()


# --- pages ---------------------------------------------------------------------------------------------


def test_older_pages_walk_every_run_once_and_keep_the_filters(client, personas, monkeypatch):
    monkeypatch.setattr("traces.views.runs.PAGE_SIZE", 2)
    traces = [store(personas.project, hours=h, agent="alpha" if h != 3 else "beta") for h in range(6)]
    expected = [t for h, t in reversed(list(enumerate(traces))) if h != 3]
    client.force_login(personas.viewer)
    seen: list[str] = []
    url: str | None = f"{list_url(personas.project)}?agent=alpha"
    pages = 0
    while url:
        response = client.get(url)
        seen += shown(response)
        pages += 1
        html = response.content.decode()
        assert ('id="run-live"' in html) is (pages == 1)  # live on the first page only
        match = re.search(r'href="(\?[^"]*)" rel="next"', html)
        url = f"{list_url(personas.project)}{match.group(1).replace('&amp;', '&')}" if match else None
        if url:
            assert "agent=alpha" in url
    assert seen == expected
    assert pages == 3


# --- live update ---------------------------------------------------------------------------------------


def _live_url(html: str) -> str:
    match = re.search(r'id="run-live"[^>]*hx-get="([^"]*)"', html)
    assert match, html[:2000]
    return match.group(1).replace("&amp;", "&")


def test_the_live_fragment_returns_only_runs_stored_since_the_page_and_matching_it(client, personas, three):
    client.force_login(personas.engineer)
    page = client.get(list_url(personas.project), {"agent": "alpha"}).content.decode()
    live = _live_url(page)
    assert "agent=alpha" in live and "after=" in live
    headers = {"HX-Request": "true"}
    assert client.get(f"{list_url(personas.project)}{live}", headers=headers).status_code == 204

    newer = store(personas.project, hours=3, agent="alpha")
    store(personas.project, hours=4, agent="beta")  # not matching the page's filter
    late = store(personas.project, hours=-5, agent="alpha")  # started long ago, but stored just now
    response = client.get(f"{list_url(personas.project)}{live}", headers=headers)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert shown(response) == [newer, late]
    assert 'class="run new"' in fragment
    assert "<html" not in fragment
    next_live = _live_url(fragment)  # the poller comes back, from the newest run on
    assert next_live != live and "agent=alpha" in next_live
    assert client.get(f"{list_url(personas.project)}{next_live}", headers=headers).status_code == 204


def test_a_bad_live_position_is_a_400(client, personas):
    client.force_login(personas.viewer)
    assert client.get(list_url(personas.project), {"after": "x"}).status_code == 400


# --- sessions ------------------------------------------------------------------------------------------


def test_a_session_is_its_runs_in_start_order_as_a_thread(client, personas, three):
    Run.objects.filter(trace_id=three["alpha"]).update(input_preview="First question", output_preview="First answer")
    Run.objects.filter(trace_id=three["gamma"]).update(input_preview="Follow-up", output_preview="Second answer")
    client.force_login(personas.engineer)
    response = client.get(f"/p/{personas.project.slug}/sessions/s1/")
    html = response.content.decode()
    assert shown(response) == [three["alpha"], three["gamma"]]  # oldest first, beta is another session
    order = [html.index(text) for text in ("First question", "First answer", "Follow-up", "Second answer")]
    assert order == sorted(order)
    assert 'class="bubble user"' in html and 'class="bubble assistant"' in html


def test_a_session_with_no_runs_is_a_404(client, personas, three):
    client.force_login(personas.engineer)
    assert client.get(f"/p/{personas.project.slug}/sessions/nope/").status_code == 404


def test_a_session_id_with_slashes_and_spaces(client, personas):
    trace = store(personas.project, session="tenant/a b")
    client.force_login(personas.viewer)
    html = client.get(list_url(personas.project)).content.decode()
    link = re.search(r'href="(/p/[^"]*/sessions/[^"]*)"', html)
    # One opaque segment (traces.converters): the slash is encoded, so no dot segment can leave the page.
    assert link and link.group(1).endswith("/sessions/tenant%252Fa%20b/")
    assert shown(client.get(link.group(1))) == [trace]


# --- query counts ------------------------------------------------------------------------------------


def _queries(client: Any, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
    assert response.status_code in (200, 204)
    return len(queries)


def test_query_counts_do_not_grow_with_the_runs(client, personas):
    client.force_login(personas.engineer)
    slug = personas.project.slug
    first = store(personas.project, hours=0, session="s")
    urls = [f"/p/{slug}/runs/", f"/p/{slug}/runs/?agent=support-bot&q=order", f"/p/{slug}/sessions/s/"]
    first_pk = Run.objects.get(trace_id=first).pk

    def live() -> str:
        # Runs stored since the first, and every run on the page as changed since (a year before T0).
        shown = "".join(
            f"&shown={pk}" for pk in Run.objects.filter(project=personas.project).values_list("pk", flat=True)
        )
        return f"/p/{slug}/runs/?after={first_pk - 1}&since=2025-03-01T00:00:00Z{shown}"

    small = [_queries(client, url) for url in [*urls, live()]]
    for hours in range(1, 30):
        store(personas.project, hours=hours, session="s")
    Run.objects.filter(project=personas.project).update(input_preview="where is my order")
    large = [_queries(client, url) for url in [*urls, live()]]
    assert len(shown(client.get(urls[0]))) == 30
    assert small == large


def test_the_live_fragment_replaces_shown_rows_whose_run_changed(client, personas):
    """Spans of a run arriving after the page showed it (its root, last) update its row in place."""
    trace = AgentTrace(agent="slow-bot")
    root, *rest = trace.built()
    resource = {"service.name": "svc"}
    config = load_ingest_config(personas.project.pk)
    ingest_batch(config=config, batch=decode_request(protobuf(rest, resource), "application/x-protobuf"))
    other = store(personas.project, hours=-1)
    client.force_login(personas.engineer)
    page = client.get(list_url(personas.project)).content.decode()
    assert "unfinished" in page
    live = _live_url(page)
    run_pk, other_pk = (Run.objects.get(trace_id=t).pk for t in (trace.trace_hex, other))
    shown = f"&shown={run_pk}&shown={other_pk}"
    headers = {"HX-Request": "true"}
    Run.objects.filter(project=personas.project).update(updated_at=T0)  # both written long before the page
    assert client.get(f"{list_url(personas.project)}{live}{shown}", headers=headers).status_code == 204

    ingest_batch(config=config, batch=decode_request(protobuf([root], resource), "application/x-protobuf"))
    response = client.get(f"{list_url(personas.project)}{live}{shown}", headers=headers)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert shown_rows(fragment) == [trace.trace_hex]  # the run that changed, not the other
    assert re.search(
        rf'<tr id="run-{run_pk}" class="run" data-trace="{trace.trace_hex}" [^>]*hx-swap-oob="true">', fragment
    )
    assert "status-ok" in fragment and "unfinished" not in fragment
    # Not shown on the page (another filter, an older page): not sent.
    quiet = client.get(f"{list_url(personas.project)}{live}&shown={other_pk}", headers=headers)
    assert quiet.status_code == 204
    assert "shown=" not in _live_url(fragment)  # the next poll reports the rows of its own time


def test_a_bad_live_since_or_shown_is_a_400(client, personas):
    client.force_login(personas.viewer)
    url = list_url(personas.project)
    assert client.get(url, {"after": "0", "since": "now"}).status_code == 400
    assert client.get(url, {"after": "0", "since": "2026-03-01T12:00:00Z", "shown": "x"}).status_code == 400
    assert client.get(url, {"after": "0", "since": "2026-03-01T12:00:00Z", "shown": "1"}).status_code == 204


def shown_rows(html: str) -> list[str]:
    return TRACE.findall(html)
