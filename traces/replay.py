"""Pure functions behind the replay and compare pages: no database, no request, tested on plain dicts.

Steps here are the dicts of `traces.presenters.step_dict` (ids as hex), in start order. The replay page
shows them in *tree order*: a depth-first walk of the span tree, children in start order. That one order
numbers the rows of the tree, the bars of the waterfall and the positions of the step-through player.

Definitions the pages rely on:

- A loop is a run of sibling steps whose sequence of (kind, name) repeats back to back, at least twice:
  LLM, tool, LLM, tool, ... The tree shows it as one collapsible "x N" group.
- The context at step N is what the agent knew when step N began: the messages of the latest LLM step at
  or before N (its input; and when that LLM step is not N itself, its output too), followed by the
  result of every tool step after it and before N, in order. At an LLM step it is exactly what the model
  saw. Before any LLM step it is empty.
- Compare aligns two runs' steps (tree order) by structure: (kind, name, tool, model), with difflib's
  matching, so a step only one run took shows as a gap on the other side. The runs diverge at the first
  row that is not the same step on both sides. Same-shaped tool steps whose arguments or results differ
  are not a divergence: their row is marked "differs" and shows a line diff (payload viewers only).
"""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import zip_longest
from typing import Any

from traces.plotly_text import label

Step = dict[str, Any]
Message = dict[str, Any]

# Loops longer than this many steps per iteration are not looked for: agents' loops are short, and the
# search costs period * siblings.
MAX_LOOP_PERIOD = 8
# Tool results in a context are capped: a run of thousands of tool calls without an LLM step would make
# one step's panel unbounded.
MAX_CONTEXT_TOOL_RESULTS = 50

KIND_COLOURS = {
    "AGENT": "#6b5ca5",
    "LLM": "#2b6cb0",
    "TOOL": "#2f855a",
    "RETRIEVER": "#b7791f",
    "EMBEDDING": "#975a16",
    "CHAIN": "#718096",
    "GUARDRAIL": "#805ad5",
    "APPROVAL": "#d69e2e",
    "SPAN": "#a0aec0",
}
ERROR_COLOUR = "#c53030"


def is_error(step: Step) -> bool:
    return step.get("status") == "error"


# --- Tree order -------------------------------------------------------------------------------------


def tree_order(roots: Sequence[Step]) -> list[tuple[Step, int]]:
    """(step, depth) in depth-first order of a `presenters.step_tree` result, without recursion."""
    out: list[tuple[Step, int]] = []
    stack: list[tuple[Step, int]] = [(r, 0) for r in reversed(roots)]
    while stack:
        step, depth = stack.pop()
        out.append((step, depth))
        stack.extend((c, depth + 1) for c in reversed(step.get("children", [])))
    return out


# --- Loops --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loop:
    """`times` back-to-back repeats of a `period`-long sequence of siblings, starting at `start`."""

    start: int
    period: int
    times: int

    @property
    def end(self) -> int:
        return self.start + self.period * self.times


def _signature(step: Step) -> tuple[str, str]:
    return (step.get("kind", ""), step.get("name", ""))


def find_loops(siblings: Sequence[Step], max_period: int = MAX_LOOP_PERIOD) -> list[Loop]:
    """Back-to-back repeats among siblings, left to right, each as long as it goes.

    At each position the period covering the most steps wins (the shorter on a tie, so "A A A A" is
    A x 4, not AA x 2); a position no repeat starts from is left alone.
    """
    sigs = [_signature(s) for s in siblings]
    loops: list[Loop] = []
    i = 0
    while i < len(sigs):
        best: Loop | None = None
        for period in range(1, max_period + 1):
            if i + 2 * period > len(sigs):
                break
            unit = sigs[i : i + period]
            times = 1
            while sigs[i + times * period : i + (times + 1) * period] == unit:
                times += 1
            if times >= 2 and (best is None or period * times > best.period * best.times):
                best = Loop(i, period, times)
        if best is None:
            i += 1
        else:
            loops.append(best)
            i = best.end
    return loops


