"""Fewer garbage collections while a bulk import runs. Python's cyclic collector runs its
youngest generation every 700 net allocations; an imported row makes many short-lived objects
(freed by reference counting, not by the collector), so the collector ran every ~18 rows and
walked the objects the chunks in flight hold: a tenth of a row's time (gc.callbacks,
bench/import.py, 10,000 rows: 0.65-1.06 s of collections in one process, 0.07-0.13 s with
this). Cycles are still collected, every 50,000 net allocations instead of 700; the
thresholds the process had come back when the import ends, however it ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["YOUNGEST", "collecting_less"]

YOUNGEST = 50_000  # net allocations between two collections of the youngest generation


@contextlib.contextmanager
def collecting_less() -> Iterator[None]:
    """The cyclic collector's youngest threshold raised to YOUNGEST within the block."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNGEST), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
