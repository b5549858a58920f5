from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agentops.notify.receiver import Receiver, receiver


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r
