"""Fewer garbage collections while a bulk import runs. Python's cyclic collector runs its
youngest generation every 700 net allocations; an imported row makes many short-lived objects
(freed by reference counting, not by the collector), so the collector ran every ~18 rows and
walked the objects the chunks in flight hold: a tenth of a row's time (gc.callbacks,
bench/import.py, 10,000 rows: 0.65-1.06 s of collections in one process, 0.07-0.13 s with
this). Cycles are still collected, every 50,000 net allocations instead of 700; the
thresholds the process had come back when the import ends, however it ends.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from projections.gc_pacing import Thresholds, raised_thresholds

__all__ = ["YOUNGEST", "collecting_less", "for_import"]

YOUNGEST = 50_000  # net allocations between two collections of the youngest generation


def for_import(saved: Thresholds) -> Thresholds:
    """The youngest generation's threshold at least YOUNGEST, the others as they were."""
    return (max(saved[0], YOUNGEST), saved[1], saved[2])


def collecting_less() -> AbstractContextManager[None]:
    """The cyclic collector's youngest threshold raised to YOUNGEST within the block (through
    projections/gc_pacing.py, with a projector's passes in the same process)."""
    return raised_thresholds(for_import)
