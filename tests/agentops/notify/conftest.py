from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agentops.notify.receiver import Receiver, receiver


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings) -> None:
    """The receivers of these tests listen on 127.0.0.1, which channels may not reach by default."""
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r
