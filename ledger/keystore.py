"""Where a node keeps data keys: one per aggregate, tier and generation, each wrapped by the
node's master key (ledger/crypto.py), so the database alone opens nothing.

Destroying a key is how data is erased (crypto-shredding): the row keeps the key's id and
when it was destroyed, and the wrapped bytes are gone. A tier needed again after that
(a reopened case) gets a new generation, never the old key back.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from ledger.crypto import MasterKey, forget_ciphers, new_data_key
from ledger.key_priming import Priming

__all__ = ["KeyRow", "KeyStore", "key_id_for", "parse_key_id"]


class KeyRow(NamedTuple):
    """A data key as the store keeps it (a named tuple: a bulk import makes two per row, and a
    frozen dataclass cost four times as much to make and to unpickle)."""

    key_id: str
    aggregate_id: str
    tier: str
    generation: int
    wrapped: bytes | None  # None once destroyed


def key_id_for(aggregate_id: str, tier: str, generation: int) -> str:
    return f"{aggregate_id}/{tier}/{generation}"


def parse_key_id(key_id: str) -> tuple[str, str, int]:
    aggregate_id, tier, generation = key_id.rsplit("/", 2)
    return aggregate_id, tier, int(generation)


class KeyStore(Priming, ABC):
    """Data keys at rest, wrapped by the master key; plaintext keys are cached in memory."""

    def __init__(self, master: MasterKey) -> None:
        self.master = master
        self._lock = threading.RLock()
        self._open: dict[str, bytes] = {}
        # The ids the last load() asked for and found no key under (never here, or destroyed):
        # get() answers None for them without a query until the next load(). Opening a batch
        # asked the store again for every tier it holds no key to (a round trip per message).
        self._absent: frozenset[str] = frozenset()
        self._current: dict[tuple[str, str], str] = {}
        self._granted: dict[str, frozenset[str] | None] = {}  # None: known never granted

    # ------------------------------------------------------------ storage (per backend)

    @abstractmethod
    def _rows(self, aggregate_id: str) -> list[KeyRow]: ...

    @abstractmethod
    def _row(self, key_id: str) -> KeyRow | None: ...

    @abstractmethod
    def _insert(self, row: KeyRow) -> bool:
        """Insert unless the key id exists; True if this call inserted it."""

    @abstractmethod
    def _destroy(self, key_ids: Iterable[str]) -> None: ...

    def _rows_by_ids(self, key_ids: list[str]) -> list[KeyRow]:
        """Backends override this with one query."""
        return [row for key_id in key_ids if (row := self._row(key_id)) is not None]

    def _insert_many(self, rows: list[KeyRow]) -> set[str]:
        """Insert those whose id is new; the ids inserted. Backends override with one query."""
        return {row.key_id for row in rows if self._insert(row)}

    @abstractmethod
    def _grants(self, key_ids: list[str]) -> dict[str, frozenset[str]]:
        """The readers each key was last granted to (keys never granted are absent)."""

    @abstractmethod
    def _set_grants(self, grants: dict[str, frozenset[str]]) -> None: ...

    @abstractmethod
    def _all_rows(self) -> list[KeyRow]:
        """Every key row, destroyed ones included (a backup reads them all)."""

    def close(self) -> None:
        """Release the connection."""

    # ------------------------------------------------------------ backup and restore

    def export(self) -> dict[str, bytes | None]:
        """Every key this node ever had, unwrapped (None: destroyed), for a key backup
        (ledger/key_backup.py) and nothing else: the result holds every data key in clear."""
        with self._lock:
            return {
                row.key_id: None if row.wrapped is None else self.master.unwrap(row.key_id, row.wrapped)
                for row in self._all_rows()
            }

    def restore(self, keys: Mapping[str, bytes | None]) -> tuple[int, int]:
        """Put back keys from a backup or from the node's own grants (None: destroyed, so a
        new generation is made if the tier is needed again, never this key id reused). A key
        destroyed here or in the backup stays destroyed. Returns (kept, destroyed) counts."""
        rows = []
        for key_id, key in keys.items():
            aggregate_id, tier, generation = parse_key_id(key_id)
            wrapped = None if key is None else self.master.wrap(key_id, key)
            rows.append(KeyRow(key_id, aggregate_id, tier, generation, wrapped))
        with self._lock:
            self._insert_many(rows)
            gone = [row.key_id for row in rows if row.wrapped is None]
            if gone:
                self.destroy(gone)
            self._current.clear()
            self._absent = frozenset()
            return len(rows) - len(gone), len(gone)

    # ------------------------------------------------------------ use

    def current(self, aggregate_id: str, tier: str) -> tuple[str, bytes]:
        """The key that seals new data of this aggregate and tier (made on first use)."""
        with self._lock:
            cached = self._current.get((aggregate_id, tier))
            if cached is not None and cached in self._open:
                return cached, self._open[cached]
            rows = [r for r in self._rows(aggregate_id) if r.tier == tier]
            latest = max(rows, key=lambda r: r.generation, default=None)
            if latest is not None and latest.wrapped is not None:
                key = self.master.unwrap(latest.key_id, latest.wrapped)
            else:
                generation = 1 if latest is None else latest.generation + 1
                key_id = key_id_for(aggregate_id, tier, generation)
                key = new_data_key()
                if not self._insert(
                    KeyRow(key_id, aggregate_id, tier, generation, self.master.wrap(key_id, key))
                ):
                    # Another process made it first: use theirs.
                    return self.current(aggregate_id, tier)
                latest = KeyRow(key_id, aggregate_id, tier, generation, None)
            self._open[latest.key_id] = key
            self._current[(aggregate_id, tier)] = latest.key_id
            return latest.key_id, key

    def erased(self, aggregate_id: str, tier: str) -> bool:
        """Whether the aggregate's data was erased here, so that nothing new is sealed for the
        tier under a key made afresh: its newest key for the tier was destroyed, or it never had
        one and others of its keys were (a donor's sample has no common-tier data at rest: the
        key its envelopes need would be made after the erasure, and never destroyed)."""
        with self._lock:
            cached = self._current.get((aggregate_id, tier))
            if cached is not None and cached in self._open:
                return False
            rows = self._rows(aggregate_id)
            latest = max((r for r in rows if r.tier == tier), key=lambda r: r.generation, default=None)
            if latest is None:
                return any(r.wrapped is None for r in rows)
            return latest.wrapped is None

    def current_many(
        self, aggregate_id: str, tiers: Iterable[str], *, new: bool = False
    ) -> dict[str, tuple[str, bytes]]:
        """current() for several tiers in one round trip; new: the aggregate is being created,
        so its keys are made without looking for existing ones first (a conflict falls back)."""
        wanted = list(dict.fromkeys(tiers))
        with self._lock:
            found: dict[str, tuple[str, bytes]] = {}
            for tier in wanted:
                cached = self._current.get((aggregate_id, tier))
                if cached is not None and cached in self._open:
                    found[tier] = (cached, self._open[cached])
            missing = [t for t in wanted if t not in found]
            if not missing:
                return found
            if not new:
                return {**found, **{t: self.current(aggregate_id, t) for t in missing}}
            made = {t: (key_id_for(aggregate_id, t, 1), new_data_key()) for t in missing}
            inserted = self._insert_many(
                [
                    KeyRow(key_id, aggregate_id, t, 1, self.master.wrap(key_id, key))
                    for t, (key_id, key) in made.items()
                ]
            )
            for tier, (key_id, key) in made.items():
                if key_id in inserted:
                    self._open[key_id] = key
                    self._current[(aggregate_id, tier)] = key_id
                    self._granted[key_id] = None
                    found[tier] = (key_id, key)
                else:
                    found[tier] = self.current(aggregate_id, tier)  # someone made it first
            return found

    def make_first_keys(self, wanted: Mapping[str, Iterable[str]]) -> None:
        """The first keys of many new aggregates ({aggregate id: tiers}) in a few round trips
        instead of one per aggregate: a bulk import saves 500 new cases per transaction, and
        one key insert per case cost it 100x (ledger/import_batch.py). A key another process
        made first is left to current() to find."""
        with self._lock:
            made = [
                (aggregate_id, tier, key_id_for(aggregate_id, tier, 1), new_data_key())
                for aggregate_id, tiers in wanted.items()
                for tier in dict.fromkeys(tiers)
                if (aggregate_id, tier) not in self._current
            ]
            for start in range(0, len(made), 2000):
                chunk = made[start : start + 2000]
                inserted = self._insert_many(
                    [KeyRow(k, a, t, 1, self.master.wrap(k, key)) for a, t, k, key in chunk]
                )
                for aggregate_id, tier, key_id, key in chunk:
                    if key_id in inserted:
                        self._open[key_id] = key
                        self._current[(aggregate_id, tier)] = key_id
                        self._granted[key_id] = None

    def stage_first_keys(self, wanted: Mapping[str, Iterable[str]]) -> list[tuple[KeyRow, bytes]]:
        """First keys for new aggregates ({aggregate id: tiers}) made in memory only, for the
        caller to store in the transaction of the events they seal (ledger/group_commit.py),
        then adopt_first_keys(); a tier whose key this store knows already is left out."""
        with self._lock:
            pairs = [(a, t) for a, tiers in wanted.items() for t in dict.fromkeys(tiers)]
            made = [
                (a, t, key_id_for(a, t, 1), new_data_key()) for a, t in pairs if (a, t) not in self._current
            ]
        return [(KeyRow(k, a, t, 1, self.master.wrap(k, key)), key) for a, t, k, key in made]

    def adopt_first_keys(self, staged: Iterable[tuple[KeyRow, bytes]]) -> None:
        """Keys of stage_first_keys() now stored: used from here on."""
        with self._lock:
            for row, key in staged:
                self._open[row.key_id] = key
                self._current[(row.aggregate_id, row.tier)] = row.key_id
                self._granted[row.key_id] = None

    def add_first_keys(self, rows: list[KeyRow]) -> set[str]:
        """Insert first keys made and wrapped elsewhere (ledger/import_ahead.py), in a few
        round trips; the ids of those inserted (a key id the store holds already is left as
        it is, and the caller seals again with current()). Nothing is cached in memory."""
        with self._lock:
            inserted: set[str] = set()
            for start in range(0, len(rows), 2000):
                inserted |= self._insert_many(rows[start : start + 2000])
            return inserted

    def forget_cached(self, made: Mapping[str, Iterable[str]]) -> None:
        """Drop these aggregates' keys ({aggregate id: tiers}) from memory; they stay wrapped
        at rest and are read again when needed: a bulk import of millions of rows made them,
        and keeping them all would grow its memory with the file."""
        with self._lock:
            for aggregate_id, tiers in made.items():
                for tier in tiers:
                    key_id = self._current.pop((aggregate_id, tier), None)
                    if key_id is not None:
                        self._open.pop(key_id, None)
                        self._granted.pop(key_id, None)

    def forget_all(self) -> None:
        """Drop every key from memory; they stay wrapped at rest and are read again when needed.
        Another process of this node may have destroyed some: the workers of a projection group
        read the key grants and their tombstones in turn (projections/group_worker.py)."""
        with self._lock:
            self._open.clear()
            self._current.clear()
            self._granted.clear()
            self._absent = frozenset()

    def rotate(self, aggregate_id: str, tier: str) -> tuple[str, bytes]:
        """A new generation for new data of this aggregate and tier (the old key still opens
        the old data here): used when a reader loses its entitlement."""
        with self._lock:
            rows = [r for r in self._rows(aggregate_id) if r.tier == tier]
            generation = max((r.generation for r in rows), default=0) + 1
            key_id, key = key_id_for(aggregate_id, tier, generation), new_data_key()
            if not self._insert(
                KeyRow(key_id, aggregate_id, tier, generation, self.master.wrap(key_id, key))
            ):
                self._current.pop((aggregate_id, tier), None)
                return self.current(aggregate_id, tier)  # another process rotated it first
            self._open[key_id] = key
            self._current[(aggregate_id, tier)] = key_id
            self._granted[key_id] = None
            return key_id, key

    def granted_to(self, key_id: str) -> frozenset[str] | None:
        """The readers the key was last granted to, or None if it was never granted."""
        with self._lock:
            if key_id not in self._granted:
                self._granted[key_id] = self._grants([key_id]).get(key_id)
            return self._granted[key_id]

    def record_grants(self, grants: dict[str, frozenset[str]]) -> None:
        """Remember whom each key was granted to (after the grants are on the log)."""
        if grants:
            with self._lock:
                self._set_grants(grants)
                self._granted.update(grants)

    def load(self, key_ids: Iterable[str]) -> None:
        """Bring these keys into memory with one query (unknown or destroyed ones are skipped)."""
        with self._lock:
            wanted = [k for k in dict.fromkeys(key_ids) if k not in self._open]
            self._absent = frozenset()
            if not wanted:
                return
            for row in self._rows_by_ids(wanted):
                if row.wrapped is not None:
                    self._open[row.key_id] = self.master.unwrap(row.key_id, row.wrapped)
            self._absent = frozenset(k for k in wanted if k not in self._open)

    def cached(self, key_id: str) -> bytes | None:
        """The key if it is in memory already (load() brings it), without a query."""
        with self._lock:
            return self._open.get(key_id)

    def get(self, key_id: str) -> bytes | None:
        """The key, or None if it was never here or has been destroyed."""
        with self._lock:
            if key_id in self._open:
                return self._open[key_id]
            if key_id in self._absent:
                return None
            row = self._row(key_id)
            if row is None or row.wrapped is None:
                return None
            key = self.master.unwrap(key_id, row.wrapped)
            self._open[key_id] = key
            return key

    def put(self, key_id: str, key: bytes) -> None:
        """Keep a key received from another node (a grant), wrapped by this node's master key."""
        self.put_many([(key_id, key)])

    def put_many(self, keys: Iterable[tuple[str, bytes]]) -> None:
        """put() for many keys in one round trip. A key kept already stays; a destroyed key
        never comes back (its row remains, without the key)."""
        rows = []
        for key_id, key in dict(keys).items():
            aggregate_id, tier, generation = parse_key_id(key_id)
            rows.append((KeyRow(key_id, aggregate_id, tier, generation, self.master.wrap(key_id, key)), key))
        with self._lock:
            inserted = self._insert_many([row for row, _ in rows])
            self._absent = frozenset()  # a key not found before may have come meanwhile
            for row, key in rows:
                if row.key_id in inserted:
                    self._open[row.key_id] = key

    def live(self, aggregate_id: str) -> list[str]:
        """The ids of the aggregate's keys that still exist."""
        with self._lock:
            return [r.key_id for r in self._rows(aggregate_id) if r.wrapped is not None]

    def known(self, aggregate_id: str) -> list[str]:
        """The ids of every key the aggregate ever had, destroyed or not."""
        with self._lock:
            return [r.key_id for r in self._rows(aggregate_id)]

    def destroy(self, key_ids: Iterable[str]) -> list[str]:
        """Destroy keys for good; returns the ids destroyed."""
        ids = list(key_ids)
        with self._lock:
            self._destroy(ids)
            for key_id in ids:
                self._open.pop(key_id, None)
            self._current = {k: v for k, v in self._current.items() if v not in ids}
        forget_ciphers()
        return ids

    def destroy_aggregate(self, aggregate_id: str) -> list[str]:
        """Destroy every live key of the aggregate; returns the ids destroyed. Keys another
        process destroyed are forgotten here too, so none stays open in this one's memory."""
        with self._lock:
            rows = self._rows(aggregate_id)
            destroyed = self.destroy([r.key_id for r in rows if r.wrapped is not None])
            gone = {r.key_id for r in rows}
            for key_id in gone:
                self._open.pop(key_id, None)
            self._current = {k: v for k, v in self._current.items() if v not in gone}
            return destroyed
