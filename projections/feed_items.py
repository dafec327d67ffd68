"""What the consular feed (projections/feed.py) is made of: its cursor over the log, what it
knows of each case it decides on, and the items it gives out, each with the tiers the rules let
the consulate read and, after a withdrawal or an erasure, the retraction that follows."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from ledger.case_fold import CaseFold
from ledger.errors import InvalidField
from ledger.tier_split import tiers_of
from ledger.tiers import TIERS, is_minor
from projections.rows import amended_date, overlay
from topics.log import TopicPartition
from topics.mapping import Opened

__all__ = [
    "AUDITED",
    "LAG_PATIENCE_S",
    "RETRACTED",
    "CaseContext",
    "Cursor",
    "FeedItem",
    "Taken",
    "decode_cursor",
    "encode_cursor",
    "feed_item",
    "jsonable",
    "narrowed",
]

# Per partition: where to start reading (the first message of a signed run, which is verified
# whole) and the first message not yet delivered.
Cursor = dict[TopicPartition, tuple[int, int]]


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
            "fields": jsonable(self.fields),
            "tiers": list(self.tiers),
            "withheld": list(self.withheld),
        }


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
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
class Taken:
    """A message of the feed read and opened, its item still to be decided."""

    event_type: str
    case_id: str
    version: int
    meta: Mapping[str, Any]
    opened: Opened
    cursor: str
    sealed: tuple[Mapping[str, Any], ...]  # the message's sealed tiers, as the origin sealed them


def feed_item(taken: Taken, allowed: Sequence[str]) -> FeedItem:
    """The item of a message, showing the tiers allowed (public first) that it holds."""
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
    return FeedItem(
        cursor=taken.cursor,
        event_type=taken.event_type,
        aggregate_id=taken.case_id,
        version=taken.version,
        origin=str(taken.meta["origin"]),
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


def narrowed(taken: Taken, item: FeedItem, purpose: str, allowed: Sequence[str]) -> list[FeedItem]:
    """The item, and after it a retraction where the event takes back what the feed showed
    of the case (the feed's purpose withdrawn, the case erased, a birth date corrected to a
    minor's) and the case still shows nothing above public."""
    reason = _NARROWING.get(taken.event_type)
    if taken.event_type == "ConsentWithdrawn" and taken.opened.plain.get("consent_purpose") != purpose:
        reason = None
    if taken.event_type == "DataAmended" and not _touches_birth(taken.opened):
        reason = None
    if reason is None or list(allowed) != ["public"]:
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
