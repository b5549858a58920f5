"""The shop agent of the golden sets end-to-end test (test_goldens_e2e.py), as a process: it reads its
input as JSON on stdin (a question, or the messages a golden case took from a production run), "calls"
a tool in a span (the first argument, default lookup_order), and prints its answer. With `fail` as the
second argument the tool fails, as it did in production. Traces go out through the real OpenTelemetry
SDK and OTLP/HTTP exporter, configured by the environment (OTEL_EXPORTER_OTLP_*, and the
OTEL_RESOURCE_ATTRIBUTES that `agentops eval` sets)."""

import json
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode


def question_of(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("question", ""))
    if isinstance(value, list):  # messages: the last user text
        texts = [
            part.get("content", "")
            for message in value
            if isinstance(message, dict) and message.get("role") == "user"
            for part in message.get("parts") or []
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        return str(texts[-1]) if texts else ""
    return str(value)


tool = sys.argv[1] if len(sys.argv) > 1 else "lookup_order"
fail = len(sys.argv) > 2 and sys.argv[2] == "fail"
question = question_of(json.load(sys.stdin))
messages = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
provider = TracerProvider(resource=Resource.create({"service.name": "shop-bot"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("shop-bot")
answer = "shipped"
with tracer.start_as_current_span(
    "invoke_agent shop-bot",
    attributes={
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "shop-bot",
        "gen_ai.input.messages": json.dumps(messages),
    },
) as root:
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.arguments": json.dumps({"question": question}),
    }
    with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attributes) as span:
        if fail:
            span.set_status(Status(StatusCode.ERROR, "order service timed out"))
            root.set_status(Status(StatusCode.ERROR, "tool failed"))
            answer = "sorry, try again later"
provider.shutdown()  # flushes the batch before the process exits
print(answer)
