"""The ASGI front of `agentops web` (agentops.server.front), driven through ASGI calls on an event loop.

The application behind it is a small ASGI app of the test's own that records what reached it and can
be held busy, so that each test decides exactly how many requests are in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from agentops.server.front import Front, Limits, Message, Receive, Scope, Send, Slots
from agentops.server.park import FRONT_HEADER, PARK_HEADER, Hub

LIMITS = Limits(
    slots=2,
    queue=2,
    queue_timeout=0.3,
    body_timeout=1.0,
    body_idle_timeout=0.3,
    max_body_bytes=1000,
    max_inflight_body_bytes=1500,
    retry_after=7,
)


class App:
    """Answers 200 with the body it read; while `gate` is unset, requests wait inside it (busy)."""

    def __init__(self) -> None:
        self.seen: list[tuple[Scope, bytes]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.inside = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        try:
            message = await receive()
            self.seen.append((scope, message["body"]))
            await self.gate.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": message["body"]})
        finally:
            self.inside -= 1


def scope(path: str = "/v1/traces", method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {"type": "http", "path": path, "method": method, "headers": headers or []}


def sized(n: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(n).encode())]


class Client:
    """One request: the pieces of its body as the client sends them (None: the client stops sending)."""

    def __init__(self, *pieces: bytes | None, gap: float = 0.0) -> None:
        self.pieces = list(pieces)
        self.gap = gap
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if not self.pieces:
            await asyncio.sleep(3600)  # a client that has sent everything waits for the answer
        piece = self.pieces.pop(0)
        if piece is None:
            await asyncio.sleep(3600)
        if self.gap:
            await asyncio.sleep(self.gap)
        self.received += 1
        return {"type": "http.request", "body": piece, "more_body": bool(self.pieces)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)

    def header(self, name: bytes) -> bytes | None:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"]).get(name)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def call(front: Front, client: Client, request: Scope) -> None:
    await front(request, client.receive, client.send)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    # On a thread of its own: another test's library may have left an event loop running on this one
    # (asyncio.run refuses to start inside it).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(test(), 10)).result()


def test_healthz_is_answered_by_the_front_itself() -> None:
    async def test() -> None:
        app = App()
        client = Client()
        await call(Front(app, LIMITS), client, scope("/healthz", "GET"))
        assert client.status == 200
        assert client.body == b'{"status": "ok"}'
        assert client.header(b"cache-control") == b"no-store"
        assert app.seen == []

    run(test)


def test_a_chunked_body_reaches_the_app_whole_with_its_length() -> None:
    async def test() -> None:
        app = App()
        client = Client(b"abc", b"def", b"g")
        chunked = scope(headers=[(b"transfer-encoding", b"chunked"), (b"content-type", b"x")])
        await call(Front(app, LIMITS), client, chunked)
        assert client.status == 200
        ((seen_scope, body),) = app.seen
        assert body == b"abcdefg"
        assert (b"content-length", b"7") in seen_scope["headers"]
        assert not any(name == b"transfer-encoding" for name, _ in seen_scope["headers"])
        assert (b"content-type", b"x") in seen_scope["headers"]

    run(test)


def test_a_declared_body_past_the_limit_is_refused_unread() -> None:
    async def test() -> None:
        app = App()
        client = Client(b"x" * 1001)
        await call(Front(app, LIMITS), client, scope(headers=sized(1001)))
        assert client.status == 413
        assert client.header(b"connection") == b"close"
        assert client.received == 0
        assert app.seen == []

    run(test)


def test_a_chunked_body_past_the_limit_is_refused_at_the_limit() -> None:
    async def test() -> None:
        app = App()
        client = Client(b"x" * 600, b"x" * 600, b"never read")
        await call(Front(app, LIMITS), client, scope())
        assert client.status == 413
        assert client.received == 2
        assert app.seen == []

    run(test)


def test_a_body_that_stops_coming_is_answered_408() -> None:
    async def test() -> None:
        app = App()
        client = Client(b"half", None)
        started = asyncio.get_running_loop().time()
        await call(Front(app, LIMITS), client, scope(headers=sized(8)))
        assert client.status == 408
        assert client.header(b"connection") == b"close"
        assert 0.3 <= asyncio.get_running_loop().time() - started < 1.0  # the idle timeout, not more
        assert app.seen == []

    run(test)


def test_a_body_that_never_starts_is_answered_408() -> None:
    async def test() -> None:
        app = App()
        client = Client(None)  # the head came, not a byte of its body
        started = asyncio.get_running_loop().time()
        await call(Front(app, LIMITS), client, scope(headers=sized(8)))
        assert client.status == 408
        assert 0.3 <= asyncio.get_running_loop().time() - started < 1.0
        assert app.seen == []

    run(test)


def test_a_body_that_drips_is_answered_408_at_the_overall_deadline() -> None:
    async def test() -> None:
        app = App()
        # Each piece within the idle timeout (0.2 < 0.3 s), all of them past the body deadline (1 s).
        client = Client(*[b"x"] * 20, gap=0.2)
        started = asyncio.get_running_loop().time()
        await call(Front(app, LIMITS), client, scope(headers=sized(20)))
        assert client.status == 408
        assert 1.0 <= asyncio.get_running_loop().time() - started < 1.5
        assert app.seen == []

    run(test)


def test_a_page_gets_the_thread_that_ingest_may_not_take() -> None:
    async def test() -> None:
        app = App()
        app.gate.clear()
        front = Front(app, LIMITS)
        first = asyncio.create_task(call(front, Client(b"a"), scope(headers=sized(1))))
        await asyncio.sleep(0.05)
        assert app.inside == 1
        # Ingest may hold 1 of the 2 slots: a second export waits, a page goes straight in.
        second_export = Client(b"b")
        second = asyncio.create_task(call(front, second_export, scope(headers=sized(1))))
        page = Client(b"")
        page_task = asyncio.create_task(call(front, page, scope("/p/x/runs/", "GET")))
        await asyncio.sleep(0.05)
        assert app.inside == 2
        assert [s["path"] for s, _ in app.seen] == ["/v1/traces", "/p/x/runs/"]
        app.gate.set()
        await asyncio.gather(first, second, page_task)
        assert second_export.status == 200
        assert page.status == 200

    run(test)


def test_a_request_that_waits_past_the_queue_timeout_is_shed_with_retry_after() -> None:
    async def test() -> None:
        app = App()
        app.gate.clear()
        front = Front(app, LIMITS)
        busy = asyncio.create_task(call(front, Client(b"a"), scope(headers=sized(1))))
        await asyncio.sleep(0.05)
        waiting = Client(b"b")
        started = asyncio.get_running_loop().time()
        await call(front, waiting, scope(headers=sized(1)))
        assert waiting.status == 503
        assert waiting.header(b"retry-after") == b"7"
        assert 0.3 <= asyncio.get_running_loop().time() - started < 1.0
        assert [body for _, body in app.seen] == [b"a"]
        app.gate.set()
        await busy

    run(test)


def test_with_the_queue_full_a_request_is_shed_at_once_after_its_body_is_read() -> None:
    async def test() -> None:
        app = App()
        app.gate.clear()
        front = Front(app, LIMITS)
        tasks = [asyncio.create_task(call(front, Client(b"a"), scope(headers=sized(1)))) for _ in range(3)]
        await asyncio.sleep(0.05)  # one in the app, two in the queue (its size)
        assert app.inside == 1
        late = Client(b"x" * 10, b"y" * 10)
        started = asyncio.get_running_loop().time()
        await call(front, late, scope(headers=sized(20)))
        assert late.status == 503
        assert late.header(b"retry-after") == b"7"
        # The whole body was read (and dropped), so the client sees the answer, not a reset connection.
        assert late.received == 2
        assert asyncio.get_running_loop().time() - started < 0.2
        app.gate.set()
        await asyncio.gather(*tasks)

    run(test)


def test_bodies_held_at_once_stay_within_the_budget() -> None:
    async def test() -> None:
        app = App()
        app.gate.clear()
        front = Front(app, LIMITS)
        first = asyncio.create_task(call(front, Client(b"a" * 900), scope(headers=sized(900))))
        await asyncio.sleep(0.05)
        assert front.budget.used == 900
        # 900 + 700 > 1,500: refused, although a slot is free for it.
        second = Client(b"b" * 700)
        await call(front, second, scope("/api/v1/x/", headers=sized(700)))
        assert second.status == 503
        assert second.header(b"retry-after") == b"7"
        # A chunked body is counted as it arrives.
        third = Client(b"c" * 500, b"c" * 500)
        await call(front, third, scope("/api/v1/x/"))
        assert third.status == 503
        app.gate.set()
        await first
        assert front.budget.used == 0

    run(test)


def test_one_body_alone_is_admitted_whatever_the_budget() -> None:
    async def test() -> None:
        app = App()
        tight = Limits(**{**LIMITS.__dict__, "max_inflight_body_bytes": 10})
        client = Client(b"z" * 900)
        await call(Front(app, tight), client, scope(headers=sized(900)))
        assert client.status == 200

    run(test)


def test_a_client_that_leaves_mid_body_gets_nothing_and_gives_its_budget_back() -> None:
    async def test() -> None:
        app = App()
        front = Front(app, LIMITS)
        sent: list[Message] = []
        messages: list[Message] = [
            {"type": "http.request", "body": b"x" * 100, "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> Message:
            return messages.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        await front(scope(), receive, send)
        assert sent == []
        assert app.seen == []
        assert front.budget.used == 0
        assert front.slots.busy == 0

    run(test)


@pytest.mark.parametrize("ingest", [True, False])
def test_slots_stay_counted_right_when_waiters_give_up_or_are_cancelled(ingest: bool) -> None:
    async def test() -> None:
        slots = Slots(slots=2, queue=4)
        assert await slots.acquire(ingest, 0.1)
        if not ingest:
            assert await slots.acquire(ingest, 0.1)
        assert not await slots.acquire(ingest, 0.05)  # timed out
        cancelled = asyncio.create_task(slots.acquire(ingest, 5))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        waiter = asyncio.create_task(slots.acquire(ingest, 5))
        await asyncio.sleep(0.01)
        slots.release(ingest)  # handed to the waiter
        assert await waiter
        slots.release(ingest)
        if not ingest:
            slots.release(ingest)
        assert (slots.busy, slots.busy_ingest) == (0, 0)

    run(test)


# Long-polls (agentops.server.park): the front parks a request while the application says so.


class QuietHub(Hub):
    """A hub without its LISTEN connection: the test wakes waiters itself."""

    def __init__(self, listening: bool = True) -> None:
        super().__init__(lambda: {})
        self.listening = listening

    def _start(self) -> None:
        pass


class Approvals:
    """Answers an approval's state; "park" while it is pending and the front asked for it."""

    def __init__(self) -> None:
        self.state = "pending"
        self.looks = 0
        self.fronted: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.looks += 1
        await receive()
        fronted = (FRONT_HEADER, b"park") in scope["headers"]
        self.fronted.append(fronted)
        headers = [(PARK_HEADER, b"1")] if fronted and self.state == "pending" else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.state.encode()})