# --- Rows of the tree -----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the tree: a step (with its player index) or the header of a loop.

    `groups` are the ids of every collapsible group the row is inside (a parent step, a loop); the page
    hides a row while any of them is collapsed. `toggles` is the group the row opens and closes.
    """

    depth: int
    groups: list[str]
    step: Step | None = None
    index: int | None = None
    toggles: str | None = None
    loop_times: int = 0
    loop_label: str = ""
    loop_error: bool = False


def tree_rows(roots: Sequence[Step]) -> tuple[list[Row], list[Step]]:
    """The tree as flat rows, and the steps in player (tree) order; loops become collapsible groups."""
    rows: list[Row] = []
    order: list[Step] = []
    loop_count = 0
    # An explicit stack (rows still to emit, last first) keeps deep trees off Python's recursion limit.
    stack: list[Row] = []

    def push_siblings(siblings: Sequence[Step], depth: int, groups: list[str]) -> None:
        nonlocal loop_count
        pending: list[Row] = []
        loops = {loop.start: loop for loop in find_loops(siblings)}
        pos = 0
        while pos < len(siblings):
            loop = loops.get(pos)
            if loop is None:
                pending.append(Row(depth=depth, groups=groups, step=siblings[pos]))
                pos += 1
                continue
            loop_count += 1
            gid = f"l{loop_count}"
            members = siblings[loop.start : loop.end]
            pending.append(
                Row(
                    depth=depth,
                    groups=groups,
                    toggles=gid,
                    loop_times=loop.times,
                    loop_label=" → ".join(s.get("name", "") for s in members[: loop.period]),
                    loop_error=any(is_error(s) for s in members),
                )
            )
            pending.extend(Row(depth=depth, groups=[*groups, gid], step=s) for s in members)
            pos = loop.end
        stack.extend(reversed(pending))

    push_siblings(roots, 0, [])
    while stack:
        row = stack.pop()
        rows.append(row)
        if row.step is None:
            continue
        row.index = len(order)
        order.append(row.step)
        children = row.step.get("children") or []
        if children:
            row.toggles = f"n{row.index}"
            push_siblings(children, row.depth + 1, [*row.groups, row.toggles])
    return rows, order


def _first_failing_descendant(step: Step) -> Step | None:
    """The first step under `step`, depth first, that has error status."""
    stack = list(reversed(step.get("children") or []))
    while stack:
        node = stack.pop()
        if is_error(node):
            return node
        stack.extend(reversed(node.get("children") or []))
    return None


def first_error(order: Sequence[Step]) -> int | None:
    """Where "jump to first error" lands: the cause, not the parents that inherited it. An agent whose
    tool failed usually ends in error too, so the first failing step in tree order is often the root;
    go down from it to the deepest first failing step."""
    failing = next((s for s in order if is_error(s)), None)
    if failing is None:
        return None
    while (deeper := _first_failing_descendant(failing)) is not None:
        failing = deeper
    return next(i for i, s in enumerate(order) if s is failing)


# --- Waterfall ----------------------------------------------------------------------------------------


def _ms_between(start: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(start)).total_seconds() * 1000


def waterfall_figure(order: Sequence[Step], run_start: str) -> dict[str, Any]:
    """A plotly figure: one horizontal bar per step (row = player index + 1), from its offset to the run's
    start, as long as it lasted; coloured by kind, errors red. Unfinished steps get a sliver."""
    offsets = [_ms_between(run_start, s["start_time"]) for s in order]
    durations = [s["duration_ms"] if s.get("duration_ms") is not None else 0.0 for s in order]
    colours = [ERROR_COLOUR if is_error(s) else KIND_COLOURS.get(s.get("kind", ""), "#a0aec0") for s in order]
    # Step names are data. An approval's bar says its state: pending ones grow to now.
    labels = [
        label(f"{s.get('kind', '')} {s.get('name', '')}" + (f" ({s['state']})" if s.get("state") else ""))
        for s in order
    ]
    bar = {
        "type": "bar",
        "orientation": "h",
        # Rows are numbered from 1, as the step counter counts ("4 / 4"); the player maps y back.
        "y": list(range(1, len(order) + 1)),
        "base": offsets,
        "x": durations,
        "marker": {"color": colours},
        "text": labels,
        "hovertemplate": "step %{y}: %{text}<br>start +%{base:.1f} ms<br>%{x:.1f} ms<extra></extra>",
        "textposition": "none",
    }
    return {
        "data": [bar],
        "layout": {
            "height": max(160, min(24 * len(order), 600) + 60),
            "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
            "xaxis": {"title": {"text": "ms since run start"}, "zeroline": False},
            "yaxis": {"autorange": "reversed", "dtick": 1 if len(order) <= 40 else None, "title": {"text": ""}},
            "bargap": 0.25,
            "showlegend": False,
            "dragmode": "pan",
        },
    }


# --- Context -----------------------------------------------------------------------------------------


def context_span(order: Sequence[Step], n: int) -> list[int]:
    """Positions whose payloads make up the context at step n: the latest LLM step at or before n, then
    every tool step after it and before n (the last MAX_CONTEXT_TOOL_RESULTS of them)."""
    llm = next((i for i in range(n, -1, -1) if order[i].get("kind") == "LLM"), None)
    if llm is None:
        return []
    tools = [i for i in range(llm + 1, n) if order[i].get("kind") == "TOOL"]
    return [llm, *tools[-MAX_CONTEXT_TOOL_RESULTS:]]


def is_messages(value: Any) -> bool:
    """Whether a payload is a list of canonical messages (see traces.ingest.messages)."""
    return isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value)


def _messages(value: Any) -> list[Message]:
    return value if is_messages(value) else []


def context_at(order: Sequence[Step], n: int) -> list[Message]:
    """The context at step n (see the module docstring). Steps must carry payloads ("input", "output")
    at least at the positions `context_span` names; each message gets `"step": <position>`."""
    span = context_span(order, n)
    if not span:
        return []
    llm, *tools = span
    messages = [{**m, "step": llm} for m in _messages(order[llm].get("input"))]
    if llm != n:
        messages += [{**m, "step": llm} for m in _messages(order[llm].get("output"))]
    for i in tools:
        tool = order[i]
        part = {"type": "tool_call_response", "id": tool.get("tool_call_id"), "response": tool.get("output")}
        messages.append({"role": "tool", "name": tool.get("tool_name") or tool.get("name"), "parts": [part], "step": i})
    return messages


# --- Compare ------------------------------------------------------------------------------------------

# Beyond this many steps left unmatched after the common start and end, the rest is paired position by
# position: difflib's matching of an agent's few, repeating step shapes grows about with the cube of the
# unmatched steps (bench/compare.py: 200 steps 27 ms, 400 180 ms, 800 1.6 s, 2,000 26 s), and two runs
# that different are not read row by row anyway. The first divergence is found either way.
MAX_ALIGNED = 300


def _shape(step: Step) -> tuple[Any, ...]:
    """What a step is, as compare aligns them: two steps with the same shape are the same step of the
    agent, whatever their arguments and results."""
    return (step.get("kind"), step.get("name"), step.get("tool_name"), step.get("model"))


@dataclass
class CompareRow:
    """One row of the compare table. `left`/`right` is None where that run has no step (a gap).
    `same_shape`: both sides are the same step (kind, name, tool, model); otherwise the row is part of a
    structural difference. `diff` is the line diff of a same-shaped tool's arguments and result, empty
    when they match or may not be read."""

    left: Step | None
    right: Step | None
    same_shape: bool
    diff: list[tuple[str, str]]

    @property
    def differs(self) -> bool:
        return bool(self.diff)


def _payload_text(step: Step) -> list[str]:
    return [
        "arguments:",
        *pretty(step.get("input")).splitlines(),
        "result:",
        *pretty(step.get("output")).splitlines(),
    ]


def payload_diff(a: Step, b: Step) -> list[tuple[str, str]]:
    """The line diff of two steps' arguments and results, as (mark, line): mark is "-" (only in a),
    "+" (only in b), " " (context) or "@" (a hunk header); empty when they are equal."""
    if a.get("input") == b.get("input") and a.get("output") == b.get("output"):
        return []
    lines = difflib.unified_diff(_payload_text(a), _payload_text(b), lineterm="", n=2)
    out = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        out.append(("@", line) if line.startswith("@@") else (line[:1], line[1:]))
    return out


def _opcodes(a: Sequence[Step], b: Sequence[Step]) -> list[tuple[str, int, int, int, int]]:
    """difflib opcodes over the steps' shapes; the common start and end are matched first (runs of one
    agent mostly share them), and a middle too large to align is paired position by position."""
    ka, kb = [_shape(s) for s in a], [_shape(s) for s in b]
    head = 0
    while head < min(len(ka), len(kb)) and ka[head] == kb[head]:
        head += 1
    tail = 0
    while tail < min(len(ka), len(kb)) - head and ka[-1 - tail] == kb[-1 - tail]:
        tail += 1
    mid_a, mid_b = ka[head : len(ka) - tail], kb[head : len(kb) - tail]
    ops: list[tuple[str, int, int, int, int]] = []
    if head:
        ops.append(("equal", 0, head, 0, head))
    if len(mid_a) > MAX_ALIGNED or len(mid_b) > MAX_ALIGNED:
        ops.append(("replace", head, head + len(mid_a), head, head + len(mid_b)))
    elif mid_a or mid_b:
        # autojunk off: an agent's few step shapes each recur far more than difflib's junk threshold.
        matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            ops.append((tag, head + i1, head + i2, head + j1, head + j2))
    if tail:
        ops.append(("equal", len(ka) - tail, len(ka), len(kb) - tail, len(kb)))
    return ops


def compare_rows(a: Sequence[Step], b: Sequence[Step], *, payloads: bool) -> list[CompareRow]:
    """Runs a and b side by side, aligned by structure (see _shape): a step only one run took faces a gap,
    steps that replace each other share a row; same-shaped tools carry the diff of their payloads when
    `payloads` (tool steps carry "input" and "output")."""
    rows: list[CompareRow] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            for x, y in zip(a[i1:i2], b[j1:j2], strict=True):
                diff = payload_diff(x, y) if payloads and x.get("kind") == "TOOL" else []
                rows.append(CompareRow(x, y, True, diff))
        else:
            rows.extend(CompareRow(x, y, False, []) for x, y in zip_longest(a[i1:i2], b[j1:j2]))
    return rows


def first_divergence(rows: Sequence[CompareRow]) -> int | None:
    """The row of the first structural difference (a step in one run only, or a different step); None
    when the runs take the same steps. Payload differences are not divergences: they are shown in their
    row (see first_payload_difference)."""
    return next((i for i, r in enumerate(rows) if not r.same_shape), None)


def first_payload_difference(rows: Sequence[CompareRow]) -> int | None:
    return next((i for i, r in enumerate(rows) if r.differs), None)


# --- Presentation helpers --------------------------------------------------------------------------


def pretty(value: Any) -> str:
    """Indented JSON for a payload; text that is not JSON-able is shown as its string."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    except (TypeError, ValueError):
        return str(value)


