"""A run's input and output previews (the run list's two columns), and which step's preview wins.

A run shows the user's question and the agent's answer. Candidates, best first:
- the root's input/output when it is a message list (an agent span that records its conversation);
- the LLM calls' messages: the earliest call's last user message, the latest call's last assistant
  text (a call that only asks for tools has none);
- the root's input/output as sent, when it is plain text;
- the root's input/output in any other shape (a LangGraph state as JSON, a Python repr such as
  `StopEvent(result=...)`), shortened: only when the run has nothing better.

Each preview carries its rank, so that batches merge in any order (traces.ingest.runs, store): the
lowest input rank and the highest output rank win.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from traces.ingest.steps import Step

PREVIEW_CHARS = 300
_LAST_NS = (1 << 63) - 1
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS

# Input ranks: lower wins. Output ranks: higher wins. LLM calls rank by their start in nanoseconds.
ROOT_MESSAGES_INPUT, ROOT_TEXT_INPUT, ROOT_RAW_INPUT = -2, -1, _LAST_NS
ROOT_MESSAGES_OUTPUT, ROOT_TEXT_OUTPUT, ROOT_RAW_OUTPUT = _LAST_NS, _LAST_NS - 1, -1

# What str() of an object looks like: `Name(field=...` or `Name('...`, even cut short (OpenInference cuts
# long values with "..."), or `<object at 0x...>`.
_REPR = re.compile(r"^(?:[A-Za-z_][\w.]*\((?:[A-Za-z_]\w*=|['\"<\[{(\d)])|<[^<>]*>$)", re.DOTALL)


def is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "parts" in value[0]


def _text_of_parts(message: Mapping[str, Any]) -> str:
    texts = [str(p.get("content", "")) for p in message.get("parts", ()) if p.get("type") == "text"]
    return " ".join(t for t in texts if t)


def preview(value: Any, *, role: str | None) -> str:
    """A short text for list pages: a message list gives its last `role` message, else the value."""
    if value is None:
        return ""
    if is_messages(value):
        # The last message of that role (else the last message), found from the end.
        last = next((m for m in reversed(value) if role is None or m.get("role") == role), value[-1])
        text = _text_of_parts(last)
    elif isinstance(value, str):
        text = value
    else:
        text = orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    # Whitespace is folded on a slice only: folding a whole message to keep 300 characters of it was a
    # good part of staging's cost. Twice the preview is enough unless the text is mostly whitespace.
    text = " ".join(text[: PREVIEW_CHARS * 2].split())
    return text[: PREVIEW_CHARS - 1] + "…" if len(text) > PREVIEW_CHARS else text


def _plain(value: Any) -> bool:
    """Text a person wrote or reads as it is: not JSON, not an object's repr."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return bool(text) and text[0] not in "{[" and not _REPR.match(text)


def input_rank(step: Step) -> int:
    if step.parent_span_id is not None:
        return step.start_ns
    if is_messages(step.input):
        return ROOT_MESSAGES_INPUT
    return ROOT_TEXT_INPUT if _plain(step.input) else ROOT_RAW_INPUT


def output_rank(step: Step) -> int:
    if step.parent_span_id is not None:
        return step.start_ns
    if is_messages(step.output):
        return ROOT_MESSAGES_OUTPUT
    return ROOT_TEXT_OUTPUT if _plain(step.output) else ROOT_RAW_OUTPUT


def choose(candidates: list[Step]) -> tuple[tuple[int, int, str] | None, tuple[int, int, str] | None]:
    """Of one trace's root and LLM steps in a batch: (index, rank, text) of the input preview and of the
    output preview that can win, or None. Only those are made (previews cost a good part of staging).

    If the winner is already stored (a retried batch), the store ignores it and its run already holds a
    preview ranked at least as well, which the other candidates here could not beat anyway."""
    by_input = sorted(range(len(candidates)), key=lambda i: input_rank(candidates[i]))
    chosen_input = None
    for i in by_input:
        if text := preview(candidates[i].input, role="user"):
            chosen_input = (i, input_rank(candidates[i]), text)
            break
    by_output = sorted(range(len(candidates)), key=lambda i: -output_rank(candidates[i]))
    chosen_output = None
    for i in by_output:
        if text := preview(candidates[i].output, role="assistant"):
            chosen_output = (i, output_rank(candidates[i]), text)
            break
    return chosen_input, chosen_output
