"""Turn normalized steps into staged rows for the store: price, redact, preview, validate.

Pure apart from the pricing lookups: no database. A step that cannot be stored (a timestamp Postgres
cannot hold, say) is rejected alone, with a reason, and the rest of the batch goes on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from traces.ids import span_from_valid_hex
from traces.ingest import previews
from traces.ingest.columns import RUN_TEXT_LIMITS, STAGE_COLUMNS, STEP_COLUMNS
from traces.ingest.pricing import ModelPrice, price_usage
from traces.ingest.redact import RedactionPolicy, is_content_key, redact_json_text, redact_texts
from traces.ingest.steps import Step, StepKind

# Starts are also kept as nanoseconds in bigint columns (ranks, previews): 2^63 ns after 1970 is
# 2262-04-11, before Python's and Postgres' last dates. OTLP's uint64 nanoseconds reach 2554.
_MAX_NS = (1 << 63) - 1
# A step's numbers must fit its columns (bigint, numeric(20, 10)), and far inside them so that a run's
# sums cannot overflow either: no real call uses a trillion tokens or costs a million dollars.
_MAX_TOKENS = 10**12
_MAX_COST = Decimal(10**6)
_ROOT_RANK = -1
# A run's agent is its best-ranked step's (lowest rank; traces.ingest.runs and the store merge by it):
# a tier, then the step's position: the root first, then by start, in microseconds so that every tier
# fits a bigint. Tiers: an agent attribute on the root (0), on an agent span (1), on any other span (2);
# a derived name, e.g. an agent span's name (3); the root's service.name, which names the process and
# not the agent, only when nothing names the agent (4).
_AGENT_TIER_BITS = 52
_SERVICE_TIER = 4
_PRICED_KINDS = frozenset({StepKind.LLM, StepKind.EMBEDDING})
_CUT_FIELDS = ("agent", "bundle", "environment", "session_id", "user_id")
_SHORTEST_LIMIT = min(RUN_TEXT_LIMITS[name] for name in _CUT_FIELDS)


@dataclass(frozen=True)
class ProjectConfig:
    """What a project's settings contribute to ingest; cached briefly by the endpoint."""

    project_id: int
    redaction: RedactionPolicy
    price_overrides: Mapping[str, ModelPrice] = field(default_factory=dict)


@dataclass
class Staged:
    rows: list[list[Any]]  # in STAGE_COLUMNS order
    start_ns: list[int]
    rejected: list[str]  # one reason per rejected step


@functools.lru_cache(maxsize=1 << 12)
def _minute_text(minutes: int) -> str:
    return datetime.fromtimestamp(minutes * 60, UTC).strftime("%Y-%m-%d %H:%M")


def timestamp_text(ns: int) -> str:
    """The timestamptz text of `ns`, exact to the microsecond as Postgres keeps it: what the COPY sends.
    A datetime cost 0.45 µs to build and 0.85 to dump, twice a step; this text is built from a cached
    text of its minute, which the spans of a batch nearly always share (of its second, one time in five
    missed the cache on the bench's traffic)."""
    minutes, rest = divmod(ns, 60_000_000_000)
    seconds, rest = divmod(rest, 1_000_000_000)
    return f"{_minute_text(minutes)}:{seconds:02d}.{rest // 1000:06d}+00"


def _clean_text(value: str | None) -> str | None:
    # Postgres text cannot hold NUL.
    if value is not None and "\x00" in value:
        return value.replace("\x00", "")
    return value


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    return value


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _json(value: Any) -> str | None:
    """JSON text for a jsonb column (orjson: several times faster than json on message lists)."""
    if value is None:
        return None
    text = orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    # jsonb rejects the \u0000 escape; the rare value holding NUL is cleaned and dumped again.
    if "\\u0000" in text:
        text = orjson.dumps(_strip_nul(value), default=str, option=_ORJSON_OPTIONS).decode()
    return text


def _payload_json(value: Any, text: str | None) -> str | None:
    # The text normalize made (see Step.input_json), unless it holds \u0000, which jsonb rejects and
    # _json cleans.
    return text if text is not None and "\\u0000" not in text else _json(value)


