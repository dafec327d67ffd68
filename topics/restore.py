"""What a node that lost its database gets back from its own topics (#18): the data keys its
own grants on `ledger.keys` wrap for it, and every event on `ledger.events.<origin>` as the
domain event it was recorded as, with its notification id, the data keys that sealed it and
its hash-chain link. Both are read through the one verified reader (topics/reader.py): a
message the origin did not sign, or a broken chain, stops the restore with the break named.

An event is rebuilt from the message's envelope and its opened tiers; before it is handed
out it is sealed again for the topic with the same keys and must give back the very bytes
the topic holds, so the restored store cannot drift from the shared history unnoticed. A
tier whose key is lost or was destroyed (erasure) cannot be compared and comes back empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.utils import get_topic

from ledger.audit import ReadLog
from ledger.case import MissingPersonCase
from ledger.crypto import RecipientKey, Refused, unwrap
from ledger.errors import LedgerError
from ledger.keystore import KeyStore
from ledger.match import Match
from ledger.memory_key_store import MemoryKeyStore
from ledger.remains import UnidentifiedRemains
from ledger.sample import Sample
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.grants import grant_context, granted
from topics.log import EventLog
from topics.mapping import CREATION_EVENTS, open_record, to_outgoing
from topics.reader import CHAIN_OK, CHAIN_REPEAT, ChainHead, LogReader, chain_step, decode_batch
from topics.run_signatures import Checked, Verify
from topics.wire_tiers import as_stored

__all__ = [
    "AGGREGATES",
    "ENVELOPE",
    "OwnKeys",
    "RecoveredEvent",
    "RestoreRefused",
    "domain_event",
    "own_event_batches",
    "own_events",
    "own_grants",
]

AGGREGATES = {cls.__name__: cls for cls in (MissingPersonCase, UnidentifiedRemains, Sample, Match, ReadLog)}
ENVELOPE = "envelope"  # the key id sealing a message's envelope, beside the tiers' key ids


class RestoreRefused(LedgerError):
    """The log cannot be restored from as it is; nothing was written."""


@dataclass(frozen=True)
class RecoveredEvent:
    """One of the origin's events as its topic holds it.

    topic: the event's class as the event store names it; state: the domain event's
    attributes; key_ids: the data key of each sealed tier (and of the envelope); closed: the
    tiers no key here opens; link: the aggregate's chain hash after this event."""

    notification_id: int
    topic: str
    state: dict[str, Any]
    key_ids: dict[str, str]
    closed: tuple[str, ...]
    link: tuple[str, int, bytes]
    # Each sealed tier's ciphertext when the message is what this release seals for the event
    # (compared): stored as it is, not sealed again (ledger/tier_codec.py).
    sealed: dict[str, bytes] = field(default_factory=dict)


@dataclass
class OwnKeys:
    """The origin's own grants: the key each wraps for the node (None: tombstoned, or not
    granted to the node itself, when its id is in `unheld`), and the readers each went to."""

    keys: dict[str, bytes | None] = field(default_factory=dict)
    readers: dict[str, frozenset[str]] = field(default_factory=dict)
    unheld: set[str] = field(default_factory=set)
    refused: int = 0  # grants naming this origin that it did not sign: never kept
    unopened: int = 0  # grants to the node that its X25519 key does not unwrap


def _reader(event_log: EventLog, verify: Verify, catalogue: Catalogue, grants: bool) -> LogReader:
    return LogReader(
        event_log,
        verify,
        catalogue.origin_of,
        max_records=2000,
        timeout_s=120,
        timed_out=lambda: RestoreRefused("the log did not deliver the node's topics in 120 s"),
        grants=grants,
    )


