"""A case as a jurisdiction could see it at an instant (#6, deliverable 4), from its views'
timeline: every event recorded by then, folded in version order, with the fields that
jurisdiction may see. What a family has since erased stays erased: the right to withdraw
prevails over the past.

Timelines are shown in the order things happened (#16, item 3): a sighting seen on 3 February
and typed in on 20 March stands on 3 February, with when and by whom it was recorded beside
it. `--as-of` asks what was known (recorded) by an instant, never what had happened by then.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

from ledger.case_fold import CaseFold
from projections.views import TIMELINE_COLUMNS, TimelineRow

__all__ = [
    "HAPPENED_ON",
    "KNOWN_AS_OF",
    "CaseAsOf",
    "T",
    "Timelines",
    "case_as_of",
    "diff",
    "entry_happened",
    "fold",
    "happened",
    "in_happened_order",
    "timeline_items",
    "visible_fields",
]

T = TypeVar("T")

# The field that says on which day a thing happened, where the event says it (common tier or
# above: a reader who may not read it sees the event at the instant it was recorded as
# happening, at most the month).
HAPPENED_ON: Mapping[str, str] = {
    "SightingRecorded": "seen_on",
    "PersonLocatedAlive": "located_on",
    "RemainsRecovered": "recovered_on",
    "SampleTaken": "taken_on",
}


def happened(event_type: str, fields: Mapping[str, Any], occurred_at: datetime) -> datetime:
    """When the thing an event records happened: the day it names (seen on, recovered on, ...)
    unless its occurred_at falls on that day (then the more exact instant), else occurred_at."""
    key = HAPPENED_ON.get(event_type)
    day = fields.get(key) if key else None
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day[:10])
        except ValueError:
            day = None
    if isinstance(day, datetime):
        day = day.date()
    if isinstance(day, date) and day != occurred_at.astimezone(UTC).date():
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return occurred_at


def entry_happened(entry: TimelineRow) -> datetime:
    return happened(entry.event_type, visible_fields(entry), entry.occurred_at)


def in_happened_order(entries: Iterable[T], when: Callable[[T], datetime]) -> list[T]:
    """Entries ordered by when they happened; things of one instant in the order recorded."""
    return sorted(entries, key=lambda e: (when(e).astimezone(UTC), getattr(e, "version", 0)))


_PUBLIC_PERSON = ("sex", "nationalities")
_PUBLIC_LAST_SEEN = ("country", "route")


KNOWN_AS_OF = (
    "what had been recorded by as_of (every event recorded after it left out), "
    "events in the order they happened"
)


@dataclass
class CaseAsOf:
    case_id: str
    as_of: datetime | None
    version: int = 0
    origin: str | None = None
    status: str | None = None
    person: dict[str, Any] = field(default_factory=dict)
    last_seen: dict[str, Any] = field(default_factory=dict)
    consents: list[str] = field(default_factory=list)
    sightings: int = 0
    last_sighting: dict[str, Any] | None = None
    ante_mortem_records: int = 0
    amendments: int = 0
    notifications: int = 0
    linked_cases: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: instants as ISO 8601 text."""
        out = {k: v for k, v in vars(self).items() if k not in ("as_of", "events")}
        out["as_of"] = self.as_of.isoformat() if self.as_of else None
        out["known_as_of"] = KNOWN_AS_OF
        out["events"] = [
            {
                **e,
                "happened_at": e["happened_at"].isoformat(),
                "occurred_at": e["occurred_at"].isoformat(),
                "recorded_at": e["recorded_at"].isoformat(),
            }
            for e in self.in_happened_order()
        ]
        return out

    def in_happened_order(self) -> list[dict[str, Any]]:
        """The events as they happened (they were folded in the order recorded)."""
        return in_happened_order(self.events, lambda e: e["happened_at"])


def timeline_items(entries: Iterable[TimelineRow]) -> list[dict[str, Any]]:
    """A timeline as the API and `--json` give it: in the order things happened, each entry
    with when it happened, when and by whom it was recorded, and the fields shown."""
    return [
        {
            **{k: getattr(e, k) for k in TIMELINE_COLUMNS if k not in ("public", "shown")},
            "occurred_at": e.occurred_at.isoformat(),
            "recorded_at": e.recorded_at.isoformat(),
            "withheld": list(e.withheld),
            "happened_at": entry_happened(e).isoformat(),
            "fields": visible_fields(e),
        }
        for e in in_happened_order(entries, entry_happened)
    ]


