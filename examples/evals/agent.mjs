// A Node.js agent for `agentops eval`: reads a golden case's input as JSON on stdin, "looks the order up"
// with a tool, prints its answer on stdout. Traced with the plain OpenTelemetry JS SDK, exported over
// OTLP/HTTP (JSON): `agentops eval` sets OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS (the
// ingest key), and OTEL_RESOURCE_ATTRIBUTES tagging the run with the eval run, case, attempt and bundle,
// which this agent merges into its resource (envDetector). No agentops package is needed in JavaScript.
//
//   cd examples/evals && npm ci
//   agentops eval --project shop --set smoke --bundle js-1 --cmd "node examples/evals/agent.mjs"
//
// EVAL_AGENT_REGRESS makes it regress, as a bad change to an agent would:
//   wrong_tool    calls cancel_order instead of lookup_order
//   extra_tool    calls lookup_order, then cancel_order
//   missing_tool  answers without calling any tool
//   wrong_output  calls lookup_order but answers "lost"
import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

const MODES = new Set(["", "wrong_tool", "extra_tool", "missing_tool", "wrong_output"]);
const regress = process.env.EVAL_AGENT_REGRESS || "";
if (!MODES.has(regress)) {
  console.error(`EVAL_AGENT_REGRESS: one of ${[...MODES].filter(Boolean).join(", ")}`);
  process.exit(2);
}

async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "null");
}

// The environment's attributes (the eval's tags) win over the agent's own defaults.
const resource = resourceFromAttributes({ "service.name": "order-bot-js" }).merge(
  detectResources({ detectors: [envDetector] }),
);
const provider = new NodeTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
});
// Registers the async-local context manager too: without it, startActiveSpan's span is not the parent of
// the spans opened inside its callback, and each tool call would be a trace of its own.
provider.register();
const tracer = trace.getTracer("order-bot-js");

function tool(name, args) {
  const attributes = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": name,
    "gen_ai.tool.call.arguments": JSON.stringify(args),
  };
  return tracer.startActiveSpan(`execute_tool ${name}`, { attributes }, async (span) => {
    // A tool's I/O takes time, as a real one's does: two calls made in the same instant would have no
    // order in the trace for the tools_called assertion to check.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const result = name === "lookup_order" ? { status: "shipped" } : { status: "cancelled" };
    span.setAttribute("gen_ai.tool.call.result", JSON.stringify(result));
    span.end();
  });
}

const input = await stdin();
const question = input && typeof input === "object" ? String(input.question ?? "") : String(input ?? "");
const agentAttributes = { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "order-bot-js" };
// Each regression breaks one thing only: the answer stays "shipped" unless the output is what regresses.
const answer = await tracer.startActiveSpan("invoke_agent order-bot-js", { attributes: agentAttributes }, async (span) => {
  if (regress === "wrong_tool") await tool("cancel_order", { q: question });
  else if (regress !== "missing_tool") await tool("lookup_order", { q: question });
  if (regress === "extra_tool") await tool("cancel_order", { q: question });
  span.end();
  return regress === "wrong_output" ? "lost" : "shipped";
});
console.log(answer);
// Exports the run's spans before the process exits; an agentops out of reach costs the trace, not the answer.
await provider.shutdown().catch((error) => console.error(`traces not exported: ${error.message}`));
