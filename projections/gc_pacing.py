"""Fewer cyclic garbage collections while a projector applies batches.

A batch of a thousand events keeps some hundred thousand objects alive (records, decoded
dicts, opened tiers, rows) until its transaction commits, and allocates several hundred more
per event. With CPython's default thresholds (a young collection every 700 allocations net)
a replay ran a young collection every couple of events and a full one every few batches, each
walking every object still alive: 16% of a replay's CPU here. Nothing a projection makes
needs the cycle collector to be freed (reference counting frees it), so while any projector
applies batches the young generation's threshold is raised; the thresholds in force before
come back when the last one is done. Collections still run, only less often.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BATCH_THRESHOLD", "fewer_collections"]

BATCH_THRESHOLD = (20_000, 20, 20)  # a young collection per 20,000 allocations net

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the duration (nested and concurrent uses share
    one raise; the thresholds found by the first are put back by the last)."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*BATCH_THRESHOLD)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