def own_grants(
    event_log: EventLog,
    catalogue: Catalogue,
    registry: SchemaRegistry,
    origin: str,
    verify: Verify,
    recipient: RecipientKey,
) -> OwnKeys:
    """The keys the origin's grants on `ledger.keys` wrap for the origin itself."""
    found = OwnKeys()
    topic = catalogue.keys().name
    if topic not in event_log.list_topics():
        return found
    tps = event_log.partitions(topic)
    begins = event_log.beginning_offsets(tps)
    for batch in _reader(event_log, verify, catalogue, grants=True).batches(begins):
        for item in batch.checked:
            try:
                grant_origin, key_id = granted(item)
            except ValueError:
                if (item.record.header("origin") or b"").decode(errors="replace") == origin:
                    found.refused += 1
                continue
            if grant_origin != origin:
                continue
            if item.record.value is None:  # a tombstone: the key was destroyed (erasure)
                found.keys[key_id] = None
                found.readers.pop(key_id, None)
                found.unheld.discard(key_id)
                continue
            try:
                grant = registry.decode(item.record.value).record
            except UndecodableMessage as error:
                raise RestoreRefused(f"key grant {key_id}: {error}; nothing was restored") from None
            if grant.get("key_id") != key_id or grant.get("origin") != origin:
                raise RestoreRefused(f"key grant {key_id}: its body names another key or origin")
            found.readers[key_id] = frozenset(grant["grants"])
            wrapped = grant["grants"].get(origin)
            if wrapped is None:
                found.unheld.add(key_id)
                continue
            try:
                found.keys[key_id] = unwrap(recipient, wrapped, grant_context(key_id))
            except Refused:
                # Wrapped for an earlier X25519 key of the node: the backup may hold the key.
                found.unopened += 1
                found.unheld.add(key_id)
                continue
            found.unheld.discard(key_id)
    return found


def _key_ids(decoded: Mapping[str, Any]) -> dict[str, str]:
    ids = {str(s["tier"]): str(s["key_id"]) for s in decoded.get("sealed", ())}
    envelope = decoded.get("meta", {}).get("sealed_envelope")
    if envelope:
        ids[ENVELOPE] = str(envelope["key_id"])
    return ids


def own_events(
    event_log: EventLog,
    catalogue: Catalogue,
    registry: SchemaRegistry,
    origin: str,
    verify: Verify,
    keys: KeyStore,
) -> list[RecoveredEvent]:
    """Every event on the origin's topic, verified, rebuilt, in notification order."""
    found = own_event_batches(event_log, catalogue, registry, origin, verify, keys)
    return sorted((event for batch in found for event in batch), key=lambda e: e.notification_id)


def own_event_batches(
    event_log: EventLog,
    catalogue: Catalogue,
    registry: SchemaRegistry,
    origin: str,
    verify: Verify,
    keys: KeyStore,
) -> Iterator[list[RecoveredEvent]]:
    """The events on the origin's topic, verified and rebuilt, a reader's batch at a time (in
    offset order per partition, so notification ids interleave across partitions): memory
    holds one batch and each aggregate's chain head, however long the log."""
    topic = catalogue.events(origin).name
    if topic not in event_log.list_topics():
        return
    tps = event_log.partitions(topic)
    heads: dict[str, ChainHead] = {}
    for batch in _reader(event_log, verify, catalogue, grants=False).batches(
        event_log.beginning_offsets(tps)
    ):
        items = batch.checked
        decodings = decode_batch(registry, keys, (item.record for item in items))
        recovered = (
            _recovered(item, decoding, heads, origin, registry, catalogue, keys)
            for item, decoding in zip(items, decodings, strict=True)
        )
        found = [event for event in recovered if event is not None]
        if found:
            yield found


