"""The gate's arithmetic on known data (agentops.goldens.gate): pure, no database."""

from __future__ import annotations

import pytest

from agentops.goldens.gate import (
    AssertionResult,
    Attempt,
    Baseline,
    GateConfigError,
    can_detect,
    case_passes,
    clean_gate,
    decide,
    fisher_p,
    p95,
)

OK = AssertionResult("equals", "passed")


def _attempt(key, passed=True, attempt=1, **kw):
    outcomes = kw.pop("outcomes", None) or (OK if passed else AssertionResult("equals", "failed", reason="no"),)
    return Attempt(key, attempt, outcomes=tuple(outcomes), **kw)


def _run(results, gate=None, repeat=1, **kw):
    """`results` {case_key: passed}: one attempt each."""
    attempts = [_attempt(k, p) for k, p in results.items()]
    return decide(gate or {}, attempts, list(results), repeat, **kw)


def test_by_default_every_case_must_pass_and_the_failing_case_is_named_with_its_assertion_and_run():
    verdict = decide(
        {},
        [
            _attempt("a"),
            Attempt(
                "b",
                1,
                outcomes=(OK, AssertionResult("tools_called", "failed", name="lookup", reason="missing lookup")),
                trace_id="ab" * 16,
            ),
        ],
        ["a", "b"],
        1,
    )
    assert verdict.verdict == "fail"
    assert [r["kind"] for r in verdict.reasons] == ["threshold", "case_failed"]
    case = verdict.reasons[1]
    assert (case["case_key"], case["assertion"], case["trace_id"]) == ("b", "tools_called (lookup)", "ab" * 16)
    assert case["message"] == f"case b: failed; attempt 1: tools_called (lookup) failed (run {'ab' * 16})"
    assert case["detail"] == "missing lookup" and "missing lookup" not in case["message"]
    assert verdict.metrics["task_success"] == 0.5
    assert _run({"a": True, "b": True}).verdict == "pass"


def test_skipped_and_error_outcomes_are_not_passes():
    for status in ("skipped", "error"):
        attempt = Attempt("a", 1, outcomes=(OK, AssertionResult("llm_judge", status)))
        verdict = decide({}, [attempt], ["a"], 1)
        assert verdict.verdict == "fail" and verdict.reasons[1]["assertion"] == "llm_judge"
        assert verdict.metrics["accuracy"] == {"equals": 1.0, "llm_judge": 0.0}


def test_an_attempt_never_scored_fails_its_case():
    assert decide({}, [], ["a"], 1).reasons[1]["message"] == "case a: failed; an attempt has no result"
    unscored = Attempt("a", 1, scored=False, trace_id="cd" * 16)
    assert decide({}, [unscored], ["a"], 1).verdict == "fail"


def test_a_case_passes_by_strict_majority_of_its_k_attempts():
    def attempts(*passed):
        return [_attempt("a", p, attempt=i + 1) for i, p in enumerate(passed)]

    assert case_passes(attempts(True, True, False), 3)
    assert not case_passes(attempts(True, False, False), 3)
    assert not case_passes(attempts(True, False), 2)  # a tie is no majority
    assert not case_passes(attempts(True), 3)  # the two missing attempts count as failed
    assert case_passes(attempts(True, True), 3)
    verdict = decide({}, attempts(False, True, True), ["a"], 3)
    assert verdict.verdict == "pass"
    failed = decide({}, attempts(False, True, False), ["a"], 3)
    assert failed.reasons[1]["message"] == "case a: 1 of 3 attempts passed; attempt 1: equals failed"


def test_thresholds_task_success_accuracy_latency_and_cost():
    results = {"a": True, "b": True, "c": True, "d": False}
    assert _run(results, {"task_success": 0.75}).verdict == "pass"
    missed = _run(results, {"task_success": 0.8})
    assert missed.verdict == "fail"
    assert missed.reasons[0]["message"] == "task_success 0.750 < 0.8: 3 of 4 cases passed"
    assert [r.get("case_key") for r in missed.reasons] == [None, "d"]

    tools = [
        Attempt("a", 1, outcomes=(AssertionResult("tools_called", "passed"),), latency_ms=100.0, cost_usd=0.1),
        Attempt("b", 1, outcomes=(AssertionResult("tools_called", "failed"),), latency_ms=9000.0, cost_usd=0.2),
    ]
    gate = clean_gate({"task_success": 0, "accuracy.tools_called": 0.5, "p95_latency_ms": 9000})
    assert decide(gate, tools, ["a", "b"], 1).verdict == "pass"
    gate = clean_gate({"task_success": 0, "accuracy": {"tools_called": 0.92}, "p95_latency_ms": 8000})
    verdict = decide(gate | {"cost_per_run_usd": 0.12}, tools, ["a", "b"], 1)
    assert [r["message"] for r in verdict.reasons] == [
        "accuracy.tools_called 0.500 < 0.92: 1 of 2 passed",
        "p95_latency_ms 9000 > 8000",
        "cost_per_run_usd 0.1500 > 0.12",
    ]
    absent = decide({"task_success": 0, "accuracy": {"regex": 0.5}}, tools, ["a", "b"], 1)
    assert absent.reasons[0]["message"] == "accuracy.regex: no case of this set version has a regex assertion"


