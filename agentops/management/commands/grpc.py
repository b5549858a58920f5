"""`agentops grpc`: serve OTLP/gRPC trace ingest (TraceService/Export) on port 4317.

Takes --host, --port (default GRPC_PORT, 4317) and --threads; serves in this process until SIGTERM
(graceful: calls in flight finish, up to 10 s, each committed or refused as usual) or SIGINT. Exits
non-zero when the address cannot be bound. Plaintext, like `agentops web`: put TLS in front of both.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Below `agentops up`'s 15 s grace period, as gunicorn's, so a stop never ends in SIGKILL.
GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Serve OTLP/gRPC trace ingest (production gRPC process; `agentops up` runs one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument(
            "--port", type=int, default=settings.GRPC_PORT, help=f"port to listen on (default {settings.GRPC_PORT})"
        )
        parser.add_argument("--threads", type=int, default=4, help="calls served at once (default 4)")

    def handle(self, *args: Any, host: str, port: int, threads: int, **options: Any) -> None:
        from agentops.heap import warm_and_freeze
        from traces.otlp_grpc import make_server

        try:
            server, bound = make_server(host=host, port=port, threads=threads)
        except RuntimeError as exc:
            raise CommandError(f"cannot listen for gRPC on {host}:{port} ({exc}): check --host and --port") from exc
        warm_and_freeze()
        server.start()
        self.stdout.write(f"agentops grpc: OTLP/gRPC on {host}:{bound} ({threads} threads)")
        self.stdout.flush()
        try:
            server.wait_for_termination()
        finally:
            # SIGTERM arrives here as agentops.cli's Terminated, SIGINT as KeyboardInterrupt.
            server.stop(GRACE_SECONDS).wait()
            self.stdout.write("agentops grpc: stopped")