def _recovered(
    item: Checked,
    decoding: Decoded | UndecodableMessage,
    heads: dict[str, ChainHead],
    origin: str,
    registry: SchemaRegistry,
    catalogue: Catalogue,
    keys: KeyStore,
) -> RecoveredEvent | None:
    """One checked record of the origin's topic as the event to store again, its chain head
    moved on; None for a message published twice. Anything else wrong refuses the restore."""
    record = item.record
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    if item.problem is not None:
        raise RestoreRefused(f"{where}: {item.problem}; nothing was restored")
    if isinstance(decoding, UndecodableMessage):
        raise RestoreRefused(f"{where}: {decoding}; nothing was restored")
    meta = decoding.record["meta"]
    aggregate_id, version = str(meta["aggregate_id"]), int(meta["aggregate_version"])
    step, digest = chain_step(
        heads.get(aggregate_id), version, record.header("previous_hash") or b"", record.value or b""
    )
    if step == CHAIN_REPEAT:
        return None  # the same message published twice: restored once
    if meta["origin"] != origin:
        raise RestoreRefused(f"{where}: the envelope names origin {meta['origin']!r}")
    if step != CHAIN_OK:
        raise RestoreRefused(f"{where}: the hash chain breaks ({step}); run `audit verify`")
    heads[aggregate_id] = (version, digest)
    try:
        notification_id = int(record.header("notification_id") or b"")
    except ValueError:
        raise RestoreRefused(f"{where}: no notification id header; nothing was restored") from None
    opened = open_record(registry, keys, decoding)
    event = _rebuilt(opened.plain, opened.closed)
    key_ids = _key_ids(decoding.record)
    compared = False
    if not opened.closed and (ENVELOPE not in key_ids or keys.get(key_ids[ENVELOPE]) is not None):
        compared = _same_bytes(
            registry, catalogue, origin, event, notification_id, keys, key_ids, decoding, record
        )
    sealed = {str(s["tier"]): bytes(s["ciphertext"]) for s in decoding.record.get("sealed", ())}
    return RecoveredEvent(
        notification_id,
        event[0],
        event[1],
        key_ids,
        tuple(opened.closed),
        (aggregate_id, version, digest),
        sealed if compared else {},
    )


def _rebuilt(plain: Mapping[str, Any], closed: list[str]) -> tuple[str, dict[str, Any]]:
    """The event store's topic and the domain event's attributes, from an opened message."""
    meta = plain["meta"]
    aggregate = AGGREGATES.get(str(meta["aggregate_type"]))
    cls = getattr(aggregate, str(meta["event_type"]), None) if aggregate is not None else None
    if cls is None:
        raise RestoreRefused(
            f"{meta['aggregate_type']}.{meta['event_type']}: not an event this release records"
        )
    state = {k: as_stored(v) for k, v in plain.items() if k != "meta"}
    state.update(
        originator_id=uuid.UUID(str(meta["aggregate_id"])),
        originator_version=int(meta["aggregate_version"]),
        timestamp=meta["recorded_at"],
        occurred_at=meta["occurred_at"],
        recorded_by=dict(meta["recorded_by"]),
        purpose=meta["purpose"],
        command_id=meta["command_id"],
    )
    if meta["event_type"] in CREATION_EVENTS:
        state["originator_topic"] = get_topic(aggregate)  # type: ignore[arg-type]
        state["origin"] = meta["origin"]
    return get_topic(cls), state


def domain_event(topic: str, state: Mapping[str, Any]) -> Any:
    """The domain event of a rebuilt state, made as eventsourcing's Mapper makes one."""
    from eventsourcing.utils import resolve_topic

    event = object.__new__(resolve_topic(topic))
    object.__setattr__(event, "__dict__", dict(state))
    return event


def _same_bytes(
    registry: SchemaRegistry,
    catalogue: Catalogue,
    origin: str,
    event: tuple[str, dict[str, Any]],
    notification_id: int,
    keys: KeyStore,
    key_ids: Mapping[str, str],
    decoding: Any,
    record: Any,
) -> bool:
    """The rebuilt event, sealed again with the same keys, is the message on the topic; False
    when the two cannot be compared (an older schema, or keys of different generations)."""
    if decoding.writer_version != registry.latest(decoding.name).version:
        return False  # published under an older schema: today's encoding differs by design
    tiers = dict(key_ids)
    envelope = tiers.pop(ENVELOPE, None)
    if envelope is not None and tiers.setdefault("common", envelope) != envelope:
        return False  # the envelope and the common tier under different generations: not comparable

    def key_for(aggregate_id: str, tier: str) -> tuple[str, bytes]:
        key_id = tiers[tier]
        key = keys.get(key_id)
        assert key is not None
        return key_id, key

    # As when it was published: an envelope sealed then had its keys live (a later erasure
    # does not change the message), one left in the clear had them destroyed already.
    publishing = MemoryKeyStore(keys.master) if envelope is not None else keys
    again = to_outgoing(
        registry, catalogue, domain_event(*event), event[0], origin, notification_id, publishing, key_for
    )
    if again.record.value != record.value:
        raise RestoreRefused(
            f"{record.topic}[{record.partition}]@{record.offset}: the event rebuilt from it does not "
            "give back the same message; nothing was restored"
        )
    return True
