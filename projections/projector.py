"""Consumes `ledger.events.*` into one jurisdiction's views, exactly once per record.

Each batch's rows and the offsets it consumed commit in one database transaction, so a
crash between batches neither skips nor repeats an event. A record that cannot be decoded
or applied is sent to `ledger.deadletter.<node>` with its reason, then passed over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

from ledger.crypto import MasterKey, RecipientKey, new_data_key
from ledger.keystore import KeyStore
from ledger.memory_key_store import MemoryKeyStore
from projections.access import AccessPolicy, OwnCasesOnly
from projections.checks import Unapplicable, check_envelope
from projections.gc_pacing import fewer_collections
from projections.grant_keys import GrantKeys
from projections.refold import Refolding, refold
from projections.rows import RowMaker
from projections.view_projections import (
    CasesProjection,
    ForensicProjection,
    LinksProjection,
    Pending,
    ProjectedEvent,
    Projection,
    TimelineProjection,
)
from projections.views import (
    FORENSIC_TYPES,
    CaseRow,
    ChainHead,
    JurisdictionViews,
    ViewsFromLaterRelease,
    is_uuid,
    tracking_at,
)
from projections.withheld import withheld_here
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.dead_letters import DeadLetters
from topics.log import EventLog, LogRecord, TopicPartition
from topics.mapping import CREATION_EVENTS, open_record
from topics.reader import LogReader, decode_batch
from topics.run_signatures import Checked
from topics.signing import KeyRegistry
from topics.watch import LogWatch, grants_decided, shared_listing

__all__ = ["Projector"]

log = logging.getLogger(__name__)

# Passes one run_once() begins again when another writer moved a position first (run_once).
_WRITER_RACES = 5


def _position_taken(error: IntegrityError) -> bool:
    """eventsourcing's words when a tracking row already holds this position or a later one."""
    return str(error).startswith("Failed to record tracking for ")


