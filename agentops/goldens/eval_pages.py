"""Rows of the eval run pages, built by pure functions from the API's presenters (no database, no request).

A case is what agentops.goldens.eval_presenters.cases_dicts gives (its attempts, pass/fail by majority,
outputs and the scorers' reasons only with the payload permission); these functions pick what a row of
the eval run page and of the side-by-side comparison shows. `Link` turns a trace id (hex) into the URL of
its run's replay, and `EvalLink` an eval run id and a case key into that case on the eval run's page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Link = Callable[[str], str]
EvalLink = Callable[[int, str], str]
MAX_OUTPUT_CHARS = 4000


def shown_output(output: Any) -> str:
    """An agent's output as text for the page (autoescaped there), cut to MAX_OUTPUT_CHARS."""
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, indent=2, default=str)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + " … [cut]"


def _failure(attempt: dict[str, Any]) -> dict[str, Any] | None:
    return next((o for o in attempt["outcomes"] if o.get("status") != "passed"), None)


def _label(outcome: dict[str, Any]) -> str:
    return f"{outcome['type']} ({outcome['name']})" if outcome.get("name") else str(outcome["type"])


def _attempt_row(attempt: dict[str, Any], payloads: bool) -> dict[str, Any]:
    failing = _failure(attempt) if attempt["passed"] is False else None
    return {
        "attempt": attempt["attempt"],
        "passed": attempt["passed"],
        "run_url": attempt["run_url"],
        "trace_id": attempt["trace_id"],
        "latency_ms": attempt["latency_ms"],
        "cost_usd": attempt["cost_usd"],
        "assertion": _label(failing) if failing else "",
        "status": failing.get("status", "") if failing else "",
        # Without payloads the presenter has dropped the scorer's reason (it may quote the output).
        "reason": failing.get("reason", "") if failing else "",
        "output": shown_output(attempt.get("output")) if payloads else None,
    }


def light_cases(
    states: list[tuple[str, int, bool | None, Any]], case_keys: list[str], *, repeat: int, finished: bool, link: Link
) -> list[dict[str, Any]]:
    """Cases as cases_dicts gives them, from (case key, attempt, passed, trace id) alone: `passed` by the
    same rule (a strict majority of the K attempts, None until every attempt is scored or the run is
    finished), each attempt with only `passed` and `run_url`."""
    by_case: dict[str, list[tuple[int, bool | None, Any]]] = {key: [] for key in case_keys}
    for key, attempt, passed, trace_id in states:
        by_case.setdefault(key, []).append((attempt, passed, trace_id))
    cases = []
    for key, rows in by_case.items():
        scored = len(rows) == repeat and all(passed is not None for _, passed, _ in rows)
        majority = 2 * sum(bool(passed) for _, passed, _ in rows) > repeat
        attempts = [
            {"attempt": n, "passed": passed, "run_url": link(trace_id.hex) if trace_id else None}
            for n, passed, trace_id in rows
        ]
        cases.append({"case_key": key, "passed": majority if scored or finished else None, "attempts": attempts})
    return cases


def case_passed(cases: list[dict[str, Any]]) -> dict[str, bool | None]:
    return {case["case_key"]: case["passed"] for case in cases}


def _run_link(attempts: list[dict[str, Any]]) -> str | None:
    """The run to look at for a case: its first failing attempt's, else its first attempt's."""
    failing = next((a for a in attempts if a["passed"] is False and a["run_url"]), None)
    first = next((a for a in attempts if a["run_url"]), None)
    chosen = failing or first
    return chosen["run_url"] if chosen else None


def case_rows(
    cases: list[dict[str, Any]],
    *,
    payloads: bool,
    baseline_id: int | None,
    baseline: dict[str, bool | None],
    eval_link: EvalLink,
    failures_only: bool = False,
) -> list[dict[str, Any]]:
    """The eval run page's table: a row per case with its attempts, the first failing assertion of its
    first failing attempt, its run, and the same case in the baseline eval run."""
    rows = []
    for case in cases:
        if failures_only and case["passed"] is not False:
            continue
        attempts = [_attempt_row(a, payloads) for a in case["attempts"]]
        failing = next((a for a in attempts if a["passed"] is False), None)
        key = case["case_key"]
        in_baseline = baseline_id is not None and key in baseline
        rows.append(
            {
                "case_key": key,
                "passed": case["passed"],
                "attempts": attempts,
                "first": attempts[0] if attempts else None,
                "failing": failing,
                "run_url": _run_link(case["attempts"]),
                "baseline_passed": baseline.get(key) if in_baseline else None,
                "baseline_url": eval_link(baseline_id, key) if in_baseline and baseline_id is not None else None,
            }
        )
    return rows


@dataclass(frozen=True)
class CompareRow:
    case_key: str
    change: str  # broke (pass -> fail) | fixed (fail -> pass) | same | only_a | only_b | pending
    a_passed: bool | None
    b_passed: bool | None
    a_run_url: str | None
    b_run_url: str | None
    a_url: str | None
    b_url: str | None


_ORDER = {"broke": 0, "fixed": 1, "pending": 2, "only_a": 3, "only_b": 4, "same": 5}


def _change(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if a is None:
        return "only_b"
    if b is None:
        return "only_a"
    if a["passed"] is None or b["passed"] is None:
        return "pending"
    if a["passed"] and not b["passed"]:
        return "broke"
    if b["passed"] and not a["passed"]:
        return "fixed"
    return "same"


def compare_rows(
    a_id: int, a_cases: list[dict[str, Any]], b_id: int, b_cases: list[dict[str, Any]], eval_link: EvalLink
) -> list[CompareRow]:
    """Cases of two eval runs aligned by key: what broke (passed in A, fails in B) first, then what was
    fixed, then the rest; within each group, in A's order then B's."""
    a_by, b_by = {c["case_key"]: c for c in a_cases}, {c["case_key"]: c for c in b_cases}
    keys = list(a_by) + [k for k in b_by if k not in a_by]
    rows = []
    for key in keys:
        a, b = a_by.get(key), b_by.get(key)
        rows.append(
            CompareRow(
                case_key=key,
                change=_change(a, b),
                a_passed=a["passed"] if a else None,
                b_passed=b["passed"] if b else None,
                a_run_url=_run_link(a["attempts"]) if a else None,
                b_run_url=_run_link(b["attempts"]) if b else None,
                a_url=eval_link(a_id, key) if a else None,
                b_url=eval_link(b_id, key) if b else None,
            )
        )
    order = {key: i for i, key in enumerate(keys)}
    return sorted(rows, key=lambda r: (_ORDER[r.change], order[r.case_key]))
