"""Every captured case, normalized again, must equal its locked expected steps, field for field.

On a deliberate change: python tests/fixtures/otlp/regenerate_expected.py, then read the diff.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.otlp.loader import cases, expected_json, load_steps, runs_as_json, runs_json, steps_as_json

CASES = cases()


def test_every_convention_has_a_captured_case() -> None:
    assert {convention for convention, _ in CASES} >= {
        "openinference",
        "otel_genai",
        "openllmetry",
        "langfuse",
        "logfire",
        "strands",
        "google_adk",
        "anthropic",
        "mlflow",
        "phoenix",
        "vercel_ai",
        "langchain_js",
        "mastra",
    }


@pytest.mark.parametrize(("convention", "case"), CASES, ids=[f"{c}/{k}" for c, k in CASES])
def test_normalized_fixture_matches_locked_expected_output(convention: str, case: str) -> None:
    actual = json.loads(steps_as_json(load_steps(convention, case)))
    expected = json.loads(expected_json(convention, case))
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        # Field by field, so that a failure names the span and the field that changed.
        for field in want:
            assert got[field] == want[field], (got["name"], got["span_id"], field)
        assert got.keys() == want.keys()


@pytest.mark.parametrize(("convention", "case"), CASES, ids=[f"{c}/{k}" for c, k in CASES])
def test_each_run_of_a_fixture_matches_its_locked_summary(convention: str, case: str) -> None:
    # What the run list and replay header show: agent, counts, tokens, cost, models, tools, previews.
    actual = json.loads(runs_as_json(load_steps(convention, case)))
    expected = json.loads(runs_json(convention, case))
    assert actual.keys() == expected.keys()
    for trace_id, want in expected.items():
        for field in want:
            assert actual[trace_id][field] == want[field], (trace_id, field)
