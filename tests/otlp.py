"""Build OTLP trace requests for tests: protobuf bytes, and OTLP/JSON with hex ids as the spec writes it."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

NS = 1_000_000_000


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def attributes(values: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


@dataclass
class SpanSpec:
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    span_id: bytes = field(default_factory=lambda: os.urandom(8))
    parent: bytes = b""
    start_ns: int = 0
    end_ns: int = 0
    error: str | None = None

    def build(self, trace_id: bytes) -> Span:
        status = Status(code=Status.STATUS_CODE_ERROR, message=self.error) if self.error else Status()
        return Span(
            trace_id=trace_id,
            span_id=self.span_id,
            parent_span_id=self.parent,
            name=self.name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=self.start_ns,
            end_time_unix_nano=self.end_ns,
            attributes=attributes(self.attrs),
            status=status,
        )


@dataclass
class AgentTrace:
    """An agent run: a root `invoke_agent` span, LLM calls and a tool call, with OTel GenAI names."""

    trace_id: bytes = field(default_factory=lambda: os.urandom(16))
    start_ns: int = field(default_factory=lambda: time.time_ns() - 60 * NS)
    agent: str = "support-bot"
    session: str = "session-1"
    user: str = "user-1"
    llm_calls: int = 2
    tool_error: bool = False
    spans: list[SpanSpec] = field(init=False)

    def __post_init__(self) -> None:
        t = self.start_ns
        root = SpanSpec(
            "invoke_agent " + self.agent,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": self.agent,
                "gen_ai.conversation.id": self.session,
                "user.id": self.user,
            },
            start_ns=t,
        )
        self.spans = [root]
        for i in range(self.llm_calls):
            messages = [
                {"role": "system", "parts": [{"type": "text", "content": "You are helpful."}]},
                {"role": "user", "parts": [{"type": "text", "content": f"Where is order {100 + i}?"}]},
            ]
            output = [
                {"role": "assistant", "parts": [{"type": "text", "content": f"Answer {i}"}], "finish_reason": "stop"}
            ]
            self.spans.append(
                SpanSpec(
                    "chat gpt-4o",
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 1000,
                        "gen_ai.usage.output_tokens": 100,
                        "gen_ai.input.messages": json.dumps(messages),
                        "gen_ai.output.messages": json.dumps(output),
                    },
                    parent=root.span_id,
                    start_ns=t + NS,
                    end_ns=t + 2 * NS,
                )
            )
            t += 2 * NS
        self.spans.append(
            SpanSpec(
                "execute_tool lookup_order",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup_order",
                    "gen_ai.tool.call.id": "call_1",
                    "gen_ai.tool.call.arguments": json.dumps({"order": 100}),
                    "gen_ai.tool.call.result": json.dumps({"status": "shipped"}),
                },
                parent=root.span_id,
                start_ns=t + NS,
                end_ns=t + 2 * NS,
                error="lookup failed" if self.tool_error else None,
            )
        )
        root.end_ns = t + 3 * NS

    @property
    def trace_hex(self) -> str:
        return self.trace_id.hex()

    def built(self) -> list[Span]:
        return [s.build(self.trace_id) for s in self.spans]


def request(
    spans: Sequence[Span], resource: Mapping[str, Any] | None = None, scope: str = "tests"
) -> ExportTraceServiceRequest:
    res = resource if resource is not None else {"service.name": "support-bot", "service.version": "1.0.0"}
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=attributes(res)),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=list(spans))],
            )
        ]
    )


def protobuf(spans: Sequence[Span], resource: Mapping[str, Any] | None = None) -> bytes:
    return request(spans, resource).SerializeToString()


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                out[key] = base64.b64decode(value).hex()
            else:
                out[key] = _hex_ids(value)
        return out
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def otlp_json(spans: Sequence[Span], resource: Mapping[str, Any] | None = None) -> bytes:
    """OTLP/JSON as exporters send it: proto3 JSON, but with hex trace and span ids."""
    as_dict = MessageToDict(request(spans, resource), preserving_proto_field_name=False)
    return json.dumps(_hex_ids(as_dict)).encode()