def poll(wait: str = "5", path: str = "/api/v1/approvals/7/") -> Scope:
    return {**scope(path, "GET"), "query_string": f"wait={wait}".encode()}


def test_a_long_poll_waits_without_a_slot_and_answers_when_woken() -> None:
    async def test() -> None:
        app, hub = Approvals(), QuietHub()
        front = Front(app, LIMITS, hub=hub)
        waiters = [Client(b"") for _ in range(5)]  # more than slots + queue: none holds a slot
        tasks = [asyncio.create_task(call(front, c, poll())) for c in waiters]
        await asyncio.sleep(0.05)
        assert app.looks == 5 and front.slots.busy == 0 and hub.waiting == 5
        # Another request still gets a slot at once.
        page = Client(b"")
        await call(front, page, scope("/p/x/", "GET"))
        assert page.status == 200
        app.state = "approved"
        hub.wake("approval:7")
        await asyncio.gather(*tasks)
        assert [c.body for c in waiters] == [b"approved"] * 5
        assert all(c.header(PARK_HEADER) is None for c in waiters)
        assert hub.waiting == 0

    run(test)


def test_a_wake_up_for_another_request_changes_nothing() -> None:
    async def test() -> None:
        app, hub = Approvals(), QuietHub()
        client = Client(b"")
        task = asyncio.create_task(call(Front(app, LIMITS, hub=hub), client, poll("0.3")))
        await asyncio.sleep(0.05)
        hub.wake("approval:8")
        await task
        # The wait ran out: one look at the start, one at the end, and the pending answer.
        assert app.looks == 2 and client.body == b"pending" and client.header(PARK_HEADER) is None

    run(test)


