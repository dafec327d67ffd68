"""Fewer cyclic garbage collections while a projector applies batches (or a bulk import runs:
services/import_gc.py), through one shared raise.

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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["BATCH_THRESHOLD", "fewer_collections", "raised_thresholds"]

BATCH_THRESHOLD = (20_000, 20, 20)  # a young collection per 20,000 allocations net

Thresholds = tuple[int, int, int]

_lock = threading.Lock()
_wanted: list[Callable[[Thresholds], Thresholds]] = []  # one per use in force
_saved: Thresholds | None = None


@contextmanager
def raised_thresholds(wanted: Callable[[Thresholds], Thresholds]) -> Iterator[None]:
    """The collector's thresholds raised for the duration, to what `wanted` makes of the
    thresholds the process had. Every use in a process goes through here (projector passes,
    bulk imports: services/import_gc.py), so nested and concurrent uses share one raise, each
    generation's the highest asked, and the thresholds found by the first are put back by the
    last, whichever order they end in."""
    global _saved
    with _lock:
        if not _wanted:
            _saved = gc.get_threshold()
        _wanted.append(wanted)
        _apply()
    try:
        yield
    finally:
        with _lock:
            _wanted.remove(wanted)
            if _wanted:
                _apply()
            elif _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None


def _apply() -> None:
    assert _saved is not None
    asked = [want(_saved) for want in _wanted]
    gc.set_threshold(*(max(generation) for generation in zip(*asked, strict=True)))


def fewer_collections() -> AbstractContextManager[None]:
    """A projector's batches: the young generation's threshold raised (BATCH_THRESHOLD)."""
    return raised_thresholds(_batch)


def _batch(saved: Thresholds) -> Thresholds:
    return BATCH_THRESHOLD
