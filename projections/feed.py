"""Consular subscriptions as a projection: the events about a consulate's nationals that its
agreements allow.

The feed reads the shared log through the one verified reader (topics/reader.py), as the
views do: it verifies each run's signature and each hash link, opens the tiers the node holds
keys for, and keeps of each event only the tiers the rules let the consulate read for the
purpose it states, on the day it reads. Only case events reach a feed, only of cases whose
nationalities include the country the consulate represents. Genetic data never does. What it
knows of each case (its nationalities, whether the person is a minor, the consents, the
erasure, the countries it is withheld from) is folded by the one case fold
(ledger/case_fold.py, through CaseContext in projections/feed_items.py).

Its position is a cursor over the log (the next offset of every partition), so a subscriber
resumes exactly where it stopped. The adapters that serve it (Server-Sent Events, the Kafka
topic `ledger.feed.<organisation>`, the record of reads above the common tier) are in
services/feed.py and services/feed_topic.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ledger.access_rules import AccessRules
from ledger.keystore import KeyStore
from ledger.tiers import TIERS, is_minor
from projections.access import RulesPolicy
from projections.feed_items import (
    LAG_PATIENCE_S,
    CaseContext,
    Cursor,
    FeedItem,
    Taken,
    encode_cursor,
    feed_item,
    narrowed,
)
from projections.withheld import withheld_here
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.log import EventLog, LogUnavailable, TopicPartition
from topics.mapping import open_record
from topics.reader import LogReader, decode_batch, run_start
from topics.run_signatures import Checked, Verify

__all__ = ["FeedProjection", "FeedSource"]

_HOLD = object()


@dataclass(frozen=True)
class FeedSource:
    """What a feed reads, and what it asks of the node about a case it has not seen reported."""

    here: str  # this node (its country)
    event_log: EventLog
    verify: Verify
    catalogue: Catalogue
    registry: SchemaRegistry
    data_keys: KeyStore
    partitions: Callable[[set[str] | None], list[TopicPartition]]  # the events topics' partitions
    known: Callable[[str], CaseContext | None]  # a case reported before the cursor
    in_views: Callable[[str], bool]  # whether the node's views hold the case's chain


class FeedProjection:
    """The feed of one consulate, for one purpose: items decided by the cases as they stand."""

    def __init__(
        self,
        source: FeedSource,
        rules: AccessRules,
        organisation: str,
        country: str,
        purpose: str = "search",
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.source, self.rules, self.organisation = source, rules, organisation
        self.country, self.purpose, self.today = country, purpose, today
        self.cases: dict[str, CaseContext] = {}
        self._lagging: dict[str, float] = {}  # cases held back because views lag: since when

    def read(
        self, cursor: Cursor | None = None, timeout_s: float = 30.0, existing: set[str] | None = None
    ) -> tuple[list[FeedItem], Cursor]:
        """Everything committed after the cursor (from the beginning if None), and the cursor
        after it. Partitions that appeared since the cursor was made are read from their start.
        existing: the log's topics, when the caller listed them already."""
        event_log = self.source.event_log
        tps = self.source.partitions(existing)
        # Only partitions the cursor does not know yet are read from their start: asking for
        # every partition's beginning cost a round trip on every pass.
        new = [tp for tp in tps if tp not in (cursor or {})]
        begins = event_log.beginning_offsets(new) if new else {}
        position = {tp: (cursor or {}).get(tp, (begins.get(tp, 0), begins.get(tp, 0))) for tp in tps}
        ends = event_log.end_offsets(tps)
        pending = [tp for tp in tps if position[tp][1] < ends[tp]]
        if not pending:
            return [], position
        reader = LogReader(
            event_log,
            self.source.verify,
            self.source.catalogue.origin_of,
            max_records=500,
            timeout_s=timeout_s,
            timed_out=lambda: LogUnavailable(f"the log did not deliver in {timeout_s:.0f} s"),
        )
        self.cases = {}  # each pass decides by the cases as they are now, not as they were
        taken: list[Taken] = []
        held: set[TopicPartition] = set()
        read: dict[TopicPartition, int] = {}
        for batch in reader.batches({tp: position[tp][0] for tp in pending}, ends):
            read = batch.read
            taken += self._take_batch(batch.checked, position, held)
        for tp in pending:  # past transaction markers too (every run is whole by the ends)
            if tp not in held:
                reached = max(position[tp][1], read.get(tp, position[tp][1]))
                position[tp] = (reached, reached)
        # Decided once the pass has read to the ends: a consent withdrawn or a case erased later
        # in the log counts for every item before it, replayed or live.
        return [found for one in taken for found in self._decide(one)], position

    def _take_batch(self, checked: list[Checked], position: Cursor, held: set[TopicPartition]) -> list[Taken]:
        """A batch's messages taken, moving the cursor past each; a partition whose case
        cannot be placed yet is held (read again next pass from there)."""
        fresh = [
            c
            for c in checked
            if TopicPartition(c.record.topic, c.record.partition) not in held
            and c.record.offset >= position[TopicPartition(c.record.topic, c.record.partition)][1]
        ]  # not held back, nor delivered before (read again to verify its run)
        decodings = decode_batch(self.source.registry, self.source.data_keys, (c.record for c in fresh))
        taken: list[Taken] = []
        for item, decoded in zip(fresh, decodings, strict=True):
            record = item.record
            tp = TopicPartition(record.topic, record.partition)
            if tp in held:
                continue
            before = position[tp]
            position[tp] = (run_start(item), record.offset + 1)
            found = self._take(decoded, position) if item.problem is None else None
            if found is _HOLD:  # a case this node cannot place yet: try again next pass
                position[tp] = before
                held.add(tp)
            elif isinstance(found, Taken):
                taken.append(found)
        return taken

    def _take(self, decoded: Decoded | UndecodableMessage, position: Cursor) -> Taken | object | None:
        """The message opened, its case's context brought up to it; None when it is not for this
        feed; _HOLD when the case it concerns is not known here yet (its report not yet in this
        node's views), or known only as it was before events this pass did not read."""
        if isinstance(decoded, UndecodableMessage):
            return None  # the projection dead-letters it; a feed passes over it
        meta = decoded.record["meta"]
        if meta["aggregate_type"] != "MissingPersonCase":
            return None
        case_id, version = str(meta["aggregate_id"]), int(meta["aggregate_version"])
        try:
            opened = open_record(self.source.registry, self.source.data_keys, decoded)
        except UndecodableMessage:
            return None
        context = self.cases.get(case_id) or self._known(case_id)
        if context is None and decoded.name == "CaseReported":
            person, seen = opened.plain["person"], opened.plain["last_seen"]
            context = self.cases[case_id] = CaseContext(
                tuple(person["nationalities"]),
                is_minor(person, seen),
                set(opened.plain["consented_purposes"]),
                seen["date"],
                person.get("age_range"),
                version,
                withheld=set(opened.plain.get("withheld_from_countries") or ()),
            )
        here = self.source.here
        if context is not None and withheld_here(
            decoded.name, decoded.record, self.source.data_keys, RulesPolicy(self.rules), here
        ):
            context.withheld.add(here)  # withheld from this node's country: nothing of it here
        if context is None:
            return None if self.source.in_views(case_id) else _HOLD  # in views: passed over there
        if version > context.version + 1:  # what this node knows of the case lags the log
            since = self._lagging.setdefault(case_id, time.monotonic())
            if time.monotonic() - since < LAG_PATIENCE_S:
                return _HOLD  # ask again next pass
            # Views stuck behind (an event they dead-lettered): the stricter reading, never the past.
            context.consents, context.minor, context.version = set(), True, version - 1
        self._lagging.pop(case_id, None)
        if version == context.version + 1:
            context.fold(decoded.name, version, opened)
        if self.country not in context.nationalities or self.rules.withholds(
            self.organisation, context.withheld
        ):
            return None  # a case withheld from the consulate's country: nothing of it, not even public
        sealed = tuple(decoded.record.get("sealed") or ())
        return Taken(decoded.name, case_id, version, meta, opened, encode_cursor(position), sealed)

    def _known(self, case_id: str) -> CaseContext | None:
        found = self.source.known(case_id)
        if found is not None:
            self.cases[case_id] = found
        return found

    def _decide(self, taken: Taken) -> list[FeedItem]:
        """The item as the case stands now (its consent, whether it was erased, whether the person
        is a minor), and, after a withdrawal or an erasure that still holds, a retraction."""
        context = self.cases[taken.case_id]
        allowed = [
            tier
            for tier in TIERS
            if tier != "genetic"
            and self.rules.decide(
                self.organisation,
                str(taken.meta["origin"]),
                tier,
                self.purpose,
                nationalities=context.nationalities,
                minor=context.minor,
                withheld_from=context.withheld,  # withheld since: replayed items too
                on=self.today(),
            )
        ]
        if "public" not in allowed:
            return []
        if context.erased or self.purpose not in context.consents:
            allowed = ["public"]  # without the family's consent for this purpose, the public tier only
        return narrowed(taken, feed_item(taken, allowed), self.purpose, allowed)