def test_a_wake_up_during_a_look_is_not_lost() -> None:
    async def test() -> None:
        hub = QuietHub()

        class DecidedWhileLooking(Approvals):
            async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
                if self.looks == 0:
                    # The decision commits (and notifies) after this look read "pending".
                    asyncio.get_running_loop().call_soon(self.decide)
                await super().__call__(scope, receive, send)

            def decide(self) -> None:
                self.state = "rejected"
                hub.wake("approval:7")

        app = DecidedWhileLooking()
        client = Client(b"")
        await call(Front(app, LIMITS, hub=hub), client, poll("5"))
        assert client.body == b"rejected" and app.looks == 2

    run(test)


def test_while_the_hub_cannot_listen_waiters_look_again_every_second() -> None:
    async def test() -> None:
        app, hub = Approvals(), QuietHub(listening=False)
        client = Client(b"")
        task = asyncio.create_task(call(Front(app, LIMITS, hub=hub), client, poll("5")))
        await asyncio.sleep(0.1)
        app.state = "expired"  # nobody wakes it
        await task
        assert client.body == b"expired" and app.looks == 2

    run(test)


def test_a_waiter_that_leaves_is_forgotten() -> None:
    async def test() -> None:
        app, hub = Approvals(), QuietHub()

        class Leaves(Client):
            async def receive(self) -> Message:
                if self.received:
                    await asyncio.sleep(0.05)
                    return {"type": "http.disconnect"}
                return await super().receive()

        client = Leaves(b"")
        await call(Front(app, LIMITS, hub=hub), client, poll("5"))
        assert client.sent == [] and hub.waiting == 0 and app.looks == 1

    run(test)


