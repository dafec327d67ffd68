"""The tier codec the node's event store uses (ledger/tier_codec.py): each tier as the
message carries it, its Avro record `{EventType}_{tier}` sealed with seal_fixed under the
message's context, so the relay copies it into the message as it is (topics/stored_messages.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ledger.crypto import Refused, open_fixed, seal_fixed
from ledger.tier_codec import SealedTier
from topics.avro import SchemaRegistry, UndecodableMessage
from topics.mapping import message_context

__all__ = ["WireTiers", "as_stored", "fits"]

ENVELOPE_RECORD = "Envelope_common"

Check = Callable[[Any], bool]


def as_stored(value: Any) -> Any:
    """Values as the domain records them: ids are text (Avro reads uuid-typed strings as UUID)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_stored(v) for v in value]
    return value


def _any_of(members: list[Check]) -> Check:
    def check(value: Any) -> bool:
        if not isinstance(value, (Mapping, list, tuple)):
            return True  # a plain value (or None) has no keys to drop
        return any(member(value) for member in members)

    return check


def _record(avro_type: Mapping[str, Any]) -> Check:
    names = frozenset(f["name"] for f in avro_type["fields"])
    nested = [(f["name"], c) for f in avro_type["fields"] if (c := _checker(f["type"])) is not None]

    def check(value: Any) -> bool:
        return (
            isinstance(value, Mapping)
            and value.keys() <= names
            and all(inner(value[name]) for name, inner in nested if name in value)
        )

    return check


def _checker(avro_type: Any) -> Check | None:
    """A check that a value has no key its Avro type would drop (fastavro writes a record's
    fields by name and ignores any other key): what is stored must read back whole. None:
    nothing in the type can drop a key."""
    if isinstance(avro_type, list):
        members = [c for c in map(_checker, avro_type) if c is not None]
        return _any_of(members) if members else None
    if not isinstance(avro_type, dict):
        return None
    kind = avro_type.get("type")
    if kind == "record":
        return _record(avro_type)
    if kind in ("array", "map"):
        inner = _checker(avro_type["items" if kind == "array" else "values"])
        if inner is None:
            return None
        if kind == "array":
            return lambda value: not isinstance(value, (list, tuple)) or all(map(inner, value))
        return lambda value: not isinstance(value, Mapping) or all(map(inner, value.values()))
    return None


_CHECKERS: dict[int, tuple[Any, Check]] = {}


def fits(schema: Any, value: Any) -> bool:
    """Whether the record schema carries every key of value (checked per schema, compiled once)."""
    found = _CHECKERS.get(id(schema))
    if found is None or found[0] is not schema:
        found = _CHECKERS[id(schema)] = (schema, _checker(schema) or (lambda value: True))
    return found[1](value)


class WireTiers:
    """ledger.tier_codec.TierCodec over the node's schema registry."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._ids: dict[str, bool] = {}

    def seal_tier(
        self,
        event_type: str,
        aggregate_id: str,
        version: int,
        tier: str,
        group: Mapping[str, Any],
        key: bytes,
    ) -> SealedTier | None:
        name = f"{event_type}_{tier}"
        try:
            entry = self.registry.latest(name)
        except KeyError:
            return None
        if not fits(entry.schema, group):
            return None
        try:
            inner = self.registry.encode(name, dict(group))
        except (ValueError, TypeError, AttributeError):
            return None  # a value the record's types do not take: stored in the older form
        return SealedTier(seal_fixed(key, inner, message_context(aggregate_id, version, tier)), entry.version)

    def open_tier(
        self, event_type: str, aggregate_id: str, version: int, tier: str, key: bytes, sealed: bytes
    ) -> dict[str, Any]:
        inner = open_fixed(key, sealed, message_context(aggregate_id, version, tier))
        try:
            found = self.registry.decode(inner)
        except UndecodableMessage as error:
            raise Refused(f"stored {tier} tier of {aggregate_id} v{version}: {error}") from None
        if found.name != f"{event_type}_{tier}":
            raise Refused(f"stored {tier} tier of {aggregate_id} v{version} holds a {found.name} record")
        if not self._has_ids(found.name):
            return found.record
        return {k: as_stored(v) for k, v in found.record.items()}

    def _has_ids(self, name: str) -> bool:
        """Whether a record's schema has uuid-typed fields (read as UUID, stored as text)."""
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = '"uuid"' in json.dumps(self.registry.latest(name).schema)
        return found

    def seal_envelope(
        self, aggregate_id: str, version: int, fields: Mapping[str, Any], key: bytes
    ) -> SealedTier:
        inner = self.registry.encode(ENVELOPE_RECORD, dict(fields))
        sealed = seal_fixed(key, inner, message_context(aggregate_id, version, "envelope"))
        return SealedTier(sealed, self.registry.latest(ENVELOPE_RECORD).version)

    def schema_version(self, event_type: str, tier: str) -> int:
        return self.registry.latest(f"{event_type}_{tier}").version
