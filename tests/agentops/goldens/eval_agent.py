"""A tiny agent for `agentops eval` tests: reads a case's input on stdin, "calls" a tool (the first
argument, default lookup_order) in a span, prints its answer; traces go out through the real OTel SDK
exporter configured by the environment `agentops eval` sets (OTEL_EXPORTER_OTLP_*, OTEL_RESOURCE_ATTRIBUTES)."""

import json
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tool = sys.argv[1] if len(sys.argv) > 1 else "lookup_order"
question = json.load(sys.stdin)["question"]
provider = TracerProvider(resource=Resource.create({"service.name": "eval-test-agent"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("eval-test-agent")
with tracer.start_as_current_span(
    "invoke_agent shop-bot", attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "shop-bot"}
):
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.arguments": json.dumps({"q": question}),
    }
    with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attributes):
        pass
provider.shutdown()  # flushes the batch before the process exits
print("shipped")