# A panel shows this much of one value; the rest on demand ("show all"). A 1 MB message in the page
# costs the browser seconds to lay out, and no one reads it there.
SHOWN_CHARS = 10_000


def clip(text: str, limit: int | None) -> tuple[str, int]:
    """`text` cut to `limit` characters, and how many were cut (0: all of it)."""
    if limit is None or len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def conversation(messages: Sequence[Message], limit: int | None = None) -> list[Message]:
    """Messages ready for the template: every part gets a `pretty` text for its structured content, cut
    to `limit` characters (`more` says how many were cut)."""
    out = []
    for message in messages:
        parts = []
        for part in message.get("parts") or []:
            if not isinstance(part, dict):
                part = {"type": "unknown", "content": part}
            kind = part.get("type")
            if kind == "tool_call":
                shown = pretty(part.get("arguments"))
            elif kind == "tool_call_response":
                shown = pretty(part.get("response"))
            elif kind in ("text", "reasoning"):
                shown = pretty(part.get("content"))
            else:
                shown = pretty(part)
            shown, more = clip(shown, limit)
            parts.append({**part, "pretty": shown, "more": more})
        out.append({**message, "parts": parts})
    return out


def exceptions(events: Any) -> list[dict[str, Any]]:
    """The OTel `exception` events of a step: type, message and stack trace."""
    found = []
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            found.append(
                {
                    "type": attrs.get("exception.type"),
                    "message": attrs.get("exception.message"),
                    "stacktrace": attrs.get("exception.stacktrace"),
                }
            )
    return found


