"""One OTLP trace export, whatever carried it: the part OTLP/HTTP (traces.otlp) and OTLP/gRPC
(traces.otlp_grpc) share, so that both authenticate, decode, store and log a batch the same way.

- `ingest_secret` / `authenticate`: the ingest key from `Authorization: Bearer aok_...` or `x-api-key`
  (HTTP headers and gRPC metadata alike); `Unauthenticated` when it is missing, wrong or revoked,
  `Unavailable` when the database cannot be asked.
- `store`: decode -> normalize -> stage -> store in one transaction (committed on return), with the
  garbage collector paused; `IngestError` when the body cannot be read, `Unavailable` when the database
  cannot take the batch (unreachable, a lock not granted in time, a failed transaction): the batch was
  rolled back whole and the exporter must retry it.
- `log_rejected`: the `ingest.rejected` event of a request refused whole.

Each transport maps these to its own answers (HTTP statuses, gRPC codes) and adds its own limits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from agentops.heap import collections_paused
from agentops.tenancy.selectors import active_ingest_key
from traces.ingest import decode
from traces.ingest.errors import IngestError
from traces.ingest.validate import TimeWindow
from traces.selectors import ingest_config
from traces.services import IngestResult, ingest_batch

log = logging.getLogger("traces.ingest")


class Unauthenticated(Exception):
    """No ingest key, or one that is wrong or revoked; the message says which."""


class Unavailable(Exception):
    """The database could not take the batch; nothing of it was stored. The message says to retry."""


def ingest_secret(authorization: str, api_key: str) -> str:
    """The key of `Authorization: Bearer <key>`, else of `x-api-key`; "" when neither has one."""
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return secret.strip()
    return api_key.strip()


def authenticate(secret: str, **extra: Any) -> int:
    """The id of the project an active ingest key `secret` belongs to; Unavailable when the database
    cannot say (an outage reaches the key lookup first)."""
    if not secret:
        raise Unauthenticated("missing ingest key: send 'Authorization: Bearer <key>'")
    with unavailable_on_database_errors(**extra):
        key = active_ingest_key(secret)
    if key is None:
        raise Unauthenticated("invalid or revoked ingest key")
    return key.project_id


@contextmanager
def unavailable_on_database_errors(**extra: Any) -> Iterator[None]:
    """Database errors inside as Unavailable (logged once, with `extra`): the caller answers 503 or
    UNAVAILABLE and the exporter retries. The other OTLP receivers (/v1/logs) store through it too."""
    try:
        yield
    # The store talks to psycopg directly (COPY), so its errors arrive unwrapped by Django: both kinds.
    except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        log.warning("ingest unavailable", extra={"event": "ingest.unavailable", "error": str(exc), **extra})
        raise Unavailable("the database is unavailable; retry later") from exc
    except (DatabaseError, psycopg.DatabaseError) as exc:
        # e.g. serialization failures or lock timeouts under load: the batch was rolled back whole.
        log.warning("ingest store failed", extra={"event": "ingest.store_failed", "error": str(exc), **extra})
        raise Unavailable("the batch could not be stored; retry later") from exc


def time_window() -> TimeWindow:
    """The span times ingest accepts now (INGEST_MAX_SPAN_AGE_DAYS back, INGEST_MAX_SPAN_AHEAD_SECONDS on)."""
    return TimeWindow.around(
        time.time_ns(),
        settings.INGEST_MAX_SPAN_AGE_DAYS * 86400,
        settings.INGEST_MAX_SPAN_AHEAD_SECONDS,
        "INGEST_MAX_SPAN_AGE_DAYS, INGEST_MAX_SPAN_AHEAD_SECONDS",
    )


def _ingest(body: bytes, media: str, project_id: int) -> IngestResult:
    # Its own function so that the decoded batch is freed on return, while collections are still paused.
    batch = decode.decode_request(body, media, time_window())
    return ingest_batch(config=ingest_config(project_id), batch=batch)


def store(
    body: bytes, media: str, project_id: int, *, started: float, cpu_started: float, **extra: Any
) -> IngestResult:
    """Store a decompressed ExportTraceServiceRequest for a project; logs `ingest.stored` (with `extra`,
    and the wall and CPU milliseconds since `started` / `cpu_started`) once it is committed."""
    with unavailable_on_database_errors(**extra), collections_paused():
        result = _ingest(body, media, project_id)
    log.info(
        "ingest stored",
        extra={
            "event": "ingest.stored",
            "project": project_id,
            "spans": result.received,
            "stored": result.stored,
            "rejected": len(result.rejected),
            "runs": result.runs,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "cpu_ms": round((time.process_time() - cpu_started) * 1000, 1),
            **extra,
        },
    )
    return result


def log_rejected(exc: IngestError, **extra: Any) -> None:
    log.info("ingest rejected", extra={"event": "ingest.rejected", "reason": exc.message, **extra})
