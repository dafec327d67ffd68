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
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from ledger.access_rules import AccessRules
from ledger.case_fold import CaseFold
from ledger.commands import Actor, RecordRead
from ledger.errors import CaseNotFound, InvalidField
from ledger.tier_split import tiers_of
from ledger.tiers import TIERS, is_minor
from ledger.vocabulary import PURPOSES
from projections.access import RulesPolicy
from projections.rows import amended_date, overlay
from projections.withheld import withheld_here
from services.bootstrap import Node
from topics.avro import Decoded, UndecodableMessage
from topics.log import LogUnavailable, TopicPartition
from topics.mapping import Opened, open_record
from topics.reader import LogReader, decode_batch, run_start

__all__ = [
    "AUDITED",
    "LAG_PATIENCE_S",
    "RETRACTED",
    "CaseContext",
    "ConsularFeed",
    "Cursor",
    "FeedItem",
    "decode_cursor",
    "encode_cursor",
    "sse",
]

# Per partition: where to start reading (the first message of a signed run, which is verified
# whole) and the first message not yet delivered.
Cursor = dict[TopicPartition, tuple[int, int]]
_HOLD = object()

_MINOR_BANDS = ("0-11", "12-17")
AUDITED = ("reserved", "forensic", "genetic")
# An item that tells a subscriber to drop every field above public it holds of a case, up to a
# version: the family withdrew the feed's purpose, or had the case's data erased.
RETRACTED = "ItemsRetracted"
LAG_PATIENCE_S = 60.0  # how long a case waits for views that lag behind the log


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
    version: int = 0  # the case's last event this context reflects
    erased: bool = False
    withheld: set[str] = field(default_factory=set)  # countries never to be told (a refugee's)

    def amended(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """A corrected date of birth may make the person a minor (as the ledger decides:
        taken away, the age estimate counts, and with none, possibly a minor)."""
        for change in changes:
            if change.get("field") == "person.date_of_birth":
                person = {"date_of_birth": amended_date(dict(change)), "age_range": self.age_range}
                self.minor = is_minor(person, {"date": self.last_seen})

    def fold(self, event_type: str, version: int, opened: Opened) -> None:
        """The case after one more of its events (the next after `version`)."""
        self.version = version
        if event_type == "DataAmended":
            if "common" in opened.closed:
                self.minor = True  # a correction this node cannot open may make a minor of the person
            self.amended(opened.plain.get("changes") or ())
        elif event_type in _STANDING:  # the one case fold (ledger/case_fold.py)
            standing = CaseFold(
                consents=frozenset(self.consents), erased=self.erased, withheld=frozenset(self.withheld)
            ).after(event_type, opened.plain)
            self.consents, self.erased = set(standing.consents), standing.erased
            self.withheld = set(standing.withheld)


# The events that change what a feed decides on besides a corrected date of birth.
_STANDING = ("ConsentGranted", "ConsentWithdrawn", "DataErased", "SharingWithheld")


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
    public: dict[str, Any] = field(default_factory=dict)  # the public fields alone
    # The shown tiers above public as the origin sealed them (tier, key id, ciphertext): what the
    # feed's Kafka topic carries instead of their fields (services/feed_topic.py).
    sealed: tuple[Mapping[str, Any], ...] = ()
    # The origin's sealed envelope (key id, ciphertext) where the item shows the common tier: who
    # recorded it and exactly when. The topic carries it instead of them (the month in the clear).
    envelope: Mapping[str, Any] | None = None

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


# Events after which the feed may show less of a case than before, and why.
_NARROWING = {
    "ConsentWithdrawn": "consent_withdrawn",
    "DataErased": "data_erased",
    "DataAmended": "data_amended",  # a date of birth corrected to a minor's
}


def _touches_birth(opened: Opened) -> bool:
    changes = opened.plain.get("changes") or ()
    return "common" in opened.closed or any(c.get("field") == "person.date_of_birth" for c in changes)


@dataclass(frozen=True)
class _Taken:
    """A message of the feed read and opened, its item still to be decided."""

    event_type: str
    case_id: str
    version: int
    meta: Mapping[str, Any]
    opened: Opened
    cursor: str
    sealed: tuple[Mapping[str, Any], ...]  # the message's sealed tiers, as the origin sealed them


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
        self._lagging: dict[str, float] = {}  # cases held back because views lag: since when

    def read(
        self, cursor: Cursor | None = None, timeout_s: float = 30.0, existing: set[str] | None = None
    ) -> tuple[list[FeedItem], Cursor]:
        """Everything committed after the cursor (from the beginning if None), and the cursor
        after it. Partitions that appeared since the cursor was made are read from their start.
        existing: the log's topics, when the caller listed them already."""
        projector = self.node.projector(self.node.settings.node)
        tps = projector.partitions(existing)
        begins = self.node.event_log.beginning_offsets(tps)
        position = {tp: (cursor or {}).get(tp, (begins[tp], begins[tp])) for tp in tps}
        ends = self.node.event_log.end_offsets(tps)
        pending = [tp for tp in tps if position[tp][1] < ends[tp]]
        if not pending:
            return [], position
        reader = LogReader(
            self.node.event_log,
            self.node.keys.verify,
            self.node.catalogue.origin_of,
            max_records=500,
            timeout_s=timeout_s,
            timed_out=lambda: LogUnavailable(f"the log did not deliver in {timeout_s:.0f} s"),
        )
        self._cases = {}  # each pass decides by the cases as they are now, not as they were
        taken: list[_Taken] = []
        held: set[TopicPartition] = set()
        read: dict[TopicPartition, int] = {}
        for batch in reader.batches({tp: position[tp][0] for tp in pending}, ends):
            read = batch.read
            fresh = [
                c
                for c in batch.checked
                if TopicPartition(c.record.topic, c.record.partition) not in held
                and c.record.offset >= position[TopicPartition(c.record.topic, c.record.partition)][1]
            ]  # not held back, nor delivered before (read again to verify its run)
            decodings = decode_batch(self.node.registry, self.node.data_keys, (c.record for c in fresh))
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
                elif isinstance(found, _Taken):
                    taken.append(found)
        for tp in pending:  # past transaction markers too (every run is whole by the ends)
            if tp not in held:
                reached = max(position[tp][1], read.get(tp, position[tp][1]))
                position[tp] = (reached, reached)
        # Decided once the pass has read to the ends: a consent withdrawn or a case erased later
        # in the log counts for every item before it, replayed or live.
        items = [found for one in taken for found in self._decide(one)]
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

    def _take(self, decoded: Decoded | UndecodableMessage, position: Cursor) -> _Taken | object | None:
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
            opened = open_record(self.node.registry, self.node.data_keys, decoded)
        except UndecodableMessage:
            return None
        context = self._cases.get(case_id) or self._known(case_id)
        if context is None and decoded.name == "CaseReported":
            person, seen = opened.plain["person"], opened.plain["last_seen"]
            context = self._cases[case_id] = CaseContext(
                tuple(person["nationalities"]),
                is_minor(person, seen),
                set(opened.plain["consented_purposes"]),
                seen["date"],
                person.get("age_range"),
                version,
                withheld=set(opened.plain.get("withheld_from_countries") or ()),
            )
        here = self.node.settings.node
        if context is not None and withheld_here(
            decoded.name, decoded.record, self.node.data_keys, RulesPolicy(self.rules), here
        ):
            context.withheld.add(here)  # withheld from this node's country: nothing of it here
        if context is None:
            if self.node.views(here).chain_heads([case_id]):
                return None  # the views passed over it: a case withheld from this country
            return _HOLD
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
        return _Taken(decoded.name, case_id, version, meta, opened, encode_cursor(position), sealed)

    def _decide(self, taken: _Taken) -> list[FeedItem]:
        """The item as the case stands now (its consent, whether it was erased, whether the person
        is a minor), and, after a withdrawal or an erasure that still holds, a retraction."""
        context = self._cases[taken.case_id]
        origin = str(taken.meta["origin"])
        allowed = [
            tier
            for tier in TIERS
            if tier != "genetic"
            and self.rules.decide(
                self.organisation,
                origin,
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
        opened = taken.opened
        fields = dict(opened.public)
        fields.pop("sealed", None)
        public = dict(fields)
        shown = ["public"]
        for tier in allowed[1:]:
            if tier in opened.tiers:
                shown.append(tier)
                for key, value in opened.tiers[tier].items():
                    overlay(fields, key, value)
        held = tiers_of(taken.event_type) | set(opened.tiers) | set(opened.closed)
        withheld = tuple(t for t in TIERS if t in held and t not in shown)
        located = taken.event_type == "PersonLocatedAlive"
        if located:
            fields.pop("place", None)  # whereabouts reach readers through the audited read's rule only
        sealed = [
            entry
            for entry in taken.sealed
            if entry["tier"] in shown[1:] and not (located and entry["tier"] == "reserved")
        ]
        # Who recorded the event and exactly when are of its common tier (Envelope v2): shown
        # with it, from the envelope this node opened; else the month the envelope says in clear.
        meta = opened.plain["meta"] if "common" in shown else taken.meta
        envelope = taken.meta.get("sealed_envelope") if "common" in shown else None
        item = FeedItem(
            cursor=taken.cursor,
            event_type=taken.event_type,
            aggregate_id=taken.case_id,
            version=taken.version,
            origin=origin,
            occurred_at=meta["occurred_at"],
            recorded_at=meta["recorded_at"],
            recorded_by=dict(meta["recorded_by"]),
            fields=fields,
            tiers=tuple(shown),
            withheld=withheld,
            public=public,
            sealed=tuple(sealed),
            envelope=envelope,
        )
        reason = _NARROWING.get(taken.event_type)
        if taken.event_type == "ConsentWithdrawn" and opened.plain.get("consent_purpose") != self.purpose:
            reason = None
        if taken.event_type == "DataAmended" and not _touches_birth(opened):
            reason = None
        if reason is None or allowed != ["public"]:
            return [item]  # nothing taken away, or given back since
        retraction = replace(
            item,
            event_type=RETRACTED,
            fields={"reason": reason, "up_to_version": taken.version},
            tiers=("public",),
            withheld=(),
            public={"reason": reason, "up_to_version": taken.version},
            sealed=(),
            envelope=None,
        )
        return [item, retraction]

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
            erased = row.status == "erased"
            consents = set() if erased else set(row.consents)
            context = CaseContext(
                tuple(row.nationalities), minor, consents, row.last_seen_date, None, row.version, erased
            )
        else:
            context = CaseContext(
                tuple(case.person.get("nationalities") or ()),
                is_minor(case.person, case.last_seen),
                {p for p in PURPOSES if case.has_consent(p)},
                case.last_seen.get("date"),
                case.person.get("age_range"),
                case.version,
                case.erased,
                withheld=set(case.withheld_countries),
            )
        self._cases[case_id] = context
        return context


def sse(item: FeedItem) -> str:
    """One Server-Sent Event: its id is the cursor to resume after it."""
    return f"id: {item.cursor}\nevent: {item.event_type}\ndata: {json.dumps(item.as_json())}\n\n"


def __getattr__(name: str) -> Any:
    """FeedPublisher lives in services/feed_topic.py; `from services.feed import FeedPublisher`
    still finds it."""
    if name == "FeedPublisher":
        from services.feed_topic import FeedPublisher

        return FeedPublisher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
