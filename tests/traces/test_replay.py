"""The replay page's pure functions: tree order, loops, context, waterfall, divergence. No database."""

from __future__ import annotations

from typing import Any

from traces import replay
from traces.presenters import step_tree

T0 = "2026-01-01T00:00:00+00:00"


def step(span: str, name: str, kind: str = "SPAN", parent: str | None = None, **extra: Any) -> dict[str, Any]:
    data = {
        "span_id": span,
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "start_time": extra.pop("start", T0),
        "duration_ms": extra.pop("duration_ms", 10.0),
        "status": extra.pop("status", "ok"),
    }
    return data | extra


def agent_loop(rounds: int) -> list[dict[str, Any]]:
    steps = [step("r", "agent", "AGENT")]
    for i in range(rounds):
        steps.append(step(f"l{i}", "chat", "LLM", "r"))
        steps.append(step(f"t{i}", "execute_tool search", "TOOL", "r"))
    steps.append(step("final", "chat", "LLM", "r"))
    return steps


# --- tree order ---


def test_tree_order_is_depth_first_with_depths():
    steps = [
        step("a", "root"),
        step("b", "child", parent="a"),
        step("c", "grandchild", parent="b"),
        step("d", "child2", parent="a"),
    ]
    order = replay.tree_order(step_tree(steps))
    assert [(s["span_id"], d) for s, d in order] == [("a", 0), ("b", 1), ("c", 2), ("d", 1)]


def test_tree_order_survives_a_very_deep_tree():
    steps = [step("s0", "n")] + [step(f"s{i}", "n", parent=f"s{i - 1}") for i in range(1, 3000)]
    rows, order = replay.tree_rows(step_tree(steps))
    assert len(order) == 3000
    assert rows[-1].depth == 2999


# --- loops ---


def sig(*names: str) -> list[dict[str, Any]]:
    return [step(str(i), n) for i, n in enumerate(names)]


def test_a_repeated_pair_is_one_loop():
    loops = replay.find_loops(sig("llm", "tool", "llm", "tool", "llm", "tool"))
    assert loops == [replay.Loop(start=0, period=2, times=3)]


def test_a_loop_after_a_prefix_and_before_a_tail():
    loops = replay.find_loops(sig("plan", "llm", "tool", "llm", "tool", "answer"))
    assert loops == [replay.Loop(start=1, period=2, times=2)]


def test_the_shortest_period_wins_a_tie():
    assert replay.find_loops(sig("a", "a", "a", "a")) == [replay.Loop(0, 1, 4)]


def test_no_repeat_no_loop():
    assert replay.find_loops(sig("a", "b", "c", "a", "b")) == []


def test_kind_is_part_of_the_signature():
    steps = [step("1", "x", "LLM"), step("2", "x", "TOOL")]
    assert replay.find_loops(steps) == []


def test_tree_rows_group_a_loop_under_one_header():
    rows, order = replay.tree_rows(step_tree(agent_loop(50)))
    headers = [r for r in rows if r.step is None]
    assert len(headers) == 1
    header = headers[0]
    assert header.loop_times == 50
    assert header.loop_label == "chat → execute_tool search"
    members = [r for r in rows if header.toggles in r.groups]
    assert len(members) == 100
    # The last chat is not part of the loop: it is not followed by a tool call.
    assert header.toggles not in rows[-1].groups
    assert len(order) == 102
    assert [r.index for r in rows if r.step is not None] == list(range(102))


def test_children_are_in_their_parents_group():
    rows, _ = replay.tree_rows(step_tree([step("a", "root"), step("b", "child", parent="a")]))
    assert rows[0].toggles == "n0"
    assert rows[1].groups == ["n0"]


def test_a_loop_with_an_error_is_marked():
    steps = agent_loop(3)
    steps[4]["status"] = "error"
    rows, _ = replay.tree_rows(step_tree(steps))
    assert [r.loop_error for r in rows if r.step is None] == [True]


