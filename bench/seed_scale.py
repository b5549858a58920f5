"""Seed one project with runs at scale, written straight to Postgres with COPY, for bench/ui.py.

    AGENTOPS_HOME=/tmp/h4-home python bench/seed_scale.py [--runs 1000000] [--days 30] [--workers 2]
        [--slug scale]

Creates an organization and a project (through the tenancy services) and fills it with `--runs` runs of
12 steps each (an agent root, 6 LLM calls and 5 tool calls between them), spread over the last `--days`
days: several agents, bundles, environments, models, tools, end users and sessions; about 3% of runs
end in an error and about 0.5% call a model that has no price. One more run has 1,000 steps (loops of
LLM and tool calls), for the replay page; it is stored through the real ingest store.

Rows are what ingest would store: each distinct run shape is built as normalized steps and put through
the ingest pipeline's own `stage` (pricing, redaction, previews), once; the runs then vary only in ids,
times and the order number in their question, and their aggregates are summed as the store sums them.
Each run gets its search document (traces.ingest.words) as ingest would make it.
The dashboards' rollups (traces.rollups), when they exist, are refreshed after loading; then ANALYZE.

Prints progress, the project's slug, the 1,000-step run's trace id and the total time. Fails if the slug
is taken (seed into a fresh AGENTOPS_HOME, or pass another --slug).
"""

from __future__ import annotations

import argparse
import importlib
import io
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402 (after django.setup)
from django.db import connection, transaction  # noqa: E402 (after django.setup)

from agentops.tenancy import services  # noqa: E402 (after django.setup)
from traces.ingest.columns import RUN_COLUMNS, STEP_COLUMNS  # noqa: E402 (after django.setup)
from traces.ingest.rows import ProjectConfig, stage, step_values  # noqa: E402 (after django.setup)
from traces.ingest.runs import run_rows  # noqa: E402 (after django.setup)
from traces.ingest.steps import Step, StepKind  # noqa: E402 (after django.setup)
from traces.ingest.store import store_rows  # noqa: E402 (after django.setup)
from traces.ingest.words import run_words  # noqa: E402 (after django.setup)
from traces.partitions import ensure_months, months_spanned  # noqa: E402 (after django.setup)
from traces.selectors import load_ingest_config  # noqa: E402 (after django.setup)

AGENTS = ("support-bot", "billing-agent", "research-agent", "triage-bot")
BUNDLES_PER_AGENT = 3
ENVIRONMENTS = ("production", "production", "production", "staging")
MODELS = (("gpt-4o-2024-08-06", "openai"), ("gpt-4o-mini", "openai"), ("claude-3-5-sonnet-20241022", "anthropic"))
UNPRICED_MODEL = ("acme-local-1", "acme")
TOOLS = ("lookup_order", "search_kb", "refund", "send_email", "check_inventory", "get_weather")
USERS = 5000
ERROR_SHARE = 0.03
UNPRICED_SHARE = 0.005
CHUNK_RUNS = 5000  # runs per COPY transaction
ORDER = "ORDER-PLACEHOLDER"  # replaced in each run by its own order number (text search has variety)
MS = 1_000_000
_ORDER_WORDS = set(ORDER.lower().split("-"))  # "order" is a word of the question too: kept
_I = {name: i for i, name in enumerate(STEP_COLUMNS)}
_PROJECT, _TRACE, _SPAN, _PARENT = _I["project_id"], _I["trace_id"], _I["span_id"], _I["parent_span_id"]
_START, _END, _CONTENT = _I["start_time"], _I["end_time"], (_I["input"], _I["output"])


