"""The event store's tiers in the form the log carries them (#13 item 7).

A node stores each sealed tier of a new event, and its envelope's common tier, exactly as
its relay will publish them: the tier's record in the wire encoding, sealed under the
aggregate's data key for the tier, bound to the message's aggregate, version and tier. The
relay then copies the ciphertext into the message instead of opening and sealing again.

The ledger does not know the wire encoding: a TierCodec is handed to the SealingMapper by
whoever builds the node (topics/wire_tiers.py is the one the node uses). Without one, or
for a tier the codec cannot carry as it is, events are stored in the older form
(ledger/sealed_store.py), which the relay publishes by opening and sealing as before.

Stored form: state[WIRE] = {"tiers": {tier: [key id, base64, schema version, empty]},
"envelope": [key id, base64, schema version]} where empty says the tier holds nothing (the
message leaves such a tier out) and the envelope entry may be missing (no common key at hand).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.tier_split import holds_nothing
from ledger.tiers import ENVELOPE_TIERS

__all__ = [
    "ENVELOPE",
    "WIRE",
    "SealedTier",
    "TierCodec",
    "WireEntry",
    "envelope_fields",
    "restored_wire",
    "seal_wire",
    "wire_entries",
]

WIRE = "__wire__"
ENVELOPE = "envelope"


@dataclass(frozen=True)
class SealedTier:
    """One tier sealed for the wire, and the version of the schema its record was written with."""

    ciphertext: bytes
    schema_version: int


class TierCodec(Protocol):
    """Seals and opens one tier of one event in the log's form."""

    def seal_tier(
        self,
        event_type: str,
        aggregate_id: str,
        version: int,
        tier: str,
        group: Mapping[str, Any],
        key: bytes,
    ) -> SealedTier | None:
        """The tier sealed for the wire, or None when the wire record cannot carry the group
        as it is (a field its schema lacks): the event is then stored in the older form."""

    def open_tier(
        self, event_type: str, aggregate_id: str, version: int, tier: str, key: bytes, sealed: bytes
    ) -> dict[str, Any]:
        """The tier's fields as the event store reads them back (ids as text)."""

    def seal_envelope(
        self, aggregate_id: str, version: int, fields: Mapping[str, Any], key: bytes
    ) -> SealedTier:
        """The envelope's common tier (ENVELOPE_TIERS) sealed for the wire."""

    def schema_version(self, event_type: str, tier: str) -> int:
        """The version of the schema a tier of the event type is sealed with today."""


@dataclass(frozen=True)
class WireEntry:
    """One stored tier (or the envelope) in wire form."""

    key_id: str
    ciphertext: bytes
    schema_version: int
    empty: bool = False


def envelope_fields(state: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope's common tier of an event, from its attributes (as topics/mapping.py
    to_record fills the message's envelope)."""
    occurred = state.get("occurred_at") or state["timestamp"]
    values = {"occurred_at": occurred, "recorded_at": state["timestamp"]}
    values.update({k: state[k] for k in ENVELOPE_TIERS if k not in values})
    return values


def _entry(key_id: str, sealed: SealedTier, empty: bool | None = None) -> list[Any]:
    text = base64.b64encode(sealed.ciphertext).decode()
    return [key_id, text, sealed.schema_version] + ([] if empty is None else [int(empty)])


def seal_wire(
    codec: TierCodec,
    event_type: str,
    aggregate_id: str,
    version: int,
    state: Mapping[str, Any],
    groups: Mapping[str, Mapping[str, Any]],
    keys: Mapping[str, tuple[str, bytes]],
) -> dict[str, Any] | None:
    """The stored wire form of an event's tiers (and of its envelope when the common key is
    among keys), or None when a tier cannot be carried as it is."""
    tiers: dict[str, list[Any]] = {}
    for tier, group in groups.items():
        key_id, key = keys[tier]
        sealed = codec.seal_tier(event_type, aggregate_id, version, tier, group, key)
        if sealed is None:
            return None
        tiers[tier] = _entry(key_id, sealed, holds_nothing(group))
    form: dict[str, Any] = {"tiers": tiers}
    common = keys.get("common")
    if common is not None and all(k in state for k in ("timestamp", "recorded_by", "command_id")):
        fields = envelope_fields(state)
        form[ENVELOPE] = _entry(common[0], codec.seal_envelope(aggregate_id, version, fields, common[1]))
    return form


def restored_wire(
    codec: TierCodec,
    event_type: str,
    aggregate_id: str,
    version: int,
    groups: Mapping[str, Mapping[str, Any]],
    keys: Mapping[str, tuple[str, bytes | None]],
    sealed: Mapping[str, bytes],
) -> dict[str, Any] | None:
    """The stored wire form of an event restored from the log: each tier its message carries
    as it is (sealed), one whose key is gone with no ciphertext, any other sealed here (a
    tier holding nothing, which the message left out); None when a tier cannot be carried."""
    tiers: dict[str, list[Any]] = {}
    for tier, group in groups.items():
        key_id, key = keys[tier]
        if key is None:
            tiers[tier] = [key_id, "", 0, int(holds_nothing(group))]
        elif tier in sealed:
            found = SealedTier(sealed[tier], codec.schema_version(event_type, tier))
            tiers[tier] = _entry(key_id, found, False)
        else:
            made = codec.seal_tier(event_type, aggregate_id, version, tier, group, key)
            if made is None:
                return None
            tiers[tier] = _entry(key_id, made, holds_nothing(group))
    return {"tiers": tiers}


def _parsed(entry: list[Any]) -> WireEntry:
    empty = bool(entry[3]) if len(entry) > 3 else False
    return WireEntry(str(entry[0]), base64.b64decode(entry[1]), int(entry[2]), empty)


def wire_entries(form: Mapping[str, Any]) -> tuple[dict[str, WireEntry], WireEntry | None]:
    """The stored tiers (in order) and the envelope of an event stored in wire form."""
    tiers = {tier: _parsed(entry) for tier, entry in form["tiers"].items()}
    envelope = form.get(ENVELOPE)
    return tiers, (_parsed(envelope) if envelope else None)
