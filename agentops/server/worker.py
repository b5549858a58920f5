"""The gunicorn worker class of `agentops web`: uvicorn on an event loop, with the head deadline of
protocol.py. gunicorn keeps what it does well (forking, restarting and stopping workers)."""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from agentops.server.protocol import DeadlineHttpToolsProtocol


class _Server(Server):
    async def shutdown(self, sockets: Any = None) -> None:
        # Long-polls parked in the front would hold the stop until gunicorn's graceful timeout and then
        # be cut: answer them now (their state as it is; an agent asks again, of another worker).
        hub = getattr(self.config.app, "hub", None)
        if hub is not None:
            hub.close()
        await super().shutdown(sockets)


class AgentopsWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "auto",
        "http": DeadlineHttpToolsProtocol,
        # Django's WSGI application has no lifespan events; without this uvicorn logs that at every boot.
        "lifespan": "off",
        "server_header": False,
    }

    async def _serve(self) -> None:
        # UvicornWorker._serve with the Server above.
        self.config.app = self.wsgi
        server = _Server(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
