"""The relay: follows one node's notification log and publishes each event to Kafka once.

It runs beside the command path, never inside it. Where it stopped is read back from
what is committed on the topic (the notification_id header), not from a side file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.utils import resolve_topic

from ledger.keystore import KeyStore
from ledger.sealed_store import SealingMapper
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.chain import ChainStore, MemoryChainStore
from topics.commit_notices import CommitNotices
from topics.grants import Granting, grant_digest
from topics.linkage_publishing import LinkagePublishing
from topics.log import (
    EventLog,
    LogUnavailable,
    OutgoingRecord,
    Publisher,
    TopicPartition,
    partition_for,
)
from topics.mapping import Outgoing, to_outgoing
from topics.reader import LogReader
from topics.run_signatures import RUN_SIGNATURE, Checked, message_digest, sign_runs
from topics.signing import GENESIS, NodeKey, chain_hash
from topics.stored_messages import LazyEvent, key_pairs, stored_outgoing

__all__ = ["ERASING_EVENTS", "Relay", "Shred"]

log = logging.getLogger(__name__)

# Events after which the aggregate's keys are destroyed at the origin: tombstones follow them.
ERASING_EVENTS = (".DataErased", ".DonorConsentWithdrawn")

# Erases an aggregate at the origin (ledger/base.py LedgerApplication.shred); done again as
# its erasure is relayed, so no key the tombstones name stays live here.
Shred = Callable[[UUID], object]


class Relay:
    """Publishes a node's stored events to `ledger.events.<origin>`, in notification order."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        event_log: EventLog,
        origin: str,
        registry: SchemaRegistry | None = None,
        catalogue: Catalogue | None = None,
        batch_size: int = 500,
        *,
        signer: NodeKey,
        chain: ChainStore | None = None,
        keys: KeyStore | None = None,
        granting: Granting | None = None,
        linkage: LinkagePublishing | None = None,
        shred: Shred | None = None,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.event_log = event_log
        self.origin = origin
        self.registry = registry or SchemaRegistry()
        self.batch_size = batch_size
        self.signer = signer
        self.chain: ChainStore = chain or MemoryChainStore()
        self.keys = keys
        self.granting = granting
        self.linkage = linkage  # publishes linkage encodings and tombstones (topics/linkage_topic.py)
        # Without the application (tests, tools): the keys alone; its shred deletes snapshots too.
        self.shred: Shred | None = shred or (
            (lambda aggregate_id: keys.destroy_aggregate(str(aggregate_id))) if keys is not None else None
        )
        self.catalogue = catalogue or Catalogue()
        self.topic = self.catalogue.events(origin).name
        self._publisher: Publisher | None = None
        self._position: int | None = None  # last notification id known to be on the topic
        self._key_partitions: int | None = None
        self._linkage_partitions: dict[str, int] = {}
        # Set by the ledger after each commit (ledger/base.py, LedgerApplication.saved): the
        # relay of a process that also takes commands wakes on it instead of polling.
        self.wakeup: threading.Event | None = None
        # Commits of other processes (topics/commit_notices.py: PostgreSQL LISTEN/NOTIFY).
        self.notices: CommitNotices | None = None
        self._partitions: int | None = None  # the events topic's, read once (they do not change)

    def published_up_to(self) -> int:
        """The highest notification id committed on the topic (0 if none), read from the topic."""
        tps = self.event_log.partitions(self.topic)
        ends = self.event_log.end_offsets(tps)
        begins = self.event_log.beginning_offsets(tps)
        highest = 0
        for tp in tps:
            highest = max(highest, self._last_in_partition(tp, begins[tp], ends[tp]))
        return highest

    def _published_by_me(self, checked: Checked) -> int | None:
        """The notification id of a message this relay signed; None for anything else on the topic."""
        if checked.problem is not None:
            return None
        try:
            return int(checked.record.header("notification_id") or b"")
        except ValueError:
            return None

    def _mine(self, origin: str, data: bytes, signature: bytes) -> str | None:
        return (
            None if origin == self.origin and self.signer.signed_this(data, signature) else "not signed here"
        )

    def _last_in_partition(self, tp: TopicPartition, begin: int, end: int) -> int:
        # Read a window at the tail; widen it when the tail holds only transaction markers, or
        # when the window starts inside a run too long to verify from its part.
        window = 64
        while True:
            start = max(begin, end - window)
            reader = LogReader(
                self.event_log,
                self._mine,
                lambda topic: self.origin if topic == self.topic else None,
                timeout_s=60,
                timed_out=lambda: LogUnavailable(f"{tp.topic}[{tp.partition}]: could not read the tail"),
            )
            highest = 0
            for batch in reader.batches({tp: start}, {tp: end}):
                for checked in batch.checked:
                    # Only what this relay signed counts: anything else on the topic is not its work.
                    mine = self._published_by_me(checked)
                    if mine is not None:
                        highest = max(highest, mine)
            if highest or start == begin:
                return highest
            window *= 4

    def run_once(self) -> int:
        """Publish what is pending, one transaction per batch; return how many events went out."""
        # The publisher first: its init_transactions() fences any earlier relay of this origin
        # and settles the transaction it left (a commit under way completes, its markers
        # written; anything else aborts). Read before that, the topic's committed tail could
        # miss a batch that commits a moment later, and the relay would publish it again.
        if self._publisher is None:
            self._position = None
            self._publisher = self.event_log.publisher(
                f"{self.catalogue.prefix}caseledger-relay-{self.origin}"
            )
        if self._position is None:
            self._position = self.published_up_to()
        published = 0
        while True:
            notifications = self.recorder.select_notifications(
                start=self._position, limit=self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return published
            outgoing = self._signed_and_chained(notifications)
            try:
                self._publisher.publish(outgoing)
            except LogUnavailable:
                # The commit may or may not have happened: find out from the topic next time.
                if self.granting is not None:
                    self.granting.abandoned()
                if self.linkage is not None:
                    self.linkage.abandoned()
                self._position = None
                self._close_publisher()
                raise
            if self.granting is not None:
                self.granting.granted()
            if self.linkage is not None:
                self.linkage.committed()
            self._position = notifications[-1].id
            published += len(notifications)

    def _decoded(self, notifications: Sequence[Any]) -> list[dict[str, Any]]:
        """The batch's stored states, with the keys they will ask for brought into memory in
        one or two queries (KeyStore.prime) rather than several per event."""
        states = [self.mapper.transcoder.decode(n.state) for n in notifications]
        if self.keys is not None:
            self.keys.prime(
                pair
                for n, s in zip(notifications, states, strict=True)
                for pair in key_pairs(str(n.originator_id), s)
            )
        return states

    def _encode(self, notification: Any, state: dict[str, Any]) -> tuple[Outgoing, Any]:
        """The message for one stored event, and its domain event (for the grants). An event
        stored in wire form (ledger/tier_codec.py) is published as stored, its tiers unopened
        unless the grants ask what the event says; one in the older form is opened and sealed."""
        mapper = cast(SealingMapper, self.mapper)
        event: Any = LazyEvent(
            resolve_topic(notification.topic),
            state,
            lambda: mapper.domain_event_of(
                notification.topic, dict(state), notification.originator_id, notification.originator_version
            ),
        )
        key_for = None
        if self.granting is not None:
            granting = self.granting
            key_for = lambda aggregate_id, tier: granting.key_for(aggregate_id, tier, event)  # noqa: E731
        sealing = isinstance(self.mapper, SealingMapper)
        if sealing and self.keys is not None:
            found = stored_outgoing(
                self.registry, self.catalogue, notification, state, self.origin, self.keys, key_for
            )
            if found is not None:
                return found, event
        event = (
            mapper.domain_event_of(
                notification.topic, state, notification.originator_id, notification.originator_version
            )
            if sealing
            else self.mapper.to_domain_event(notification)
        )
        outgoing = to_outgoing(
            self.registry,
            self.catalogue,
            event,
            notification.topic,
            self.origin,
            notification.id,
            self.keys,
            key_for,
        )
        return outgoing, event

    def _previous_hash(self, aggregate_id: UUID, version: int, batch: dict[tuple[str, int], bytes]) -> bytes:
        if version == 1:
            return GENESIS
        key = (str(aggregate_id), version - 1)
        found = batch.get(key) or self.chain.get(*key)
        if found is not None:
            return found
        # No link kept (an older data directory): rebuild this aggregate's chain from the store.
        log.warning("relay %s: rebuilding the hash chain of one aggregate from the event store", self.origin)
        previous = GENESIS
        links = []
        for stored in self.recorder.select_events(aggregate_id, lte=version - 1):
            event = self.mapper.to_domain_event(stored)
            value = (
                to_outgoing(
                    self.registry, self.catalogue, event, stored.topic, self.origin, 0, self.keys
                ).record.value
                or b""
            )
            previous = chain_hash(previous, value)
            links.append((str(aggregate_id), stored.originator_version, previous))
        self.chain.put(links)
        return previous

    def _signed_and_chained(self, notifications: Sequence[Any]) -> list[OutgoingRecord]:
        """Each message carries the hash of its aggregate's previous message; the origin signs
        each partition's run of the batch once (topics/run_signatures.py). The links are kept before
        publishing (they are the same if published again). Grants for the keys the batch seals
        with go first, and a case's erasure is followed by tombstones for its keys, all in the
        batch's transaction."""
        batch: dict[tuple[str, int], bytes] = {}
        messages: list[tuple[OutgoingRecord, bytes | None]] = []
        if self._partitions is None:
            # Once: asking on every batch waited for the log's metadata lock behind the views'
            # reads (a fifth of the relay's time at 10 commands/s).
            self._partitions = len(self.event_log.partitions(self.topic))
        partitions = self._partitions
        keys_topic = self.catalogue.keys().name

        def sealed_grant(grant: OutgoingRecord) -> tuple[OutgoingRecord, bytes | None]:
            # Grants are signed alone (compaction may leave a run partial) and in runs.
            if self._key_partitions is None:
                self._key_partitions = len(self.event_log.partitions(keys_topic))
            placed = replace(grant, partition=partition_for(grant.key, self._key_partitions))
            return placed, grant_digest(grant.key.decode(), grant.value)

        for notification, state in zip(notifications, self._decoded(notifications), strict=True):
            erasing = notification.topic.endswith(ERASING_EVENTS)
            if erasing and self.shred is not None:
                # The erasure destroyed the keys at the origin; any made or kept since (a key
                # sealed with before the shred ran, or one for data recorded after it) goes
                # now, before the tombstones name it and before anything else is sealed.
                self.shred(notification.originator_id)
            encoded, event = self._encode(notification, state)
            record = encoded.record
            value = record.value or b""
            if self.granting is not None:
                messages.extend(map(sealed_grant, self.granting.grants_for(encoded.key_ids, event)))
            aggregate_id, version = str(notification.originator_id), notification.originator_version
            previous = self._previous_hash(notification.originator_id, version, batch)
            batch[(aggregate_id, version)] = chain_hash(previous, value)
            headers = (
                *record.headers,
                ("aggregate_version", str(version).encode()),
                ("previous_hash", previous),
            )
            placed = replace(record, headers=headers, partition=partition_for(record.key, partitions))
            messages.append((placed, message_digest(self.origin, aggregate_id, version, previous, value)))
            if self.granting is not None and erasing:
                messages.extend(map(sealed_grant, self.granting.tombstones_for(aggregate_id)))
            if self.linkage is not None:
                # A case's linkage encoding or tombstone, signed alone, in the event's transaction.
                for linked in self.linkage.messages_for(notification.topic, aggregate_id, version):
                    if linked.topic not in self._linkage_partitions:
                        self._linkage_partitions[linked.topic] = len(self.event_log.partitions(linked.topic))
                    count = self._linkage_partitions[linked.topic]
                    messages.append((replace(linked, partition=partition_for(linked.key, count)), None))
        self.chain.put([(a, v, h) for (a, v), h in batch.items()])
        return sign_runs(
            self.origin,
            self.signer.sign,
            messages,
            lambda topic: RUN_SIGNATURE if topic == keys_topic else "signature",
        )

    def run(self, stop: threading.Event, idle_s: float | None = None, retry_s: float = 2.0) -> None:
        """Publish until stop is set; wait out an unreachable broker without losing anything.
        Idle, it wakes when this process commits a command (wakeup), when another process
        does (notices: PostgreSQL NOTIFY), and every idle_s anyway: a notification lost
        costs at most that (1 s when listening, else 0.2 s)."""
        wakeup = self.wakeup = self.wakeup or threading.Event()
        if idle_s is None:
            idle_s = 1.0 if self.notices is not None else 0.2
        if self.notices is not None:
            self.notices.start(wakeup)
        try:
            while not stop.is_set():
                wakeup.clear()  # before reading: a commit from now on wakes the next wait
                if self._pass(stop, retry_s) == 0:
                    _idle(stop, wakeup, idle_s)
        finally:
            if self.notices is not None:
                self.notices.close()

    def _pass(self, stop: threading.Event, retry_s: float) -> int | None:
        try:
            return self.run_once()
        except LogUnavailable as error:
            log.warning("relay %s: %s; retrying in %.0f s", self.origin, error, retry_s)
        except Exception as error:  # the relay must outlive any one failure; nothing is lost
            log.exception("relay %s: %s; retrying in %.0f s", self.origin, type(error).__name__, retry_s)
            if self.granting is not None:
                self.granting.abandoned()
            if self.linkage is not None:
                self.linkage.abandoned()
            self._position = None
            self._partitions = None
            self._close_publisher()
        stop.wait(retry_s)
        return None

    def _close_publisher(self) -> None:
        if self._publisher is not None:
            try:
                self._publisher.close()
            except Exception:  # closing a broken producer must not hide the first error
                log.debug("relay %s: closing the publisher failed", self.origin)
            self._publisher = None

    def close(self) -> None:
        self._close_publisher()


def _idle(stop: threading.Event, wakeup: threading.Event, idle_s: float) -> None:
    """Wait until woken, stopped or idle_s passed (stop is looked at every 0.2 s)."""
    deadline = time.monotonic() + idle_s
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or wakeup.wait(min(left, 0.2)):
            return