def visible_fields(entry: TimelineRow) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(entry.public)
    for key, value in json.loads(entry.shown).items():
        if isinstance(value, dict) and isinstance(fields.get(key), dict):
            fields[key] = {**fields[key], **value}
        elif isinstance(value, list) and isinstance(fields.get(key), list):
            fields[key] = [*fields[key], *value]
        else:
            fields[key] = value
    return fields


def _visible(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def fold(case_id: str, entries: list[TimelineRow], as_of: datetime | None) -> CaseAsOf:
    """The case as these entries show it: its status and consents by the one case fold
    (ledger/case_fold.py), shown as "erased" from an erasure until its status changes again."""
    case = CaseAsOf(case_id, as_of)
    standing: CaseFold | None = None
    for entry in entries:
        f = visible_fields(entry)
        name = entry.event_type
        case.version, case.origin = entry.version, entry.origin
        case.events.append(_event(entry, f))
        standing = (standing or CaseFold()).after(name, f)
        if name in _STANDING:
            case.status = standing.status
        if name in ("CaseReported", "ConsentGranted", "ConsentWithdrawn"):
            case.consents = sorted(standing.consents)
        if name == "CaseReported":
            case.person = _visible(f.get("person") or {})
            case.last_seen = _visible(f.get("last_seen") or {})
        elif name == "DataAmended":
            _amend(case, f.get("changes") or [])
        elif name == "SightingRecorded":
            case.sightings += 1
            case.last_sighting = _visible({"seen_on": f.get("seen_on"), **(f.get("place") or {})}) or None
        elif name == "ComprehensiveDataAdded":
            case.ante_mortem_records += 1
        elif name == "CasesLinked" and f.get("other_case_id"):
            case.linked_cases.append(f["other_case_id"])
        elif name == "FamilyNotified":
            case.notifications += 1
        elif name == "DataErased":
            case.status = "erased"
            case.person = {k: v for k, v in case.person.items() if k in _PUBLIC_PERSON}
            case.last_seen = {k: v for k, v in case.last_seen.items() if k in _PUBLIC_LAST_SEEN}
            case.last_sighting, case.linked_cases = None, []
    return case


def _amend(case: CaseAsOf, changes: list[dict[str, Any]]) -> None:
    case.amendments += 1
    for change in changes:
        section, _, key = str(change["field"]).rpartition(".")
        target = case.person if section == "person" else case.last_seen if section == "last_seen" else None
        if target is not None:
            target[key] = json.loads(change["value"])


# The events after which the case's status is the fold's (an erasure shows as "erased").
_STANDING = (
    "CaseReported",
    "PersonLocatedAlive",
    "IdentificationConfirmed",
    "IdentificationRevised",
    "CaseClosed",
    "CaseReopened",
)


def _event(entry: TimelineRow, f: Mapping[str, Any]) -> dict[str, Any]:
    name = entry.event_type
    return {
        "version": entry.version,
        "event": name,
        "happened_at": happened(name, f, entry.occurred_at),
        "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at,
        "recorded_by": f"{entry.organisation} ({entry.role})",
        "purpose": entry.purpose,
        **({"withheld": list(entry.withheld)} if entry.withheld else {}),
    }


class Timelines(Protocol):
    """Where timelines are read: a jurisdiction's views, or what one caller may see of them."""

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]: ...


def case_as_of(views: Timelines, case_id: str, as_of: datetime | None = None) -> CaseAsOf:
    """The case as the jurisdiction could see it at `as_of` (now, if None)."""
    return fold(case_id, views.timeline(case_id, as_of), as_of)


def diff(views: Timelines, case_id: str, first: datetime, second: datetime) -> dict[str, Any]:
    """What changed in what the jurisdiction could see between two instants."""
    before, after = case_as_of(views, case_id, first).as_dict(), case_as_of(views, case_id, second).as_dict()
    changed: dict[str, Any] = {}
    for key in before:
        if key in ("events", "as_of") or before[key] == after[key]:
            continue
        if isinstance(before[key], dict) and isinstance(after[key], dict):
            keys = set(before[key]) | set(after[key])
            changed[key] = {
                k: {"from": before[key].get(k), "to": after[key].get(k)}
                for k in sorted(keys)
                if before[key].get(k) != after[key].get(k)
            }
        else:
            changed[key] = {"from": before[key], "to": after[key]}
    new_events = [e for e in after["events"] if e["version"] > before["version"]]  # recorded between
    return {
        "case_id": case_id,
        "from": first.isoformat(),
        "to": second.isoformat(),
        "changed": changed,
        "events": new_events,
    }
