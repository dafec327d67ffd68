"""The relay's message for an event the store holds in wire form (ledger/tier_codec.py): the
public fields from the stored state, each sealed tier and the envelope's common tier copied
as the store sealed them. Each is opened only to check it (AES-GCM-SIV's tag: no decoding);
a tier whose key the grants rotated since it was stored is sealed again under the new key.

The message is the one topics/mapping.py to_outgoing makes from the domain event, byte for
byte (tests/unit/test_stored_messages.py): the same tiers left out (one holding nothing, or
whose key was destroyed), the same envelope reduced for an erased aggregate. An event stored
in the older form, or one its schema has moved on from, gets None: the caller opens it and
seals again (to_outgoing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.utils import resolve_topic

from ledger.crypto import open_fixed, seal_fixed
from ledger.keystore import KeyStore
from ledger.sealed_store import SEALED
from ledger.tier_codec import ENVELOPE, WIRE, WireEntry, wire_entries
from ledger.tier_split import split
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.mapping import (
    ENVELOPE_TIER,
    KeyFor,
    Outgoing,
    envelope_of,
    framed,
    message_context,
    seal_envelope,
)
from topics.message_plans import MessagePlan, plan_for, tiered_attributes

__all__ = ["LazyEvent", "key_pairs", "stored_outgoing"]

_STORE_ONLY = frozenset({WIRE, SEALED, "class_version"})  # in the stored state, not on the event


class LazyEvent:
    """The domain event of a stored event, its tiers opened only when an attribute they hold
    is asked for (the grants ask a report for its person's nationalities and age). What the
    class defines and the public fields are answered from the stored state as they are."""

    def __init__(self, cls: type, state: Mapping[str, Any], load: Callable[[], Any]) -> None:
        self._cls, self._state, self._load = cls, state, load
        self._tiered = tiered_attributes(cls.__name__)
        self._event: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._event is None:
            if name not in self._tiered:
                if name in self._state and name not in _STORE_ONLY:
                    return self._state[name]
                if hasattr(self._cls, name):
                    return getattr(self._cls, name)
                if name not in getattr(self._cls, "__dataclass_fields__", {}):
                    # Not the event's at all (the grants ask every event for its person): the
                    # loaded event would not have it either, so nothing is opened to find out.
                    raise AttributeError(name)
            self._event = self._load()
        return getattr(self._event, name)


def key_pairs(aggregate_id: str, state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (aggregate, tier) pairs whose keys publishing a stored event asks for: each stored
    tier's, and the common tier's for a sealed envelope (KeyStore.prime brings a batch's in)."""
    wire = state.get(WIRE)
    if wire is None:
        return []
    pairs = [(aggregate_id, tier) for tier in wire["tiers"]]
    return [*pairs, (aggregate_id, ENVELOPE_TIER)] if wire.get(ENVELOPE) else pairs


def _meta(event_topic: str, state: Mapping[str, Any], origin: str) -> tuple[str, dict[str, Any]]:
    """The event type and the message's envelope, as topics/mapping.py to_record fills it."""
    meta = envelope_of(
        event_topic,
        origin,
        UUID(str(state["originator_id"])),
        int(state["originator_version"]),
        (state.get("occurred_at") or state["timestamp"], state["timestamp"]),
        (state["recorded_by"], state["purpose"], state["command_id"]),
    )
    return str(meta["event_type"]), meta


def _sealed(
    keys: KeyStore,
    aggregate_id: str,
    version: int,
    tiers: Mapping[str, WireEntry],
    key_for: KeyFor,
) -> list[dict[str, Any]]:
    """The message's sealed tiers from the stored ones, in the same order."""
    sealed = []
    for tier, entry in tiers.items():
        if entry.empty:
            continue  # nothing in it: the message leaves it out
        stored_key = keys.get(entry.key_id)
        if stored_key is None:
            continue  # erased: the tier reads as None, and is left out
        key_id, key = key_for(aggregate_id, tier)
        context = message_context(aggregate_id, version, tier)
        # Opened to check it, as the older path opened every tier: ciphertext changed or moved
        # in the store is refused here (ledger.crypto.Refused) rather than signed into the log.
        inner = open_fixed(stored_key, entry.ciphertext, context)
        ciphertext = entry.ciphertext
        if key_id != entry.key_id:  # the grants rotated the key: the same record, sealed anew
            ciphertext = seal_fixed(key, inner, context)
        sealed.append({"tier": tier, "key_id": key_id, "ciphertext": ciphertext})
    return sealed


def _current(registry: SchemaRegistry, plan: MessagePlan, tiers: Mapping[str, WireEntry]) -> bool:
    """Whether every stored tier was written with the schema messages are written with today."""
    return all(entry.schema_version == plan.tier_version(registry, tier) for tier, entry in tiers.items())


def stored_outgoing(
    registry: SchemaRegistry,
    catalogue: Catalogue,
    notification: Any,
    state: dict[str, Any],
    origin: str,
    keys: KeyStore,
    key_for: KeyFor | None = None,
) -> Outgoing | None:
    """The message for a stored event (notification: its row, with id, topic, originator id
    and version; state: its stored state, decoded), or None when it is not stored in wire
    form as today's schemas write it."""
    wire = state.get(WIRE)
    if wire is None:
        return None
    cls = resolve_topic(notification.topic)
    if state.get("class_version", 1) != getattr(cls, "class_version", 1):
        return None  # stored before an upcast: the domain event is what is published
    identity = {
        "originator_id": notification.originator_id,
        "originator_version": notification.originator_version,
    }
    event_type, meta = _meta(notification.topic, {**state, **identity}, origin)
    plan = plan_for(registry, event_type)
    tiers, envelope = wire_entries(wire)
    if not plan.sealed and tiers:
        return None  # a plain message carries its tiers in the clear: made from the domain event
    public = _public(plan, event_type, state, strict=not plan.sealed)
    if public is None or not _current(registry, plan, tiers):
        return None
    aggregate_id, version = meta["aggregate_id"], meta["aggregate_version"]
    choose = key_for or keys.current
    record: dict[str, Any] = {"meta": meta, **public}
    if plan.sealed:
        record["sealed"] = _sealed(keys, aggregate_id, version, tiers, choose)
    if plan.seals_envelope:
        record["meta"] = seal_envelope(registry, keys, meta, choose, envelope)
    return framed(registry, catalogue, event_type, record, origin, int(notification.id))


def _public(
    plan: MessagePlan, event_type: str, state: Mapping[str, Any], strict: bool
) -> dict[str, Any] | None:
    """The message's public fields from the stored state; None when a field the schema names
    is neither there nor one the tiers hold (strict: a plain message's, not there)."""
    body = {}
    for name, public_field in plan.fields:
        if name in state:
            body[name] = state[name]
        elif strict or public_field:
            return None
    public, groups = split(event_type, body)
    return None if groups else public
