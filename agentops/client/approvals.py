"""Ask agentops for a person's approval before a risky action, and block until it is decided.

    from agentops.client import require_approval
    approval = require_approval("refund", {"order": "A-100", "amount": 30}, risk="high")
    refund(**approval.arguments)  # the reviewer's edit, or the arguments as asked

or, on a tool function, `@requires_approval(risk="high")`. Fail closed: `require_approval` returns only
an approval; a rejection, an expiry, a cancel or the caller's `timeout` raise ApprovalDenied (one
subclass each), and bad input, a refused key or a server out of reach raise ApprovalError.

The standard library only (OpenTelemetry when it imports, for the trace context), no Django, no
settings: with agentops/client/transport.py beside it (configuration, trace context, the HTTP call and
its retries, shared with agentops.client.budgets) it can be copied into a project on its own. The server
side is agentops.approvals.api.

Configuration (agentops.client.transport): `url` and `key` arguments, else AGENTOPS_URL and
AGENTOPS_INGEST_KEY, else what an OpenTelemetry exporter pointed at agentops already holds.

Transport: each call has one idempotency key (a fresh one unless given), so retrying the POST after a
dropped connection or a 5xx answers the request the server made, never a second one. Connection errors,
429 and 5xx are retried with capped, jittered exponential backoff (Retry-After honoured); other 4xx
raise at once. The wait is `GET approvals/<id>/?wait=<s>`: a server that long-polls answers on the
decision; one that answers at once is asked again, never more than once a second.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from .transport import CONNECT_MARGIN, ClientError, Deadline, TimedOut, Transport, configured, trace_context

__all__ = [
    "Approval",
    "ApprovalCancelled",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalRejected",
    "ApprovalTimeout",
    "ApprovalUnavailable",
    "require_approval",
    "requires_approval",
]

WAIT_SECONDS = 60  # the longest long-poll the server grants
MIN_POLL_INTERVAL = 1.0  # between the starts of two GETs, whatever the server does with ?wait=
FINAL_STATES = frozenset({"approved", "rejected", "expired", "cancelled"})
_ON_TIMEOUT_CANCEL_SECONDS = 10.0


@dataclass(frozen=True)
class Approval:
    """An approved request. `arguments` are the ones to act on: a reviewer's edit, or the original
    (`original_arguments`, as asked); `edited` says which. `raw` is the server's JSON."""

    id: int
    state: str
    arguments: dict[str, Any]
    original_arguments: dict[str, Any]
    edited: bool
    decisions: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Approval:
        original = body.get("arguments") or {}
        to_use = body.get("arguments_to_use")
        return cls(
            id=int(body["id"]),
            state=str(body["state"]),
            arguments=to_use if isinstance(to_use, dict) else original,
            original_arguments=original,
            edited=bool(body.get("edited")),
            decisions=list(body.get("decisions") or []),
            raw=dict(body),
        )


class ApprovalError(ClientError):
    """The request could not be made or read: bad input (`field` names it), a refused key, an unknown
    request, or a server that would not answer. `status` is the HTTP status (None without one)."""


class ApprovalUnavailable(ApprovalError):
    """The server stayed out of reach (connection errors, 429 or 5xx) through every retry."""


