"""The tier codec the node's event store uses (ledger/tier_codec.py): each tier as the
message carries it, its Avro record `{EventType}_{tier}` sealed with seal_fixed under the
message's context, so the relay copies it into the message as it is (topics/stored_messages.py).
"""

from __future__ import annotations

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


def _always(value: Any) -> bool:
    return True


def _checker(avro_type: Any) -> Check:
    """A check that a value has no key its Avro type would drop (fastavro writes a record's
    fields by name and ignores any other key): what is stored must read back whole."""
    if isinstance(avro_type, list):
        members = [_checker(t) for t in avro_type]
        return lambda value: any(check(value) for check in members)
    if not isinstance(avro_type, dict):
        return _always
    kind = avro_type.get("type")
    if kind == "record":
        fields = {f["name"]: _checker(f["type"]) for f in avro_type["fields"]}
        return lambda value: (
            isinstance(value, Mapping) and all(k in fields and fields[k](v) for k, v in value.items())
        )
    if kind == "array":
        items = _checker(avro_type["items"])
        return lambda value: not isinstance(value, (list, tuple)) or all(items(v) for v in value)
    if kind == "map":
        values = _checker(avro_type["values"])
        return lambda value: not isinstance(value, Mapping) or all(values(v) for v in value.values())
    return _always


_CHECKERS: dict[int, tuple[Any, Check]] = {}


def fits(schema: Any, value: Any) -> bool:
    """Whether the record schema carries every key of value (checked per schema, compiled once)."""
    found = _CHECKERS.get(id(schema))
    if found is None or found[0] is not schema:
        found = _CHECKERS[id(schema)] = (schema, _checker(schema))
    return found[1](value)


class WireTiers:
    """ledger.tier_codec.TierCodec over the node's schema registry."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

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
        return {k: as_stored(v) for k, v in found.record.items()}

    def seal_envelope(
        self, aggregate_id: str, version: int, fields: Mapping[str, Any], key: bytes
    ) -> SealedTier:
        inner = self.registry.encode(ENVELOPE_RECORD, dict(fields))
        sealed = seal_fixed(key, inner, message_context(aggregate_id, version, "envelope"))
        return SealedTier(sealed, self.registry.latest(ENVELOPE_RECORD).version)

    def schema_version(self, event_type: str, tier: str) -> int:
        return self.registry.latest(f"{event_type}_{tier}").version
