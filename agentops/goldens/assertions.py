"""What a case asserts: validation of the assertion objects, before any is stored.

An assertion is a JSON object with a `type` and the parameters of that type (an optional `name` labels
it in reports). `validate_assertions(value)` returns the list in canonical form (defaults filled in) or
raises `AssertionSpecError` naming the first bad place: `assertions[2].value`. Unknown types and
unknown keys are refused: a typo ("tool" for "tools") must not turn into an assertion that checks nothing.

Types and parameters (agentops.goldens.scorers says how each is scored):

    equals          value (any JSON); ignore_case (bool, false)       the output is exactly `value`
    contains        value (text); case_sensitive (bool, false)         the output's text contains it
    regex           pattern (RE2 syntax); ignore_case (bool, false)    the output's text matches it (search)
    json_equal      value (any JSON)                                   the output, as JSON, equals it
    json_subset     value (any JSON)                                   every key of `value` is in the output
    json_schema     schema (JSON Schema, draft 2020-12)                the output, as JSON, is valid
    number_close    value (number); tolerance (>= 0, 1e-9);            |output - value| <= tolerance, or
                    relative (>= 0, optional)                          <= relative * |value|
    tools_called    tools (names, in order, 1+); arguments (a list as  the run called these tools in this
                    long as tools: an object or null each, optional);  order (others may come between,
                    exact (bool, false)                                unless exact), with arguments holding
                                                                       each given object as a JSON subset
    tools_not_called tools (names, 1+)                                 the run called none of them
    max_steps       value (integer >= 0)                               the run took at most that many steps
    max_tool_calls  value (integer >= 0)
    max_latency_ms  value (number >= 0)
    max_cost_usd    value (number >= 0)
    no_error        (none)                                             no step of the run failed
    llm_judge       rubric (text)                                      the project's judge says it passes

Regexes are compiled with RE2 (linear time, as the ingest's custom redaction patterns): a pattern from a
case cannot stall a scorer. JSON Schemas are checked with the `jsonschema` package (installed with
drf-spectacular); remote `$ref`s are never fetched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import re2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentops.errors import FieldError

MAX_ASSERTIONS = 50
MAX_TEXT = 10_000  # a contains value, a regex, a rubric
MAX_TOOLS = 100
MAX_NAME = 200


class AssertionSpecError(FieldError):
    """A bad assertion: `field` is where (`assertions[2].value`), `message` what is wrong."""


Spec = dict[str, Any]
_Check = Callable[[Spec, str], Spec]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(spec: Spec, key: str, where: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise AssertionSpecError(f"{where}.{key}", "give non-empty text")
    if len(value) > MAX_TEXT:
        raise AssertionSpecError(f"{where}.{key}", f"at most {MAX_TEXT} characters")
    return value


def _flag(spec: Spec, key: str, where: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise AssertionSpecError(f"{where}.{key}", "give true or false")
    return value


def _required(spec: Spec, key: str, where: str) -> Any:
    if key not in spec:
        raise AssertionSpecError(f"{where}.{key}", "required")
    return spec[key]


def _limit(spec: Spec, where: str, *, integer: bool) -> int | float:
    value = _required(spec, "value", where)
    ok = (isinstance(value, int) and not isinstance(value, bool)) if integer else _is_number(value)
    if not ok or value < 0:
        kind = "a whole number" if integer else "a number"
        raise AssertionSpecError(f"{where}.value", f"give {kind} of at least 0")
    return value


def _tool_names(spec: Spec, where: str) -> list[str]:
    tools = _required(spec, "tools", where)
    if not isinstance(tools, list) or not tools:
        raise AssertionSpecError(f"{where}.tools", "give a list of one or more tool names")
    if len(tools) > MAX_TOOLS:
        raise AssertionSpecError(f"{where}.tools", f"at most {MAX_TOOLS} tools")
    for i, name in enumerate(tools):
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise AssertionSpecError(f"{where}.tools[{i}]", f"give a tool name of 1 to {MAX_NAME} characters")
    return tools


def _equals(spec: Spec, where: str) -> Spec:
    return {"value": _required(spec, "value", where), "ignore_case": _flag(spec, "ignore_case", where, False)}


def _contains(spec: Spec, where: str) -> Spec:
    return {"value": _text(spec, "value", where), "case_sensitive": _flag(spec, "case_sensitive", where, False)}


def _regex(spec: Spec, where: str) -> Spec:
    pattern = _text(spec, "pattern", where)
    ignore_case = _flag(spec, "ignore_case", where, False)
    try:
        compile_regex(pattern, ignore_case)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise AssertionSpecError(f"{where}.pattern", f"not a pattern RE2 can run: {reason}") from None
    return {"pattern": pattern, "ignore_case": ignore_case}


def compile_regex(pattern: str, ignore_case: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.never_capture = True
    options.log_errors = False  # the reason goes back to the caller, not to stderr
    return re2.compile(pattern, options=options)


def _json_value(spec: Spec, where: str) -> Spec:
    return {"value": _required(spec, "value", where)}


def _json_schema(spec: Spec, where: str) -> Spec:
    schema = _required(spec, "schema", where)
    if not isinstance(schema, (dict, bool)):
        raise AssertionSpecError(f"{where}.schema", "give a JSON Schema (an object)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in exc.path)
        raise AssertionSpecError(f"{where}.schema{path}", f"not a valid JSON Schema: {exc.message}") from None
    return {"schema": schema}


def _number_close(spec: Spec, where: str) -> Spec:
    value = _required(spec, "value", where)
    if not _is_number(value):
        raise AssertionSpecError(f"{where}.value", "give a number")
    out: Spec = {"value": value}
    tolerance = spec.get("tolerance", 1e-9)
    if not _is_number(tolerance) or tolerance < 0:
        raise AssertionSpecError(f"{where}.tolerance", "give a number of at least 0")
    out["tolerance"] = tolerance
    if "relative" in spec:
        relative = spec["relative"]
        if not _is_number(relative) or relative < 0:
            raise AssertionSpecError(f"{where}.relative", "give a number of at least 0 (0.05 is 5%)")
        out["relative"] = relative
    return out


def _tools_called(spec: Spec, where: str) -> Spec:
    tools = _tool_names(spec, where)
    out: Spec = {"tools": tools, "exact": _flag(spec, "exact", where, False)}
    if "arguments" in spec:
        arguments = spec["arguments"]
        if not isinstance(arguments, list) or len(arguments) != len(tools):
            raise AssertionSpecError(
                f"{where}.arguments", f"give a list as long as tools ({len(tools)}): an object or null for each"
            )
        for i, subset in enumerate(arguments):
            if subset is not None and not isinstance(subset, dict):
                raise AssertionSpecError(
                    f"{where}.arguments[{i}]", "give an object (a subset of the arguments) or null"
                )
        out["arguments"] = arguments
    return out


def _tools_not_called(spec: Spec, where: str) -> Spec:
    return {"tools": _tool_names(spec, where)}


def _whole_limit(spec: Spec, where: str) -> Spec:
    return {"value": _limit(spec, where, integer=True)}


def _number_limit(spec: Spec, where: str) -> Spec:
    return {"value": _limit(spec, where, integer=False)}


def _nothing(spec: Spec, where: str) -> Spec:
    return {}


def _llm_judge(spec: Spec, where: str) -> Spec:
    return {"rubric": _text(spec, "rubric", where)}


# type -> (its parameters, the check that returns them canonical)
TYPES: dict[str, tuple[frozenset[str], _Check]] = {
    "equals": (frozenset({"value", "ignore_case"}), _equals),
    "contains": (frozenset({"value", "case_sensitive"}), _contains),
    "regex": (frozenset({"pattern", "ignore_case"}), _regex),
    "json_equal": (frozenset({"value"}), _json_value),
    "json_subset": (frozenset({"value"}), _json_value),
    "json_schema": (frozenset({"schema"}), _json_schema),
    "number_close": (frozenset({"value", "tolerance", "relative"}), _number_close),
    "tools_called": (frozenset({"tools", "arguments", "exact"}), _tools_called),
    "tools_not_called": (frozenset({"tools"}), _tools_not_called),
    "max_steps": (frozenset({"value"}), _whole_limit),
    "max_tool_calls": (frozenset({"value"}), _whole_limit),
    "max_latency_ms": (frozenset({"value"}), _number_limit),
    "max_cost_usd": (frozenset({"value"}), _number_limit),
    "no_error": (frozenset(), _nothing),
    "llm_judge": (frozenset({"rubric"}), _llm_judge),
}
# Scored from the run's trace rather than its output.
TRACE_TYPES = frozenset(
    {"tools_called", "tools_not_called", "max_steps", "max_tool_calls", "max_latency_ms", "max_cost_usd", "no_error"}
)
_COMMON = frozenset({"type", "name"})


def validate_assertion(spec: Any, where: str) -> Spec:
    """One assertion, canonical; `where` names it in errors (`assertions[2]`)."""
    if not isinstance(spec, dict):
        raise AssertionSpecError(where, 'give an object with a "type"')
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        known = ", ".join(TYPES)
        shown = repr(kind)[:60] if kind is not None else "missing"
        raise AssertionSpecError(f"{where}.type", f"unknown type {shown}; known: {known}")
    params, check = TYPES[kind]
    for key in spec:
        if key not in params and key not in _COMMON:
            allowed = ", ".join(sorted(params | _COMMON))
            raise AssertionSpecError(f"{where}.{str(key)[:60]}", f"unknown parameter of {kind}; allowed: {allowed}")
    out: Spec = {"type": kind}
    if "name" in spec:
        name = spec["name"]
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise AssertionSpecError(f"{where}.name", f"give a label of 1 to {MAX_NAME} characters")
        out["name"] = name
    out.update(check(spec, where))
    return out


def validate_assertions(value: Any, field: str = "assertions") -> list[Spec]:
    """The case's assertions, canonical, or AssertionSpecError naming the first bad one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise AssertionSpecError(field, "give a list of assertion objects")
    if len(value) > MAX_ASSERTIONS:
        raise AssertionSpecError(field, f"at most {MAX_ASSERTIONS} assertions per case")
    return [validate_assertion(spec, f"{field}[{i}]") for i, spec in enumerate(value)]