class ApprovalDenied(Exception):
    """Anything but an approval: do not act. `approval_id` and `raw` (the server's JSON, when read)
    say which request and how it ended."""

    def __init__(self, message: str, *, approval_id: int | None = None, raw: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.approval_id = approval_id
        self.raw = dict(raw or {})
        self.decisions: list[dict[str, Any]] = list(self.raw.get("decisions") or [])


class ApprovalRejected(ApprovalDenied):
    """A reviewer rejected it; `comments` are the reviewers' reasons."""

    @property
    def comments(self) -> list[str]:
        return [str(d.get("comment", "")) for d in self.decisions if d.get("decision") == "reject"]


class ApprovalExpired(ApprovalDenied):
    """Nobody decided before it expired (with `on_timeout: escalate`, after the one extension)."""


class ApprovalCancelled(ApprovalDenied):
    """Cancelled by its creator (this key) before a decision."""


class ApprovalTimeout(ApprovalDenied):
    """The caller's own `timeout` ran out first; the request was cancelled (best effort). A denial, not
    an error: an agent that treats every ApprovalDenied as "do not act" stays closed."""


# --- asking and waiting ---------------------------------------------------------------------------


def _denial(body: Mapping[str, Any]) -> ApprovalDenied:
    approval_id = body.get("id")
    state = body.get("state")
    label = f"approval request #{approval_id} ({body.get('action')})"
    if state == "rejected":
        reasons = "; ".join(
            f"{d.get('reviewer')}: {d.get('comment')}"
            for d in body.get("decisions") or []
            if d.get("decision") == "reject"
        )
        return ApprovalRejected(f"{label} was rejected: {reasons}", approval_id=approval_id, raw=body)
    if state == "expired":
        return ApprovalExpired(f"{label} expired before a decision", approval_id=approval_id, raw=body)
    if state == "cancelled":
        return ApprovalCancelled(f"{label} was cancelled", approval_id=approval_id, raw=body)
    return ApprovalDenied(f"{label} is {state!r}, not approved", approval_id=approval_id, raw=body)


def _outcome(body: Mapping[str, Any]) -> Approval:
    if body.get("state") == "approved":
        return Approval.from_json(body)
    raise _denial(body)


def _wait(transport: Transport, approval_id: int) -> dict[str, Any]:
    """The request once final; raises TimedOut when the caller's deadline passes first."""
    path = f"/api/v1/approvals/{approval_id}/"
    last_start = 0.0
    while True:
        since = time.monotonic() - last_start
        if since < MIN_POLL_INTERVAL:
            transport.sleep(MIN_POLL_INTERVAL - since)
        left = transport.deadline.left()
        if left is not None and left <= 0:
            raise TimedOut
        wait = WAIT_SECONDS if left is None else max(1, min(WAIT_SECONDS, int(left)))
        last_start = time.monotonic()
        _, body = transport.call("GET", f"{path}?wait={wait}", read_timeout=wait + CONNECT_MARGIN)
        if body.get("state") in FINAL_STATES:
            return cast(dict[str, Any], body)


def _cancel(transport: Transport, approval_id: int) -> dict[str, Any] | None:
    """Cancel after the caller's timeout (best effort, a few seconds at most): the cancelled request, or
    the request as the server has it when a decision got there first (409); None if unreachable."""
    transport.deadline = Deadline(_ON_TIMEOUT_CANCEL_SECONDS)
    try:
        status, body = transport.call("POST", f"/api/v1/approvals/{approval_id}/cancel/", read_timeout=5, attempts=3)
        if status != 409:
            return cast(dict[str, Any], body)
        _, body = transport.call("GET", f"/api/v1/approvals/{approval_id}/", read_timeout=5, attempts=3)
        return cast(dict[str, Any], body)
    except (ApprovalError, TimedOut):
        return None


def require_approval(
    action: str,
    arguments: Mapping[str, Any],
    *,
    summary: str | None = None,
    risk: str | None = None,
    expires_in: int | None = None,
    on_timeout: str | None = None,
    required_approvals: int | None = None,
    callback_url: str | None = None,
    idempotency_key: str | None = None,
    url: str | None = None,
    key: str | None = None,
    timeout: float | None = None,
) -> Approval:
    """Ask for approval of `action` with `arguments` and block until a decision; return the Approval
    (act on its `arguments`). Raises ApprovalRejected, ApprovalExpired, ApprovalCancelled or
    ApprovalTimeout (all ApprovalDenied) and ApprovalError; never returns without an approval.

    `timeout` (seconds, the whole call) bounds the wait on this side: when it passes, the request is
    cancelled and ApprovalTimeout raised. `expires_in` is the server's expiry of the request itself."""
    deadline = Deadline(timeout)
    base, secret = configured(url, key, ApprovalError)
    body: dict[str, Any] = {
        "action": action,
        "arguments": dict(arguments),
        "idempotency_key": idempotency_key or f"agentops-client-{uuid.uuid4().hex}",
        **trace_context(),
    }
    optional = {
        "summary": summary,
        "risk": risk,
        "expires_in": expires_in,
        "on_timeout": on_timeout,
        "required_approvals": required_approvals,
        "callback_url": callback_url,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ApprovalError(f"must be JSON: {error}", field="arguments") from None
    transport = Transport(base, secret, deadline, error=ApprovalError, unavailable=ApprovalUnavailable)
    try:
        _, created = transport.call("POST", "/api/v1/approvals/", body)
    except TimedOut:
        # Nothing known to cancel: if the server made it, it expires on its own (or is retried with
        # the same idempotency_key).
        raise ApprovalTimeout(f"no answer to the approval request for {action} within {timeout} s") from None
    approval_id = int(created["id"])
    try:
        final = created if created.get("state") in FINAL_STATES else _wait(transport, approval_id)
    except TimedOut:
        found = _cancel(transport, approval_id)
        if found is not None and found.get("state") in FINAL_STATES - {"cancelled"}:
            return _outcome(found)  # decided just before the cancel reached the server
        raise ApprovalTimeout(
            f"approval request #{approval_id} ({action}) was not decided within {timeout} s"
            + ("; cancelled" if found is not None else "; could not cancel it"),
            approval_id=approval_id,
            raw=found,
        ) from None
    return _outcome(final)


# --- the decorator --------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])
_DECORATOR_OPTIONS = frozenset(
    {"expires_in", "on_timeout", "required_approvals", "callback_url", "url", "key", "timeout"}
)


def _bound(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()  # the reviewer sees every value the call will run with
    return bound


def _asked(name: str, bound: inspect.BoundArguments, skip: str | None) -> dict[str, Any]:
    arguments = {k: v for k, v in bound.arguments.items() if k != skip}
    try:
        as_json = json.loads(json.dumps(arguments, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: the arguments of a tool that requires approval must be JSON: {error}") from None
    if as_json != arguments:
        # A tuple, a set, non-string keys: the reviewer would approve something else than what runs.
        raise TypeError(f"{name}: the arguments of a tool that requires approval must be plain JSON values")
    return arguments


def _approved_call(
    name: str, signature: inspect.Signature, bound: inspect.BoundArguments, skip: str | None, approval: Approval
) -> inspect.BoundArguments:
    """The call to make: the one asked, or the reviewer's edit of it, bound to the same signature."""
    asked = {k: v for k, v in bound.arguments.items() if k != skip}
    if approval.arguments == asked:
        return bound
    unknown = sorted(set(approval.arguments) - set(signature.parameters) - {skip})
    if unknown:
        raise ApprovalError(
            f"the approved arguments name {unknown[0]!r}, which {name} does not take", field="arguments"
        )
    values = {skip: bound.arguments[skip]} if skip else {}
    values.update(approval.arguments)
    edited = inspect.BoundArguments(signature, {p: values[p] for p in signature.parameters if p in values})  # type: ignore[arg-type]
    try:
        signature.bind(*edited.args, **edited.kwargs)
    except TypeError as error:
        raise ApprovalError(f"the approved arguments do not fit {name}: {error}", field="arguments") from None
    return edited


def requires_approval(
    action: str | Callable[..., Any] | None = None,
    *,
    risk: str | None = None,
    summary: str | Callable[[dict[str, Any]], str] | None = None,
    **options: Any,
) -> Any:
    """Decorate a tool function: each call asks for approval of `action` (default: the function's
    name) with the call's arguments by name (JSON values only, else TypeError before asking), then runs
    the function with the approved arguments (a reviewer's edit, if any). Denials raise as with
    require_approval and the function does not run. `summary` is a string or a function of the
    arguments; `options` are require_approval's (expires_in, on_timeout, required_approvals,
    callback_url, url, key, timeout). On an `async def` function the wait runs in a thread. A first
    parameter named self or cls is passed through and not asked about."""
    unknown = sorted(set(options) - _DECORATOR_OPTIONS)
    if unknown:
        raise TypeError(f"requires_approval() got an unexpected option {unknown[0]!r}")

    def decorate(function: F) -> F:
        name = action if isinstance(action, str) else function.__name__
        signature = inspect.signature(function)
        first = next(iter(signature.parameters), None)
        skip = first if first in ("self", "cls") else None

        def ask(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[], inspect.BoundArguments]:
            bound = _bound(signature, args, kwargs)
            arguments = _asked(name, bound, skip)
            text = summary(arguments) if callable(summary) else summary

            def wait() -> inspect.BoundArguments:
                approval = require_approval(name, arguments, summary=text, risk=risk, **options)
                return _approved_call(name, signature, bound, skip, approval)

            return wait

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                # to_thread copies the context: the current span still ties the request to the run.
                call = await asyncio.to_thread(ask(args, kwargs))
                return await function(*call.args, **call.kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call = ask(args, kwargs)()
            return function(*call.args, **call.kwargs)

        return cast(F, wrapper)

    if callable(action):
        return decorate(action)  # @requires_approval without parentheses
    return decorate
