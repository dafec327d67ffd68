"""Sealing a new aggregate's creating event ahead, away from the key store: the event's first
data keys are made here (one per tier the event type may seal, as KeyStore.make_first_keys
makes them), it is sealed by the ledger's own SealingMapper under them, and the keys come
back wrapped by the master key, for the process that holds the key store to insert before it
saves the event. A bulk import's worker processes do this (services/import_workers.py), so
that sealing, the largest share of an imported row, runs beside the database's work.

A key that the store already holds when the wrapped keys are inserted (another process made
it first, or a run killed between its keys and its events) was not used: the event is sealed
again, there, with the store's key (ImportBatch.save_new), as make_first_keys leaves it to
current() to find.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from ledger.crypto import new_data_key
from ledger.fast_json import FastTranscoder
from ledger.keystore import KeyRow, key_id_for
from ledger.sealed_store import SealingMapper
from ledger.tier_split import tiers_of

__all__ = ["AheadSealer", "Packed", "Sealed", "StoredRow", "unpacked"]

# The row the event store's COPY writes: originator_id, originator_version, topic, state.
StoredRow = tuple[Any, int, str, bytes]
# A sealed event: its stored row and its first keys, wrapped by the master key.
Sealed = tuple[StoredRow, list[KeyRow]]
# The same as plain values, cheap to pickle between processes: the aggregate id's 16 bytes,
# version, topic, state, and each key's (key id, tier, generation, wrapped key). Unpickling a
# UUID and two KeyRow dataclasses cost the process that saves more than the rest of a row.
Packed = tuple[bytes, int, str, bytes, tuple[tuple[str, str, int, bytes | None], ...]]


class _FirstKeys:
    """The one aggregate's first keys, as SealingMapper asks its key store for them."""

    def __init__(self) -> None:
        self.made: dict[str, tuple[str, bytes]] = {}

    def current_many(self, aggregate_id: str, tiers: Iterable[str], *, new: bool = False) -> dict[str, Any]:
        if not new:
            raise ValueError("only a creating event is sealed ahead")
        return {tier: self.made[tier] for tier in tiers}


class AheadSealer:
    """Seals creating events under data keys made for them (see the module's docstring)."""

    def __init__(self, ledger: Any) -> None:
        self.keys = _FirstKeys()
        self.master = ledger.keys.master
        transcoder = FastTranscoder(ledger.mapper.transcoder)  # the same bytes, sooner
        codec = getattr(ledger.mapper, "codec", None)  # tiers in wire form, as the ledger stores them
        self.mapper = SealingMapper(transcoder, self.keys, codec)  # type: ignore[arg-type]

    def seal(self, event: Any) -> Sealed:
        """The event's stored row and its first keys, wrapped by the master key."""
        aggregate = str(event.originator_id)
        self.keys.made = {
            tier: (key_id_for(aggregate, tier, 1), new_data_key())
            for tier in sorted(tiers_of(type(event).__name__))
        }
        try:
            stored = self.mapper.to_stored_event(event)
            rows = [
                KeyRow(key_id, aggregate, tier, 1, self.master.wrap(key_id, key))
                for tier, (key_id, key) in self.keys.made.items()
            ]
        finally:
            self.keys.made = {}
        return (stored.originator_id, stored.originator_version, stored.topic, stored.state), rows

    def packed(self, event: Any) -> Packed:
        """seal(event) as plain values (see Packed); unpacked() gives seal(event) back."""
        (originator_id, version, topic, state), rows = self.seal(event)
        keys = tuple((k.key_id, k.tier, k.generation, k.wrapped) for k in rows)
        return originator_id.bytes, version, topic, state, keys


def unpacked(packed: Packed) -> Sealed:
    """What AheadSealer.seal gave, from AheadSealer.packed."""
    id_bytes, version, topic, state, keys = packed
    originator_id = UUID(bytes=id_bytes)
    aggregate = str(originator_id)
    rows = [
        KeyRow(key_id, aggregate, tier, generation, wrapped) for key_id, tier, generation, wrapped in keys
    ]
    return (originator_id, version, topic, state), rows
