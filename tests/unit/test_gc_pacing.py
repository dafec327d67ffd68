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


def test_an_import_and_a_projector_in_one_process_give_the_process_its_thresholds_back() -> None:
    """The import's raise and the projector's overlap, either one outside: the process's
    own thresholds come back at the end (two mechanisms each saving and restoring would leave
    the other's raise in force)."""
    from services.import_gc import YOUNGEST, collecting_less

    before = gc.get_threshold()
    for first, second in ((fewer_collections, collecting_less), (collecting_less, fewer_collections)):
        outer = first()
        outer.__enter__()
        with second():
            assert gc.get_threshold()[0] == max(YOUNGEST, BATCH_THRESHOLD[0])
        assert gc.get_threshold() != before, "the outer use is still in force"
        outer.__exit__(None, None, None)
        assert gc.get_threshold() == before
