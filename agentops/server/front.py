"""The ASGI front of `agentops web`: what happens to a request before a thread is given to it.

A thread is given to a request only once its whole body has arrived, and only while the server can still
answer in time:
- /healthz is answered here, on the event loop: a load balancer's probe never waits behind the load.
- The body is read here within deadlines (`body_idle_timeout` between two pieces, `body_timeout` in all;
  408 past either) and within the worker's body budget: the bytes of all bodies being read or served
  at once stay under `max_inflight_body_bytes` (503 past it), so concurrent large exports cannot take
  the worker's memory; a body past `max_body_bytes` is refused (413) before it is read.
- Requests then take one of `slots` threads. Ingest (/v1/...) may hold all but one of them, so that pages
  and the API still answer while exporters saturate the server. A request that finds no free slot waits
  in a bounded queue for at most `queue_timeout`; past it, or with the queue full, it is answered 503
  with Retry-After at once: work the server could not do in time is refused, never done for a client
  that has given up and will send it again.
- Long-polls (park.py) wait here, on the event loop, between short looks through Django: a waiting
  client holds no thread and no database connection, so a few hundred of them cost sockets, not slots.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from agentops.server.park import FRONT_HEADER, PARK_HEADER, POLL_WHILE_DEAF, Hub, park_key

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (status, message, scope) -> (content type, body): lets /v1/ answers keep their OTLP shape.
ErrorBody = Callable[[int, str, Scope], tuple[str, bytes]]

INGEST_PREFIX = "/v1/"
# How long a parked request, woken, waits for a thread to look again (it is already admitted: the
# queue's bound and short timeout are for new work, not for a look it was promised).
PARKED_SLOT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Limits:
    slots: int
    queue: int
    queue_timeout: float
    body_timeout: float
    body_idle_timeout: float
    max_body_bytes: int
    max_inflight_body_bytes: int
    retry_after: int


class Slots:
    """At most `slots` requests in the application at once, ingest at most `slots - 1` (when more than
    one), the others waiting first come first served in a queue of at most `queue`."""

    def __init__(self, slots: int, queue: int) -> None:
        self.slots = slots
        self.ingest_slots = max(1, slots - 1)
        self.queue = queue
        self.busy = 0
        self.busy_ingest = 0
        self._waiters: collections.deque[tuple[asyncio.Future[None], bool]] = collections.deque()

    def _can_take(self, ingest: bool) -> bool:
        return self.busy < self.slots and (not ingest or self.busy_ingest < self.ingest_slots)

    def _take(self, ingest: bool) -> None:
        self.busy += 1
        self.busy_ingest += ingest

    async def acquire(self, ingest: bool, timeout: float, *, bounded: bool = True) -> bool:
        # Straight in when a slot is free for it and no one before it could take that slot (an export held
        # back by the ingest cap does not hold back a page).
        if self._can_take(ingest) and not any(self._can_take(i) for w, i in self._waiters if not w.done()):
            self._take(ingest)
            return True
        if bounded and len(self._waiters) >= self.queue:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (waiter, ingest)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except TimeoutError:
            # The slot may have been handed over in the same turn of the loop as the timeout.
            return waiter.done() and not waiter.cancelled()
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(ingest)
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):  # already handed a slot and removed by release()
                self._waiters.remove(entry)

    def queue_full(self, ingest: bool) -> bool:
        """Whether a request that came now would find neither a free slot nor room in the queue."""
        return len(self._waiters) >= self.queue and not self._can_take(ingest)

    def release(self, ingest: bool) -> None:
        self.busy -= 1
        self.busy_ingest -= ingest
        # Hand the free slot to the first waiter that may take it: an ingest request held back by the
        # ingest cap does not block a page request behind it.
        for entry in list(self._waiters):
            if self.busy >= self.slots:
                break
            waiter, waiter_ingest = entry
            if waiter.done():
                continue
            if self._can_take(waiter_ingest):
                self._take(waiter_ingest)
                waiter.set_result(None)
                self._waiters.remove(entry)


class Budget:
    """Bytes of request bodies held at once. One body alone is always admitted (up to the body limit):
    otherwise a body larger than the budget could never be sent."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used and self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used -= size


class Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class ClientGone(Exception):
    pass


def _plain_error(status: int, message: str, scope: Scope) -> tuple[str, bytes]:
    return "text/plain; charset=utf-8", message.encode() + b"\n"