def _clock(ns: int) -> str:
    """A time of day to the microsecond, UTC: events of one step are seconds apart at most."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%H:%M:%S}.{rest // 1000:06d}"


def event_timeline(events: Any, logs: Any) -> list[dict[str, Any]]:
    """A step's span events and log records (presenters.log_dict) as one list in time order (span events
    first on a tie: they were part of the span as sent), for the panel's Events section. Each entry says
    its source; `detail` is the pretty JSON of what it carries (a span event's attributes; a record's
    body and attributes), absent when the caller may not see payloads (log_dict left them out)."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        sent = event.get("time_ns")
        ns = sent if isinstance(sent, int) else 0
        entry = {"source": "span event", "name": event.get("name") or "", "time": _clock(ns), "severity": ""}
        if event.get("attributes"):
            entry["detail"] = pretty(event["attributes"])
        out.append((ns, 0, entry))
    for log in logs if isinstance(logs, list) else []:
        ns = log["time_ns"]
        entry = {
            "source": "log",
            "name": log.get("event_name") or "(log record)",
            "time": _clock(ns),
            "severity": log.get("severity_text") or "",
        }
        shown = {key: log[key] for key in ("body", "attributes") if log.get(key) not in (None, {}, "")}
        if shown:
            entry["detail"] = pretty(shown)
        out.append((ns, 1, entry))
    out.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in out]


