"""The checks every event message passes before a projection applies it: its envelope
against its topic, what its signature check found, and its aggregate's hash chain."""

from __future__ import annotations

from typing import Any

from projections.views import ChainHead
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.log import LogRecord
from topics.mapping import CREATION_EVENTS
from topics.signing import GENESIS, chain_hash


class Unapplicable(Exception):
    """A decoded event this projection cannot apply; the reason goes to dead-letter."""


def decode(registry: SchemaRegistry, record: LogRecord) -> Decoded | UndecodableMessage:
    """The record decoded, or why it cannot be."""
    try:
        return registry.decode(record.value)
    except UndecodableMessage as error:
        return error


def check_envelope(
    catalogue: Catalogue,
    record: LogRecord,
    meta: dict[str, Any],
    heads: dict[str, ChainHead],
    signed: str | None,
) -> tuple[str, ChainHead] | None:
    """Check the envelope against its topic, what the signature check found (signed: None
    when the origin vouches for the message), and the hash chain; the new chain head, or
    None for a repeat."""
    origin = catalogue.origin_of(record.topic)
    if origin is None or meta["origin"] != origin:
        raise Unapplicable(f"envelope origin {meta['origin']!r} does not match topic {record.topic}")
    if signed is not None:
        raise Unapplicable(signed)
    aggregate_id, version = str(meta["aggregate_id"]), int(meta["aggregate_version"])
    if record.key != aggregate_id.encode() or record.header("aggregate_version") != str(version).encode():
        raise Unapplicable("the message key or version header differs from the envelope's")
    previous = record.header("previous_hash") or b""
    value = record.value or b""
    digest = chain_hash(previous, value)
    head = heads.get(aggregate_id)
    if head is not None and head[0] >= version:
        if head[0] == version and head[1] == digest:
            return None
        raise Unapplicable(f"broken hash chain: version {version} arrives after version {head[0]}")
    expected = GENESIS if version == 1 else (head[1] if head is not None and head[0] == version - 1 else None)
    if expected is None:
        raise Unapplicable(f"broken hash chain: version {version} arrives without version {version - 1}")
    if previous != expected:
        raise Unapplicable(f"broken hash chain: previous hash of version {version} does not match")
    if (version == 1) != (meta["event_type"] in CREATION_EVENTS):
        raise Unapplicable(
            f"{meta['event_type']} as version {version} of {meta['aggregate_type']}: an aggregate "
            "begins with its creation event, and only there"
        )
    return aggregate_id, (version, digest)
