"""Consular subscriptions: the events about a consulate's nationals that its agreements allow.

The feed reads the shared log itself (every origin's events topic), as a projection does:
it verifies each run's signature and each hash link, opens the tiers the node holds keys
for, and keeps of each event only the tiers the rules let the consulate read for the purpose
it states, on the day it reads. Only case events reach a feed, only of cases whose
nationalities include the country the consulate represents. Genetic data never does.

Its position is a cursor over the log (the next offset of every partition), so a subscriber
resumes exactly where it stopped: as Server-Sent Events with Last-Event-ID, or as a Kafka
topic of its own (`ledger.feed.<organisation>`) for networks that run their own consumers.
Deliveries above the common tier are recorded as reads, like any other.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ledger.access_rules import AccessRules
from ledger.commands import Actor, RecordRead
from ledger.errors import CaseNotFound, InvalidField
from ledger.sealing import tiers_of
from ledger.tiers import TIERS, is_minor
from ledger.vocabulary import PURPOSES
from projections.rows import amended_date, overlay
from services.bootstrap import Node
from topics.avro import UndecodableMessage
from topics.log import LogUnavailable, OutgoingRecord, Publisher, TopicPartition
from topics.mapping import open_record
from topics.seals import RunChecker, place_in_run

# Per partition: where to start reading (the first message of a signed run, which is verified
# whole) and the first message not yet delivered.
Cursor = dict[TopicPartition, tuple[int, int]]
_HOLD = object()

log = logging.getLogger(__name__)

_MINOR_BANDS = ("0-11", "12-17")
AUDITED = ("reserved", "forensic", "genetic")


def encode_cursor(cursor: Cursor) -> str:
    data = {f"{tp.topic}:{tp.partition}": list(place) for tp, place in sorted(cursor.items())}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, field: str = "Last-Event-ID") -> Cursor:
    """A cursor this feed gave out; InvalidField naming the field otherwise."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        cursor = {}
        for where, (start, following) in raw.items():
            topic, _, partition = str(where).rpartition(":")
            if not topic or not isinstance(start, int) or not isinstance(following, int):
                raise ValueError(where)
            if not 0 <= start <= following:
                raise ValueError(where)
            cursor[TopicPartition(topic, int(partition))] = (start, following)
        return cursor
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        raise InvalidField(field, "is not a position this feed gave out") from None