def test_first_error():
    steps = agent_loop(3)
    assert replay.first_error(steps) is None
    steps[5]["status"] = "error"
    assert replay.first_error(steps) == 5


def test_first_error_is_the_deepest_first_failing_step_not_the_parents_that_inherited_it():
    # root > a > (b, c > d): a, c and d failed; the root too, as agents do when a tool fails.
    steps = [
        step("r", "root"),
        step("a", "plan", parent="r"),
        step("b", "ok", parent="a"),
        step("c", "call", parent="a"),
        step("d", "tool", parent="c"),
        step("e", "later", parent="r"),
    ]
    for failed in (0, 1, 3, 4, 5):
        steps[failed]["status"] = "error"
    _, order = replay.tree_rows(step_tree(steps))
    found = replay.first_error(order)
    assert found is not None and order[found]["name"] == "tool"
    # Only the root failed: the root it is.
    for s in steps:
        s["status"] = "ok"
    steps[0]["status"] = "error"
    _, order = replay.tree_rows(step_tree(steps))
    assert replay.first_error(order) == 0


# --- context ---


def msg(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def conversation_run() -> list[dict[str, Any]]:
    return [
        step("r", "agent", "AGENT", input=[msg("user", "hi")]),
        step(
            "l1",
            "chat",
            "LLM",
            "r",
            input=[msg("system", "S"), msg("user", "U")],
            output=[msg("assistant", "call tool")],
        ),
        step("t1", "execute_tool a", "TOOL", "r", tool_name="a", tool_call_id="c1", input={"q": 1}, output={"r": 1}),
        step("t2", "execute_tool b", "TOOL", "r", tool_name="b", tool_call_id="c2", input={"q": 2}, output={"r": 2}),
        step(
            "l2",
            "chat",
            "LLM",
            "r",
            input=[msg("system", "S"), msg("user", "U"), msg("assistant", "call tool"), msg("tool", "r1")],
            output=[msg("assistant", "done")],
        ),
    ]


def texts(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    out = []
    for m in messages:
        part = m["parts"][0]
        out.append((m["role"], part.get("content", part.get("response"))))
    return out


def test_no_context_before_the_first_llm_step():
    assert replay.context_at(conversation_run(), 0) == []
    assert replay.context_span(conversation_run(), 0) == []


def test_at_an_llm_step_the_context_is_what_the_model_saw():
    steps = conversation_run()
    assert texts(replay.context_at(steps, 1)) == [("system", "S"), ("user", "U")]
    assert replay.context_span(steps, 1) == [1]


def test_after_an_llm_step_its_output_and_the_tool_results_since_accumulate():
    steps = conversation_run()
    # At the first tool: the model's input and answer; its own result is not known yet.
    assert texts(replay.context_at(steps, 2)) == [("system", "S"), ("user", "U"), ("assistant", "call tool")]
    # At the second tool: the first tool's result has come back.
    at_t2 = replay.context_at(steps, 3)
    assert texts(at_t2)[-1] == ("tool", {"r": 1})
    assert at_t2[-1]["name"] == "a" and at_t2[-1]["parts"][0]["id"] == "c1" and at_t2[-1]["step"] == 2
    assert replay.context_span(steps, 3) == [1, 2]


def test_a_later_llm_step_starts_the_context_over():
    steps = conversation_run()
    assert [m["step"] for m in replay.context_at(steps, 4)] == [4, 4, 4, 4]


def test_tool_results_in_a_context_are_capped():
    steps = [step("l", "chat", "LLM", input=[msg("user", "go")])]
    steps += [step(f"t{i}", "tool", "TOOL", output=i) for i in range(replay.MAX_CONTEXT_TOOL_RESULTS + 10)]
    span = replay.context_span(steps, len(steps) - 1)
    assert len(span) == 1 + replay.MAX_CONTEXT_TOOL_RESULTS
    assert span[-1] == len(steps) - 2


def test_payloads_that_are_not_messages_add_nothing():
    steps = [step("l", "chat", "LLM", input={"prompt": "raw"}, output="text")]
    assert replay.context_at(steps, 0) == []


# --- waterfall ---


def test_waterfall_bars_start_at_their_offset_and_errors_are_red():
    steps = [
        step("a", "root", "AGENT", duration_ms=3000.0),
        step("b", "chat", "LLM", start="2026-01-01T00:00:01.500000+00:00", duration_ms=500.0),
        step("c", "tool", "TOOL", start="2026-01-01T00:00:02+00:00", duration_ms=None, status="error"),
    ]
    figure = replay.waterfall_figure(steps, T0)
    bar = figure["data"][0]
    assert bar["base"] == [0.0, 1500.0, 2000.0]
    assert bar["x"] == [3000.0, 500.0, 0.0]
    assert bar["y"] == [1, 2, 3]  # numbered as the step counter counts
    assert bar["marker"]["color"] == [replay.KIND_COLOURS["AGENT"], replay.KIND_COLOURS["LLM"], replay.ERROR_COLOUR]
    assert figure["layout"]["yaxis"]["autorange"] == "reversed"


# --- compare ---


def divergence(a, b, payloads: bool = False) -> int | None:
    return replay.first_divergence(replay.compare_rows(a, b, payloads=payloads))


def test_identical_runs_do_not_diverge():
    rows = replay.compare_rows(agent_loop(2), agent_loop(2), payloads=True)
    assert replay.first_divergence(rows) is None and replay.first_payload_difference(rows) is None
    assert all(r.same_shape and not r.differs for r in rows)


def test_runs_diverge_at_the_first_different_step():
    a, b = agent_loop(2), agent_loop(2)
    b[3] = step("x", "execute_tool other", "TOOL", "r")
    assert divergence(a, b) == 3


def test_a_prefix_diverges_where_it_ends():
    # [agent, chat, tool, chat] and [agent, chat, tool, chat, tool, chat]: the same up to the 4th step.
    assert divergence(agent_loop(1), agent_loop(2)) == 4
    assert divergence(agent_loop(1)[:3], agent_loop(1)) == 3


def test_different_tool_arguments_are_a_diff_in_their_row_not_a_divergence():
    a, b = agent_loop(1), agent_loop(1)
    a[2]["input"], b[2]["input"] = {"q": "cats", "n": 1}, {"q": "dogs", "n": 1}
    a[2]["output"] = b[2]["output"] = {"hits": 3}
    rows = replay.compare_rows(a, b, payloads=True)
    assert replay.first_divergence(rows) is None
    assert replay.first_payload_difference(rows) == 2
    assert ("-", '  "q": "cats",') in rows[2].diff and ("+", '  "q": "dogs",') in rows[2].diff
    assert (" ", '  "n": 1') in rows[2].diff
    # Without the payload permission nothing is diffed.
    assert not any(r.differs for r in replay.compare_rows(a, b, payloads=False))


def test_a_different_tool_after_a_tool_with_different_arguments_is_the_divergence():
    """The issue's case: the arguments of the first tool differ (a value both cells do not show), then run B
    calls another tool. The divergence is the other tool, and the first tool's row shows its diff."""
    a = agent_loop(2)  # agent, chat, search, chat, search, chat
    b = [*agent_loop(2)[:4], step("x", "execute_tool refund", "TOOL", "r", tool_name="refund"), a[5]]
    a[2]["input"], b[2]["input"] = {"order": 1}, {"order": 2}
    rows = replay.compare_rows(a, b, payloads=True)
    assert replay.first_divergence(rows) == 4
    assert (rows[4].left or {}).get("name") == "execute_tool search"
    assert (rows[4].right or {}).get("name") == "execute_tool refund"
    assert rows[2].same_shape and rows[2].differs


def test_an_inserted_step_is_a_gap_and_the_rest_stays_aligned():
    a = agent_loop(2)  # agent, chat, tool, chat, tool, chat
    b = [*a[:3], step("g", "guard", "GUARDRAIL", "r"), *a[3:]]
    rows = replay.compare_rows(a, b, payloads=False)
    assert len(rows) == 7
    assert rows[3].left is None and (rows[3].right or {}).get("name") == "guard"
    assert [r.same_shape for r in rows] == [True, True, True, False, True, True, True]
    assert divergence(a, b) == 3
    # And removed: the gap is on the other side.
    rows = replay.compare_rows(b, a, payloads=False)
    assert rows[3].right is None and (rows[3].left or {}).get("name") == "guard"


def test_different_models_diverge():
    a, b = agent_loop(1), agent_loop(1)
    a[1]["model"], b[1]["model"] = "gpt-4o", "gpt-4o-mini"
    assert divergence(a, b) == 1


def test_a_long_run_against_a_very_different_one_is_paired_by_position():
    a = [step(f"a{i}", f"n{i}") for i in range(replay.MAX_ALIGNED + 5)]
    b = [step(f"b{i}", f"m{i}") for i in range(3)]
    rows = replay.compare_rows(a, b, payloads=False)
    assert len(rows) == len(a) and rows[0].right is b[0] and rows[3].right is None


# --- presentation ---


def test_conversation_prepares_every_part():
    messages: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "checking"},
                {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"order": 7}},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"ok": True}}]},
    ]
    shown = replay.conversation(messages)
    assert shown[0]["parts"][0]["pretty"] == "checking"
    assert shown[0]["parts"][1]["pretty"] == '{\n  "order": 7\n}'
    assert shown[1]["parts"][0]["pretty"] == '{\n  "ok": true\n}'


