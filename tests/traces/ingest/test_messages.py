"""The one message shape: Bedrock Converse content blocks (Strands Agents' span events)."""

from __future__ import annotations

from traces.ingest import messages as m


def test_bedrock_blocks_become_parts() -> None:
    message = m.from_openai(
        {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "Need the weather.", "signature": "x"}}},
                {"text": "Let me look."},
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"image": {"format": "png", "source": {"bytes": "iVBO"}}},
            ],
        }
    )
    assert message == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Need the weather."},
                {"type": "text", "content": "Let me look."},
                {"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}},
                {"type": "image", "content": {"format": "png", "source": {"bytes": "iVBO"}}},
            ],
        }
    ]


def test_tool_result_block_is_a_tool_call_response() -> None:
    text = m.bedrock_part({"toolResult": {"toolUseId": "t1", "status": "success", "content": [{"text": '{"a": 1}'}]}})
    assert text == {"type": "tool_call_response", "id": "t1", "response": {"a": 1}}
    failed = m.bedrock_part({"toolResult": {"toolUseId": "t2", "status": "error", "content": [{"text": "boom"}]}})
    assert failed == {"type": "tool_call_response", "id": "t2", "response": "boom", "status": "error"}
    as_json = m.bedrock_part({"toolResult": {"toolUseId": "t3", "content": [{"json": {"b": [1, 2]}}]}})
    assert as_json["response"] == {"b": [1, 2]}


def test_tool_result_content_keeps_what_is_not_blocks() -> None:
    assert m.tool_result_content({"city": "Paris"}) == {"city": "Paris"}
    assert m.tool_result_content([]) == []
    assert m.tool_result_content([1, 2]) == [1, 2]
    mixed = [{"text": "a"}, {"image": {}}]
    assert m.tool_result_content(mixed) == mixed
    assert m.tool_result_content([{"text": "a"}, {"text": "b"}]) == "ab"
    assert m.tool_result_content([{"type": "text", "text": '{"a": 1}'}]) == {"a": 1}  # Anthropic's blocks
    assert m.tool_result_content([{"type": "image", "text": "x"}]) == [{"type": "image", "text": "x"}]
    assert m.tool_result_content([{"json": 1, "x": 2}]) == [{"json": 1, "x": 2}]


def test_gemini_contents() -> None:
    contents = [
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "thinking", "thought": True},
                {"function_call": {"id": "c1", "name": "get_weather", "args": {"city": "Paris"}}},
            ],
        },
        {"role": "user", "parts": [{"function_response": {"id": "c1", "name": "get_weather", "response": {"ok": 1}}}]},
        {"role": "model", "parts": [{"inline_data": {"mime_type": "image/png", "data": "iVBO"}, "text": None}]},
    ]
    assert m.from_gemini(contents) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "thinking"},
                {"type": "tool_call", "id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"ok": 1}}]},
        {
            "role": "assistant",
            "parts": [{"type": "inline_data", "content": {"mime_type": "image/png", "data": "iVBO"}}],
        },
    ]
    assert m.from_gemini({"role": "model", "parts": [{"text": "hi"}]}) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hi"}]}
    ]
    for junk in (None, [], "text", [{"role": "user"}], [{"parts": "x"}], 7):
        assert m.from_gemini(junk) is None