def test_p95_is_a_measured_value_by_nearest_rank():
    assert p95([float(v) for v in range(1, 101)]) == 95.0
    assert p95([5.0, 1.0]) == 5.0 and p95([]) is None


def test_a_case_that_passed_on_the_baseline_and_fails_now_is_a_regression_whatever_the_thresholds():
    keys = [f"c{i}" for i in range(20)]
    baseline = Baseline(7, {k: True for k in keys})
    now = {k: k != "c3" for k in keys}
    verdict = _run(now, {"task_success": 0.5}, baseline=baseline, baseline_wanted="v1")
    assert verdict.verdict == "fail"
    assert [r["kind"] for r in verdict.reasons] == ["flipped"]  # one of 20: not significant for Fisher
    assert verdict.reasons[0]["message"] == "regression against eval run 7: case c3: failed; attempt 1: equals failed"
    assert verdict.metrics["comparison"]["flipped"] == ["c3"]
    assert verdict.metrics["comparison"]["p_value"] == pytest.approx(0.5)


def test_a_significantly_lower_pass_rate_is_a_regression_and_a_small_drop_is_not():
    assert fisher_p(10, 10, 20, 0) < 0.05 < fisher_p(17, 3, 20, 0)
    keys = [f"c{i}" for i in range(20)]
    baseline = Baseline(7, {k: True for k in keys})
    half = _run({k: i % 2 == 0 for i, k in enumerate(keys)}, {"task_success": 0}, baseline=baseline)
    kinds = [r["kind"] for r in half.reasons]
    assert kinds.count("flipped") == 10 and kinds[-1] == "pass_rate"
    assert half.reasons[-1]["message"].startswith("regression against eval run 7: 10 of 20 cases passed, 20 of 20")
    assert half.metrics["comparison"]["p_value"] == pytest.approx(fisher_p(10, 10, 20, 0))
    # The same pass rate as the baseline's is no regression, with a set large enough to tell.
    same = Baseline(7, {k: i % 2 == 0 for i, k in enumerate(keys)})
    assert _run({k: i % 2 == 0 for i, k in enumerate(keys)}, {"task_success": 0.5}, baseline=same).verdict == "pass"


def test_a_sample_too_small_for_fishers_test_is_inconclusive_unless_something_failed():
    assert not can_detect(3, 3, 0) and can_detect(4, 4, 0)
    assert not can_detect(20, 0, 20)  # nothing passed on the baseline: nothing can drop
    small = {"a": True, "b": True, "c": True}
    verdict = _run(small, baseline=Baseline(7, dict(small)))
    assert verdict.verdict == "inconclusive"
    assert verdict.reasons[0]["kind"] == "small_sample" and "eval run 7: 3 cases now" in verdict.reasons[0]["message"]
    flipped = _run(small | {"b": False}, {"task_success": 0}, baseline=Baseline(7, dict(small)))
    assert flipped.verdict == "fail" and [r["kind"] for r in flipped.reasons] == ["flipped", "small_sample"]
    missed = _run(small | {"b": False}, baseline=Baseline(7, small | {"b": False}))
    assert missed.verdict == "fail"  # the default threshold failed first
    assert _run(dict.fromkeys("abcd", True), baseline=Baseline(7, dict.fromkeys("abcd", True))).verdict == "pass"


def test_a_baseline_asked_for_and_not_found_is_inconclusive():
    verdict = _run({"a": True}, baseline=None, baseline_wanted="v1")
    assert verdict.verdict == "inconclusive"
    assert verdict.reasons == [
        {"kind": "no_baseline", "message": "no finished eval of bundle v1 on this set version to compare with"}
    ]
    assert _run({"a": True}).verdict == "pass"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"task_sucess": 0.9}, "gate.task_sucess"),
        ({"task_success": 1.5}, "gate.task_success"),
        ({"task_success": True}, "gate.task_success"),
        ({"p95_latency_ms": -1}, "gate.p95_latency_ms"),
        ({"accuracy.tool_calls": 0.9}, "gate.accuracy.tool_calls"),
        ({"accuracy": {"tools_called": "high"}}, "gate.accuracy.tools_called"),
        ({"accuracy": 0.9}, "gate.accuracy"),
        ([1], "gate"),
    ],
)
def test_a_bad_gate_config_is_refused_naming_the_key(raw, field):
    with pytest.raises(GateConfigError) as caught:
        clean_gate(raw)
    assert caught.value.field == field


def test_the_gate_config_is_canonical():
    raw = {"task_success": 0.9, "accuracy.tools_called": 0.92, "accuracy": {"regex": 1}, "cost_per_run_usd": 0.12}
    assert clean_gate(raw) == {
        "task_success": 0.9,
        "accuracy": {"regex": 1.0, "tools_called": 0.92},
        "cost_per_run_usd": 0.12,
    }
    assert clean_gate(None) == {} == clean_gate({})