# --- The tree as HTML ----------------------------------------------------------------------------------
# Built here rather than in a template loop: for a run of thousands of steps the template engine took
# most of the page's time (measured: ~0.6 s of 0.8 s for 1,000 steps), and these rows are simple.


def _duration(step: Step) -> str:
    if "wait" in step:  # an approval request (traces.approval_steps): a human's time, not a span's
        return f"waiting {step['wait']}" if step.get("waiting") else step["wait"]
    ms = step.get("duration_ms")
    return "…" if ms is None else f"{ms:.0f} ms"


def row_html(row: Row) -> str:
    """One <li> of the span tree (static/replay.js reads its data attributes). Every value is escaped."""
    e = html.escape
    groups = e(" ".join(row.groups))
    toggle = (
        f'<button type="button" class="toggle" data-toggle="{e(row.toggles)}" aria-expanded="true">▾</button>'
        if row.toggles
        else '<span class="toggle-space"></span>'
    )
    step = row.step
    if step is None:
        return (
            f'<li class="row loop{" is-error" if row.loop_error else ""}" data-groups="{groups}" '
            f'data-loop="{e(row.toggles or "")}" style="--depth: {row.depth}">{toggle}'
            f'<span class="loop-times">&times; {row.loop_times}</span> '
            f'<span class="name" title="{e(row.loop_label)}">{e(row.loop_label)}</span></li>'
        )
    kind = str(step.get("kind", ""))
    failed = is_error(step)
    meta = step.get("model") or step.get("tool_name")
    state = step.get("state")  # an approval request's
    # A step whose panel is not the span panel (an approval request) names its own.
    panel = f' data-panel="{e(step["panel_url"])}"' if step.get("panel_url") else ""
    name = e(str(step.get("name", "")))
    return (
        f'<li class="row kind-{e(kind.lower())}{" is-error" if failed else ""}" data-index="{row.index}" '
        f'data-span="{e(str(step.get("span_id")))}"{panel} data-groups="{groups}" style="--depth: {row.depth}">'
        # The tree cuts long names with an ellipsis: the whole name is the tooltip.
        f'{toggle}<span class="kind">{e(kind)}</span> <span class="name" title="{name}">{name}</span>'
        + (f' <span class="meta" title="{e(str(meta))}">{e(str(meta))}</span>' if meta else "")
        + (f' <span class="approval-state state-{e(state)}">{e(state)}</span>' if state else "")
        + f' <span class="dur">{_duration(step)}</span>'
        + (f' <span class="err-mark" title="{e(str(step.get("error") or "error"))}">error</span>' if failed else "")
        + "</li>"
    )


def tree_html(rows: Sequence[Row]) -> str:
    return "\n".join(row_html(r) for r in rows)
