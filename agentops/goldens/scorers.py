"""Scoring one assertion (canonical, from agentops.goldens.assertions) against an output and a trace.

`score(spec, output=..., facts=..., ...)` is pure: no database, no network. The LLM judge is the one
scorer that needs the outside world; it is passed in as `judge` (agentops.goldens.judge builds one from
the project's settings), and without one an `llm_judge` assertion is skipped, never passed.

An `Outcome` is passed, failed, skipped (nothing to score it with: no judge, no trace, a cost that is
not fully known) or error (the judge failed). Only "passed" passes.

The output is what the agent answered: text (surrounding whitespace is ignored) or any JSON value. Text
that parses as JSON counts as that JSON for the json_* and number scorers; JSON counts as its compact
text for the text scorers. JSON comparisons are exact about types: true is not 1, and "1" is not 1
(but 1 equals 1.0, as in JSON itself).

Reasons may quote the output and expected values (shortened): they are payload, to be shown only to
callers with the payload permission.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jsonschema import Draft202012Validator

from agentops.goldens.assertions import Spec, compile_regex
from agentops.goldens.facts import ToolCall, TraceFacts

QUOTE_CHARS = 80


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED


def passed(reason: str = "") -> Outcome:
    return Outcome(Status.PASSED, reason)


def failed(reason: str) -> Outcome:
    return Outcome(Status.FAILED, reason)


def skipped(reason: str) -> Outcome:
    return Outcome(Status.SKIPPED, reason)


# (rubric, case input, expected output, output) -> Outcome
Judge = Callable[[str, Any, Any, Any], Outcome]

_MISSING = object()


def quote(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return repr(text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…")


def as_text(output: Any) -> str:
    if isinstance(output, str):
        return output.strip()
    return json.dumps(output, ensure_ascii=False, separators=(",", ":"), default=str)


def as_json(output: Any) -> Any:
    """The output as a JSON value: text is parsed if it is JSON; _MISSING when it is text that is not."""
    if not isinstance(output, str):
        return output
    try:
        return json.loads(output)
    except ValueError:
        return _MISSING


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: Python's, except that booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def json_difference(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Where `actual` fails to hold `expected` as a subset, or None. Objects: every key of `expected` is
    in `actual` with a value holding its value; lists: the same length, element by element; anything
    else: JSON-equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path} is not an object"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key} is missing"
            found = json_difference(value, actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path} is not a list"
        if len(expected) != len(actual):
            return f"{path} has {len(actual)} items, expected {len(expected)}"
        for i, (x, y) in enumerate(zip(expected, actual, strict=True)):
            found = json_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if not json_equal(expected, actual):
        return f"{path} is {quote(actual)}, expected {quote(expected)}"
    return None


# --- Output scorers ------------------------------------------------------------------------------------


def _equals(spec: Spec, output: Any) -> Outcome:
    expected = spec["value"]
    if isinstance(expected, str):
        text = as_text(output)
        same = text.casefold() == expected.casefold() if spec["ignore_case"] else text == expected
        return passed() if same else failed(f"output {quote(text)} is not {quote(expected)}")
    value = as_json(output)
    if value is not _MISSING and json_equal(value, expected):
        return passed()
    return failed(f"output {quote(output)} is not {quote(expected)}")


def _contains(spec: Spec, output: Any) -> Outcome:
    text, needle = as_text(output), spec["value"]
    found = needle in text if spec["case_sensitive"] else needle.casefold() in text.casefold()
    return passed() if found else failed(f"output does not contain {quote(needle)}")


def _regex(spec: Spec, output: Any) -> Outcome:
    pattern = compile_regex(spec["pattern"], spec["ignore_case"])
    if pattern.search(as_text(output)):
        return passed()
    return failed(f"output does not match /{spec['pattern'][:QUOTE_CHARS]}/")


def _json_equal(spec: Spec, output: Any) -> Outcome:
    value = as_json(output)
    if value is _MISSING:
        return failed("output is not JSON")
    if json_equal(value, spec["value"]):
        return passed()
    where = json_difference(spec["value"], value) or "output has more than expected"
    return failed(f"output differs: {where}")


def _json_subset(spec: Spec, output: Any) -> Outcome:
    value = as_json(output)
    if value is _MISSING:
        return failed("output is not JSON")
    where = json_difference(spec["value"], value)
    return failed(f"output does not hold the expected subset: {where}") if where else passed()


def _json_schema(spec: Spec, output: Any) -> Outcome:
    value = as_json(output)
    if value is _MISSING:
        return failed("output is not JSON")
    error = next(iter(Draft202012Validator(spec["schema"]).iter_errors(value)), None)
    if error is None:
        return passed()
    path = "$" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
    return failed(f"output does not match the schema at {path}: {error.message[:200]}")


def _number(output: Any) -> float | None:
    value = as_json(output)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):  # a JSON string holding a number: "42"
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _number_close(spec: Spec, output: Any) -> Outcome:
    number = _number(output)
    if number is None or not math.isfinite(number):
        return failed(f"output {quote(output)} is not a number")
    expected = spec["value"]
    allowed = max(spec["tolerance"], spec.get("relative", 0) * abs(expected))
    if abs(number - expected) <= allowed:
        return passed()
    return failed(f"output {number:g} is not within {allowed:g} of {expected:g}")


# --- Trace scorers -------------------------------------------------------------------------------------


def _called(calls: tuple[ToolCall, ...]) -> str:
    if not calls:
        return "no tool"
    names = [c.name for c in calls[:20]]
    return ", ".join(names) + (f" and {len(calls) - 20} more" if len(calls) > 20 else "")


def _holds(subset: Any, call: ToolCall) -> bool:
    return subset is None or json_difference(subset, call.arguments) is None


def _tools_called(spec: Spec, facts: TraceFacts) -> Outcome:
    tools, arguments = spec["tools"], spec.get("arguments") or [None] * len(spec["tools"])
    calls = facts.tool_calls
    wanted = " then ".join(tools)
    if spec["exact"]:
        if [c.name for c in calls] != tools:
            return failed(f"expected exactly {wanted}; called {_called(calls)}")
        for i, (subset, call) in enumerate(zip(arguments, calls, strict=True)):
            if not _holds(subset, call):
                return failed(f"call {i + 1} ({call.name}): {json_difference(subset, call.arguments)}")
        return passed()
    # Leftmost matching of the expected calls as a subsequence: it finds one whenever any exists.
    matched = 0
    for call in calls:
        if matched < len(tools) and call.name == tools[matched] and _holds(arguments[matched], call):
            matched += 1
    if matched == len(tools):
        return passed()
    missing = tools[matched]
    if arguments[matched] is not None and any(c.name == missing for c in calls):
        return failed(f"{missing} (expected call {matched + 1}) was never called with the expected arguments")
    return failed(f"expected {wanted}; {missing} (expected call {matched + 1}) missing; called {_called(calls)}")


def _tools_not_called(spec: Spec, facts: TraceFacts) -> Outcome:
    banned = set(spec["tools"])
    hits = [c.name for c in facts.tool_calls if c.name in banned]
    if not hits:
        return passed()
    counts = {name: hits.count(name) for name in dict.fromkeys(hits)}
    return failed("called " + ", ".join(f"{n} ({k}x)" for n, k in counts.items()))


def _max(what: str, value: float, limit: float) -> Outcome:
    return passed() if value <= limit else failed(f"{what} {value:g} > {limit:g}")


def _max_latency(spec: Spec, facts: TraceFacts) -> Outcome:
    if facts.latency_ms is None:
        return failed("the run has not finished")
    return _max("latency ms", round(facts.latency_ms, 3), spec["value"])


def _max_cost(spec: Spec, facts: TraceFacts) -> Outcome:
    if facts.cost_usd > spec["value"]:
        return failed(f"cost usd {facts.cost_usd:g} > {spec['value']:g}")
    if facts.unpriced_steps:
        # The known cost is a lower bound: under the limit proves nothing.
        return skipped(f"{facts.unpriced_steps} step(s) could not be priced; known cost {facts.cost_usd:g} usd")
    return passed()


def _no_error(spec: Spec, facts: TraceFacts) -> Outcome:
    if not facts.error_steps:
        return passed()
    names = ", ".join(facts.error_steps[:5]) + ("…" if len(facts.error_steps) > 5 else "")
    return failed(f"{len(facts.error_steps)} step(s) failed: {names}")


_OUTPUT: dict[str, Callable[[Spec, Any], Outcome]] = {
    "equals": _equals,
    "contains": _contains,
    "regex": _regex,
    "json_equal": _json_equal,
    "json_subset": _json_subset,
    "json_schema": _json_schema,
    "number_close": _number_close,
}
_TRACE: dict[str, Callable[[Spec, TraceFacts], Outcome]] = {
    "tools_called": _tools_called,
    "tools_not_called": _tools_not_called,
    "max_steps": lambda spec, facts: _max("steps", facts.steps, spec["value"]),
    "max_tool_calls": lambda spec, facts: _max("tool calls", facts.tool_call_count, spec["value"]),
    "max_latency_ms": _max_latency,
    "max_cost_usd": _max_cost,
    "no_error": _no_error,
}


def score(
    spec: Spec,
    *,
    output: Any,
    facts: TraceFacts | None,
    case_input: Any = None,
    expected_output: Any = None,
    judge: Judge | None = None,
) -> Outcome:
    """The outcome of one canonical assertion. `output` None means the agent answered nothing;
    `facts` None means there is no stored run to read (trace assertions are then skipped)."""
    kind = spec["type"]
    if kind in _OUTPUT:
        if output is None:
            return failed("no output")
        return _OUTPUT[kind](spec, output)
    if kind in _TRACE:
        if facts is None:
            return skipped("no stored run to read the trace from")
        return _TRACE[kind](spec, facts)
    if kind == "llm_judge":
        if judge is None:
            return skipped("no LLM judge is configured for this project")
        if output is None:
            return failed("no output")
        return judge(spec["rubric"], case_input, expected_output, output)
    raise ValueError(f"unknown assertion type {kind!r}")  # validate_assertions refuses it first


def score_all(
    specs: list[Spec],
    *,
    output: Any,
    facts: TraceFacts | None,
    case_input: Any = None,
    expected_output: Any = None,
    judge: Judge | None = None,
) -> list[Outcome]:
    return [
        score(s, output=output, facts=facts, case_input=case_input, expected_output=expected_output, judge=judge)
        for s in specs
    ]
