"""The gunicorn worker class of `agentops web`: uvicorn on an event loop, with the head deadline of
protocol.py. gunicorn keeps what it does well (forking, restarting and stopping workers)."""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker

from agentops.server.protocol import DeadlineHttpToolsProtocol


class AgentopsWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "auto",
        "http": DeadlineHttpToolsProtocol,
        # Django's WSGI application has no lifespan events; without this uvicorn logs that at every boot.
        "lifespan": "off",
        "server_header": False,
    }
