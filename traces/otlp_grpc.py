"""OTLP/gRPC trace receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

What OTLP/gRPC exporters speak on port 4317 (the OpenTelemetry SDKs with OTEL_EXPORTER_OTLP_PROTOCOL=grpc,
the Collector's `otlp` exporter, Arize Phoenix's register()). A unary call carrying an
ExportTraceServiceRequest (gzip or not: grpc undoes the compression the client names), authenticated
by a project's ingest key in the `authorization` (`Bearer aok_...`) or `x-api-key` metadata, stored
exactly as POST /v1/traces stores it (traces.receive). Answers:
- OK with an ExportTraceServiceResponse once every valid span is committed (never before), with
  partial_success naming the first problem when some spans were rejected;
- INVALID_ARGUMENT for a body that is no ExportTraceServiceRequest, UNAUTHENTICATED for a missing,
  wrong or revoked key, RESOURCE_EXHAUSTED for a message over INGEST_MAX_BODY_BYTES (grpc refuses it
  before it reaches this code, compressed or not, as the max receive message length);
- UNAVAILABLE with a google.rpc.RetryInfo of INGEST_RETRY_AFTER_SECONDS when the database cannot take
  the batch, both in the status details (grpc-status-details-bin, as the OTLP spec says) and as
  `google.rpc.retryinfo-bin` (where the OpenTelemetry Python exporter reads it), so the exporter
  retries and nothing acknowledged is ever lost.

Requests are served by a thread pool; each call opens and closes Django's database connections as a
request does, so a connection broken by an outage is not reused by the next call.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from django.conf import settings
from django.db import close_old_connections
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from traces import receive
from traces.ingest import decode
from traces.ingest.errors import IngestError

log = logging.getLogger("traces.ingest")

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
# The google.rpc.Code of an IngestError, as a grpc status.
_CODES = {code.value[0]: code for code in grpc.StatusCode}


class _Status(grpc.Status):  # grpc.Status: an abstract class whose three attributes are the whole status
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, bytes], ...]):
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def unavailable_status(message: str, retry_after_seconds: int) -> grpc.Status:
    """UNAVAILABLE with a RetryInfo, in the status details and on its own, for every kind of client."""
    retry = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=retry_after_seconds))
    detail = AnyMessage()
    detail.Pack(retry)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    trailers = (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", retry.SerializeToString()),
    )
    return _Status(grpc.StatusCode.UNAVAILABLE, message, trailers)


def _metadata(context: grpc.ServicerContext) -> dict[str, str]:
    # Keys arrive lowercased; a binary (-bin) value is bytes and names no key.
    return {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}


def export(request: bytes, context: grpc.ServicerContext) -> bytes:
    """TraceService/Export: `request` is the serialized ExportTraceServiceRequest, decoded by the same
    protobuf path as OTLP/HTTP's; the answer a serialized ExportTraceServiceResponse."""
    started, cpu_started = time.perf_counter(), time.process_time()
    close_old_connections()
    try:
        metadata = _metadata(context)
        try:
            project_id = receive.authenticate(
                receive.ingest_secret(metadata.get("authorization", ""), metadata.get("x-api-key", "")),
                protocol="grpc",
            )
            result = receive.store(
                request, decode.PROTOBUF, project_id, started=started, cpu_started=cpu_started, protocol="grpc"
            )
            return decode.encode_response(len(result.rejected), result.rejection_message, decode.PROTOBUF)
        # context.abort* raise: each answer below ends the call.
        except receive.Unauthenticated as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except IngestError as exc:
            receive.log_rejected(exc, protocol="grpc", grpc_code=exc.rpc_code)
            context.abort(_CODES.get(exc.rpc_code, grpc.StatusCode.INVALID_ARGUMENT), exc.message)
        except receive.Unavailable as exc:
            context.abort_with_status(unavailable_status(str(exc), settings.INGEST_RETRY_AFTER_SECONDS))
        raise AssertionError("unreachable: grpc's abort raises")
    finally:
        close_old_connections()


def make_server(*, host: str, port: int, threads: int) -> tuple[grpc.Server, int]:
    """A grpc server with the TraceService bound to host:port (0: any free port), not yet started; and
    the port it is bound to. Raises RuntimeError when the address cannot be bound."""
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        # No (de)serializers: the handler gets and returns the raw bytes, which decode.py reads.
        {"Export": grpc.unary_unary_rpc_method_handler(export)},
    )
    limit = settings.INGEST_MAX_BODY_BYTES
    server = grpc.server(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="agentops-grpc"),
        handlers=[handler],
        # The limit applies to the message after decompression (grpc checks it as it inflates), as
        # INGEST_MAX_BODY_BYTES does over HTTP; past it grpc answers RESOURCE_EXHAUSTED itself.
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)],
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if not bound:  # older grpc versions answer 0 instead of raising
        raise RuntimeError(f"Failed to bind to address {address}")
    return server, bound
