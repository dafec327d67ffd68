"""The one place where domain events become Avro records and records become messages.

The domain never imports Avro: this module reads an event's attributes by the names its
schema gives them, so a new event type needs a schema file, not new mapping code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from ledger.crypto import open_fixed, seal_fixed
from ledger.events import ENVELOPE_KEYS
from ledger.keystore import KeyStore
from ledger.tier_codec import WireEntry
from ledger.tier_split import holds_nothing, merge, split
from ledger.tiers import ENVELOPE_TIERS
from topics.avro import Decoded, SchemaRegistry, SchemaVersion, UndecodableMessage
from topics.catalogue import Catalogue
from topics.log import OutgoingRecord

__all__ = [
    "CREATION_EVENTS",
    "ENVELOPE_ATTRIBUTES",
    "ENVELOPE_TIER",
    "ERASURES",
    "KeyFor",
    "Opened",
    "Outgoing",
    "SealedTierRefused",
    "envelope_of",
    "event_id_for",
    "framed",
    "message_context",
    "month_of",
    "open_envelope",
    "open_record",
    "seal_envelope",
    "seal_record",
    "seals_envelope",
    "to_outgoing",
    "to_record",
    "topic_names",
]

# Attributes every ledger event carries that the envelope, not the body, holds.
ENVELOPE_ATTRIBUTES = {*ENVELOPE_KEYS, "origin"}


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


def topic_names(topic: str) -> tuple[str, str]:
    """('MissingPersonCase', 'CaseReported') from 'ledger.case:MissingPersonCase.CaseReported'."""
    qualname = topic.split(":", 1)[-1]
    aggregate_type, _, event_type = qualname.rpartition(".")
    return aggregate_type.rpartition(".")[-1], event_type


def message_context(aggregate_id: str, version: int, tier: str) -> bytes:
    """What a sealed tier of a message is bound to: it opens nowhere else."""
    return f"message:{aggregate_id}:{version}:{tier}".encode()


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
        if holds_nothing(group):
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
    meta = open_envelope(registry, keys, record["meta"])
    if "sealed" not in record:
        public, tiers = split(decoded.name, {k: v for k, v in record.items() if k != "meta"})
        return Opened({**record, "meta": meta}, public, tiers, [])
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


ENVELOPE_TIER = "common"
ERASURES = frozenset({"DataErased", "DonorConsentWithdrawn"})  # recorded as the keys are destroyed
_SEALED_ENVELOPE = "sealed_envelope"
_NOBODY = {"organisation": "", "role": ""}


def month_of(instant: datetime) -> datetime:
    """The first instant of the instant's month (UTC): what the public envelope says of time."""
    return instant.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def seals_envelope(entry: SchemaVersion) -> bool:
    """Whether a schema's envelope carries its common tier sealed (Envelope v2 and later)."""
    meta = entry.schema["fields"][0]["type"]
    return isinstance(meta, dict) and any(f["name"] == _SEALED_ENVELOPE for f in meta["fields"])


def seal_envelope(
    registry: SchemaRegistry,
    keys: KeyStore,
    meta: dict[str, Any],
    key_for: KeyFor | None = None,
    stored: WireEntry | None = None,
) -> dict[str, Any]:
    """The public envelope: who, exactly when and which command sealed under the aggregate's
    common-tier key; in the clear the month only. An aggregate whose keys were destroyed
    (erased) gets no new key: its envelope keeps the month and nothing else (the erasure
    itself, its instant). stored: the common tier as the event store sealed it for the wire
    (ledger/tier_codec.py), used as it is when sealed with the key and schema of today."""
    aggregate_id, version = str(meta["aggregate_id"]), int(meta["aggregate_version"])
    public = {
        **meta,
        "occurred_at": month_of(meta["occurred_at"]),
        "recorded_at": month_of(meta["recorded_at"]),
        "recorded_by": dict(_NOBODY),
        "command_id": "",
        _SEALED_ENVELOPE: None,
    }
    if keys.erased(aggregate_id, ENVELOPE_TIER):
        if meta["event_type"] in ERASURES:
            # The erasure's own instant says nothing of where the person is, and every node
            # needs it to place the erasure in the case's history.
            public.update(occurred_at=meta["occurred_at"], recorded_at=meta["recorded_at"])
        return public
    key_id, key = (key_for or keys.current)(aggregate_id, ENVELOPE_TIER)
    if (
        stored is not None
        and stored.key_id == key_id
        and stored.schema_version == registry.latest("Envelope_common").version
    ):
        # Checked as the tiers are (topics/stored_messages.py): changed or moved ciphertext is refused.
        open_fixed(key, stored.ciphertext, message_context(aggregate_id, version, "envelope"))
        ciphertext = stored.ciphertext
    else:
        inner = registry.encode("Envelope_common", {k: meta[k] for k in ENVELOPE_TIERS})
        ciphertext = seal_fixed(key, inner, message_context(aggregate_id, version, "envelope"))
    public[_SEALED_ENVELOPE] = {"key_id": key_id, "ciphertext": ciphertext}
    return public


