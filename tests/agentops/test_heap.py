"""agentops.heap: a web worker loads genai-prices' snapshot and freezes its startup heap."""

from __future__ import annotations

import gc

from agentops.heap import warm_and_freeze


def test_warm_and_freeze_freezes_what_is_alive_and_collects_young_objects_less_often() -> None:
    gc.unfreeze()
    threshold = gc.get_threshold()
    try:
        warm_and_freeze()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 10_000
    finally:
        gc.unfreeze()  # the test process goes on collecting as usual
        gc.set_threshold(*threshold)
