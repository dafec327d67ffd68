"""The one place where domain events become Avro records and records become messages.

The domain never imports Avro: this module reads an event's attributes by the names its
schema gives them, so a new event type needs a schema file, not new mapping code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from ledger.crypto import open_fixed, seal_fixed
from ledger.events import ENVELOPE_KEYS
from ledger.keystore import KeyStore
from ledger.sealing import merge, split
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.log import OutgoingRecord

# Attributes every ledger event carries that the envelope, not the body, holds.
_ENVELOPE_ATTRIBUTES = {*ENVELOPE_KEYS, "origin"}


# The events that create an aggregate: each aggregate's version 1, and nothing else.
CREATION_EVENTS = frozenset(
    {"CaseReported", "RemainsRecovered", "SampleTaken", "MatchProposed", "ReadLogOpened"}
)


def event_id_for(aggregate_id: UUID, version: int) -> UUID:
    """A stable id for the event at this version of this aggregate (same on every re-publish)."""
    return uuid5(aggregate_id, str(version))


@dataclass(frozen=True)
class Outgoing:
    """A domain event ready for the log, and what the relay needs to know about it."""

    record: OutgoingRecord
    event_id: UUID
    notification_id: int
    key_ids: tuple[str, ...] = ()


def _split_topic(topic: str) -> tuple[str, str]:
    """('MissingPersonCase', 'CaseReported') from 'ledger.case:MissingPersonCase.CaseReported'."""
    qualname = topic.split(":", 1)[-1]
    aggregate_type, _, event_type = qualname.rpartition(".")
    return aggregate_type.rpartition(".")[-1], event_type


def message_context(aggregate_id: str, version: int, tier: str) -> bytes:
    """What a sealed tier of a message is bound to: it opens nowhere else."""
    return f"message:{aggregate_id}:{version}:{tier}".encode()


def _holds_nothing(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_holds_nothing(v) for v in value.values())
    return value is None or value == []


KeyFor = Callable[[str, str], tuple[str, bytes]]  # (aggregate id, tier) -> (key id, key)


def seal_record(
    registry: SchemaRegistry,
    keys: KeyStore,
    event_type: str,
    record: dict[str, Any],
    key_for: KeyFor | None = None,
) -> dict[str, Any]:
    """The sealed form of a plain record: public fields in the clear, each higher tier as
    ciphertext under the aggregate's data key. A tier with nothing in it (erased data reads
    as None) is left out rather than sealed."""
    meta = record["meta"]
    aggregate_id, version = str(meta["aggregate_id"]), int(meta["aggregate_version"])
    body = {k: v for k, v in record.items() if k != "meta"}
    public, groups = split(event_type, body)
    sealed = []
    for tier, group in groups.items():
        if _holds_nothing(group):
            continue
        inner = registry.encode(f"{event_type}_{tier}", group)
        key_id, key = (key_for or keys.current)(aggregate_id, tier)
        ciphertext = seal_fixed(key, inner, message_context(aggregate_id, version, tier))
        sealed.append({"tier": tier, "key_id": key_id, "ciphertext": ciphertext})
    return {"meta": meta, **public, "sealed": sealed}


class SealedTierRefused(UndecodableMessage):
    """A sealed tier that does not open with the key granted for it: tampered or misplaced."""


@dataclass(frozen=True)
class Opened:
    """A message as this node can read it: every field (those of unopened tiers None), and the
    same split by tier: the public fields and each opened tier's fields."""

    plain: dict[str, Any]
    public: dict[str, Any]
    tiers: dict[str, dict[str, Any]]
    closed: list[str]


