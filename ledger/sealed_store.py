"""The node's own event store holds ciphertext for every tier above public (#5).

SealingMapper stands in for eventsourcing's Mapper: before an event reaches SQLite or
PostgreSQL, each higher tier of its fields (ledger/tier_split.py) is sealed under that
aggregate's data key for the tier, bound to the aggregate, version and tier. Snapshots
are sealed whole under the aggregate's snapshot key. With a tier codec (ledger/tier_codec.py) the
tiers of new events are stored as the log will carry them, so the relay copies them as
they are; events stored in either form are read alike. Reading opens what the key store
still holds; a tier whose key was destroyed (erasure) reads as None, while ciphertext
that does not open with a key that exists is tampering and is refused loudly.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, cast

from eventsourcing.domain import DomainEventProtocol, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder, find_id_convertor
from eventsourcing.utils import get_topic, resolve_topic

from ledger.crypto import Refused, open_sealed, seal
from ledger.keystore import KeyStore
from ledger.tier_codec import WIRE, TierCodec, restored_wire, seal_wire, wire_entries
from ledger.tier_split import merge, split

__all__ = ["SEALED", "SNAPSHOT_TIER", "SealingMapper", "UnreadableSnapshot"]

SEALED = "__sealed__"
SNAPSHOT_TIER = "snapshot"


def _context(aggregate_id: Any, version: int, tier: str) -> bytes:
    return f"store:{aggregate_id}:{version}:{tier}".encode()


class UnreadableSnapshot(Refused):
    """A snapshot whose key was destroyed; erasure deletes such snapshots first."""


class SealingMapper(Mapper[Any]):
    def __init__(self, transcoder: Transcoder, keys: KeyStore, codec: TierCodec | None = None) -> None:
        super().__init__(transcoder)
        self.keys = keys
        self.codec = codec  # None: every tier stored JSON-encoded under AES-GCM (the older form)

    def to_stored_event(
        self,
        domain_event: DomainEventProtocol[Any],
        first_keys: Mapping[tuple[str, str], tuple[str, bytes]] | None = None,
    ) -> StoredEvent:
        """first_keys: (aggregate id, tier) -> (key id, key) for a new aggregate whose keys are
        stored in the transaction of its events (ledger/group_commit.py)."""
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        aggregate = str(originator_id)
        if isinstance(domain_event, Snapshot):
            inner = state.pop("state")
            key_id, key = self.keys.current(aggregate, SNAPSHOT_TIER)
            sealed = seal(key, self.transcoder.encode(inner), _context(aggregate, version, SNAPSHOT_TIER))
            state[SEALED] = {SNAPSHOT_TIER: [key_id, base64.b64encode(sealed).decode()]}
        else:
            state = self._sealed_tiers(type(domain_event).__name__, aggregate, version, state, first_keys)
        return self._stored(domain_event, originator_id, version, state)

    def _sealed_tiers(
        self,
        event_type: str,
        aggregate: str,
        version: int,
        state: dict[str, Any],
        first_keys: Mapping[tuple[str, str], tuple[str, bytes]] | None,
    ) -> dict[str, Any]:
        """The event's public fields, and its other tiers sealed: in wire form when there is a
        codec that carries them, else in the older form."""
        public, groups = split(event_type, state)
        staged = first_keys or {}
        keys = {t: staged[(aggregate, t)] for t in groups if (aggregate, t) in staged}
        if len(keys) < len(groups):
            rest = [t for t in groups if t not in keys]
            keys.update(self.keys.current_many(aggregate, rest, new=version == 1))
        if self.codec is not None:
            wire = seal_wire(self.codec, event_type, aggregate, version, state, groups, keys)
            if wire is not None:
                public[WIRE] = wire
                return public
        seals: dict[str, list[str]] = {}
        for tier, group in groups.items():
            key_id, key = keys[tier]
            sealed = seal(key, self.transcoder.encode(group), _context(aggregate, version, tier))
            seals[tier] = [key_id, base64.b64encode(sealed).decode()]
        public[SEALED] = seals
        return public

    def to_restored_event(
        self,
        domain_event: DomainEventProtocol[Any],
        key_ids: Mapping[str, str],
        sealed: Mapping[str, bytes] | None = None,
    ) -> StoredEvent:
        """An event restored from the log (#18), sealed with the keys its message names
        (key_ids: tier -> key id): a tier whose key is gone (erased, or lost with the database)
        keeps the key's id and no ciphertext, and reads as None as it would have here.
        sealed: the message's ciphertext of each tier, known to be what this release seals
        (the restore compared the message with the event sealed again): with a codec, kept as
        it is in wire form instead of being sealed again."""
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        aggregate, event_type = str(originator_id), type(domain_event).__name__
        public, groups = split(event_type, state)
        keys = {tier: self._restored_key(aggregate, tier, key_ids.get(tier)) for tier in groups}
        wire = None
        if self.codec is not None:
            wire = restored_wire(self.codec, event_type, aggregate, version, groups, keys, sealed or {})
        if wire is not None:
            public[WIRE] = wire
            return self._stored(domain_event, originator_id, version, public)
        seals: dict[str, list[str]] = {}
        for tier, group in groups.items():
            key_id, key = keys[tier]
            if key is None:
                seals[tier] = [key_id, ""]
                continue
            ciphertext = seal(key, self.transcoder.encode(group), _context(aggregate, version, tier))
            seals[tier] = [key_id, base64.b64encode(ciphertext).decode()]
        public[SEALED] = seals
        return self._stored(domain_event, originator_id, version, public)

    def _restored_key(self, aggregate: str, tier: str, key_id: str | None) -> tuple[str, bytes | None]:
        """The key a restored tier is sealed with: the one its message names, else (nothing in
        the tier, so the message sealed none of it) the newest destroyed one of an erased
        aggregate, or the current one."""
        if key_id is None:
            if self.keys.erased(aggregate, tier):
                known = [k for k in self.keys.known(aggregate) if k.split("/")[-2] == tier]
                return max(known, key=lambda k: int(k.rsplit("/", 1)[1])), None
            key_id = self.keys.current(aggregate, tier)[0]
        return key_id, self.keys.get(key_id)

    def _stored(
        self, domain_event: DomainEventProtocol[Any], originator_id: Any, version: int, state: dict[str, Any]
    ) -> StoredEvent:
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=get_topic(type(domain_event)),
            state=self.transcoder.encode(state),
        )

    def _opened(self, aggregate: str, version: int, seals: Mapping[str, list[str]]) -> dict[str, Any]:
        """The tiers of the older form that this node's keys open (an erased one is left out)."""
        self.keys.load(key_id for key_id, _ in seals.values())
        opened: dict[str, Any] = {}
        for tier, (key_id, text) in seals.items():
            key = self.keys.get(key_id)
            if key is None:
                if tier == SNAPSHOT_TIER:
                    raise UnreadableSnapshot(
                        f"snapshot of {aggregate} v{version}: its key is not in this node's key store"
                    )
                continue  # erased: the tier reads as None
            plain = open_sealed(key, base64.b64decode(text), _context(aggregate, version, tier))
            opened[tier] = self.transcoder.decode(plain)
        return opened

    def _opened_wire(
        self, event_type: str, aggregate: str, version: int, wire: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The tiers stored in wire form that this node's keys open (an erased one is left out)."""
        if self.codec is None:
            raise Refused(
                f"{event_type} of {aggregate} v{version} is stored in wire form: no tier codec to read it"
            )
        tiers, _ = wire_entries(wire)
        self.keys.load(entry.key_id for entry in tiers.values())
        opened: dict[str, Any] = {}
        for tier, entry in tiers.items():
            key = self.keys.get(entry.key_id)
            if key is not None:
                opened[tier] = self.codec.open_tier(
                    event_type, aggregate, version, tier, key, entry.ciphertext
                )
        return opened

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        return self.domain_event_of(
            stored_event.topic, state, stored_event.originator_id, stored_event.originator_version
        )

    def domain_event_of(
        self, topic: str, state: dict[str, Any], originator_id: Any, version: int
    ) -> DomainEventProtocol[Any]:
        """The domain event of a stored event's decoded state (which it takes over)."""
        cls = resolve_topic(topic)
        aggregate = str(originator_id)
        wire = state.pop(WIRE, None)
        if wire is not None:
            state = merge(cls.__name__, state, self._opened_wire(cls.__name__, aggregate, version, wire))
        seals = state.pop(SEALED, None)
        if seals is not None:  # events stored before sealing are read as they are
            opened = self._opened(aggregate, version, seals)
            if issubclass(cls, Snapshot):
                state["state"] = opened[SNAPSHOT_TIER]
            else:
                state = merge(cls.__name__, state, opened)
        # The rest is eventsourcing's own Mapper.to_domain_event, unchanged.

        state["originator_id"] = find_id_convertor(cls, cast(Any, type(originator_id)))(originator_id)
        state["originator_version"] = version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return cast(DomainEventProtocol[Any], domain_event)