@pytest.mark.parametrize(
    "request_",
    [poll("0"), poll("61"), poll("soon"), poll("5", "/api/v1/approvals/7/cancel/"), {**poll(), "method": "POST"}],
    ids=["zero", "too-long", "not-a-number", "other-path", "post"],
)
def test_only_a_get_of_an_approval_with_a_wait_in_range_is_parked(request_: Scope) -> None:
    async def test() -> None:
        app, hub = Approvals(), QuietHub()
        client = Client(b"")
        await call(Front(app, LIMITS, hub=hub), client, request_)
        assert app.fronted == [False] and client.body == b"pending"

    run(test)


def test_a_client_cannot_pretend_to_be_the_front() -> None:
    async def test() -> None:
        app = Approvals()
        client = Client(b"")
        await call(Front(app, LIMITS), client, {**scope("/api/v1/approvals/7/", "GET", [(FRONT_HEADER, b"park")])})
        assert app.fronted == [False] and client.header(PARK_HEADER) is None

    run(test)


def test_a_stopping_worker_answers_its_waiters_at_once() -> None:
    async def test() -> None:
        app, hub = Approvals(), QuietHub()
        front = Front(app, LIMITS, hub=hub)
        client = Client(b"")
        task = asyncio.create_task(call(front, client, poll("60")))
        await asyncio.sleep(0.05)
        hub.close()
        await task
        assert client.body == b"pending" and app.looks == 2
        # And a long-poll that comes now is answered without parking.
        late = Client(b"")
        await call(front, late, poll("60"))
        assert late.body == b"pending" and app.looks == 3

    run(test)