def open_envelope(registry: SchemaRegistry, keys: KeyStore, meta: dict[str, Any]) -> dict[str, Any]:
    """The envelope with its common tier put back when this node holds the key; without it,
    the month and an empty recorder. A v1 envelope is read as it is."""
    sealed = meta.get(_SEALED_ENVELOPE)
    opened = {k: v for k, v in meta.items() if k != _SEALED_ENVELOPE}
    if not sealed:
        return opened
    key = keys.get(str(sealed["key_id"]))
    if key is None:
        return opened
    context = message_context(str(meta["aggregate_id"]), int(meta["aggregate_version"]), "envelope")
    try:
        inner = open_fixed(key, bytes(sealed["ciphertext"]), context)
    except Exception as error:
        raise SealedTierRefused(f"sealed envelope does not open with its granted key: {error}") from None
    found = registry.decode(inner)
    if found.name != "Envelope_common":
        raise SealedTierRefused(f"sealed envelope holds a {found.name} record")
    return {**opened, **found.record}


def envelope_of(
    event_topic: str,
    origin: str,
    aggregate_id: UUID,
    version: int,
    instants: tuple[Any, Any],
    recorder: tuple[Any, Any, Any],
) -> dict[str, Any]:
    """A message's envelope in the clear: instants (occurred, recorded), recorder (recorded
    by, purpose, command id); from a domain event (to_record) or a stored one's state
    (topics/stored_messages.py)."""
    aggregate_type, event_type = topic_names(event_topic)
    return {
        "event_id": str(event_id_for(aggregate_id, version)),
        "event_type": event_type,
        "aggregate_type": aggregate_type,
        "aggregate_id": str(aggregate_id),
        "aggregate_version": version,
        "origin": origin,
        "occurred_at": instants[0],
        "recorded_at": instants[1],
        "recorded_by": recorder[0],
        "purpose": recorder[1],
        "command_id": recorder[2],
    }


def to_record(
    registry: SchemaRegistry,
    event: Any,
    origin: str,
    event_topic: str,
    keys: KeyStore | None = None,
    key_for: KeyFor | None = None,
) -> tuple[str, dict[str, Any]]:
    """The Avro record of one domain event (sealed when its schema is), and its schema name."""
    event_type = topic_names(event_topic)[1]
    latest = registry.latest(event_type)
    plain = registry.latest_plain(event_type)
    schema = plain.schema
    aggregate_id: UUID = event.originator_id
    version: int = event.originator_version
    occurred_at: datetime = getattr(event, "occurred_at", None) or event.timestamp
    record: dict[str, Any] = {
        "meta": envelope_of(
            event_topic,
            origin,
            aggregate_id,
            version,
            (occurred_at, event.timestamp),
            (event.recorded_by, event.purpose, event.command_id),
        )
    }
    for field in schema["fields"]:
        name = field["name"]
        if name != "meta" and name not in ENVELOPE_ATTRIBUTES:
            record[name] = getattr(event, name)
    if latest.sealed or seals_envelope(latest):
        if keys is None:
            raise ValueError(f"{event_type} is published sealed: the relay needs the node's key store")
        if latest.sealed:
            record = seal_record(registry, keys, event_type, record, key_for)
        if seals_envelope(latest):
            record["meta"] = seal_envelope(registry, keys, record["meta"], key_for)
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
    return framed(registry, catalogue, name, record, origin, notification_id)


def framed(
    registry: SchemaRegistry,
    catalogue: Catalogue,
    name: str,
    record: dict[str, Any],
    origin: str,
    notification_id: int,
) -> Outgoing:
    """The message of one record: encoded, keyed, with its headers and timestamp."""
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
    if meta.get(_SEALED_ENVELOPE):
        key_ids += (str(meta[_SEALED_ENVELOPE]["key_id"]),)
    return Outgoing(outgoing, UUID(meta["event_id"]), notification_id, key_ids)