def _text(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": content}]}


def _call(n: int, tool: str, order: str) -> dict[str, Any]:
    part = {"type": "tool_call", "id": f"call_{n}", "name": tool, "arguments": {"order_id": order, "step": n}}
    return {"role": "assistant", "parts": [part], "finish_reason": "tool_calls"}


def _result(n: int, tool: str) -> dict[str, Any]:
    part = {"type": "tool_call_response", "id": f"call_{n}", "response": {"tool": tool, "status": "ok", "n": n}}
    return {"role": "tool", "parts": [part]}


@dataclass(frozen=True)
class Shape:
    agent: int
    bundle: int
    environment: str
    model: tuple[str, str]
    tools: tuple[str, ...]
    error: bool
    pace_ms: int  # one step's spacing; a run lasts 12 of them


def _steps(shape: Shape, *, llm_calls: int, t0: int, order: str = ORDER) -> list[Step]:
    """One run of `shape` as normalized steps: root, then LLM and tool calls in turn, ending on an LLM."""
    agent = AGENTS[shape.agent]
    bundle = f"{agent}@{shape.bundle + 1}"
    question = _text("user", f"Where is my order {order}? It has not arrived.")
    answer = _text("assistant", f"Your order {order} has shipped and arrives tomorrow.")
    resource = {
        "service.name": agent,
        "service.version": f"1.{shape.bundle}.0",
        "deployment.environment.name": shape.environment,
        "agentops.bundle.id": bundle,
    }
    common: dict[str, Any] = dict(
        trace_id="0" * 31 + "1", cache_write_tokens=None, reasoning_tokens=None, usage_is_aggregate=False,
        reported_cost_usd=None, events=[], convention="otel_genai", service_name=agent,
        service_version=resource["service.version"], agent_name=agent, bundle_id=bundle,
        environment=shape.environment, session_id="SESSION", user_id="USER", tags=[], metadata={},
    )  # fmt: skip
    pace = shape.pace_ms * MS
    total = 2 * llm_calls
    root_span = f"{1:016x}"
    steps = [
        Step(
            span_id=root_span, parent_span_id=None, name=f"invoke_agent {agent}", kind=StepKind.AGENT,
            start_ns=t0, end_ns=t0 + total * pace, status="error" if shape.error else "ok", error_type=None,
            error_message=None, model=None, provider=None, input_tokens=None, output_tokens=None,
            cache_read_tokens=None, tool_name=None, tool_call_id=None, input=[question],
            output=None if shape.error else [answer], attributes={"gen_ai.operation.name": "invoke_agent"},
            resource=resource, **common,
        )
    ]  # fmt: skip
    system = _text("system", f"You are {agent}. Answer questions about orders.")
    history: list[dict[str, Any]] = [system, question]
    model, provider = shape.model
    for n in range(llm_calls):
        tool = shape.tools[n % len(shape.tools)]
        last = n == llm_calls - 1
        failed = shape.error and last
        start = t0 + (2 * n + 1) * pace // 2
        output = None if failed else [answer if last else _call(n, tool, order)]
        steps.append(
            Step(
                span_id=f"{2 * n + 2:016x}", parent_span_id=root_span, name=f"chat {model}", kind=StepKind.LLM,
                start_ns=start, end_ns=start + pace * 9 // 10, status="error" if failed else "ok",
                error_type="RateLimitError" if failed else None,
                error_message="429 Too Many Requests: rate limit reached" if failed else None,
                model=model, provider=provider, input_tokens=400 + 150 * (n % 6), output_tokens=40 + 5 * (n % 6),
                cache_read_tokens=100 * (n % 6) or None, tool_name=None, tool_call_id=None, input=list(history),
                output=output, attributes={"gen_ai.operation.name": "chat", "gen_ai.request.temperature": 0.2},
                **common,
            )
        )  # fmt: skip
        if last:
            break
        start += pace
        steps.append(
            Step(
                span_id=f"{2 * n + 3:016x}", parent_span_id=root_span, name=f"execute_tool {tool}",
                kind=StepKind.TOOL, start_ns=start, end_ns=start + pace * 4 // 10, status="ok", error_type=None,
                error_message=None, model=None, provider=None, input_tokens=None, output_tokens=None,
                cache_read_tokens=None, tool_name=tool, tool_call_id=f"call_{n}",
                input={"order_id": order, "step": n}, output={"tool": tool, "status": "ok", "n": n},
                attributes={"gen_ai.operation.name": "execute_tool"}, **common,
            )
        )  # fmt: skip
        # Small payloads: the system prompt, the question and the latest call and its result.
        history = [system, question, _call(n, tool, order), _result(n, tool)]
    return steps


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value) + "}"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


@dataclass
class Template:
    """A shape's staged step rows as COPY fields, with the offsets and sums a run of it needs."""

    fields: list[list[str]]  # per step, COPY-escaped columns of traces_step
    offsets: list[tuple[int, int | None]]  # per step, (start, end) after the run's start, in µs
    parents: list[bool]  # per step, whether it has the root as parent
    run: dict[str, Any]  # the run's aggregates, as the store computes them
    duration_us: int
    words: str  # the run's search document (traces.ingest.words) but for its order number