def _redacted_json(value: Any, policy: RedactionPolicy) -> str | None:
    text = _json(value)
    return None if text is None else redact_json_text(text, policy)


def _price(step: Step, config: ProjectConfig) -> tuple[Decimal | None, bool, str | None, bool]:
    """(cost, priced, unpriced reason, needs a price) for one step."""
    has_usage = bool(step.input_tokens or step.output_tokens)
    if step.usage_is_aggregate or not has_usage:
        return None, False, None, False
    if step.kind not in _PRICED_KINDS and not step.model:
        return None, False, None, False
    result = price_usage(
        model=step.model,
        provider=step.provider,
        input_tokens=step.input_tokens or 0,
        output_tokens=step.output_tokens or 0,
        cache_read_tokens=step.cache_read_tokens or 0,
        cache_write_tokens=step.cache_write_tokens or 0,
        # To the second: prices change at a date or a time of day, always on a whole second, so a start
        # cut to the second is on the same side of every change; and it takes 0.3 µs instead of 1.1.
        at=datetime.fromtimestamp(step.start_ns // 1_000_000_000, UTC),
        overrides=config.price_overrides,
    )
    if result.cost_usd is not None and result.cost_usd > _MAX_COST:  # an override's price, mistyped
        return None, False, f"cost {result.cost_usd} USD is out of range", True
    return result.cost_usd, result.priced, result.reason, True


def _validate(step: Step) -> str | None:
    if step.start_ns <= 0:
        return f"span {step.span_id}: startTimeUnixNano is required"
    if step.start_ns > _MAX_NS or (step.end_ns is not None and step.end_ns > _MAX_NS):
        return f"span {step.span_id}: timestamps after 2262-04-11 cannot be stored"
    tokens = (step.input_tokens, step.output_tokens, step.cache_read_tokens, step.cache_write_tokens)
    for count in (*tokens, step.reasoning_tokens):
        if count is not None and not 0 <= count <= _MAX_TOKENS:
            return f"span {step.span_id}: token count {count} is not between 0 and {_MAX_TOKENS}"
    if step.reported_cost_usd is not None and abs(step.reported_cost_usd) > _MAX_COST:
        return f"span {step.span_id}: reported cost {step.reported_cost_usd} USD is out of range"
    return None


# The staged columns that redaction rewrites, by position, and whether each holds JSON.
_REDACTED = tuple(
    (STAGE_COLUMNS.index(name), is_json)
    for name, is_json in (
        ("error_message", False),
        ("input", True),
        ("output", True),
        ("attributes", True),
        ("events", True),
        ("context", True),
        ("input_preview", False),
        ("output_preview", False),
    )
)


def stage(steps: Iterable[Step], config: ProjectConfig) -> Staged:
    """Rows in STAGE_COLUMNS order. Redaction runs once over the whole batch's texts (redact_texts):
    the rows are built with the texts as sent, and their redacted versions put in place at the end."""
    staged = Staged(rows=[], start_ns=[], rejected=[])
    seen: set[tuple[str, str, int]] = set()
    # Each trace's best-ranked step with a resource (the root, else the earliest): only it carries the
    # resource, which the run keeps by the same rank whatever batch it came in.
    resources: dict[str, tuple[int, list[Any], dict[str, Any]]] = {}
    policy = config.redaction
    drop = policy.drop_content
    candidates: dict[str, list[tuple[list[Any], Step]]] = {}  # each trace's root and LLM steps: previews
    for step in steps:
        # By the stored key: Postgres keeps microseconds, and a second stage row of one stored step
        # would be counted into its run twice.
        key = (step.trace_id, step.span_id, step.start_ns // 1000)
        if key in seen:  # the same span twice in one request: store it once
            continue
        seen.add(key)
        problem = _validate(step)
        if problem:
            staged.rejected.append(problem)
            continue
        cost, priced, unpriced_reason, needs_price = _price(step, config)
        attributes, attributes_json = step.attributes, step.attributes_json
        if drop:
            attributes = {k: v for k, v in attributes.items() if not is_content_key(k)}
            attributes_json = None  # of the attributes before dropping
        is_root = step.parent_span_id is None
        agent, agent_rank = _agent(step, is_root)
        is_call = step.kind is StepKind.LLM and not step.usage_is_aggregate and _made_call(step)
        if step.bundle_id:
            bundle, bundle_rank = step.bundle_id, 1
        elif step.service_version:
            bundle, bundle_rank = step.service_version, 2
        else:
            bundle, bundle_rank = "", 9
        context = {
            k: v
            for k, v in (
                ("tags", step.tags), ("metadata", step.metadata), ("links", step.links),
                ("duplicate_of", step.duplicate_of),
            )
            if v
        }  # fmt: skip
        # Postgres text cannot hold NUL: one test over all of the step's texts, cleaning only if needed.
        texts_of_step = (
            step.name, step.error_type, step.error_message, step.model, step.provider, step.tool_name,
            step.tool_call_id, agent, bundle, step.environment or "", step.session_id or "", step.user_id or "",
        )  # fmt: skip
        if "\x00" in "".join(filter(None, texts_of_step)):
            texts_of_step = tuple(map(_clean_text, texts_of_step))  # type: ignore[assignment]
        (
            name, error_type, error_message, model, provider, tool_name, tool_call_id, agent, bundle,
            environment, session_id, user_id,
        ) = texts_of_step  # fmt: skip
        if max(len(agent), len(bundle), len(environment), len(session_id), len(user_id)) > _SHORTEST_LIMIT:
            values = zip(_CUT_FIELDS, (agent, bundle, environment, session_id, user_id), strict=True)
            cut = {name: value for name, value in values if len(value) > RUN_TEXT_LIMITS[name]}
            if cut:  # the run shows these cut to fit its columns (traces.ingest.runs): the step keeps them
                context["clipped"] = cut
        start_ns, end_ns = step.start_ns, step.end_ns or None
        row: list[Any] = [
            # traces_step's columns (STEP_COLUMNS), as the store copies them
            config.project_id,
            step.trace_id,  # 32 hex digits, which the uuid column reads as they are
            span_from_valid_hex(step.span_id),
            span_from_valid_hex(step.parent_span_id) if step.parent_span_id else None,
            name,
            str(step.kind),
            timestamp_text(start_ns),
            None if end_ns is None else timestamp_text(end_ns),
            None if end_ns is None else end_ns - start_ns,
            step.status,
            error_type,
            error_message,
            model,
            provider,
            step.input_tokens,
            step.output_tokens,
            step.cache_read_tokens,
            step.cache_write_tokens,
            step.reasoning_tokens,
            step.usage_is_aggregate,
            cost,
            priced,
            unpriced_reason,
            step.reported_cost_usd,
            tool_name,
            tool_call_id,
            None if drop else _payload_json(step.input, step.input_json),
            None if drop else _payload_json(step.output, step.output_json),
            _payload_json(attributes, attributes_json) if attributes else "{}",
            # Events carry content too (old per-message events): dropped with it, else redacted.
            "[]" if drop or not step.events else (_json(step.events) or "[]"),
            step.convention,
            _json(context) if context else None,
            # its run context (CONTEXT_COLUMNS), which traces.ingest.runs aggregates
            start_ns,
            end_ns,
            is_root,
            needs_price,
            is_call,
            _ROOT_RANK if is_root else start_ns,
            agent,
            agent_rank,
            bundle,
            bundle_rank,
            environment,
            session_id,
            user_id,
            "",  # input_preview and its rank, output_preview and its rank: see _previews
            None,
            "",
            None,
            [_clean_text(str(t)) for t in step.tags] if step.tags else [],
            None,  # resource: see below
        ]
        if step.resource:
            rank = _ROOT_RANK if is_root else start_ns
            best = resources.get(step.trace_id)
            if best is None or rank < best[0] or (rank == best[0] and _tie_first(step.resource, best[2])):
                resources[step.trace_id] = (rank, row, step.resource)
        if (is_root or is_call) and not drop:
            candidates.setdefault(step.trace_id, []).append((row, step))
        staged.rows.append(row)
        staged.start_ns.append(step.start_ns)
    for of_trace in candidates.values():
        _previews(of_trace)
    resource_json: dict[int, str] = {}  # spans of one request share their resource: dump it once
    for _, row, resource in resources.values():
        if id(resource) not in resource_json:
            resource_json[id(resource)] = _redacted_json(resource, policy) or "{}"
        row[_RESOURCE] = resource_json[id(resource)]
    if not policy.has_rules:
        return staged
    texts: list[str] = []  # to redact: (row, column) in `places`, and whether the text is JSON
    places: list[tuple[list[Any], int]] = []
    json_texts: list[bool] = []
    for row in staged.rows:
        for column, is_json in _REDACTED:
            text = row[column]
            # Not `text not in {...}`: that would hash every text, kilobytes of JSON each.
            if text and text != "{}" and text != "[]":
                texts.append(text)
                places.append((row, column))
                json_texts.append(is_json)
    if texts:
        for (row, column), text in zip(places, redact_texts(texts, policy, json_texts=json_texts), strict=True):
            row[column] = text
    return staged


_RESOURCE = STAGE_COLUMNS.index("resource")


def _tie_first(resource: dict[str, Any], other: dict[str, Any]) -> bool:
    # Two resources of one rank (two roots, or two steps starting in the same nanosecond): the one
    # whose JSON sorts first, so that the choice does not depend on the order the spans came in.
    return (_json(resource) or "") < (_json(other) or "")


_INPUT_PREVIEW, _INPUT_PREVIEW_RANK, _OUTPUT_PREVIEW, _OUTPUT_PREVIEW_RANK = (
    STAGE_COLUMNS.index(name)
    for name in ("input_preview", "input_preview_rank", "output_preview", "output_preview_rank")
)


def _previews(candidates: list[tuple[list[Any], Step]]) -> None:
    """Set the previews of one trace's root and LLM steps in a batch: only those that can win, with their
    ranks (traces.ingest.previews). Made from the values as sent, and redacted with the rest of the row."""
    chosen_input, chosen_output = previews.choose([step for _, step in candidates])
    if chosen_input is not None:
        i, rank, text = chosen_input
        row = candidates[i][0]
        row[_INPUT_PREVIEW], row[_INPUT_PREVIEW_RANK] = _clean_text(text), rank
    if chosen_output is not None:
        i, rank, text = chosen_output
        row = candidates[i][0]
        row[_OUTPUT_PREVIEW], row[_OUTPUT_PREVIEW_RANK] = _clean_text(text), rank


def _agent(step: Step, is_root: bool) -> tuple[str, int | None]:
    """The step's candidate for its run's agent, and its rank (see _AGENT_TIER_BITS)."""
    if step.agent_name:
        tier = 3 if step.agent_name_derived else 0 if is_root else 1 if step.kind is StepKind.AGENT else 2
        name = step.agent_name
    elif is_root and step.service_name:
        tier, name = _SERVICE_TIER, step.service_name
    else:
        return "", None
    position = 0 if is_root else min(step.start_ns // 1000 + 1, (1 << _AGENT_TIER_BITS) - 1)
    return name, tier << _AGENT_TIER_BITS | position


def _made_call(step: Step) -> bool:
    """Whether an LLM step recorded a call to a model: usage, an answer, or a failure. A span that only
    prepares one (LlamaIndex's _prepare_chat_with_tools: LLM kind, no usage, no output) is not a call."""
    return bool(step.input_tokens or step.output_tokens) or step.output is not None or step.status == "error"


_STEP_WIDTH = len(STEP_COLUMNS)


def step_values(row: Sequence[Any]) -> Sequence[Any]:
    """A staged row's values for traces_step's STEP_COLUMNS, as the store copies them."""
    return row[:_STEP_WIDTH]