def test_exceptions_come_from_exception_events_only():
    events = [
        {"name": "log", "attributes": {}},
        {
            "name": "exception",
            "attributes": {"exception.type": "KeyError", "exception.message": "x", "exception.stacktrace": "tb"},
        },
    ]
    assert replay.exceptions(events) == [{"type": "KeyError", "message": "x", "stacktrace": "tb"}]
    assert replay.exceptions(None) == []


# --- tree html ---


def test_tree_html_escapes_every_value_and_carries_the_players_attributes():
    steps = [
        step("a", "<script>alert(1)</script>", "AGENT"),
        step("b", 'tool "x"', "TOOL", "a", tool_name="<b>t</b>", status="error", error="<img src=x>"),
    ]
    rows, _ = replay.tree_rows(step_tree(steps))
    out = replay.tree_html(rows)
    assert "<script>" not in out and "<b>t</b>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert 'data-index="1" data-span="b" data-groups="n0"' in out
    assert "is-error" in out and 'data-toggle="n0"' in out


def test_tree_html_of_a_loop_header():
    rows, _ = replay.tree_rows(step_tree(agent_loop(3)))
    out = replay.tree_html(rows)
    assert 'class="row loop" data-groups="n0" data-loop="l1"' in out
    assert "&times; 3" in out


def test_tree_rows_number_steps_in_tree_order():
    steps = [*agent_loop(4), step("x", "nested", parent="l1"), step("y", "nested", parent="l1")]
    _, order = replay.tree_rows(step_tree([dict(s) for s in steps]))
    expected = [s["span_id"] for s, _ in replay.tree_order(step_tree([dict(s) for s in steps]))]
    assert [s["span_id"] for s in order] == expected
    assert expected.index("x") == expected.index("l1") + 1


def test_clip_cuts_long_values_and_says_how_much_is_left():
    assert replay.clip("abc", 5) == ("abc", 0)
    assert replay.clip("abcdefg", 5) == ("abcde", 2)
    assert replay.clip("abcdefg", None) == ("abcdefg", 0)
    parts = replay.conversation([msg("user", "x" * 30)], limit=10)[0]["parts"]
    assert (parts[0]["pretty"], parts[0]["more"]) == ("x" * 10, 20)