@dataclass
class CaseContext:
    """What a feed decides on: the case's nationalities, whether the person is a minor, and
    the purposes the family consented to (all public in the log)."""

    nationalities: tuple[str, ...]
    minor: bool
    consents: set[str]
    last_seen: date | None = None  # the date last seen, against which a corrected birth date counts
    age_range: Mapping[str, Any] | None = None  # the reported estimate, when a birth date is taken away

    def amended(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """A corrected date of birth may make the person a minor (as the ledger decides:
        taken away, the age estimate counts, and with none, possibly a minor)."""
        for change in changes:
            if change.get("field") == "person.date_of_birth":
                person = {"date_of_birth": amended_date(dict(change)), "age_range": self.age_range}
                self.minor = is_minor(person, {"date": self.last_seen})


@dataclass(frozen=True)
class FeedItem:
    cursor: str  # where to resume after this item
    event_type: str
    aggregate_id: str
    version: int
    origin: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: dict[str, str]
    fields: dict[str, Any]
    tiers: tuple[str, ...]  # the tiers the fields come from
    withheld: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "case_id": self.aggregate_id,
            "version": self.version,
            "origin": self.origin,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "recorded_by": self.recorded_by,
            "fields": _jsonable(self.fields),
            "tiers": list(self.tiers),
            "withheld": list(self.withheld),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


class ConsularFeed:
    """The feed of one consulate, for one purpose."""

    def __init__(
        self,
        node: Node,
        rules: AccessRules,
        organisation: str,
        purpose: str = "search",
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        consulate = rules.organisations.get(organisation)
        if consulate is None or consulate.represents is None:
            raise InvalidField("organisation", f"{organisation} is not a consulate in the rules")
        self.node, self.rules, self.organisation, self.purpose = node, rules, organisation, purpose
        self.country: str = consulate.represents
        self.today = today
        self._cases: dict[str, CaseContext] = {}

    def read(self, cursor: Cursor | None = None, timeout_s: float = 30.0) -> tuple[list[FeedItem], Cursor]:
        """Everything committed after the cursor (from the beginning if None), and the cursor
        after it. Partitions that appeared since the cursor was made are read from their start."""
        projector = self.node.projector(self.node.settings.node)
        tps = projector.partitions()
        begins = self.node.event_log.beginning_offsets(tps)
        position = {tp: (cursor or {}).get(tp, (begins[tp], begins[tp])) for tp in tps}
        ends = self.node.event_log.end_offsets(tps)
        pending = [tp for tp in tps if position[tp][1] < ends[tp]]
        if not pending:
            return [], position
        checker = RunChecker(self.node.keys.verify, self.node.catalogue.origin_of)
        reader = self.node.event_log.reader()
        items: list[FeedItem] = []
        held: set[TopicPartition] = set()
        try:
            reader.assign({tp: position[tp][0] for tp in pending})
            deadline = time.monotonic() + timeout_s
            while any(reader.position(tp) < ends[tp] for tp in pending):
                records = [
                    r
                    for r in reader.poll(0.5, max_records=500)
                    if r.offset < ends[TopicPartition(r.topic, r.partition)]
                ]
                if not records and time.monotonic() > deadline:
                    raise LogUnavailable(f"the log did not deliver in {timeout_s:.0f} s")
                checked = checker.feed(records)
                if all(reader.position(tp) >= ends[tp] for tp in pending):
                    checked += checker.flush()
                for item in checked:
                    record = item.record
                    tp = TopicPartition(record.topic, record.partition)
                    if tp in held or record.offset < position[tp][1]:
                        continue  # held back, or delivered before (read again to verify its run)
                    before = position[tp]
                    place = place_in_run(record)
                    mid_run = item.problem is None and place is not None and 0 < place[0] < place[1]
                    start = record.offset - place[0] + 1 if mid_run and place else record.offset + 1
                    position[tp] = (start, record.offset + 1)
                    found = self._item(record.value, position) if item.problem is None else None
                    if found is _HOLD:  # a case this node cannot place yet: try again next pass
                        position[tp] = before
                        held.add(tp)
                    elif isinstance(found, FeedItem):
                        items.append(found)
            for tp in pending:  # past transaction markers too (every run is whole by the ends)
                if tp not in held:
                    reached = max(position[tp][1], min(reader.position(tp), ends[tp]))
                    position[tp] = (reached, reached)
        finally:
            reader.close()
        self._record_reads(items)
        return items, position

    def _record_reads(self, items: list[FeedItem]) -> None:
        """A delivery above the common tier (a minor's common fields count as reserved) is a
        read of the case, recorded at the node that holds it."""
        audited: dict[str, set[str]] = {}
        for item in items:
            known = self._cases.get(item.aggregate_id)
            minor = known is not None and known.minor
            tiers = {t for t in item.tiers if t in AUDITED or (minor and t == "common")}
            if tiers:
                audited.setdefault(item.aggregate_id, set()).update(tiers)
        for case_id, tiers in audited.items():
            try:
                self.node.ledger.record_read(
                    RecordRead(
                        command_id=f"feed:{uuid.uuid4()}",
                        recorded_by=Actor(self.organisation, "consular_officer"),
                        case_id=uuid.UUID(case_id),
                        read_purpose=self.purpose,
                        tiers=tuple(t for t in TIERS if t in tiers),
                        outcome="granted",
                        reason="consular feed, by the consulate's agreement",
                        interface="feed",
                    )
                )
            except CaseNotFound:
                continue  # another node's case: that node records its own reads (a known limit)

    def _item(self, value: bytes | None, position: Cursor) -> FeedItem | object | None:
        """The feed item of a message; None when it is not for this feed; _HOLD when the case
        it concerns is not known here yet (its report not yet in this node's views)."""
        try:
            decoded = self.node.registry.decode(value)
        except UndecodableMessage:
            return None  # the projection dead-letters it; a feed passes over it
        meta = decoded.record["meta"]
        if meta["aggregate_type"] != "MissingPersonCase":
            return None
        case_id = str(meta["aggregate_id"])
        try:
            opened = open_record(self.node.registry, self.node.data_keys, decoded)
        except UndecodableMessage:
            return None
        if decoded.name == "CaseReported":
            person, seen = opened.plain["person"], opened.plain["last_seen"]
            self._cases[case_id] = CaseContext(
                tuple(person["nationalities"]),
                is_minor(person, seen),
                set(opened.plain["consented_purposes"]),
                seen["date"],
                person.get("age_range"),
            )
        context = self._cases.get(case_id) or self._known(case_id)
        if context is None:
            return _HOLD
        if self.country not in context.nationalities:
            return None
        if decoded.name == "DataAmended":
            context.amended(opened.plain.get("changes") or ())
        if decoded.name in ("ConsentGranted", "ConsentWithdrawn"):
            purpose = str(opened.plain["consent_purpose"])
            (context.consents.add if decoded.name == "ConsentGranted" else context.consents.discard)(purpose)
        nationalities, minor = context.nationalities, context.minor
        origin = str(meta["origin"])
        allowed = [
            tier
            for tier in TIERS
            if tier != "genetic"
            and self.rules.decide(
                self.organisation,
                origin,
                tier,
                self.purpose,
                nationalities=nationalities,
                minor=minor,
                on=self.today(),
            )
        ]
        if "public" not in allowed:
            return None
        if self.purpose not in context.consents:
            allowed = ["public"]  # without the family's consent for this purpose, the public tier only
        fields = dict(opened.public)
        shown = ["public"]
        for tier in allowed[1:]:
            if tier in opened.tiers:
                shown.append(tier)
                for key, value in opened.tiers[tier].items():
                    overlay(fields, key, value)
        held = tiers_of(decoded.name) | set(opened.tiers) | set(opened.closed)
        withheld = tuple(t for t in TIERS if t in held and t not in shown)
        fields.pop("sealed", None)
        return FeedItem(
            cursor=encode_cursor(position),
            event_type=decoded.name,
            aggregate_id=case_id,
            version=int(meta["aggregate_version"]),
            origin=origin,
            occurred_at=meta["occurred_at"],
            recorded_at=meta["recorded_at"],
            recorded_by=dict(meta["recorded_by"]),
            fields=fields,
            tiers=tuple(shown),
            withheld=withheld,
        )

    def _known(self, case_id: str) -> CaseContext | None:
        """A case reported before the cursor: from this node's ledger when it holds the case,
        else from its views (nationalities, age band and consents are public)."""
        try:
            case = self.node.ledger.get_case(uuid.UUID(case_id))
        except (CaseNotFound, ValueError):
            row = self.node.views(self.node.settings.node).rows([case_id]).get(case_id)
            if row is None:
                return None
            # No age band means no date of birth: possibly a minor, the stricter reading (as is_minor).
            minor = row.age_band is None or row.age_band in _MINOR_BANDS
            context = CaseContext(tuple(row.nationalities), minor, set(row.consents), row.last_seen_date)
        else:
            context = CaseContext(
                tuple(case.person.get("nationalities") or ()),
                is_minor(case.person, case.last_seen),
                {p for p in PURPOSES if case.has_consent(p)},
                case.last_seen.get("date"),
                case.person.get("age_range"),
            )
        self._cases[case_id] = context
        return context


def sse(item: FeedItem) -> str:
    """One Server-Sent Event: its id is the cursor to resume after it."""
    return f"id: {item.cursor}\nevent: {item.event_type}\ndata: {json.dumps(item.as_json())}\n\n"


class FeedPublisher:
    """Keeps `ledger.feed.<organisation>` current for networks that run their own consumers.

    Each pass publishes what the feed read since the last message on the topic, in one
    transaction; every message carries the cursor after it (header `cursor`), so after a
    crash the publisher resumes from the topic's own last message: nothing twice, nothing lost.
    """

    def __init__(self, feed: ConsularFeed) -> None:
        self.feed = feed
        self.topic = feed.node.catalogue.feed(feed.organisation)
        self._cursor: Cursor | None = None
        self._publisher: Publisher | None = None

    def run_once(self) -> int:
        log_ = self.feed.node.event_log
        if self._publisher is None:
            log_.create_topics([self.topic])
            prefix = self.feed.node.catalogue.prefix
            self._publisher = log_.publisher(f"{prefix}caseledger-feed-{self.feed.organisation}")
            self._cursor = self.last_cursor()
        items, after = self.feed.read(self._cursor)
        if items:
            self._publisher.publish(
                [
                    OutgoingRecord(
                        self.topic.name,
                        item.aggregate_id.encode(),
                        json.dumps(item.as_json(), sort_keys=True).encode(),
                        (("cursor", item.cursor.encode()), ("event_type", item.event_type.encode())),
                        int(item.recorded_at.timestamp() * 1000),
                    )
                    for item in items
                ]
            )
        self._cursor = after
        return len(items)

    def last_cursor(self) -> Cursor | None:
        """The cursor of the topic's last message (None when it holds none)."""
        log_ = self.feed.node.event_log
        [tp] = log_.partitions(self.topic.name)
        begin, end = log_.beginning_offsets([tp])[tp], log_.end_offsets([tp])[tp]
        window = 16
        while end > begin:
            start = max(begin, end - window)
            reader = log_.reader()
            try:
                reader.assign({tp: start})
                found: bytes | None = None
                deadline = time.monotonic() + 30
                while reader.position(tp) < end:
                    for record in reader.poll(0.5, max_records=500):
                        found = record.header("cursor") or found
                    if time.monotonic() > deadline:
                        raise LogUnavailable(f"{self.topic.name}: could not read its last message")
            finally:
                reader.close()
            if found is not None:
                return decode_cursor(found.decode(), "cursor")
            if start == begin:
                return None
            window *= 4
        return None

    def run(self, stop: threading.Event, idle_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(idle_s)
            except Exception as error:  # a feed must outlive a broker restart
                log.warning("feed %s: %s", self.feed.organisation, type(error).__name__)
                self._close()
                stop.wait(2.0)

    def _close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def close(self) -> None:
        self._close()
