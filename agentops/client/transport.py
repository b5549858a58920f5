"""What the HTTP-only clients share (agentops.client.approvals, agentops.client.budgets): where the
server is and which key to send, the current trace, and one JSON call with retries.

Standard library only (OpenTelemetry when it imports, for the trace context), no Django, no settings:
the client folder can be copied into a project on its own.

Configuration: `url` and `key` arguments, else AGENTOPS_URL and AGENTOPS_INGEST_KEY, else what an
OpenTelemetry exporter pointed at agentops already holds (OTEL_EXPORTER_OTLP_ENDPOINT, and the
`Authorization=Bearer <key>` of OTEL_EXPORTER_OTLP_HEADERS).

Transport: connection errors, 429 and 5xx are retried with capped, jittered exponential backoff
(Retry-After honoured); other 4xx raise at once, and a 409 is returned for the caller to read. A POST is
safe to retry only when its body carries an idempotency key: each client's calls do. Redirects are not
followed (urllib would replay a POST as a GET and send the key wherever the Location points).
Each client raises its own errors: the transport is given the classes to raise.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

RETRY_ATTEMPTS = 8  # per HTTP call: about two minutes of outage at the backoff below
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0
CONNECT_MARGIN = 30.0  # socket timeout (beyond a long-poll's own wait)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ClientError(Exception):
    """The call could not be made or read: bad input (`field` names it), a refused key, an unknown
    object, or a server that would not answer. `status` is the HTTP status (None without one)."""

    def __init__(self, detail: str, *, status: int | None = None, field: str | None = None, body: Any = None):
        super().__init__(f"{field}: {detail}" if field else detail)
        self.detail = detail
        self.status = status
        self.field = field
        self.body = body


# --- configuration --------------------------------------------------------------------------------


def key_from_otel_headers(raw: str) -> str:
    """The bearer key of OTEL_EXPORTER_OTLP_HEADERS ("k1=v1,k2=v2", values URL-encoded)."""
    for pair in raw.split(","):
        name, _, value = pair.partition("=")
        value = urllib.parse.unquote(value).strip()
        if name.strip().lower() == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip()
        if name.strip().lower() == "x-api-key" and value:
            return value
    return ""


def configured(url: str | None, key: str | None, error: type[ClientError]) -> tuple[str, str]:
    """(base URL, ingest key) from the arguments or the environment; raises `error` naming what is missing."""
    # An OTLP/gRPC endpoint is another port than the web's: only an HTTP exporter's settings name the API.
    otel = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip().lower() != "grpc"
    url = url or os.environ.get("AGENTOPS_URL") or (otel and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")) or ""
    key = (
        key
        or os.environ.get("AGENTOPS_INGEST_KEY")
        or (otel and key_from_otel_headers(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")))
        or ""
    )
    if not url:
        raise error("no agentops URL: pass url= or set AGENTOPS_URL", field="url")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise error(f"must be an http or https URL, not {url!r}", field="url")
    if not key:
        raise error("no ingest key: pass key= or set AGENTOPS_INGEST_KEY", field="key")
    return url.rstrip("/"), key


def trace_context() -> dict[str, str]:
    """trace_id/span_id (hex) of the current OpenTelemetry span, when OpenTelemetry is there and a
    valid span is current; nothing otherwise (the call is then tied to no run)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    try:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return {}
        return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
    except Exception:
        # A broken tracing setup must not stop the call from being made.
        return {}


# --- transport ------------------------------------------------------------------------------------


class Deadline:
    def __init__(self, seconds: float | None) -> None:
        self.end = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float | None:
        return None if self.end is None else self.end - time.monotonic()

    def passed(self) -> bool:
        left = self.left()
        return left is not None and left <= 0


class TimedOut(Exception):
    """The caller's deadline passed during a call (each client turns it into its own error)."""


def _retry_after(headers: Any) -> float | None:
    value = (headers.get("Retry-After") or "").strip() if headers is not None else ""
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    return None


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None


def _failure(status: int, body: Any, headers: Any, error: type[ClientError]) -> ClientError:
    if 300 <= status < 400:
        location = headers.get("Location") if headers is not None else None
        return error(f"the server redirected to {location!r}: set the agentops URL to that address", status=status)
    if isinstance(body, dict):
        detail = str(body.get("detail") or body)
        return error(detail, status=status, field=body.get("field"), body=body)
    return error(f"the server answered {status}", status=status, body=body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class Transport:
    """JSON calls to one agentops server with one key. `error` is raised for what retrying cannot
    mend, `unavailable` (a subclass of it) when the retries ran out."""

    def __init__(
        self,
        url: str,
        key: str,
        deadline: Deadline,
        *,
        error: type[ClientError] = ClientError,
        unavailable: type[ClientError] = ClientError,
    ) -> None:
        self.url = url
        self.key = key
        self.deadline = deadline
        self.error = error
        self.unavailable = unavailable

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        read_timeout: float = CONNECT_MARGIN,
        attempts: int = RETRY_ATTEMPTS,
        honour_deadline: bool = True,
    ) -> tuple[int, Any]:
        """(status, decoded JSON) of a 2xx answer or a 409; retries what may pass (see the module
        docstring); raises `error` for the rest, TimedOut when the caller's deadline passes."""
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        last: str = ""
        for attempt in range(attempts):
            if honour_deadline and self.deadline.passed():
                raise TimedOut
            request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
            wait: float | None = None
            try:
                with _opener.open(request, timeout=read_timeout) as response:
                    status, raw = response.status, response.read()
                decoded = _decoded(raw)
                if not isinstance(decoded, dict):
                    raise self.error(f"the server answered {status} without a JSON object", status=status)
                return status, decoded
            except urllib.error.HTTPError as error:
                raw_error = error.read()
                if error.code == 409:
                    return 409, _decoded(raw_error)
                if error.code not in RETRY_STATUSES:
                    raise _failure(error.code, _decoded(raw_error), error.headers, self.error) from None
                last = f"{method} {path}: {error.code}"
                wait = _retry_after(error.headers)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
                last = f"{method} {path}: {error}"
            if attempt + 1 < attempts:
                pause = wait if wait is not None else random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
                self.sleep(pause, honour_deadline)
        raise self.unavailable(f"no answer after {attempts} attempts (last: {last})")

    def sleep(self, seconds: float, honour_deadline: bool = True) -> None:
        left = self.deadline.left() if honour_deadline else None
        if left is not None and left < seconds:
            time.sleep(max(left, 0))
            raise TimedOut
        time.sleep(seconds)
