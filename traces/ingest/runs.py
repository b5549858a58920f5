"""What one batch's new steps add to each of their runs: a row of aggregates per run (RUN_COLUMNS).

Pure: computed from the staged rows the store has just inserted, with no database. The store merges each
row into traces_run by the same rules (traces.ingest.store), so a run is the same whatever order and
grouping its spans arrive in:
- counts and sums add; usage reported on agent and chain spans (a sum over their children) is left out;
- the start is the earliest, the end the latest end (or start, for a step that has not ended);
- the root's name and context win; otherwise the best-ranked step's: the environment, session, user
  and resource of the earliest step that has one (a rank is the step's start in nanoseconds; the
  root's is -1), each kept on the run with its rank;
- the agent is the best-ranked candidate: an agent named outright beats a derived name, which beats the
  root's service name (traces.ingest.rows._agent);
- previews rank as traces.ingest.previews says: the root's messages, then the LLM calls' (the earliest
  call's question, the latest call's answer), then the root's text, then anything else the root holds;
- LLM calls count the steps that made one (not duplicates of another's record, not mere preparations);
- the bundle of the best source: an explicit bundle id, then a service version (a derived bundle is
  computed by the store from the models and tools used);
- models, tools and tags are the sorted union (codepoint order: the store sorts with COLLATE "C").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from traces.ingest.columns import RUN_ITEM_LIMIT, RUN_TEXT_LIMITS, STAGE_COLUMNS
from traces.ingest.rows import timestamp_text

_AT = {name: i for i, name in enumerate(STAGE_COLUMNS)}
_PROJECT, _TRACE, _SPAN, _NAME, _KIND, _STATUS = (
    _AT[n] for n in ("project_id", "trace_id", "span_id", "name", "kind", "status")
)
_MODEL, _TOOL, _COST, _PRICED = (_AT[n] for n in ("model", "tool_name", "cost_usd", "priced"))
_REPORTED, _AGGREGATE = _AT["reported_cost_usd"], _AT["usage_is_aggregate"]
_TOKENS = tuple(
    _AT[n] for n in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
)
_START, _END, _ROOT, _NEEDS_PRICE, _IS_CALL, _RANK = (
    _AT[n] for n in ("start_ns", "end_ns", "is_root", "needs_price", "is_call", "rank")
)
_AGENT, _AGENT_RANK, _BUNDLE, _BUNDLE_RANK = (_AT[n] for n in ("agent", "agent_rank", "bundle", "bundle_rank"))
_ENVIRONMENT, _SESSION, _USER = _AT["environment"], _AT["session_id"], _AT["user_id"]
_INPUT_PREVIEW, _INPUT_RANK, _OUTPUT_PREVIEW, _OUTPUT_RANK, _TAGS, _RESOURCE = (
    _AT[n] for n in ("input_preview", "input_preview_rank", "output_preview", "output_preview_rank", "tags", "resource")
)

_BUNDLE_SOURCES = {1: "explicit", 2: "service_version"}  # rows.stage's bundle ranks


def run_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """One row per run (RUN_COLUMNS) for the staged rows of newly stored steps, in (project, trace)
    order: the order in which every batch locks its runs, so that concurrent batches cannot deadlock."""
    by_run: dict[tuple[int, str], list[Sequence[Any]]] = {}
    for row in rows:
        by_run.setdefault((row[_PROJECT], row[_TRACE]), []).append(row)
    return [_run(*key, by_run[key]) for key in sorted(by_run)]


_NAME_MAX, _AGENT_MAX, _BUNDLE_MAX = RUN_TEXT_LIMITS["name"], RUN_TEXT_LIMITS["agent"], RUN_TEXT_LIMITS["bundle"]
_CONTEXT_MAX = {
    _ENVIRONMENT: RUN_TEXT_LIMITS["environment"],
    _SESSION: RUN_TEXT_LIMITS["session_id"],
    _USER: RUN_TEXT_LIMITS["user_id"],
}


def _best(steps: Sequence[Sequence[Any]], column: int) -> tuple[int | None, Any]:
    """(rank, value) of `column` from the best-ranked step that has one (ties: the smaller value), else
    (None, ''); the value cut to the run's column. (Choosing before cutting chooses as the store's merge
    of cut values does: a cut keeps the order of two texts, or makes them equal.)"""
    ranked = [(s[_RANK], s[column]) for s in steps if s[column]]
    if not ranked:
        return None, ""
    rank, value = min(ranked)
    return rank, value[: _CONTEXT_MAX.get(column)]


def _items(values: Iterable[str]) -> list[str]:
    return sorted({value[:RUN_ITEM_LIMIT] for value in values})


def _run(project_id: int, trace_id: str, steps: Sequence[Sequence[Any]]) -> list[Any]:
    roots = [s for s in steps if s[_ROOT]]
    root = max(roots, key=lambda s: s[_SPAN]) if roots else None
    own = [s for s in steps if not s[_AGGREGATE]]  # usage that is the step's own, not a sum of others
    agents = [(s[_AGENT_RANK], s[_AGENT]) for s in steps if s[_AGENT]]
    agent_rank, agent = min(agents) if agents else (None, "")
    bundles = [(s[_BUNDLE_RANK], s[_BUNDLE]) for s in steps if s[_BUNDLE]]
    bundle_rank, bundle = min(bundles) if bundles else (None, "")
    inputs = [(s[_INPUT_RANK], s[_INPUT_PREVIEW]) for s in steps if s[_INPUT_PREVIEW]]
    outputs = [(s[_OUTPUT_RANK], s[_OUTPUT_PREVIEW]) for s in steps if s[_OUTPUT_PREVIEW]]
    input_preview_ns, input_preview = min(inputs) if inputs else (None, "")
    output_preview_ns, output_preview = max(outputs) if outputs else (None, "")
    reported = [s[_REPORTED] for s in own if s[_REPORTED] is not None]
    environment_rank, environment = _best(steps, _ENVIRONMENT)
    session_rank, session_id = _best(steps, _SESSION)
    user_rank, user_id = _best(steps, _USER)
    resource_rank, resource = _best(steps, _RESOURCE)
    return [
        project_id,
        trace_id,
        None if root is None else root[_SPAN],
        "" if root is None else root[_NAME][:_NAME_MAX],
        agent[:_AGENT_MAX],
        agent_rank,
        bundle[:_BUNDLE_MAX],
        _BUNDLE_SOURCES.get(bundle_rank or 0, ""),
        environment,
        environment_rank,
        session_id,
        session_rank,
        user_id,
        user_rank,
        timestamp_text(min(s[_START] for s in steps)),
        timestamp_text(max(s[_END] or s[_START] for s in steps)),
        any(s[_END] is not None for s in roots),
        len(steps),
        sum(s[_IS_CALL] for s in steps),
        sum(s[_KIND] == "TOOL" for s in steps),
        sum(s[_STATUS] == "error" for s in steps),
        *(sum(s[column] or 0 for s in own) for column in _TOKENS),
        sum(s[_COST] for s in own if s[_COST] is not None),
        sum(bool(s[_NEEDS_PRICE] and not s[_PRICED]) for s in own),
        sum(reported) if reported else None,
        _items(s[_MODEL] for s in steps if s[_MODEL]),
        _items(s[_TOOL] for s in steps if s[_TOOL]),
        input_preview,
        input_preview_ns,
        output_preview,
        output_preview_ns,
        _items(tag for s in steps for tag in s[_TAGS]),
        resource or "{}",
        resource_rank,
    ]
