"""While projectors apply batches the collector runs less often; its thresholds come back after."""

from __future__ import annotations

import gc
import threading

import pytest

from projections.gc_pacing import BATCH_THRESHOLD, fewer_collections


def test_thresholds_raised_inside_and_restored_after_nesting_and_errors() -> None:
    before = gc.get_threshold()
    assert before != BATCH_THRESHOLD, "control: the default differs from the raise"
    with fewer_collections():
        assert gc.get_threshold() == BATCH_THRESHOLD
        with pytest.raises(RuntimeError), fewer_collections():
            raise RuntimeError("a batch that fails")
        assert gc.get_threshold() == BATCH_THRESHOLD, "the inner use does not restore for the outer"
    assert gc.get_threshold() == before


def test_concurrent_projectors_share_one_raise() -> None:
    before = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_collections():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with fewer_collections():
        pass
    assert gc.get_threshold() == BATCH_THRESHOLD, "still raised while the other projector applies"
    release.set()
    thread.join(5)
    assert gc.get_threshold() == before
