"""agentops.heap: a web worker loads genai-prices' snapshot and freezes its startup heap; ingest pauses
collections while it builds and frees a batch."""

from __future__ import annotations

import gc

import pytest

from agentops.heap import collections_paused, warm_and_freeze


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


@pytest.mark.parametrize("enabled", [True, False])
def test_collections_are_paused_in_the_block_and_left_as_they_were(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        with collections_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), collections_paused():
            raise RuntimeError("the store failed")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
