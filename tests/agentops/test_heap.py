"""agentops.heap: a web worker loads genai-prices' snapshot and freezes its startup heap."""

from __future__ import annotations

import gc

from agentops.heap import warm_and_freeze


def test_warm_and_freeze_freezes_what_is_alive() -> None:
    gc.unfreeze()
    try:
        warm_and_freeze()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test process goes on collecting as usual