def _template(shape: Shape, config: ProjectConfig) -> Template:
    t0 = 1_750_000_000 * 1_000_000_000
    staged = stage(_steps(shape, llm_calls=6, t0=t0), config)
    assert not staged.rejected and len(staged.rows) == 12, staged.rejected
    rows = [step_values(row) for row in staged.rows]
    fields, offsets, parents = [], [], []
    for row, start_ns in zip(rows, staged.start_ns, strict=True):
        fields.append([_copy_text(v) for v in row])
        end = row[_I["end_time"]]
        offsets.append(
            ((start_ns - t0) // 1000, None if end is None else (row[_I["duration_ns"]] + start_ns - t0) // 1000)
        )
        parents.append(row[_I["parent_span_id"]] is not None)
    (aggregates,) = run_rows(staged.rows)  # the run as the store would merge it: one batch, a new run
    run = dict(zip(RUN_COLUMNS, aggregates, strict=True))
    (words,) = run_words(staged.rows).values()
    words = " ".join(word for word in words.split() if word not in _ORDER_WORDS - {"order"})
    return Template(fields, offsets, parents, run, duration_us=max(e or s for s, e in offsets), words=words)


def _shapes(rng: random.Random) -> list[Shape]:
    tools_for = {a: tuple(rng.sample(TOOLS, 3)) for a in range(len(AGENTS))}
    shapes = []
    for agent in range(len(AGENTS)):
        for bundle in range(BUNDLES_PER_AGENT):
            for environment in sorted(set(ENVIRONMENTS)):
                for model in (*MODELS, UNPRICED_MODEL):
                    for error in (False, True):
                        for pace in (300, 900, 2500):
                            shapes.append(Shape(agent, bundle, environment, model, tools_for[agent], error, pace))
    return shapes


def _pick(rng: random.Random, by_key: dict[tuple[Any, ...], int]) -> int:
    agent = rng.randrange(len(AGENTS))
    # Newer bundles take more of the traffic.
    bundle = rng.choices(range(BUNDLES_PER_AGENT), weights=(1, 2, 4))[0]
    environment = rng.choice(ENVIRONMENTS)
    model = UNPRICED_MODEL if rng.random() < UNPRICED_SHARE else rng.choices(MODELS, weights=(5, 3, 2))[0]
    error = rng.random() < ERROR_SHARE
    pace = rng.choice((300, 900, 2500))
    return by_key[(agent, bundle, environment, model, error, pace)]


# --- the worker: one chunk of runs per transaction ------------------------------------------------

_TEMPLATES: list[Template] = []
_BY_KEY: dict[tuple[Any, ...], int] = {}
_PROJECT_ID = 0


def _load_chunk(args: tuple[int, int, float, float, int]) -> int:
    first, count, now, days, sessions = args
    rng = random.Random(first)
    steps_buf, runs_buf = io.StringIO(), io.StringIO()
    documents = []
    project = str(_PROJECT_ID)
    updated = datetime.fromtimestamp(now, UTC).isoformat()
    for i in range(first, first + count):
        tpl = _TEMPLATES[_pick(rng, _BY_KEY)]
        trace = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        base_span = rng.getrandbits(62)
        order = f"A-{i:07d}"
        start_us = int((now - rng.random() * days * 86400) * 1_000_000)
        for fields, (s, e), has_parent in zip(tpl.fields, tpl.offsets, tpl.parents, strict=True):
            row = list(fields)
            # The template's span ids are 1..12 (the root is 1): the run's are offset from its base.
            row[_PROJECT], row[_TRACE], row[_SPAN] = project, trace, str(base_span + int(row[_SPAN]))
            if has_parent:
                row[_PARENT] = str(base_span + 1)
            row[_START] = _iso(start_us + s)
            if e is not None:
                row[_END] = _iso(start_us + e)
            for col in _CONTENT:
                if ORDER in row[col]:
                    row[col] = row[col].replace(ORDER, order)
            steps_buf.write("\t".join(row))
            steps_buf.write("\n")
        run = {
            **tpl.run,
            "project_id": project,
            "trace_id": trace,
            "root_span_id": base_span + 1,
            "session_id": f"sess-{rng.randrange(sessions)}",
            "user_id": f"user-{rng.randrange(USERS)}",
            "start_time": _iso(start_us),
            "end_time": _iso(start_us + tpl.duration_us),
            "input_preview": tpl.run["input_preview"].replace(ORDER, order),
            "output_preview": tpl.run["output_preview"].replace(ORDER, order),
        }
        documents.append({"trace_id": trace, "words": f"{tpl.words} {order}"})
        run_row = [*(run[column] for column in RUN_COLUMNS), updated]
        runs_buf.write("\t".join(_copy_text(v) for v in run_row))
        runs_buf.write("\n")
    with transaction.atomic(), connection.cursor() as cursor:
        pg = cursor.cursor
        pg.execute("SET LOCAL synchronous_commit = off")
        with pg.copy(f"COPY traces_step ({', '.join(STEP_COLUMNS)}) FROM STDIN") as copy:
            copy.write(steps_buf.getvalue())
        with pg.copy(f"COPY traces_run ({', '.join(RUN_COLUMNS)}, updated_at) FROM STDIN") as copy:
            copy.write(runs_buf.getvalue())
        pg.execute(_DOCUMENTS, [orjson.dumps(documents).decode(), _PROJECT_ID])
    return count


# The runs' search documents, tokenized by Postgres as the store does (traces.ingest.store).
_DOCUMENTS = """
INSERT INTO traces_runwords (run_id, project_id, words)
SELECT r.id, r.project_id, strip(to_tsvector('simple'::regconfig, agentops_search_words(d.words)))
FROM jsonb_to_recordset(%s::jsonb) AS d(trace_id uuid, words text)
JOIN traces_run r ON r.project_id = %s AND r.trace_id = d.trace_id
"""


def _iso(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _init_worker() -> None:
    connection.close()  # never share the parent's socket


# --- the 1,000-step run, through the real store ---------------------------------------------------


def _store_long_run(config: ProjectConfig, now: float) -> str:
    shape = Shape(0, BUNDLES_PER_AGENT - 1, "production", MODELS[0], ("lookup_order", "search_kb"), True, 300)
    trace = uuid.uuid4().hex
    t0 = int((now - 3600) * 1e9)
    steps = [replace(s, trace_id=trace) for s in _steps(shape, llm_calls=500, t0=t0, order="A-LONG-1000")]
    staged = stage(steps, config)
    assert len(staged.rows) == 1000 and not staged.rejected
    ensure_months(months_spanned(staged.start_ns))
    with transaction.atomic():
        result = store_rows(staged.rows)
    assert result.steps_inserted == 1000
    return trace


# --- main -------------------------------------------------------------------------------------------


def _months(now: float, days: float) -> set[tuple[int, int]]:
    day = datetime.fromtimestamp(now - days * 86400, UTC).date()
    last = datetime.fromtimestamp(now, UTC).date()
    months = set()
    while day <= last:
        months.add((day.year, day.month))
        day += timedelta(days=1)
    return months


def _refresh_rollups() -> str:
    """Fill the dashboards' hourly rollups (traces.rollups) for the rows just written, when they exist."""
    try:
        rollups = importlib.import_module("traces.rollups")
    except ImportError:
        return "no rollups (traces.rollups): nothing to refresh"
    began = time.perf_counter()
    result = rollups.refresh()
    return f"rollups: {result.hours:,} project-hours recomputed in {time.perf_counter() - began:.1f} s"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slug", default="scale")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    global _PROJECT_ID
    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    org = services.organization_create(name=f"Scale {args.slug}")
    project = services.project_create(organization=org, name=f"Scale {args.slug}", slug=args.slug)
    _PROJECT_ID = project.pk
    config = load_ingest_config(project.pk)
    rng = random.Random(args.seed)
    shapes = _shapes(rng)
    for shape in shapes:
        key = (shape.agent, shape.bundle, shape.environment, shape.model, shape.error, shape.pace_ms)
        _BY_KEY[key] = len(_TEMPLATES)
        _TEMPLATES.append(_template(shape, config))
    now = time.time()
    ensure_months(_months(now, args.days))
    print(f"project {project.slug} (id {project.pk}): {len(_TEMPLATES)} run shapes staged", flush=True)
    sessions = max(1, args.runs // 4)
    chunks = [(f, min(CHUNK_RUNS, args.runs - f), now, args.days, sessions) for f in range(0, args.runs, CHUNK_RUNS)]
    connection.close()
    done = 0
    loaded = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers, initializer=_init_worker) as pool:
        for count in pool.imap_unordered(_load_chunk, chunks):
            done += count
            if done % (CHUNK_RUNS * 10) == 0 or done == args.runs:
                rate = done / (time.perf_counter() - loaded)
                print(f"  {done:,} runs, {12 * done:,} steps ({rate:,.0f} runs/s)", flush=True)
    long_trace = _store_long_run(config, now)
    print(f"1,000-step run: {long_trace}", flush=True)
    print(_refresh_rollups(), flush=True)
    with connection.cursor() as cursor:
        analyzed = time.perf_counter()
        cursor.execute("ANALYZE traces_run")
        cursor.execute("ANALYZE traces_step")
        cursor.execute("ANALYZE traces_runwords")
        print(f"ANALYZE: {time.perf_counter() - analyzed:.1f} s", flush=True)
    print(
        f"seeded {args.runs + 1:,} runs and {12 * args.runs + 1000:,} steps into project {project.slug} "
        f"in {time.perf_counter() - began:.1f} s (COPY phase {analyzed - loaded:.1f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