def open_record(registry: SchemaRegistry, keys: KeyStore, decoded: Decoded) -> Opened:
    """The plain form of a decoded message, from the tiers this node holds keys for, and the
    tiers it could not open (their fields read as None). A plain message is read as it is."""
    record = decoded.record
    if "sealed" not in record:
        public, tiers = split(decoded.name, {k: v for k, v in record.items() if k != "meta"})
        return Opened(record, public, tiers, [])
    meta = record["meta"]
    aggregate_id, version = str(meta["aggregate_id"]), int(meta["aggregate_version"])
    opened: dict[str, dict[str, Any]] = {}
    closed: list[str] = []
    for entry in record["sealed"]:
        tier = str(entry["tier"])
        key = keys.get(str(entry["key_id"]))
        if key is None:
            closed.append(tier)
            continue
        try:
            inner = open_fixed(key, bytes(entry["ciphertext"]), message_context(aggregate_id, version, tier))
        except Exception as error:
            raise SealedTierRefused(
                f"sealed {tier} tier does not open with its granted key: {error}"
            ) from None
        found = registry.decode(inner)
        if found.name != f"{decoded.name}_{tier}":
            raise SealedTierRefused(f"sealed {tier} tier holds a {found.name} record")
        opened[tier] = found.record
    body = {k: v for k, v in record.items() if k not in ("meta", "sealed")}
    return Opened({"meta": meta, **merge(decoded.name, body, opened)}, body, opened, closed)


def to_record(
    registry: SchemaRegistry,
    event: Any,
    origin: str,
    event_topic: str,
    keys: KeyStore | None = None,
    key_for: KeyFor | None = None,
) -> tuple[str, dict[str, Any]]:
    """The Avro record of one domain event (sealed when its schema is), and its schema name."""
    aggregate_type, event_type = _split_topic(event_topic)
    latest = registry.latest(event_type)
    plain = registry.latest_plain(event_type)
    schema = plain.schema
    aggregate_id: UUID = event.originator_id
    version: int = event.originator_version
    occurred_at: datetime = getattr(event, "occurred_at", None) or event.timestamp
    record: dict[str, Any] = {
        "meta": {
            "event_id": str(event_id_for(aggregate_id, version)),
            "event_type": event_type,
            "aggregate_type": aggregate_type,
            "aggregate_id": str(aggregate_id),
            "aggregate_version": version,
            "origin": origin,
            "occurred_at": occurred_at,
            "recorded_at": event.timestamp,
            "recorded_by": event.recorded_by,
            "purpose": event.purpose,
            "command_id": event.command_id,
        }
    }
    for field in schema["fields"]:
        name = field["name"]
        if name != "meta" and name not in _ENVELOPE_ATTRIBUTES:
            record[name] = getattr(event, name)
    if latest.sealed:
        if keys is None:
            raise ValueError(f"{event_type} is published sealed: the relay needs the node's key store")
        record = seal_record(registry, keys, event_type, record, key_for)
    return event_type, record


def to_outgoing(
    registry: SchemaRegistry,
    catalogue: Catalogue,
    event: Any,
    event_topic: str,
    origin: str,
    notification_id: int,
    keys: KeyStore | None = None,
    key_for: KeyFor | None = None,
) -> Outgoing:
    """The framed, keyed, timestamped message the relay publishes for one stored event."""
    name, record = to_record(registry, event, origin, event_topic, keys, key_for)
    value = registry.encode(name, record)
    meta = record["meta"]
    entry = registry.latest(name)
    headers = (
        ("event_id", meta["event_id"].encode()),
        ("event_type", name.encode()),
        ("origin", origin.encode()),
        ("schema_fingerprint", entry.fingerprint.hex().encode()),
        ("notification_id", str(notification_id).encode()),
    )
    occurred: datetime = meta["occurred_at"]
    outgoing = OutgoingRecord(
        topic=catalogue.events(origin).name,
        key=meta["aggregate_id"].encode(),
        value=value,
        headers=headers,
        timestamp_ms=int(occurred.timestamp() * 1000),
    )
    key_ids = tuple(str(s["key_id"]) for s in record.get("sealed", []))
    return Outgoing(outgoing, UUID(meta["event_id"]), notification_id, key_ids)
