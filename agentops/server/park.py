"""Parked requests: long-polls that wait on the event loop, holding neither a thread nor a database
connection, and are woken by PostgreSQL NOTIFY.

A long-poll (today: GET /api/v1/approvals/<id>/?wait=N) goes through Django like any request; when
Django's answer says "park" (the PARK_HEADER; it says so only to the front, which marks the requests it
can park with FRONT_HEADER), the front drops that answer, waits here for a wake-up of the request's key
or the end of the wait, and asks Django again. A thread and a connection are taken only for each short
look, never for the wait; what a waiter holds is its socket and a few objects.

One connection per worker process LISTENs on CHANNEL (agentops.approvals.wakeups sends on it, in the
transaction of the change, so the wake-up arrives once the change is visible). While that connection is
down, missed notifications are covered by waking every waiter when it comes back, and in the meantime
waiters look again every POLL_WHILE_DEAF seconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

CHANNEL = "agentops_wakeups"
FRONT_HEADER = b"x-agentops-front"  # request: the front can park this request
PARK_HEADER = b"x-agentops-park"  # response: park me (only when FRONT_HEADER came)
MAX_WAIT = 60.0
POLL_WHILE_DEAF = 1.0
_RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)

_APPROVAL = re.compile(r"^/api/v1/approvals/(\d+)/$")


def park_key(scope: dict[str, Any] | Any) -> tuple[str, float] | None:
    """(key, seconds) for a request the front may park, else None. A `wait` that is not a number in
    range is left to Django, which answers 400 naming it."""
    if scope["method"] != "GET":
        return None
    match = _APPROVAL.match(scope["path"])
    if match is None:
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("wait")
    if not values:
        return None
    try:
        wait = float(values[-1])
    except ValueError:
        return None
    if not 0 < wait <= MAX_WAIT:
        return None
    return f"approval:{match.group(1)}", wait


class Hub:
    """The waiters of one worker process, by key, and the LISTEN connection that wakes them."""

    def __init__(self, conninfo: Callable[[], dict[str, Any]]) -> None:
        self._conninfo = conninfo
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.listening = False
        # The worker is stopping: waiters are answered now, and nobody parks any more.
        self.closing = False

    @property
    def waiting(self) -> int:
        return sum(len(events) for events in self._waiters.values())

    @contextmanager
    def waiter(self, key: str) -> Iterator[asyncio.Event]:
        """An event set at each wake-up of `key` (and of everyone, after a reconnection)."""
        self._start()
        event = asyncio.Event()
        self._waiters.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiters.get(key)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiters[key]

    def wake(self, key: str) -> None:
        for event in self._waiters.get(key, ()):
            event.set()

    def wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    def close(self) -> None:
        self.closing = True
        self.wake_all()
        if self._task is not None:
            self._task.cancel()

    def _start(self) -> None:
        if self.closing:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="agentops-park-listener")

    async def _listen(self) -> None:
        import psycopg

        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**self._conninfo(), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    failures = 0
                    # Whatever changed while nobody listened: every waiter looks again.
                    self.wake_all()
                    async for notify in conn.notifies():
                        self.wake(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any connection failure: wake everyone, reconnect after a pause
                log.warning("park.listen_failed", extra={"event": "park.listen_failed", "error": str(exc)[:200]})
            self.listening = False
            self.wake_all()
            await asyncio.sleep(_RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)])
            failures += 1


def django_conninfo() -> dict[str, Any]:
    """The connection parameters of Django's default database, as psycopg.connect takes them."""
    from django.db import connection

    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k not in ("cursor_factory", "context", "prepare_threshold")}
