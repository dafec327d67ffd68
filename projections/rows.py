"""What a jurisdiction's views make of one decoded event: the case row after it and its
timeline entry, as far as the access rules, the family's consent and the keys held allow."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from ledger.case_fold import CaseFold, fold_case
from ledger.tier_split import tiers_of
from ledger.tiers import TIERS, age_between, is_minor, tier_of
from projections.access import AccessPolicy
from projections.views import (
    FORENSIC_TYPES,
    PURGED_COLUMNS,
    UNKNOWN_CASE,
    CaseRow,
    ForensicRow,
    Link,
    TimelineRow,
    is_uuid,
)
from topics.avro import Decoded
from topics.mapping import Opened

__all__ = [
    "RowMaker",
    "age_band",
    "amended_date",
    "links_of",
    "overlay",
    "public_only",
    "status_before_closure",
]


def age_band(born: date | None, seen: date | None) -> str | None:
    """A coarse age band (public tier) from the date of birth and the date last seen."""
    age = age_between(born, seen)
    if age is None:
        return None
    for upper, band in ((11, "0-11"), (17, "12-17"), (29, "18-29"), (44, "30-44"), (59, "45-59")):
        if age <= upper:
            return band
    return "60+"


# Which amended field changes which column of the cases view.
_AMENDABLE_COLUMNS = {
    "person.given_names": "given_names",
    "person.first_surname": "first_surname",
    "person.second_surname": "second_surname",
    "last_seen.place": "last_seen_place",
}


# What the status of remains, a sample or a match becomes after an event.
_FORENSIC_STATUS = {
    "RemainsRecovered": "recovered",
    "PostMortemRecorded": "examined",
    "RemainsIdentified": "identified",
    "RemainsIdentificationRevised": "reopened",
    "SampleTaken": "held",
    "ProfileRecorded": "profiled",
    "SampleDestroyed": "destroyed",
    "DonorConsentWithdrawn": "withdrawn",
    "MatchProposed": "proposed",
    "MatchRevised": "revised",
    "RemainsBuried": "buried",
    "RemainsExhumed": "exhumed",
    "RemainsReleased": "released",
    "RepatriationCompleted": "handed_over",
}

# Custody passing from holder to holder: the holder changes, the status stays.
_TRANSFERS = ("SampleTransferred", "RemainsTransferred")


def overlay(target: dict[str, Any], key: str, value: Any) -> None:
    """Set a field; a section (a dict) is merged field by field with what is there."""
    section = target.get(key)
    target[key] = {**section, **value} if isinstance(section, dict) and isinstance(value, dict) else value


def status_before_closure(event_types: Sequence[str]) -> str:
    """A reopened case's status: what it was before it was last closed, from the types of the
    events before the reopening (the one case fold, ledger/case_fold.py)."""
    return fold_case((name, None) for name in (*event_types, "CaseReopened")).status


def month_text(day: date) -> str:
    """The day's month as strftime("%Y-%m") writes it, without strftime's cost (a tenth of a
    case row's time): the year unpadded below 1000, as strftime leaves it here."""
    return f"{day.year}-{day.month:02d}"


def _json(value: Any) -> str:
    """Canonical JSON of a record's fields (dates as ISO 8601 text)."""
    return json.dumps(value, sort_keys=True, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def amended_date(change: dict[str, Any]) -> date | None:
    """The date an amendment sets (JSON text of an ISO date); None when it takes the date away
    or the value is not one, which readers count as the stricter case."""
    try:
        value = json.loads(change["value"])
        return date.fromisoformat(value) if isinstance(value, str) else None
    except (KeyError, TypeError, ValueError):
        return None


# The events that link remains, samples and matches to a case (or a sample to its remains): the
# fields naming them, by the aggregate the event belongs to ("self") or the one it names.
_LINKING = {
    "MatchProposed": (("self", "case_id"), ("remains_id", "case_id")),
    "RemainsIdentified": (("self", "case_id"), ("match_id", "case_id")),
    "IdentificationConfirmed": (("remains_id", "self"), ("match_id", "self")),
    "SampleTaken": (("self", "case_id"), ("self", "remains_id")),
}


def links_of(name: str, opened: Opened) -> list[Link]:
    """What an event links, from every tier these views could open (shown or not): remains,
    samples and matches answer to the rules of the cases they are linked to, whoever reads them."""
    pairs = _LINKING.get(name)
    if pairs is None:
        return []
    fields, own = opened.plain, str(opened.plain["meta"]["aggregate_id"])
    found = []
    for source, target in pairs:
        aggregate_id = own if source == "self" else fields.get(source)
        linked_id = own if target == "self" else fields.get(target)
        named = aggregate_id is not None and linked_id is not None  # a tier not opened: None
        if named and is_uuid(str(aggregate_id)) and is_uuid(str(linked_id)):
            kind = "remains" if target == "remains_id" else "case"
            found.append(Link(str(aggregate_id), str(linked_id), kind))
        elif source == "self" and linked_id is None and tier_of(name, target) in opened.closed:
            # Linked to a case these views cannot name (a match's forensic tier they hold no key
            # for): the case may be a minor's or withheld, so the record answers to the
            # strictest reading, as a link to a case these views do not hold.
            found.append(Link(own, UNKNOWN_CASE, "case"))
    return found


def public_only(row: CaseRow) -> CaseRow:
    """The row without anything above the public tier."""
    emptied: dict[str, Any] = dict.fromkeys(PURGED_COLUMNS)
    return replace(row, restricted=True, disclosed=False, **emptied)


class RowMaker:
    """Rows for one jurisdiction's views, read for one purpose."""

    def __init__(self, jurisdiction: str, policy: AccessPolicy) -> None:
        self.jurisdiction = jurisdiction
        self.policy = policy
        self.purpose: str = getattr(policy, "purpose", "search")  # what these views are for
        self.consent_blind = False  # folding a case again: only the consent given last counts
        # (case id, its origin) -> whether that origin disclosed the case's common tier to this
        # node (#19): set by the projector from the key grants it keeps (projections/projector.py)
        self.disclosed: Callable[[str, str], bool] = lambda case_id, origin: False

    def consents(self, purposes: Sequence[str] | set[str] | frozenset[str]) -> bool:
        """Whether the family's consent lets these views show a case's personal data."""
        return self.consent_blind or self.purpose in purposes

    def refolded(self) -> RowMaker:
        """A row maker for folding a case again from its first event, blind to consent on the
        way (Projector.refold applies the consent given last)."""
        blind = RowMaker(self.jurisdiction, self.policy)
        blind.purpose, blind.consent_blind, blind.disclosed = self.purpose, True, self.disclosed
        return blind

    def forensic_row(self, name: str, opened: Opened, current: ForensicRow | None) -> ForensicRow | None:
        """Remains, a sample or a match after this event: its status, and the fields of the
        tiers this jurisdiction may read and holds the key for, folded over its events. Genetic
        data never enters a view; a sample's profile stays with the laboratory's reads."""
        meta = opened.plain["meta"]
        aggregate_type = str(meta["aggregate_type"])
        if aggregate_type not in FORENSIC_TYPES or (current is None and name not in _FORENSIC_STATUS):
            return None
        origin = str(meta["origin"])
        visible = {
            tier
            for tier in opened.tiers
            if tier != "genetic"
            and self.policy.may_read(self.jurisdiction, origin, tier, nationalities=(), minor=False)
        }
        state: dict[str, Any] = json.loads(current.state) if current is not None else {}
        if name == "DonorConsentWithdrawn":
            state = {}  # the donor withdrew: the views keep nothing of the sample but its status
        fields = {k: v for k, v in opened.public.items() if k != "sealed"}
        for tier in sorted(visible):
            for key, value in opened.tiers[tier].items():
                overlay(fields, key, value)
        if name in _TRANSFERS and "to_holder" in fields:
            fields["holder"] = fields["to_holder"]
            if name == "RemainsTransferred":  # the remains' chain of custody, in order
                fields["custody"] = [*(state.get("custody") or [fields["from_holder"]]), fields["to_holder"]]
        for key, value in fields.items():
            overlay(state, key, value)
        held = set(opened.tiers) | set(opened.closed) | tiers_of(name)
        withheld = set(current.withheld if current is not None else ()) | (held - visible)
        status = _FORENSIC_STATUS.get(name, current.status if current is not None else "recorded")
        if name == "MatchReviewed":  # the outcome is forensic: "reviewed" to those who may not read it
            status = str(fields.get("outcome") or "reviewed")
        if name in _TRANSFERS and current is not None:
            status = current.status
        return ForensicRow(
            aggregate_id=str(meta["aggregate_id"]),
            aggregate_type=aggregate_type,
            origin=origin,
            version=int(meta["aggregate_version"]),
            status=status,
            recorded_at=meta["recorded_at"],
            state=_json(state),
            withheld=tuple(t for t in TIERS if t in withheld),
        )

    def to_row(
        self, decoded: Decoded, current: CaseRow | None = None, closed: Sequence[str] = ()
    ) -> CaseRow | None:
        """The case row after this event, or None when the event changes no row; closed: the
        tiers of the event these views hold no key for."""
        meta: dict[str, Any] = decoded.record["meta"]
        if decoded.name == "CaseReported":
            return self.reported(decoded.record, closed)
        if current is None or meta["aggregate_type"] != "MissingPersonCase":
            return None
        version = int(meta["aggregate_version"])
        if decoded.name == "SharingWithheld":
            # Withheld from a country (a refugee's): like a minor's, its names are read only
            # through the audited read, which keeps them from that country.
            return public_only(replace(current, version=version))
        if decoded.name == "DataAmended":
            if "common" in closed:
                # A correction these views cannot open may be a date of birth that makes the
                # person a minor: the origin seals it away from readers whose agreements exclude
                # minors. The row keeps its public tier only.
                return public_only(replace(current, version=version, minor=True))
            return self.amended(current, version, decoded.record["changes"])
        # The row's status and consents after the event (ledger/case_fold.py); a reopening's
        # status looks back over the timeline (Projector).
        folded = CaseFold(status=current.status, consents=frozenset(current.consents))
        folded = folded.after(decoded.name, decoded.record)
        if decoded.name in ("ConsentGranted", "ConsentWithdrawn"):
            row = replace(current, version=version, consents=tuple(sorted(folded.consents)))
            # A share for a purpose the family withdrew is refused: the row keeps no personal data.
            return row if self.consents(folded.consents) else public_only(row)
        status = current.status if decoded.name == "CaseReopened" else folded.status
        return replace(current, version=version, status=status)

    def reported(self, body: dict[str, Any], closed: Sequence[str] = ()) -> CaseRow:
        meta: dict[str, Any] = body["meta"]
        origin = str(meta["origin"])
        case_id = str(meta["aggregate_id"])
        person, seen = body["person"], body["last_seen"]
        consents = tuple(sorted(body["consented_purposes"]))
        minor = is_minor(person, seen)
        # Names are `common`, but a minor's are `reserved` (ledger/tiers.py): the views hold at
        # most the common tier, so a minor's identity is read only through an audited read
        # (services/reading.py). A tier this node holds no key for reads as None: restricted
        # whatever the rules say; and a case is shared only with the family's consent for it.
        # Beyond the rules, an origin may disclose one case's common tier to this node on a
        # linkage candidate's request (#19): it wrapped the key for it and said so, signed.
        tier = tier_of("CaseReported", "person.given_names")
        readable = self.policy.may_read(
            self.jurisdiction, origin, tier, nationalities=person["nationalities"], minor=minor
        )
        disclosed = (
            not readable
            and tier not in closed
            and origin != self.jurisdiction
            and self.disclosed(case_id, origin)
        )
        common = (
            person["given_names"] is not None
            and not minor
            and not body.get("withheld_from_countries")  # a refugee's: through the audited read only
            and self.consents(consents)
            and (readable or disclosed)
        )
        row = CaseRow(
            case_id=case_id,
            origin=origin,
            version=meta["aggregate_version"],
            status="missing",
            reported_at=meta["occurred_at"],
            sex=person["sex"],
            age_band=age_band(person["date_of_birth"], seen["date"]),
            nationalities=tuple(person["nationalities"]),
            last_seen_country=seen["country"],
            last_seen_month=month_text(seen["date"]) if seen["date"] else None,
            route=seen["route"],
            restricted=False,
            given_names=person["given_names"],
            first_surname=person["first_surname"],
            second_surname=person["second_surname"],
            last_seen_date=seen["date"],
            last_seen_place=seen["place"],
            consents=consents,
            minor=minor,
            disclosed=disclosed,
        )
        return row if common else public_only(row)

    def amended(self, current: CaseRow, version: int, changes: Sequence[dict[str, Any]]) -> CaseRow:
        """The family's amendments, as far as this view shows the fields they change (the
        changes it cannot open read as absent; the original stays in the history)."""
        if current.restricted:
            # Whether the person is a minor still follows a corrected date of birth these views
            # can open (the correction is in the common tier, or reserved for a minor).
            minor = current.minor
            for change in changes:
                if change["field"] == "person.date_of_birth":
                    born = amended_date(change)
                    minor = is_minor({"date_of_birth": born}, {"date": current.last_seen_date})
            return replace(current, version=version, minor=minor)
        updates: dict[str, Any] = {}
        for change in changes:
            field = str(change["field"])
            column = _AMENDABLE_COLUMNS.get(field)
            if column is not None:
                updates[column] = json.loads(change["value"])
            elif field == "person.date_of_birth":
                # A corrected date of birth may make the person a minor (or of unknown age, a
                # possible one), whose name the views never hold: the row keeps its public tier.
                born = amended_date(change)
                if is_minor({"date_of_birth": born}, {"date": current.last_seen_date}):  # None: possibly
                    return public_only(replace(current, version=version, age_band=None, minor=True))
                updates["age_band"] = age_band(born, current.last_seen_date)
                updates["minor"] = False
        return replace(current, version=version, **updates)

    def timeline_entry(self, name: str, opened: Opened, case_row: CaseRow | None) -> TimelineRow:
        """The event as this view shows it: public fields, and the common ones where the case
        row shows them (an adult's case, shared with consent) or, for remains, samples and
        matches, where the rules let this jurisdiction read the common tier."""
        meta, public, groups, closed = opened.plain["meta"], opened.public, opened.tiers, opened.closed
        if meta["aggregate_type"] == "MissingPersonCase":
            common = case_row is not None and not case_row.restricted
        else:
            common = self.policy.may_read(
                self.jurisdiction, str(meta["origin"]), "common", nationalities=(), minor=False
            )
        shown = groups.get("common") if common and "common" not in closed else None
        # Every tier the event type has counts as withheld, sealed or not: an empty tier says nothing.
        held = set(groups) | set(closed) | tiers_of(name)
        withheld = tuple(t for t in TIERS if t in held and not (t == "common" and shown is not None))
        recorded_by = meta["recorded_by"]
        return TimelineRow(
            aggregate_id=str(meta["aggregate_id"]),
            version=int(meta["aggregate_version"]),
            aggregate_type=str(meta["aggregate_type"]),
            event_type=name,
            origin=str(meta["origin"]),
            occurred_at=meta["occurred_at"],
            recorded_at=meta["recorded_at"],
            organisation=str(recorded_by["organisation"]),
            role=str(recorded_by["role"]),
            purpose=str(meta["purpose"]),
            public=_json(public),
            shown=_json(shown or {}),
            withheld=withheld,
        )
