"""Ask agentops whether an agent may spend before it does: reserve against its budgets, then commit
what was spent or release the hold.

    from agentops.client import budget, BudgetExceeded
    with budget(customer="acme", agent="support-bot", estimate=0.05) as b:
        answer = call_the_model(...)
        b.actual = answer.cost_usd  # optional: without it the run's traced cost settles it

On enter, `POST /api/v1/budgets/reserve` (agentops.budgets.api) with the scopes given, the estimate
(`estimate` in USD, or `model` + `max_tokens`, priced by agentops), `run_id` (default: the trace of the
current OpenTelemetry span, so a run at its agent's step cap is refused too) and a fresh idempotency
key: a retried POST answers the reservation the server made, never a second one. Not allowed:
BudgetExceeded (its `reason` and `remaining`, per budget), and the block does not run. On a clean exit
the reservation is committed with `b.actual` (or what `b.commit(actual)` sent already); with none, the
run's traced cost settles it. On an exception it is released, and the exception goes on (a release that
fails is left to the reservation's TTL, never raised over it). `async with budget(...)` does the same
with the calls in a thread.

Bad input, a refused key or a server out of reach raise BudgetError (BudgetUnavailable after the
retries). Fail closed: no reservation, no block. Configuration and transport as the approvals client
(agentops.client.transport): `url`/`key`, else AGENTOPS_URL and AGENTOPS_INGEST_KEY, else the OTLP
exporter's settings. Standard library only, no Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from .transport import RETRY_ATTEMPTS, ClientError, Deadline, TimedOut, Transport, configured, trace_context

__all__ = ["BudgetError", "BudgetExceeded", "BudgetReservation", "BudgetUnavailable", "budget"]


class BudgetError(ClientError):
    """The reservation could not be made, committed or released: bad input (`field` names it), a
    refused key, or a server that would not answer. `status` is the HTTP status (None without one)."""


class BudgetUnavailable(BudgetError):
    """The server stayed out of reach (connection errors, 429 or 5xx) through every retry, or past the
    caller's `timeout`."""


class BudgetExceeded(Exception):
    """Not allowed: a hard budget cannot take the amount, or the run is at its step cap. Do not spend.
    `reason` is the server's, `remaining` its [{"budget", "scope", "remaining_usd"}, ...]."""

    def __init__(self, reason: str, *, remaining: list[dict[str, Any]], raw: Mapping[str, Any]):
        super().__init__(reason)
        self.reason = reason
        self.remaining = remaining
        self.raw = dict(raw)


_UNSET: Any = object()
RELEASE_ATTEMPTS = 3  # on the way out of a failed block


class BudgetReservation:
    """One reservation, as a context manager (`with` or `async with`). After enter: `id`, `remaining`
    and `raw` (the reserve's answer). Set `actual` (USD) to commit that amount on exit."""

    def __init__(self, body: dict[str, Any], *, url: str | None, key: str | None, timeout: float | None) -> None:
        self._body = body
        self._url, self._key, self._timeout = url, key, timeout
        self.id: int | None = None
        self.remaining: list[dict[str, Any]] = []
        self.raw: dict[str, Any] = {}
        self.actual: float | None = None
        self.state: str | None = None  # held, then committed or released

    def _transport(self) -> Transport:
        base, secret = configured(self._url, self._key, BudgetError)
        return Transport(base, secret, Deadline(self._timeout), error=BudgetError, unavailable=BudgetUnavailable)

    def _call(
        self, path: str, body: dict[str, Any] | None, *, attempts: int = RETRY_ATTEMPTS
    ) -> tuple[int, dict[str, Any]]:
        try:
            status, answer = self._transport().call("POST", path, body if body is not None else {}, attempts=attempts)
        except TimedOut:
            raise BudgetUnavailable(f"no answer from agentops within {self._timeout} s") from None
        if status == 409:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            raise BudgetError(str(detail or "conflict"), status=409, field=answer.get("field"), body=answer)
        return status, answer

    def reserve(self) -> BudgetReservation:
        _, answer = self._call("/api/v1/budgets/reserve", self._body)
        self.raw, self.remaining = answer, list(answer.get("remaining") or [])
        if not answer.get("allowed"):
            reason = str(answer.get("reason") or "not allowed")
            raise BudgetExceeded(reason, remaining=self.remaining, raw=answer)
        self.id, self.state = int(answer["reservation"]), "held"
        return self

    def commit(self, actual: float | None = _UNSET) -> dict[str, Any]:
        """Commit now with `actual` USD (default: `self.actual`, None: the run's traced cost settles it)."""
        if actual is not _UNSET:
            self.actual = actual
        if self.id is None:
            raise BudgetError("nothing reserved to commit", field="reservation")
        body = {} if self.actual is None else {"actual_usd": self.actual}
        _, answer = self._call(f"/api/v1/budgets/reservations/{self.id}/commit", body)
        self.state = "committed"
        return answer

    def release(self, *, attempts: int = RETRY_ATTEMPTS) -> dict[str, Any]:
        if self.id is None:
            raise BudgetError("nothing reserved to release", field="reservation")
        _, answer = self._call(f"/api/v1/budgets/reservations/{self.id}/release", None, attempts=attempts)
        self.state = "released"
        return answer

    def _exit(self, failed: bool) -> None:
        if self.state != "held":  # committed (or released) in the block already
            return
        if not failed:
            self.commit()
            return
        # A few attempts only, and never raised: the hold ends at its TTL anyway, and the block's own
        # exception is what the caller must see.
        with contextlib.suppress(BudgetError):
            self.release(attempts=RELEASE_ATTEMPTS)

    def __enter__(self) -> BudgetReservation:
        return self.reserve()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._exit(failed=kind is not None)

    async def __aenter__(self) -> BudgetReservation:
        return await asyncio.to_thread(self.reserve)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._exit, kind is not None)


def budget(
    *,
    customer: str | None = None,
    agent: str | None = None,
    session: str | None = None,
    bundle: str | None = None,
    estimate: float | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    input_tokens: int | None = None,
    run_id: str | None = None,
    ttl: int | None = None,
    idempotency_key: str | None = None,
    url: str | None = None,
    key: str | None = None,
    timeout: float | None = None,
) -> BudgetReservation:
    """A reservation to enter: `with budget(customer=..., estimate=0.05) as b:` (see the module).
    Give `estimate` (USD) or `model` and `max_tokens`. `run_id` defaults to the current span's trace;
    `ttl` (seconds) is how long the hold lasts uncommitted (the server's default: 600); `timeout`
    bounds each call on this side."""
    if (estimate is None) == (model is None):
        raise BudgetError("give estimate (USD) or model and max_tokens", field="estimate")
    if model is not None and max_tokens is None:
        raise BudgetError("is required with model", field="max_tokens")
    scope = {"customer": customer, "agent": agent, "session": session, "bundle": bundle}
    body: dict[str, Any] = {
        "scope": {name: value for name, value in scope.items() if value},
        "idempotency_key": idempotency_key or f"agentops-client-{uuid.uuid4().hex}",
    }
    optional = {
        "estimate_usd": estimate,
        "model": model,
        "max_tokens": max_tokens,
        "input_tokens": input_tokens,
        "run_id": run_id or trace_context().get("trace_id"),
        "ttl": ttl,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    return BudgetReservation(body, url=url, key=key, timeout=timeout)