class Projector(GrantKeys):
    """Builds one jurisdiction's views from every origin's events topic."""

    def __init__(
        self,
        jurisdiction: str,
        event_log: EventLog,
        views: JurisdictionViews,
        node: str,
        registry: SchemaRegistry | None = None,
        policy: AccessPolicy | None = None,
        catalogue: Catalogue | None = None,
        batch_size: int = 1000,
        *,
        keys: KeyRegistry,
        data_keys: KeyStore | None = None,
        recipient: RecipientKey | None = None,
    ) -> None:
        """keys: the nodes' public keys (signatures); data_keys: where this node keeps the data
        keys granted to it; recipient: its X25519 key the grants are wrapped for. Without
        them the views open no sealed tier."""
        self.jurisdiction = jurisdiction
        self.event_log = event_log
        self.views = views
        self.node = node
        self.registry = registry or SchemaRegistry()
        self.policy: AccessPolicy = policy or OwnCasesOnly()
        self.row_maker = RowMaker(jurisdiction, self.policy)
        self.row_maker.disclosed = self.disclosed
        self.catalogue = catalogue or Catalogue()
        self.batch_size = batch_size
        self.keys = keys
        self.data_keys: KeyStore = data_keys or MemoryKeyStore(MasterKey(new_data_key()))
        self.recipient = recipient
        self._deadletters: DeadLetters | None = None
        self.worker = ""  # set in a worker process that projects a share of the partitions
        self._upgraded = False
        self._reset_in_pass = False  # prepare() reset the views in this pass (an upgrade)
        self._ends: dict[TopicPartition, int] = {}  # where the last pass read the events to
        self._positions: dict[TopicPartition, int] | None = None  # the views' when prepare() read them

    def partitions(self, existing: set[str] | None = None) -> list[TopicPartition]:
        """The events topics' partitions; existing: the log's topics, when already listed."""
        topics = self.catalogue.events_topics(self.event_log.list_topics() if existing is None else existing)
        return [tp for topic in topics for tp in self.event_log.partitions(topic)]

    def key_partitions(self, existing: set[str] | None = None) -> list[TopicPartition]:
        topic = self.catalogue.keys().name
        listed = self.event_log.list_topics() if existing is None else existing
        return self.event_log.partitions(topic) if topic in listed else []

    def lag(self) -> dict[TopicPartition, int]:
        """How many records each partition holds that the views have not applied yet."""
        tps = self.partitions()
        ends = self.event_log.end_offsets(tps)
        positions = self.views.positions(tps)
        return {tp: max(0, ends[tp] - positions[tp]) for tp in tps}

    def run_once(
        self,
        timeout_s: float = 30.0,
        progress: Callable[[int], None] | None = None,
        existing: set[str] | None = None,
    ) -> int:
        """Apply everything committed up to now (existing: the log's topics, if listed); events
        consumed. Another writer of these views (a command line's sync beside `serve` on one
        node) may commit a position first: this pass's transaction then fails on its tracking
        row, nothing of it kept, and the pass reads on from where the other got to, with the
        keys in memory read again. Only that failure is retried (any other is raised at once),
        and never in a pass that reset the views (a rebuild, an upgrade): reading on from the
        other writer's position would skip what lies before it."""
        for attempt in range(_WRITER_RACES + 1):
            self._reset_in_pass = False
            try:
                return self._pass(timeout_s, progress, existing)
            except IntegrityError as error:
                if attempt == _WRITER_RACES or self._reset_in_pass or not _position_taken(error):
                    raise
                self._positions = None
                self.data_keys.forget_all()
        raise AssertionError("unreachable")

    def _pass(
        self, timeout_s: float, progress: Callable[[int], None] | None, existing: set[str] | None
    ) -> int:
        tps, ends = self.prepare(timeout_s, existing)
        if not tps:
            return 0
        positions, self._positions = self._positions, None
        return self._consume(tps, timeout_s, self.apply, ends, progress, verified=True, positions=positions)

    def prepare(
        self, timeout_s: float = 30.0, existing: set[str] | None = None
    ) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
        """The events partitions and their ends now, with the key grants read up to a point
        after those ends were taken: the relay commits a grant with the first event sealed
        under it, so every event up to the ends has its grant (or its tombstone) read first."""
        if existing is None:
            existing = self.event_log.list_topics()  # a metadata round trip: once per pass
        if not self._upgraded:
            earlier = self.views.upgrade(keep=self.key_partitions(existing))
            if earlier is not None:
                self._reset_in_pass = True
                log.warning(
                    "views %s were built by an earlier release (views format %d): rebuilt from offset 0",
                    self.jurisdiction,
                    earlier,
                )
            self._upgraded = True
        tps = self.partitions(existing)
        if not tps:
            return [], {}
        ends = self.event_log.end_offsets(tps)
        self._ends = ends
        key_tps = self.key_partitions(existing) if self.recipient is not None else []
        # The positions of both in one query (applying the grants moves only theirs): run_once
        # reads the events from them. The grants' ends are taken after the events' (above).
        positions = self.views.positions([*tps, *key_tps])
        self._positions = {tp: positions[tp] for tp in tps}
        if key_tps:
            decided = grants_decided(self.event_log, key_tps, timeout_s, f"views for {self.jurisdiction}")
            key_positions = {tp: positions[tp] for tp in key_tps}
            self._consume(key_tps, timeout_s, self.apply_keys, decided, grants=True, positions=key_positions)
        return tps, ends

    def consume_events(
        self,
        tps: list[TopicPartition],
        ends: dict[TopicPartition, int],
        timeout_s: float = 30.0,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Apply the events of these partitions up to their ends (taken by prepare())."""
        return self._consume(tps, timeout_s, self.apply, ends, progress, verified=True)

    def rebuild(self, progress: Callable[[int], None] | None = None, timeout_s: float = 300.0) -> int:
        """Drop the jurisdiction's views and build them again from offset 0 of every topic."""
        self.views.reset(keep=self.key_partitions())
        return self._pass(timeout_s, progress, None)  # no reading on: see run_once

    def _consume(
        self,
        tps: list[TopicPartition],
        timeout_s: float,
        apply: Any,
        ends: dict[TopicPartition, int] | None = None,
        progress: Callable[[int], None] | None = None,
        verified: bool = False,
        grants: bool = False,
        positions: dict[TopicPartition, int] | None = None,
    ) -> int:
        """Read each partition from the position the views hold to its end, through the one
        verified reader (topics/reader.py). Verified, a run of messages is applied once its
        signature is checked; the position stored never passes the first message of a run
        still held, so a restart reads it again."""
        if not tps:
            return 0
        ends = ends or self.event_log.end_offsets(tps)
        positions = dict(positions) if positions is not None else self.views.positions(tps)
        pending = {tp: positions[tp] for tp in tps if positions[tp] < ends[tp]}
        if not pending:
            return 0
        reader = LogReader(
            self.event_log,
            self.keys.verify if verified or grants else None,
            self.catalogue.origin_of,
            max_records=self.batch_size,
            timeout_s=timeout_s,
            timed_out=lambda: TimeoutError(
                f"views for {self.jurisdiction}: log did not deliver in {timeout_s} s"
            ),
            grants=grants,
        )
        consumed = 0
        # Nothing past the ends taken at the start: a record beyond them may be sealed under a
        # key whose grant was committed after the grants were read.
        with fewer_collections():  # the read and the batches' work (projections/gc_pacing.py)
            for batch in reader.batches(pending, ends):
                checked: Sequence[Any] = batch.checked if verified or grants else batch.records
                advanced = {tp: p for tp, p in batch.resume.items() if p > positions[tp]}
                if checked or advanced:
                    apply(checked, advanced)
                    if progress is not None:  # in offsets, which count transaction markers too
                        progress(sum(p - positions[tp] for tp, p in advanced.items()))
                    positions.update(advanced)
                    consumed += len(checked)
        return consumed

    def run(self, stop: threading.Event, idle_s: float = 1.0, listed_s: float = 5.0) -> None:
        """Keep the views current until stop is set. After each pass it long-polls: a watch on
        the events partitions at the ends the pass reached wakes it as soon as any holds a new
        record (at once when one came during the pass; at most idle_s later otherwise). A pass
        that found nothing new cost the round trips of a whole pass (ends, positions, grants):
        after a busy one the watch's one fetch tells whether another is due. The log's topics
        are listed once every listed_s (a new origin's topic is found within that): listing a
        broker's thousands of topics on every pass was most of a pass's time."""
        watch = LogWatch(self.event_log)
        listing = shared_listing(self.event_log, listed_s)
        try:
            while not stop.is_set():
                try:
                    self.run_once(existing=listing.get())
                    if self._ends:
                        watch.wait(self._ends, idle_s)
                    else:  # no events topic yet: look for one again after a while
                        listing.forget()
                        stop.wait(idle_s)
                except ViewsFromLaterRelease as error:  # waiting will not mend it; the API still reads
                    log.error("projector stopped: %s", error)
                    return
                except Exception as error:  # the loop must outlive a broker restart
                    log.warning("projector %s: %s", self.jurisdiction, type(error).__name__)
                    listing.forget()
                    watch.close()
                    stop.wait(2.0)
        finally:
            watch.close()

    def apply(
        self, checked: Sequence[Checked | LogRecord], positions: dict[TopicPartition, int] | None = None
    ) -> None:
        """Turn records into rows; write rows and the positions reached in one transaction.
        A record whose signature was checked comes as Checked; a bare record is checked alone.
        Each record is checked and opened here, then applied by each view's projection
        (projections/view_projections.py)."""
        bare = [c for c in checked if not isinstance(c, Checked)]
        alone = iter(LogReader(self.event_log, self.keys.verify, self.catalogue.origin_of).check(bare))
        items = [c if isinstance(c, Checked) else next(alone) for c in checked]
        reached: dict[TopicPartition, int] = dict(positions or {})
        ids = sorted({c.record.key.decode(errors="replace") for c in items if c.record.key})
        heads: dict[str, ChainHead] = self.views.chain_heads([i for i in ids if is_uuid(i)])
        decodings = decode_batch(self.registry, self.data_keys, (c.record for c in items))
        cases, projections = self._projections(decodings)
        pending = Pending()
        for item, decoding in zip(items, decodings, strict=True):
            record = item.record
            tp = TopicPartition(record.topic, record.partition)
            reached[tp] = max(reached.get(tp, 0), record.offset + 1)
            try:
                if isinstance(decoding, UndecodableMessage):
                    raise decoding
                link = check_envelope(self.catalogue, record, decoding.record["meta"], heads, item.problem)
                if link is None:
                    continue  # delivered again: it was applied the first time
                opened = open_record(self.registry, self.data_keys, decoding)
                current = cases.current(decoding, pending)
                event = ProjectedEvent(decoding, record, opened, link[0], current)
                if event.meta["aggregate_type"] == "MissingPersonCase" and self._passed_over(
                    decoding, current
                ):
                    heads[link[0]] = pending.heads[link[0]] = link[1]
                    cases.pass_over(event, pending)
                    continue
                for projection in projections:
                    projection.apply(event, pending)
            except (UndecodableMessage, Unapplicable) as error:
                self.dead_letter(record, str(error))
                continue
            heads[link[0]] = pending.heads[link[0]] = link[1]
        self.views.apply(pending.batch([tracking_at(tp, nxt) for tp, nxt in reached.items()]))

    def _projections(
        self, decodings: Sequence[Decoded | UndecodableMessage]
    ) -> tuple[CasesProjection, list[Projection]]:
        """One projection per view for a batch, the rows its later events change read in one query each."""
        later = [
            d.record["meta"]
            for d in decodings
            if isinstance(d, Decoded) and d.name not in CREATION_EVENTS and "meta" in d.record
        ]
        stored = self.views.rows(
            [str(m["aggregate_id"]) for m in later if m["aggregate_type"] == "MissingPersonCase"]
        )
        stored_forensic = self.views.forensic_rows(
            [str(m["aggregate_id"]) for m in later if m["aggregate_type"] in FORENSIC_TYPES]
        )
        cases = CasesProjection(
            self.row_maker,
            stored,
            lambda case_id, upto: refold(self.refolding(), case_id, upto),
            self.disclosed,
            self.views.timeline,
        )
        timeline, forensic = (
            TimelineProjection(self.row_maker),
            ForensicProjection(self.row_maker, stored_forensic),
        )
        return cases, [cases, forensic, timeline, LinksProjection()]

    def refolding(self) -> Refolding:
        """What folding a case again reads (projections/refold.py)."""
        return Refolding(
            *(self.jurisdiction, self.event_log, self.views, self.keys.verify, self.catalogue),
            *(self.registry, self.data_keys, self.row_maker, self.batch_size),
        )

    def _passed_over(self, decoded: Decoded, current: CaseRow | None) -> bool:
        """A case withheld from this country (projections/withheld.py), or an event of a case
        these views hold no row of (one removed so): nothing of it enters the views."""
        if decoded.name != "CaseReported" and current is None:
            return True
        policy, jurisdiction = self.row_maker.policy, self.row_maker.jurisdiction
        return withheld_here(decoded.name, decoded.record, self.data_keys, policy, jurisdiction)

    def dead_letter(self, record: LogRecord, reason: str) -> None:
        """Publish the record, untouched, with the reason and where it came from; PartitionTaken
        instead if another member committed its partition meanwhile (projections/claims.py)."""
        self.views.still_held([TopicPartition(record.topic, record.partition)])
        if self._deadletters is None:  # a worker's id is known only once it runs
            self._deadletters = DeadLetters(
                *(self.event_log, self.catalogue, self.node, f"views {self.jurisdiction}"),
                f"{self.catalogue.prefix}caseledger-deadletter-{self.node}-{self.jurisdiction}{self.worker}",
                (("jurisdiction", self.jurisdiction.encode()),),
            )
        self._deadletters.send(record, reason)

    def close(self) -> None:
        if self._deadletters is not None:
            self._deadletters.close()
