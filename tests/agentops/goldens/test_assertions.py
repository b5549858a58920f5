"""Validation of every assertion type: canonical when valid, an error naming the place when not."""

from __future__ import annotations

from typing import Any

import pytest

from agentops.goldens.assertions import TYPES, AssertionSpecError, validate_assertions

VALID: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
    ({"type": "equals", "value": "Shipped"}, {"type": "equals", "value": "Shipped", "ignore_case": False}),
    ({"type": "equals", "value": {"a": [1]}, "ignore_case": True}, None),
    ({"type": "contains", "value": "refund"}, {"type": "contains", "value": "refund", "case_sensitive": False}),
    ({"type": "regex", "pattern": r"order \d+"}, {"type": "regex", "pattern": r"order \d+", "ignore_case": False}),
    ({"type": "json_equal", "value": None}, {"type": "json_equal", "value": None}),
    ({"type": "json_subset", "value": {"status": "ok"}}, None),
    ({"type": "json_schema", "schema": {"type": "object", "required": ["id"]}}, None),
    ({"type": "number_close", "value": 3.14}, {"type": "number_close", "value": 3.14, "tolerance": 1e-9}),
    ({"type": "number_close", "value": 100, "tolerance": 0, "relative": 0.05}, None),
    (
        {"type": "tools_called", "tools": ["lookup_order"]},
        {"type": "tools_called", "tools": ["lookup_order"], "exact": False},
    ),
    ({"type": "tools_called", "tools": ["a", "b"], "arguments": [{"id": 1}, None], "exact": True}, None),
    ({"type": "tools_not_called", "tools": ["refund"]}, None),
    ({"type": "max_steps", "value": 10}, None),
    ({"type": "max_tool_calls", "value": 0}, None),
    ({"type": "max_latency_ms", "value": 8000.5}, None),
    ({"type": "max_cost_usd", "value": 0.12}, None),
    ({"type": "no_error"}, {"type": "no_error"}),
    ({"type": "llm_judge", "rubric": "Polite and correct", "name": "tone"}, None),
]


@pytest.mark.parametrize(("spec", "canonical"), VALID, ids=[s["type"] + str(i) for i, (s, _) in enumerate(VALID)])
def test_valid_assertions_come_back_canonical(spec, canonical):
    assert validate_assertions([spec]) == [canonical or spec]


def test_every_type_has_a_valid_example():
    assert {spec["type"] for spec, _ in VALID} == set(TYPES)


INVALID: list[tuple[Any, str]] = [
    ({"type": "equals"}, "assertions[0].value"),
    ({"type": "equals", "value": 1, "ignore_case": "yes"}, "assertions[0].ignore_case"),
    ({"type": "contains", "value": ""}, "assertions[0].value"),
    ({"type": "contains", "value": 5}, "assertions[0].value"),
    ({"type": "contains", "value": "x" * 10_001}, "assertions[0].value"),
    ({"type": "regex", "pattern": "(a)\\1"}, "assertions[0].pattern"),  # RE2: no backreferences
    ({"type": "regex", "pattern": "(?<=a)b"}, "assertions[0].pattern"),
    ({"type": "regex", "pattern": "["}, "assertions[0].pattern"),
    ({"type": "json_equal"}, "assertions[0].value"),
    ({"type": "json_subset"}, "assertions[0].value"),
    ({"type": "json_schema", "schema": "object"}, "assertions[0].schema"),
    ({"type": "json_schema", "schema": {"type": "objekt"}}, "assertions[0].schema['type']"),
    ({"type": "number_close", "value": "3"}, "assertions[0].value"),
    ({"type": "number_close", "value": True}, "assertions[0].value"),
    ({"type": "number_close", "value": 1, "tolerance": -1}, "assertions[0].tolerance"),
    ({"type": "number_close", "value": 1, "relative": "5%"}, "assertions[0].relative"),
    ({"type": "tools_called"}, "assertions[0].tools"),
    ({"type": "tools_called", "tools": []}, "assertions[0].tools"),
    ({"type": "tools_called", "tools": ["a", ""]}, "assertions[0].tools[1]"),
    ({"type": "tools_called", "tools": ["a", "b"], "arguments": [{}]}, "assertions[0].arguments"),
    ({"type": "tools_called", "tools": ["a"], "arguments": ["x"]}, "assertions[0].arguments[0]"),
    ({"type": "tools_called", "tools": ["a"], "exact": 1}, "assertions[0].exact"),
    ({"type": "tools_not_called", "tools": "refund"}, "assertions[0].tools"),
    ({"type": "max_steps", "value": 2.5}, "assertions[0].value"),
    ({"type": "max_steps", "value": -1}, "assertions[0].value"),
    ({"type": "max_tool_calls"}, "assertions[0].value"),
    ({"type": "max_latency_ms", "value": "fast"}, "assertions[0].value"),
    ({"type": "max_cost_usd", "value": float("nan")}, "assertions[0].value"),
    ({"type": "no_error", "value": 1}, "assertions[0].value"),
    ({"type": "llm_judge"}, "assertions[0].rubric"),
    ({"type": "llm_judge", "rubric": "ok", "name": ""}, "assertions[0].name"),
    ({"type": "tool_called", "tools": ["a"]}, "assertions[0].type"),
    ({"value": 1}, "assertions[0].type"),
    ({"type": "contains", "value": "a", "tool": "x"}, "assertions[0].tool"),
    ("contains", "assertions[0]"),
]


@pytest.mark.parametrize(("spec", "field"), INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_assertions_name_the_bad_field(spec, field):
    with pytest.raises(AssertionSpecError) as caught:
        validate_assertions([{"type": "no_error"}, {"type": "no_error"}, spec][2:])
    assert caught.value.field == field


def test_the_index_is_the_assertions_own():
    specs = [{"type": "no_error"}, {"type": "max_steps", "value": 3}, {"type": "contains"}]
    with pytest.raises(AssertionSpecError) as caught:
        validate_assertions(specs)
    assert caught.value.field == "assertions[2].value"
    with pytest.raises(AssertionSpecError, match="unknown type 'nope'"):
        validate_assertions([{"type": "nope"}])


def test_the_list_itself_is_checked():
    assert validate_assertions(None) == []
    with pytest.raises(AssertionSpecError, match="give a list"):
        validate_assertions({"type": "no_error"})
    with pytest.raises(AssertionSpecError, match="at most 50"):
        validate_assertions([{"type": "no_error"}] * 51)


def test_a_remote_ref_is_accepted_but_never_fetched():
    # check_schema does not resolve $ref; scoring an unresolvable one fails the case (test_scorers).
    spec = {"type": "json_schema", "schema": {"$ref": "http://169.254.169.254/latest/meta-data"}}
    assert validate_assertions([spec]) == [spec]
