// A Node.js agent whose tool call waits for a person's approval in agentops, traced with the plain
// OpenTelemetry JS SDK: the run's spans go to agentops over OTLP/HTTP, and the approval request carries
// the trace_id/span_id of the tool call's span, so the reviewer sees it in the run and the run shows
// the wait. The approval API is plain fetch: no agentops package is needed in JavaScript.
//
//   cd examples/approvals && npm ci
//   export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8000            # agentops (`agentops up` prints these)
//   export OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<ingest key>
//   node agent.mjs [order] [amount]
//
// AGENTOPS_URL and AGENTOPS_INGEST_KEY, when set, are used for the approval instead of the OTEL_ ones.
// Then approve or reject it in the inbox (or POST .../decision/). Prints the decision as JSON:
// {"id", "state", "arguments" (to use: the reviewer's edit or the original), "original_arguments",
// "edited", "decisions", "trace_id", "span_id"}. Exits 0 when approved, 1 when not (rejected, expired,
// cancelled: fail closed), 2 when the request could not be made.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { SpanKind, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

const FINAL = new Set(["approved", "rejected", "expired", "cancelled"]);
const RETRY = new Set([429, 500, 502, 503, 504]);

function settings() {
  const url = process.env.AGENTOPS_URL || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || "";
  let key = process.env.AGENTOPS_INGEST_KEY || "";
  for (const pair of (process.env.OTEL_EXPORTER_OTLP_HEADERS || "").split(",")) {
    const [name, ...rest] = pair.split("=");
    const value = decodeURIComponent(rest.join("=")).trim();
    if (!key && name.trim().toLowerCase() === "authorization" && /^bearer /i.test(value)) key = value.slice(7).trim();
  }
  if (!url || !key) {
    console.error("set OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS (or AGENTOPS_URL, AGENTOPS_INGEST_KEY)");
    process.exit(2);
  }
  return { url: url.replace(/\/+$/, ""), key };
}

// One HTTP call: retried on a network error, 429 or 5xx (backoff with jitter, Retry-After honoured);
// any other failure throws with the server's {field, detail}.
async function call(api, method, path, body) {
  for (let attempt = 0; ; attempt++) {
    let wait = Math.random() * Math.min(30_000, 500 * 2 ** attempt);
    try {
      const response = await fetch(api.url + path, {
        method,
        headers: { Authorization: `Bearer ${api.key}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) return answer;
      if (!RETRY.has(response.status) || attempt >= 7) {
        throw Object.assign(new Error(`${method} ${path}: ${response.status} ${answer.field ?? ""} ${answer.detail ?? ""}`), {
          fatal: true,
        });
      }
      const after = Number(response.headers.get("retry-after"));
      if (after > 0) wait = Math.min(after, 120) * 1000;
    } catch (error) {
      if (error.fatal || attempt >= 7) throw error;
    }
    await sleep(wait);
  }
}

// Ask and block until the request is final. One idempotency key for the whole call: a POST retried
// after a lost answer gets the same request back. The GET long-polls (?wait=60); a server that answers
// at once is asked again no more than once a second.
async function requireApproval(api, action, args, options = {}) {
  const context = trace.getActiveSpan()?.spanContext();
  const asked = await call(api, "POST", "/api/v1/approvals/", {
    action,
    arguments: args,
    idempotency_key: `agentops-js-${randomUUID()}`,
    ...(context ? { trace_id: context.traceId, span_id: context.spanId } : {}),
    ...options,
  });
  let found = asked;
  while (!FINAL.has(found.state)) {
    const started = Date.now();
    found = await call(api, "GET", `/api/v1/approvals/${asked.id}/?wait=60`);
    if (!FINAL.has(found.state)) await sleep(Math.max(0, 1000 - (Date.now() - started)));
  }
  return found;
}

const api = settings();
const [order = "A-100", amount = "30"] = process.argv.slice(2);
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "refund-bot-js", "agentops.bundle.id": "refund-bot-js@1" }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
});
provider.register(); // the async context manager: the active span follows the awaits below
const tracer = trace.getTracer("examples.approvals", "0.1");

const args = { order, amount: Number(amount) };
let code = 2;
await tracer.startActiveSpan(
  "invoke_agent refund-bot-js",
  { attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "refund-bot-js" } },
  async (root) => {
    await tracer.startActiveSpan(
      "execute_tool refund",
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          "gen_ai.operation.name": "execute_tool",
          "gen_ai.tool.name": "refund",
          "gen_ai.tool.call.arguments": JSON.stringify(args),
        },
      },
      async (span) => {
        try {
          const decision = await requireApproval(api, "refund", args, {
            summary: `Refund ${args.amount} on order ${order}`,
            risk: "high",
          });
          const approved = decision.state === "approved";
          const toUse = approved ? decision.arguments_to_use : null;
          if (approved) span.setAttribute("gen_ai.tool.call.result", JSON.stringify({ refunded: toUse }));
          const { traceId, spanId } = span.spanContext();
          console.log(
            JSON.stringify({
              id: decision.id,
              state: decision.state,
              arguments: toUse,
              original_arguments: decision.arguments,
              edited: decision.edited,
              decisions: decision.decisions,
              trace_id: traceId,
              span_id: spanId,
            }),
          );
          code = approved ? 0 : 1;
        } catch (error) {
          console.error(String(error));
          span.recordException(error);
        } finally {
          span.end();
        }
      },
    );
    root.end();
  },
);
await provider.shutdown(); // exports the run's spans
process.exit(code);
