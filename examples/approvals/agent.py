"""A Python agent whose tool call waits for a person's approval in agentops, traced with the
OpenTelemetry Python SDK: the run's spans go to agentops over OTLP/HTTP, and agentops.client ties the
request to the tool call's span (its trace_id and span_id), so the run shows the wait.

    pip install agentops opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8000        # agentops (`agentops up` prints these)
    export OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<ingest key>
    python examples/approvals/agent.py [order] [amount]

(agentops.client needs only the standard library: copying agentops/client/approvals.py next to an agent
works as well.) The approval uses the same endpoint and key unless AGENTOPS_URL and AGENTOPS_INGEST_KEY
say otherwise. Approve, edit or reject it in the inbox; the script prints what happened as JSON and exits
0 when the refund ran, 1 when it was denied (rejected, expired, cancelled: fail closed), 2 on an error.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentops.client import ApprovalDenied, ApprovalError, requires_approval

provider = TracerProvider(
    resource=Resource.create({"service.name": "refund-bot", "agentops.bundle.id": "refund-bot@1"})
)
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("examples.approvals", "0.1")


@requires_approval(risk="high", summary=lambda a: f"Refund {a['amount']} on order {a['order']}")
def refund(order: str, amount: int) -> dict[str, Any]:
    """The risky tool: runs only once approved, with the arguments the reviewer let through."""
    return {"refunded": {"order": order, "amount": amount}}


def main(order: str = "A-100", amount: str = "30") -> int:
    with tracer.start_as_current_span(
        "invoke_agent refund-bot",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "refund-bot"},
    ):
        arguments = {"order": order, "amount": int(amount)}
        with tracer.start_as_current_span(
            "execute_tool refund",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "refund",
                "gen_ai.tool.call.arguments": json.dumps(arguments),
            },
        ) as span:
            context = span.get_span_context()
            ids = {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
            try:
                result = refund(**arguments)
            except ApprovalDenied as denied:
                print(json.dumps({"state": denied.raw.get("state", "timeout"), "error": str(denied), **ids}))
                code = 1
            except ApprovalError as error:
                print(json.dumps({"state": "error", "field": error.field, "error": error.detail, **ids}))
                code = 2
            else:
                span.set_attribute("gen_ai.tool.call.result", json.dumps(result))
                print(json.dumps({"state": "approved", **result, **ids}))
                code = 0
    provider.shutdown()  # exports the run's spans
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
