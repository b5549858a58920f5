"""The runs and steps read API (traces.api): fields, every filter, keyset pagination, the step tree,
step detail, payload visibility by role, tenancy (outsider 404, anonymous 401), token auth, and a
list page whose query count does not grow with its runs.

Runs are stored through the real ingest pipeline (decode, normalize, stage, store) into Postgres.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentops.tenancy import services
from agentops.tenancy.models import Project, User
from agentops.tenancy.roles import Role
from tests.factories import make_project
from tests.otlp import NS, SpanSpec, protobuf
from traces.ingest.decode import decode_request
from traces.models import Run, RunWords
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600
_ids = itertools.count(1)
TRACE_HEX = re.compile(r"[0-9a-f]{32}")
SPAN_HEX = re.compile(r"[0-9a-f]{16}")
PAYLOAD_RUN_FIELDS = {"input_preview", "output_preview"}
PAYLOAD_STEP_FIELDS = {"input", "output", "attributes", "events"}


# --- people and data ----------------------------------------------------------------------------------


@dataclass
class Team:
    project: Project
    other_project: Project
    viewer: User
    engineer: User
    admin: User
    outsider: User  # admin of the other project only


def _member(project: Project, role: Role) -> User:
    # No password: hashing one costs a second per user on this machine, and these tests log in directly.
    user = services.user_create(email=f"api{next(_ids)}@example.com")
    services.membership_grant(user=user, project=project, role=role)
    return user


@pytest.fixture
def team(db: None) -> Team:
    project, other = make_project(), make_project()
    return Team(
        project=project,
        other_project=other,
        viewer=_member(project, Role.VIEWER),
        engineer=_member(project, Role.ENGINEER),
        admin=_member(project, Role.ADMIN),
        outsider=_member(other, Role.ADMIN),
    )


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * NS


def _sid() -> bytes:
    return next(_ids).to_bytes(8, "big")


@dataclass
class RunSpec:
    """One agent run to store: a root (unless not arrived), an LLM call and a tool call."""

    agent: str = "alpha"
    bundle: str = "b1"
    environment: str = "prod"
    model: str = "gpt-4o"
    tool: str = "search"
    session: str = "s1"
    user: str = "u1"
    start: datetime = T0
    seconds: int = 10
    input_tokens: int = 1000
    error: bool = False
    root: bool = True
    trace_id: bytes = field(default_factory=lambda: next(_ids).to_bytes(16, "big"))

    @property
    def trace_hex(self) -> str:
        return self.trace_id.hex()


def store_run(project: Project, spec: RunSpec) -> RunSpec:
    t = _ns(spec.start)
    root = SpanSpec(
        f"invoke_agent {spec.agent}",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": spec.agent,
            "gen_ai.conversation.id": spec.session,
            "user.id": spec.user,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "bye"}]}]
            ),
        },
        span_id=_sid(),
        start_ns=t,
        end_ns=t + spec.seconds * NS,
    )
    llm = SpanSpec(
        f"chat {spec.model}",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": spec.model,
            "gen_ai.conversation.id": spec.session,
            "gen_ai.usage.input_tokens": spec.input_tokens,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "q"}]}]),
        },
        span_id=_sid(),
        parent=root.span_id,
        start_ns=t + NS // 2,
        end_ns=t + NS,
    )
    tool = SpanSpec(
        f"execute_tool {spec.tool}",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": spec.tool, "gen_ai.tool.call.arguments": "{}"},
        span_id=_sid(),
        parent=root.span_id,
        start_ns=t + NS,
        end_ns=t + 2 * NS,
        error="tool failed" if spec.error else None,
    )
    spans = [root, llm, tool] if spec.root else [llm, tool]
    resource = {
        "service.name": spec.agent,
        "agentops.bundle.id": spec.bundle,
        "deployment.environment.name": spec.environment,
    }
    body = protobuf([s.build(spec.trace_id) for s in spans], resource)
    result = ingest_batch(config=load_ingest_config(project.pk), batch=decode_request(body, "application/x-protobuf"))
    assert result.stored == len(spans) and not result.rejected
    return spec


def runs_url(project: Project) -> str:
    return f"/api/v1/projects/{project.slug}/runs/"


def run_url(project: Project, trace_hex: str) -> str:
    return f"{runs_url(project)}{trace_hex}/"


def step_url(project: Project, trace_hex: str, span_hex: str) -> str:
    return f"{run_url(project, trace_hex)}steps/{span_hex}/"


def get_json(client: Any, url: str, **params: Any) -> Any:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def listed(client: Any, project: Project, **params: Any) -> list[str]:
    return [r["trace_id"] for r in get_json(client, runs_url(project), **params)["results"]]


# --- list ----------------------------------------------------------------------------------------------


def test_the_list_shows_each_run_with_its_documented_fields(client, team):
    spec = store_run(team.project, RunSpec(error=True))
    client.force_login(team.engineer)
    body = get_json(client, runs_url(team.project))
    assert body["next"] is None
    (item,) = body["results"]
    run = Run.objects.get(project=team.project)
    assert item == {
        "trace_id": spec.trace_hex,
        "name": "invoke_agent alpha",
        "agent": "alpha",
        "bundle": "b1",
        "bundle_source": "explicit",
        "environment": "prod",
        "session_id": "s1",
        "user_id": "u1",
        "status": "error",
        "start_time": "2026-03-01T12:00:00+00:00",
        "end_time": "2026-03-01T12:00:10+00:00",
        "duration_ms": 10_000.0,
        "step_count": 3,
        "llm_calls": 1,
        "tool_calls": 1,
        "error_count": 1,
        "input_tokens": 1000,
        "output_tokens": 10,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": float(run.cost_usd),
        "cost_complete": True,
        "unpriced_steps": 0,
        "reported_cost_usd": None,
        "models": ["gpt-4o"],
        "tools": ["search"],
        "input_preview": "hi",
        "output_preview": "bye",
    }
    assert item["cost_usd"] > 0


def test_a_run_of_another_project_is_not_listed(client, team):
    store_run(team.other_project, RunSpec())
    mine = store_run(team.project, RunSpec())
    client.force_login(team.engineer)
    assert listed(client, team.project) == [mine.trace_hex]


@pytest.fixture
def varied(team: Team) -> dict[str, RunSpec]:
    """Runs that differ in one property each from `base`, an hour apart (base is the oldest)."""
    specs = {
        "base": RunSpec(),
        "failed": RunSpec(agent="beta", bundle="b2", tool="refund", error=True, seconds=2),
        "unfinished": RunSpec(root=False, environment="staging", session="s2"),
        "mini": RunSpec(model="gpt-4o-mini", user="u2", input_tokens=50, seconds=3),
        "costly": RunSpec(input_tokens=900_000, bundle="b2", seconds=60),
    }
    for hours, spec in enumerate(specs.values()):
        spec.start = T0 + timedelta(hours=hours)
        store_run(team.project, spec)
    return specs


def _stamp(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"base", "failed", "unfinished", "mini", "costly"}),
        ({"from": _stamp(1)}, {"failed", "unfinished", "mini", "costly"}),  # at or after
        ({"to": _stamp(1)}, {"base"}),  # before
        ({"from": _stamp(0.5), "to": _stamp(3)}, {"failed", "unfinished"}),
        ({"from": "2026-03-01T13:00:00+01:00"}, {"base", "failed", "unfinished", "mini", "costly"}),
        (
            {"from": "0001-01-01T00:00:00+01:00", "to": "9999-12-31T23:00:00-05:00"},
            {"base", "failed", "unfinished", "mini", "costly"},
        ),
        ({"status": "ok"}, {"base", "mini", "costly"}),
        ({"status": "error"}, {"failed"}),
        ({"status": "unfinished"}, {"unfinished"}),
        ({"agent": "beta"}, {"failed"}),
        ({"agent": "alph"}, set()),  # exact, not a prefix
        ({"bundle": "b2"}, {"failed", "costly"}),
        ({"environment": "staging"}, {"unfinished"}),
        ({"model": "gpt-4o-mini"}, {"mini"}),
        ({"model": "gpt-4o"}, {"base", "failed", "unfinished", "costly"}),
        ({"tool": "refund"}, {"failed"}),
        ({"session": "s2"}, {"unfinished"}),
        ({"user": "u2"}, {"mini"}),
        ({"min_duration_ms": "3000"}, {"base", "mini", "costly"}),
        ({"min_duration_ms": "3001"}, {"base", "costly"}),
        ({"min_duration_ms": "60000"}, {"costly"}),
        ({"max_duration_ms": "3000"}, {"failed", "unfinished", "mini"}),  # unfinished: its steps, 1.5 s
        ({"max_duration_ms": "2999"}, {"failed", "unfinished"}),
        ({"min_duration_ms": "2500", "max_duration_ms": "10000"}, {"base", "mini"}),
        ({"bundle": "b2", "status": "ok"}, {"costly"}),
        ({"environment": "prod", "model": "gpt-4o", "from": _stamp(1)}, {"failed", "costly"}),
        ({"agent": "alpha", "from": _stamp(2)}, {"mini", "costly"}),  # the rootless run names no agent
        ({"agent": ""}, {"base", "failed", "unfinished", "mini", "costly"}),  # empty: no filter
    ],
)
def test_each_filter_selects_exactly_its_runs(client, team, varied, params, expected):
    client.force_login(team.viewer)
    names = {spec.trace_hex: name for name, spec in varied.items()}
    assert {names[t] for t in listed(client, team.project, **params)} == expected


def test_min_cost_keeps_runs_costing_at_least_that(client, team, varied):
    client.force_login(team.viewer)
    cost = {name: Run.objects.get(trace_id=spec.trace_hex).cost_usd for name, spec in varied.items()}
    assert cost["mini"] < cost["base"] < cost["costly"]
    names = {spec.trace_hex: name for name, spec in varied.items()}
    at_base = {names[t] for t in listed(client, team.project, min_cost=str(cost["base"]))}
    assert at_base == {name for name, c in cost.items() if c >= cost["base"]}
    assert "mini" not in at_base and {"base", "costly"} <= at_base
    above_base = {names[t] for t in listed(client, team.project, min_cost=str(cost["base"] + Decimal("1e-9")))}
    assert "base" not in above_base and "costly" in above_base


def test_max_cost_keeps_runs_costing_at_most_that(client, team, varied):
    client.force_login(team.viewer)
    cost = {name: Run.objects.get(trace_id=spec.trace_hex).cost_usd for name, spec in varied.items()}
    names = {spec.trace_hex: name for name, spec in varied.items()}
    at_base = {names[t] for t in listed(client, team.project, max_cost=str(cost["base"]))}
    assert at_base == {name for name, c in cost.items() if c <= cost["base"]}
    assert {"mini", "base"} <= at_base and "costly" not in at_base
    below_base = {names[t] for t in listed(client, team.project, max_cost=str(cost["base"] - Decimal("1e-9")))}
    assert "base" not in below_base and "mini" in below_base
    between = listed(client, team.project, min_cost=str(cost["base"]), max_cost=str(cost["base"]))
    assert {names[t] for t in between} == {name for name, c in cost.items() if c == cost["base"]}


def _previews(spec: RunSpec, input_preview: str, output_preview: str = "") -> None:
    """Set a run's previews, as of a run stored before search documents were kept (migration 0014): its
    words are in its previews only (a run's document holds its previews' words and answers for it)."""
    Run.objects.filter(trace_id=spec.trace_hex).update(input_preview=input_preview, output_preview=output_preview)
    RunWords.objects.filter(run__trace_id=spec.trace_hex).delete()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("refund", {"refund_in", "refund_out"}),  # input or output
        ("REFUND", {"refund_in", "refund_out"}),  # case-insensitive
        ("ref", {"refund_in", "refund_out"}),  # a word's start
        ("fund", set()),  # not the middle of a word
        ("r", set()),  # a word of one character is matched whole, not as the start of refund
        ("a 100", {"order"}),  # ... so the A of A-100 is found
        ("A-100", {"order"}),  # an id with a dash, as typed
        ("order a-100", {"order"}),  # every word, anywhere
        ("order refund", set()),
        ("café", {"accent"}),
        ("100", {"order"}),  # the number of an id: A-100 is the words A and 100
        ("7301", {"tagged", "glued"}),  # inside tag-like text, and glued to letters
        ("ORD-7301", {"tagged", "glued"}),
        ("ord7301", {"tagged", "glued"}),
        ("<ORD-7301>", {"tagged", "glued"}),
        ("50% off_peak", set()),  # LIKE and tsquery syntax are plain characters
        ("'&|!:*", None),  # no word at all: a 400
    ],
)
def test_q_searches_the_words_of_input_and_output_previews(client, team, q, expected):
    names_ = ("refund_in", "refund_out", "order", "accent", "tagged", "glued")
    runs = {name: store_run(team.project, RunSpec()) for name in names_}
    _previews(runs["refund_in"], "I want a Refund please")
    _previews(runs["refund_out"], "hello", "Your refund is on its way")
    _previews(runs["order"], "Where is order A-100?", "It shipped")
    _previews(runs["accent"], "Un café, s'il vous plaît")
    _previews(runs["tagged"], "<order><ORD-7301></order>")
    _previews(runs["glued"], "status of ORD7301?")
    client.force_login(team.engineer)
    if expected is None:
        response = client.get(runs_url(team.project), {"q": q})
        assert response.status_code == 400 and "q" in response.json()["detail"]
        return
    names = {spec.trace_hex: name for name, spec in runs.items()}
    assert {names[t] for t in listed(client, team.project, q=q)} == expected


def test_a_viewer_cannot_search_payloads(client, team):
    spec = store_run(team.project, RunSpec())
    _previews(spec, "refund")
    client.force_login(team.viewer)
    response = client.get(runs_url(team.project), {"q": "refund"})
    assert response.status_code == 400
    assert "q searches run inputs and outputs" in response.json()["detail"]
    client.force_login(team.engineer)
    assert listed(client, team.project, q="refund") == [spec.trace_hex]


def test_the_text_search_query_uses_the_index_the_migration_made(team):
    """Postgres uses an expression index only for the very expression: the filter must repeat it."""
    from traces.filters import RUN_SEARCH_VECTOR, RunFilters

    with CaptureQueriesContext(connection) as queries:
        list(RunFilters(q="refund").apply(Run.objects.all()))
    probe = queries.captured_queries[0]["sql"]  # the matches counted in the text index
    assert RUN_SEARCH_VECTOR in probe
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('run_text_search'::regclass)")
        (indexdef,) = cursor.fetchone()
        # Sequential scans off: the one other way to answer is the text search index, which the planner
        # can take only if the filter's expression is the indexed one.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {probe}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "agentops_search_words(((input_preview || ' '::text) || output_preview))" in indexdef
    assert "run_text_search" in plan, plan


@pytest.mark.parametrize("rare_matches", [1, 2000])
def test_q_selects_the_same_runs_whether_its_matches_are_few_or_many(client, team, monkeypatch, rare_matches):
    """Few matches: the page is picked among their ids; many: the newest runs are walked and tested."""
    monkeypatch.setattr("traces.filters.RARE_MATCHES", rare_matches)
    runs = [store_run(team.project, RunSpec(start=T0 + timedelta(hours=h))) for h in range(4)]
    for spec in runs[:3]:
        _previews(spec, "refund please")
    client.force_login(team.engineer)
    expected = [spec.trace_hex for spec in reversed(runs[:3])]
    assert listed(client, team.project, q="refund") == expected
    assert listed(client, team.project, q="refund", limit=2) == expected[:2]
    assert listed(client, team.project, q="refund", agent="alpha", to=_stamp(2)) == expected[1:]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("from", "yesterday"),
        ("from", "2026-03-01T12:00:00"),  # no time zone
        ("from", "2026-13-45T00:00:00Z"),  # well formed, not a date
        ("to", "2026-02-30T00:00:00Z"),
        ("status", "done"),
        ("min_cost", "cheap"),
        ("min_cost", "NaN"),
        ("min_cost", "1e999999"),
        ("min_cost", "-Infinity"),
        ("min_duration_ms", "-1"),
        ("min_duration_ms", "1.5"),
        ("min_duration_ms", "99999999999999999999"),
        ("max_cost", "cheap"),
        ("max_cost", "Infinity"),
        ("max_duration_ms", "-1"),
        ("max_duration_ms", "soon"),
        ("q", "x" * 201),
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "ten"),
        ("cursor", "not-a-cursor"),
        ("cursor", "bm90IGEgY3Vyc29y"),  # base64 of something else
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_parameter(client, team, param, value):
    store_run(team.project, RunSpec())
    client.force_login(team.viewer)
    response = client.get(runs_url(team.project), {param: value})
    assert response.status_code == 400, response.content[:300]
    assert param in response.json()["detail"]


# --- pagination ---------------------------------------------------------------------------------------


def walk(client: Any, url: str, params: dict[str, Any]) -> tuple[list[str], int]:
    """Every page from `url` following `next`: the trace ids in order and the number of pages."""
    seen: list[str] = []
    pages = 0
    body = get_json(client, url, **params)
    while True:
        pages += 1
        seen += [r["trace_id"] for r in body["results"]]
        if body["next"] is None:
            return seen, pages
        assert body["next"].startswith("http://testserver/")
        body = get_json(client, body["next"])


def test_walking_next_visits_every_run_once_newest_first_even_with_equal_starts(client, team):
    # Three runs start in the same microsecond: the cursor must still not skip or repeat one.
    starts = [T0, T0 + timedelta(minutes=1), *[T0 + timedelta(minutes=2)] * 3, T0 + timedelta(minutes=3), T0]
    specs = [store_run(team.project, RunSpec(start=s)) for s in starts]
    client.force_login(team.viewer)
    expected = [r.trace_id.hex for r in Run.objects.filter(project=team.project).order_by("-start_time", "-id")]
    assert sorted(expected) == sorted(s.trace_hex for s in specs)
    for limit in (1, 2, 3, 7, 8):
        seen, pages = walk(client, runs_url(team.project), {"limit": limit})
        assert seen == expected, limit
        assert pages == -(-len(specs) // limit), limit  # no empty last page


def test_pages_keep_the_filters(client, team):
    failed = [store_run(team.project, RunSpec(error=True, start=T0 + timedelta(minutes=i))) for i in range(3)]
    for i in range(3):
        store_run(team.project, RunSpec(start=T0 + timedelta(minutes=i, seconds=30)))
    client.force_login(team.viewer)
    seen, pages = walk(client, runs_url(team.project), {"status": "error", "limit": 1})
    assert seen == [s.trace_hex for s in reversed(failed)]
    assert pages == 3


def test_the_default_page_is_50_and_a_limit_up_to_500_is_taken(client, team):
    client.force_login(team.viewer)
    for _ in range(3):
        store_run(team.project, RunSpec())
    assert len(get_json(client, runs_url(team.project), limit=500)["results"]) == 3
    assert get_json(client, runs_url(team.project), limit=2)["next"] is not None


# --- run detail: the step tree ------------------------------------------------------------------------


def _tree_ids(nodes: list[dict[str, Any]]) -> list[Any]:
    return [(n["span_id"], _tree_ids(n["children"])) for n in nodes]


def test_run_detail_nests_steps_under_their_parents_in_start_order(client, team):
    trace_id = next(_ids).to_bytes(16, "big")
    t = _ns(T0)
    root = SpanSpec("root", {"x": 1}, span_id=_sid(), start_ns=t, end_ns=t + 9 * NS)
    plan = SpanSpec("plan", {"x": 1}, span_id=_sid(), parent=root.span_id, start_ns=t + NS, end_ns=t + 3 * NS)
    think = SpanSpec("think", {"x": 1}, span_id=_sid(), parent=plan.span_id, start_ns=t + 2 * NS, end_ns=t + 3 * NS)
    act = SpanSpec("act", {"x": 1}, span_id=_sid(), parent=root.span_id, start_ns=t + 4 * NS, end_ns=t + 5 * NS)
    body = protobuf([s.build(trace_id) for s in (act, think, root, plan)])  # in no particular order
    ingest_batch(config=load_ingest_config(team.project.pk), batch=decode_request(body, "application/x-protobuf"))
    client.force_login(team.viewer)
    detail = get_json(client, run_url(team.project, trace_id.hex()))
    assert detail["trace_id"] == trace_id.hex() and detail["step_count"] == 4
    h = {s.name: s.span_id.hex() for s in (root, plan, think, act)}
    assert _tree_ids(detail["steps"]) == [(h["root"], [(h["plan"], [(h["think"], [])]), (h["act"], [])])]


def test_steps_whose_parent_has_not_arrived_are_shown_at_the_top(client, team):
    trace_id = next(_ids).to_bytes(16, "big")
    t = _ns(T0)
    missing_root = _sid()
    a = SpanSpec("a", {"x": 1}, span_id=_sid(), parent=missing_root, start_ns=t + NS, end_ns=t + 2 * NS)
    b = SpanSpec("b", {"x": 1}, span_id=_sid(), parent=missing_root, start_ns=t + 3 * NS, end_ns=t + 4 * NS)
    a_child = SpanSpec("a1", {"x": 1}, span_id=_sid(), parent=a.span_id, start_ns=t + 2 * NS, end_ns=t + 3 * NS)
    body = protobuf([s.build(trace_id) for s in (b, a_child, a)])
    ingest_batch(config=load_ingest_config(team.project.pk), batch=decode_request(body, "application/x-protobuf"))
    client.force_login(team.viewer)
    detail = get_json(client, run_url(team.project, trace_id.hex()))
    assert detail["status"] == "unfinished"
    assert _tree_ids(detail["steps"]) == [(a.span_id.hex(), [(a_child.span_id.hex(), [])]), (b.span_id.hex(), [])]
    assert detail["steps"][0]["parent_span_id"] == missing_root.hex()


def test_steps_in_a_parent_loop_are_still_shown(client, team):
    # A broken exporter can send a span as its own parent, or two spans each the other's: the run counts
    # them, so the tree must show them (the loop cut where it is met), not drop them.
    trace_id = next(_ids).to_bytes(16, "big")
    t = _ns(T0)
    a_id, b_id, own_id = _sid(), _sid(), _sid()
    spans = [
        SpanSpec("own parent", {"x": 1}, span_id=own_id, parent=own_id, start_ns=t, end_ns=t + NS),
        SpanSpec("a", {"x": 1}, span_id=a_id, parent=b_id, start_ns=t + NS, end_ns=t + 2 * NS),
        SpanSpec("b", {"x": 1}, span_id=b_id, parent=a_id, start_ns=t + 2 * NS, end_ns=t + 3 * NS),
        SpanSpec("under b", {"x": 1}, span_id=_sid(), parent=b_id, start_ns=t + 3 * NS, end_ns=t + 4 * NS),
    ]
    body = protobuf([s.build(trace_id) for s in spans])
    ingest_batch(config=load_ingest_config(team.project.pk), batch=decode_request(body, "application/x-protobuf"))
    client.force_login(team.viewer)
    detail = get_json(client, run_url(team.project, trace_id.hex()))
    assert detail["step_count"] == 4
    names = [
        (s["name"], [(c["name"], [g["name"] for g in c["children"]]) for c in s["children"]]) for s in detail["steps"]
    ]
    assert names == [("own parent", []), ("a", [("b", ["under b"])])]
    assert detail["steps"][0]["parent_span_id"] == own_id.hex()  # the ids stay as sent


def test_ids_are_lowercase_hex_also_with_the_high_bit_set(client, team):
    # Span ids are stored as signed bigints: one with the high bit set is negative in the table.
    trace_id = bytes.fromhex("F" * 32)
    t = _ns(T0)
    root = SpanSpec("root", {"x": 1}, span_id=bytes.fromhex("ff00000000000001"), start_ns=t, end_ns=t + NS)
    child = SpanSpec(
        "child", {"x": 1}, span_id=bytes.fromhex("8000000000000000"), parent=root.span_id, start_ns=t, end_ns=t + NS
    )
    body = protobuf([root.build(trace_id), child.build(trace_id)])
    ingest_batch(config=load_ingest_config(team.project.pk), batch=decode_request(body, "application/x-protobuf"))
    client.force_login(team.viewer)
    (item,) = get_json(client, runs_url(team.project))["results"]
    assert item["trace_id"] == "f" * 32
    detail = get_json(client, run_url(team.project, "f" * 32))
    (top,) = detail["steps"]
    assert (top["span_id"], top["children"][0]["span_id"]) == ("ff00000000000001", "8000000000000000")
    assert top["children"][0]["parent_span_id"] == "ff00000000000001"
    step = get_json(client, step_url(team.project, "f" * 32, "8000000000000000"))
    assert (step["trace_id"], step["span_id"], step["name"]) == ("f" * 32, "8000000000000000", "child")


def test_every_id_in_the_responses_is_lowercase_hex(client, team):
    spec = store_run(team.project, RunSpec())
    client.force_login(team.engineer)
    detail = get_json(client, run_url(team.project, spec.trace_hex))
    assert TRACE_HEX.fullmatch(detail["trace_id"])
    steps = detail["steps"] + detail["steps"][0]["children"]
    for step in steps:
        assert SPAN_HEX.fullmatch(step["span_id"])
        assert step["parent_span_id"] is None or SPAN_HEX.fullmatch(step["parent_span_id"])


# --- step detail --------------------------------------------------------------------------------------


def test_step_detail_has_everything_known_about_the_step(client, team):
    spec = store_run(team.project, RunSpec(error=True))
    client.force_login(team.engineer)
    detail = get_json(client, run_url(team.project, spec.trace_hex))
    tool = next(c for c in detail["steps"][0]["children"] if c["kind"] == "TOOL")
    step = get_json(client, step_url(team.project, spec.trace_hex, tool["span_id"]))
    assert step["trace_id"] == spec.trace_hex
    assert (step["name"], step["kind"], step["status"], step["error"]) == (
        "execute_tool search",
        "TOOL",
        "error",
        "tool failed",
    )
    assert (step["tool_name"], step["input"], step["duration_ms"]) == ("search", {}, 1000.0)
    assert step["attributes"] == {"gen_ai.operation.name": "execute_tool"}
    assert step["events"] == []
    assert "children" not in step


@pytest.mark.parametrize(
    "path",
    [
        "runs/xyz/",
        "runs/" + "0" * 31 + "/",
        "runs/" + "g" * 32 + "/",
        "runs/" + "a" * 33 + "/",
        "runs/{trace}/steps/zz/",
        "runs/{trace}/steps/" + "0" * 15 + "/",
        "runs/{trace}/steps/" + "0" * 16 + "/",  # well formed, no such step
        "runs/" + "ab" * 16 + "/",  # well formed, no such run
        "runs/" + "ab" * 16 + "/steps/{span}/",  # a real step under another trace id
    ],
)
def test_malformed_or_unknown_ids_are_404(client, team, path):
    spec = store_run(team.project, RunSpec())
    client.force_login(team.engineer)
    detail = get_json(client, run_url(team.project, spec.trace_hex))
    url = f"/api/v1/projects/{team.project.slug}/" + path.format(
        trace=spec.trace_hex, span=detail["steps"][0]["span_id"]
    )
    assert client.get(url).status_code == 404


# --- who sees what ------------------------------------------------------------------------------------


def _urls(team: Team, spec: RunSpec) -> tuple[str, str, str]:
    span = Run.objects.get(trace_id=spec.trace_hex).root_span_id
    assert span is not None
    span_hex = (span & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "big").hex()
    return (
        runs_url(team.project),
        run_url(team.project, spec.trace_hex),
        step_url(team.project, spec.trace_hex, span_hex),
    )


def _all_steps(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _all_steps(node["children"])


def test_a_viewer_sees_structure_and_cost_but_no_payloads(client, team):
    spec = store_run(team.project, RunSpec())
    list_url, detail_url, step_url_ = _urls(team, spec)
    client.force_login(team.viewer)
    (item,) = get_json(client, list_url)["results"]
    assert not PAYLOAD_RUN_FIELDS & item.keys()
    assert item["cost_usd"] > 0 and item["step_count"] == 3
    detail = get_json(client, detail_url)
    assert not PAYLOAD_RUN_FIELDS & detail.keys()
    steps = list(_all_steps(detail["steps"]))
    assert len(steps) == 3
    assert all(not PAYLOAD_STEP_FIELDS & s.keys() for s in steps)
    step = get_json(client, step_url_)
    assert not PAYLOAD_STEP_FIELDS & step.keys()
    assert step["name"] == "invoke_agent alpha"


@pytest.mark.parametrize("role", ["engineer", "admin"])
def test_engineers_and_above_see_payloads(client, team, role):
    spec = store_run(team.project, RunSpec())
    list_url, detail_url, step_url_ = _urls(team, spec)
    client.force_login(getattr(team, role))
    (item,) = get_json(client, list_url)["results"]
    assert (item["input_preview"], item["output_preview"]) == ("hi", "bye")
    detail = get_json(client, detail_url)
    llm = next(s for s in _all_steps(detail["steps"]) if s["kind"] == "LLM")
    assert llm["input"] == [{"role": "user", "parts": [{"type": "text", "content": "q"}]}]
    assert "attributes" not in llm  # the tree stays light: attributes and events are on the step
    step = get_json(client, step_url_)
    assert step.keys() >= PAYLOAD_STEP_FIELDS
    assert step["output"] == [{"role": "assistant", "parts": [{"type": "text", "content": "bye"}]}]


def test_an_outsider_gets_404_everywhere(client, team):
    spec = store_run(team.project, RunSpec())
    urls = _urls(team, spec)
    client.force_login(team.outsider)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert spec.trace_hex not in response.content.decode()


def test_a_run_is_not_reachable_through_another_project_the_user_can_see(client, team):
    spec = store_run(team.other_project, RunSpec())
    client.force_login(team.engineer)
    services.membership_grant(user=team.engineer, project=make_project(), role=Role.ENGINEER)
    assert client.get(run_url(team.project, spec.trace_hex)).status_code == 404


def test_anonymous_gets_401_everywhere(client, team):
    spec = store_run(team.project, RunSpec())
    for url in _urls(team, spec):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Bearer"


def test_a_personal_api_token_reads_runs_with_its_users_roles(client, team):
    spec = store_run(team.project, RunSpec())
    viewer_token = services.api_token_create(user=team.viewer).secret
    engineer_token = services.api_token_create(user=team.engineer).secret
    as_viewer = client.get(runs_url(team.project), headers={"Authorization": f"Bearer {viewer_token}"})
    as_engineer = client.get(runs_url(team.project), headers={"Authorization": f"Bearer {engineer_token}"})
    assert as_viewer.status_code == as_engineer.status_code == 200
    assert [r["trace_id"] for r in as_viewer.json()["results"]] == [spec.trace_hex]
    assert "input_preview" not in as_viewer.json()["results"][0]
    assert as_engineer.json()["results"][0]["input_preview"] == "hi"
    outsider_token = services.api_token_create(user=team.outsider).secret
    assert client.get(runs_url(team.project), headers={"Authorization": f"Bearer {outsider_token}"}).status_code == 404


def test_an_ingest_key_reads_no_runs(client, team):
    store_run(team.project, RunSpec())
    key = services.ingest_key_create(project=team.project).secret
    # A real key of this very project, refused: the runs API did not opt in to ingest keys.
    response = client.get(runs_url(team.project), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert "results" not in response.json()


# --- cost of a page -----------------------------------------------------------------------------------


def test_the_list_costs_the_same_queries_for_1_run_as_for_30(client, team):
    token = services.api_token_create(user=team.engineer).secret
    headers = {"Authorization": f"Bearer {token}"}

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(runs_url(team.project), {"limit": 50}, headers=headers)
        assert response.status_code == 200
        return len(captured.captured_queries)

    store_run(team.project, RunSpec())
    queries()  # the token's first use of the minute also records when it was used
    one = queries()
    for minute in range(29):
        store_run(team.project, RunSpec(start=T0 + timedelta(minutes=minute + 1), model=f"m-{minute}"))
    assert len(client.get(runs_url(team.project), headers=headers).json()["results"]) == 30
    assert queries() == one


def test_run_detail_costs_the_same_queries_for_3_steps_as_for_40(client, team):
    client.force_login(team.engineer)
    small = store_run(team.project, RunSpec())
    trace_id = next(_ids).to_bytes(16, "big")
    t = _ns(T0)
    root = SpanSpec("root", {"x": 1}, span_id=_sid(), start_ns=t, end_ns=t + 60 * NS)
    children = [
        SpanSpec(f"c{i}", {"x": i}, span_id=_sid(), parent=root.span_id, start_ns=t + i * NS, end_ns=t + (i + 1) * NS)
        for i in range(39)
    ]
    body = protobuf([s.build(trace_id) for s in (root, *children)])
    ingest_batch(config=load_ingest_config(team.project.pk), batch=decode_request(body, "application/x-protobuf"))

    def queries(trace_hex: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(run_url(team.project, trace_hex)).status_code == 200
        return len(captured.captured_queries)

    assert queries(small.trace_hex) == queries(trace_id.hex())