class Front:
    def __init__(
        self, app: ASGIApp, limits: Limits, error_body: ErrorBody = _plain_error, hub: Hub | None = None
    ) -> None:
        self.app = app
        self.limits = limits
        self.error_body = error_body
        self.hub = hub
        self.slots = Slots(limits.slots, limits.queue)
        self.budget = Budget(limits.max_inflight_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
            await self._healthz(scope, send)
            return
        ingest = scope["path"].startswith(INGEST_PREFIX)
        held = _Held(self.budget)
        try:
            body = await self._admit_body(scope, receive, held, ingest)
            parked = park_key(scope) if self.hub is not None else None
            if parked is not None:
                await self._serve_parked(scope, receive, send, body, *parked)
                return
            if not await self.slots.acquire(ingest, self.limits.queue_timeout):
                raise Refused(503, "agentops is at capacity: retry later", self.limits.retry_after)
            try:
                await self.app(_with_length(scope, len(body)), _replay(body, receive), send)
            finally:
                self.slots.release(ingest)
        except Refused as refused:
            await self._refuse(scope, send, refused)
        except ClientGone:
            pass
        finally:
            held.give_back()

    async def _serve_parked(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, key: str, wait: float
    ) -> None:
        """Look through Django; while it answers "park" and the wait lasts, wait for a wake-up of `key`
        (or the client leaving) and look again. The answer sent is always the last look's."""
        assert self.hub is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        # The only reader of `receive` from here on: after the body, all that can come is a disconnect.
        gone = asyncio.ensure_future(receive())
        try:
            with self.hub.waiter(key) as woken:
                while True:
                    # Cleared before the look: a wake-up during it is kept and ends the next wait at once.
                    woken.clear()
                    messages = await self._look(scope, body, gone)
                    remaining = deadline - loop.time()
                    if not _parks(messages) or remaining <= 0 or self.hub.closing:
                        break
                    step = remaining if self.hub.listening else min(remaining, POLL_WHILE_DEAF)
                    wake = asyncio.ensure_future(woken.wait())
                    try:
                        await asyncio.wait({wake, gone}, timeout=step, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        wake.cancel()
                    if gone.done():
                        raise ClientGone
        finally:
            if not gone.done():
                gone.cancel()
        for message in messages:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [(n, v) for n, v in message["headers"] if n.lower() != PARK_HEADER]}
            await send(message)

    async def _look(self, scope: Scope, body: bytes, gone: asyncio.Future[Message]) -> list[Message]:
        """One pass of the request through the application, its answer kept rather than sent."""
        if not await self.slots.acquire(False, max(self.limits.queue_timeout, PARKED_SLOT_TIMEOUT), bounded=False):
            raise Refused(503, "agentops is at capacity: retry later", self.limits.retry_after)
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await asyncio.shield(gone)

        headers = [*_with_length(scope, len(body))["headers"], (FRONT_HEADER, b"park")]
        try:
            await self.app({**scope, "headers": headers}, replay, keep)
        finally:
            self.slots.release(False)
        return answer

    async def _admit_body(self, scope: Scope, receive: Receive, held: _Held, ingest: bool) -> bytes:
        """The whole body, or Refused. A request refused for load has its body read and dropped first:
        a client still sending would otherwise see a broken connection instead of the 503 and its
        Retry-After (an exporter that sees those waits as told; one that sees a reset retries at once)."""
        limits = self.limits
        declared = _content_length(scope)
        if declared is not None and declared > limits.max_body_bytes:
            raise Refused(413, f"request body is larger than {limits.max_body_bytes} bytes")
        if self.slots.queue_full(ingest):
            await self._read(receive, keep=False)
            raise Refused(503, "agentops is at capacity: retry later", limits.retry_after)
        if declared is not None and not held.take(declared):
            await self._read(receive, keep=False)
            raise Refused(503, "agentops is reading too many large bodies: retry later", limits.retry_after)
        return await self._read(receive, keep=True, held=None if declared is not None else held)

    async def _read(self, receive: Receive, *, keep: bool, held: _Held | None = None) -> bytes:
        """Read the body to its end within the deadlines and the size limit; keep it, or drop it as it
        comes. `held`: take each piece from the budget as it arrives (a body without a declared length)."""
        limits = self.limits
        chunks: list[bytes] = []
        total = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.body_timeout
        try:
            # One timer for the whole body, moved on at each piece (no task per piece, as wait_for makes).
            async with asyncio.timeout_at(min(loop.time() + limits.body_idle_timeout, deadline)) as timer:
                while True:
                    message = await receive()
                    timer.reschedule(min(loop.time() + limits.body_idle_timeout, deadline))
                    if message["type"] == "http.disconnect":
                        raise ClientGone
                    chunk = message.get("body", b"")
                    if chunk:
                        total += len(chunk)
                        if total > limits.max_body_bytes:
                            raise Refused(413, f"request body is larger than {limits.max_body_bytes} bytes")
                        if held is not None and not held.take(len(chunk)):
                            raise Refused(
                                503, "agentops is reading too many large bodies: retry later", limits.retry_after
                            )
                        if keep:
                            chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise Refused(408, "the request body did not arrive in time") from None

    async def _healthz(self, scope: Scope, send: Send) -> None:
        body = b'{"status": "ok"}'
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        await _respond(send, 200, headers, b"" if scope["method"] == "HEAD" else body)

    async def _refuse(self, scope: Scope, send: Send, refused: Refused) -> None:
        content_type, body = self.error_body(refused.status, refused.message, scope)
        headers = [(b"content-type", content_type.encode("latin-1")), (b"cache-control", b"no-store")]
        if refused.retry_after is not None:
            headers.append((b"retry-after", str(refused.retry_after).encode()))
        if refused.status in (408, 413):
            # The rest of the body may still be on its way: the connection cannot be reused.
            headers.append((b"connection", b"close"))
        await _respond(send, refused.status, headers, body)


class _Held:
    """The bytes one request holds of the budget, given back once whatever happens."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.size = 0

    def take(self, size: int) -> bool:
        if not self.budget.take(size):
            return False
        self.size += size
        return True

    def give_back(self) -> None:
        self.budget.give_back(self.size)
        self.size = 0


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser refuses such a request before it gets here
    return None


def _parks(messages: list[Message]) -> bool:
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    return start is not None and any(n.lower() == PARK_HEADER for n, _ in start.get("headers", ()))


def _with_length(scope: Scope, length: int) -> Scope:
    """The scope as Django will see it: the body is whole now, so it has a length and no chunking; and
    no client says it is the front (only _look does)."""
    dropped = (b"content-length", b"transfer-encoding", FRONT_HEADER)
    headers = [(n, v) for n, v in scope["headers"] if n not in dropped]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # only a disconnect can come now

    return replay


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
