"""Data keys in memory only: the in-memory ledger's, a projection's keys received from grants
during one pass, tests. The same contract as the stores at rest (ledger/keystore.py)."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.crypto import MasterKey
from ledger.keystore import KeyRow, KeyStore

__all__ = ["MemoryKeyStore"]


class MemoryKeyStore(KeyStore):
    def __init__(self, master: MasterKey) -> None:
        super().__init__(master)
        self._table: dict[str, KeyRow] = {}
        self._grant_table: dict[str, frozenset[str]] = {}

    def _rows(self, aggregate_id: str) -> list[KeyRow]:
        return [r for r in self._table.values() if r.aggregate_id == aggregate_id]

    def _all_rows(self) -> list[KeyRow]:
        return list(self._table.values())

    def _grants(self, key_ids: list[str]) -> dict[str, frozenset[str]]:
        return {k: self._grant_table[k] for k in key_ids if k in self._grant_table}

    def _set_grants(self, grants: dict[str, frozenset[str]]) -> None:
        self._grant_table.update(grants)

    def _row(self, key_id: str) -> KeyRow | None:
        return self._table.get(key_id)

    def _insert(self, row: KeyRow) -> bool:
        if row.key_id in self._table:
            return False
        self._table[row.key_id] = row
        return True

    def _destroy(self, key_ids: Iterable[str]) -> None:
        for key_id in key_ids:
            row = self._table.get(key_id)
            if row is not None:
                self._table[key_id] = KeyRow(row.key_id, row.aggregate_id, row.tier, row.generation, None)
