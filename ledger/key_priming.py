"""A key store's keys for many aggregates brought into memory at once (ledger/keystore.py).

A relay publishes events that other processes stored (the API's workers, an import, or
itself before a restart): its key store has none of their keys in memory, and asked the
database once per event for each tier's current key, once for each stored tier's key and
once for whom each key was granted to, about 7 ms an event. `prime` answers all of a batch's
aggregates with one query for their key rows and one for their grants, and keeps what
current(), get() and granted_to() would have found, and nothing else: an aggregate whose
newest key for a tier was destroyed is left for current() to decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.crypto import MasterKey
    from ledger.keystore import KeyRow

__all__ = ["Priming"]


class Priming:
    """KeyStore's bulk warm-up; KeyStore provides the state and the storage methods."""

    master: MasterKey
    _lock: Any
    _open: dict[str, bytes]
    _current: dict[tuple[str, str], str]
    _granted: dict[str, frozenset[str] | None]

    def _rows(self, aggregate_id: str) -> list[KeyRow]:
        raise NotImplementedError

    def _grants(self, key_ids: list[str]) -> dict[str, frozenset[str]]:
        raise NotImplementedError

    def _rows_of(self, aggregate_ids: list[str]) -> list[KeyRow]:
        """Every key row of these aggregates. Backends override this with one query."""
        return [row for aggregate_id in aggregate_ids for row in self._rows(aggregate_id)]

    def prime(self, wanted: Iterable[tuple[str, str]]) -> None:
        """For each (aggregate id, tier) not known here yet: its keys and current key in
        memory, and whom the current key was granted to."""
        with self._lock:
            pairs = [p for p in dict.fromkeys(wanted) if self._current.get(p) not in self._open]
            if not pairs:
                return
            latest: dict[tuple[str, str], KeyRow] = {}
            asked_pairs = set(pairs)
            for row in self._rows_of(list(dict.fromkeys(a for a, _ in pairs))):
                if (row.aggregate_id, row.tier) not in asked_pairs:
                    continue  # another tier's keys stay wrapped until asked for (get, current)
                if row.wrapped is not None and row.key_id not in self._open:
                    self._open[row.key_id] = self.master.unwrap(row.key_id, row.wrapped)
                found = latest.get((row.aggregate_id, row.tier))
                if found is None or row.generation > found.generation:
                    latest[(row.aggregate_id, row.tier)] = row
            current = {pair: row.key_id for pair, row in latest.items() if row.wrapped is not None}
            self._current.update(current)
            asked = [key_id for key_id in current.values() if key_id not in self._granted]
            if asked:
                granted = self._grants(asked)
                self._granted.update({key_id: granted.get(key_id) for key_id in asked})
