"""The one place where domain events become Avro records and records become messages.

The domain never imports Avro: this module reads an event's attributes by the names its
schema gives them, so a new event type needs a schema file, not new mapping code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from ledger.events import ENVELOPE_KEYS
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.log import OutgoingRecord

# Attributes every ledger event carries that the envelope, not the body, holds.
_ENVELOPE_ATTRIBUTES = {*ENVELOPE_KEYS, "origin"}


def event_id_for(aggregate_id: UUID, version: int) -> UUID:
    """A stable id for the event at this version of this aggregate (same on every re-publish)."""
    return uuid5(aggregate_id, str(version))


@dataclass(frozen=True)
class Outgoing:
    """A domain event ready for the log, and what the relay needs to know about it."""

    record: OutgoingRecord
    event_id: UUID
    notification_id: int


def _split_topic(topic: str) -> tuple[str, str]:
    """('MissingPersonCase', 'CaseReported') from 'ledger.case:MissingPersonCase.CaseReported'."""
    qualname = topic.split(":", 1)[-1]
    aggregate_type, _, event_type = qualname.rpartition(".")
    return aggregate_type.rpartition(".")[-1], event_type


def to_record(
    registry: SchemaRegistry, event: Any, origin: str, event_topic: str
) -> tuple[str, dict[str, Any]]:
    """The Avro record of one domain event, and its schema name."""
    aggregate_type, event_type = _split_topic(event_topic)
    schema = registry.latest(event_type).schema
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
    return event_type, record


def to_outgoing(
    registry: SchemaRegistry,
    catalogue: Catalogue,
    event: Any,
    event_topic: str,
    origin: str,
    notification_id: int,
) -> Outgoing:
    """The framed, keyed, timestamped message the relay publishes for one stored event."""
    name, record = to_record(registry, event, origin, event_topic)
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
    return Outgoing(outgoing, UUID(meta["event_id"]), notification_id)
