"""uvicorn's HTTP protocol with a deadline for a request's head.

uvicorn closes a kept-alive connection that stays idle, but a client that opens a connection, or starts a
request, and sends its headers slowly (or stops half-way) is kept open for ever. On an event loop such a
client costs no thread, but each one holds a file descriptor and a slot of the worker's connection limit:
enough of them and nobody else gets in. Each request's head must now arrive whole within
WEB_HEADER_TIMEOUT_SECONDS, counted from the connection (or from the end of the previous response); a late one
gets 408 and the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout: float = settings.WEB_HEADER_TIMEOUT_SECONDS
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request on this connection gets its own deadline. uvicorn's keep-alive timeout also
        # runs until its first byte; this one runs on after it, to the end of its head.
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served: its head arrived (pipelined requests wait their turn)
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"connection: close\r\ncontent-length: 40\r\n\r\nrequest headers did not arrive in time.\n"
        )
        self.transport.close()
