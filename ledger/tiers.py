"""Which tier every field of every event belongs to: the one place encryption and the views
read. Tiers, from open to closed: public, common, reserved, forensic, genetic.

A minor (under 18 when they went missing, or of unknown age) has every `common` field
raised to `reserved` by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Final

from ledger.vocabulary import ADULT_AGE

__all__ = [
    "BY_FIELD",
    "ENVELOPE_TIERS",
    "FIELD_TIERS",
    "TIERS",
    "UnknownField",
    "age_between",
    "age_readings",
    "amendment_tier",
    "fields_by_tier",
    "is_minor",
    "tier_of",
]

TIERS: Final = ("public", "common", "reserved", "forensic", "genetic")
BY_FIELD: Final = "by_field"  # DataAmended.changes: each change has the tier of the field it amends

# The envelope (event type, ids, origin, why, and the month) is public; who recorded an event, its
# exact instants and its command id would give away where it happened: they are common.
ENVELOPE_TIERS: Final[Mapping[str, str]] = {
    "occurred_at": "common",
    "recorded_at": "common",
    "recorded_by": "common",
    "command_id": "common",
}
FIELD_TIERS: Final[Mapping[str, Mapping[str, str]]] = {
    "CaseReported": {
        "source": "public",
        "source_reliability": "public",
        "person.given_names": "common",
        "person.first_surname": "common",
        "person.second_surname": "common",
        "person.father_name": "common",
        "person.mother_name": "common",
        "person.aliases": "common",
        "person.id_documents": "reserved",
        "person.sex": "public",
        "person.date_of_birth": "common",
        "person.age_range": "common",
        "person.nationalities": "public",
        "person.photo": "common",
        "person.physical_description": "common",
        "person.origin": "common",
        "last_seen.date": "common",
        "last_seen.country": "public",
        "last_seen.place": "common",
        "last_seen.coordinates": "reserved",
        "last_seen.route": "public",
        "family_contacts": "reserved",
        "circumstances": "reserved",
        "consented_purposes": "public",
        # Who explained consent and in which language (a language can tell a people): reserved.
        # The countries the case is withheld from go wherever its names go, so that every node
        # that may show the names knows whom never to show them to.
        "consent_explained_by": "reserved",
        "consent_language": "reserved",
        "withheld_from_countries": "common",
        "imported_from": "common",
    },
    "ComprehensiveDataAdded": {
        "source": "public",
        "source_reliability": "public",
        "dental": "forensic",
        "medical": "forensic",
        "marks": "forensic",
        "clothing": "forensic",
        "belongings": "forensic",
        "stature_cm": "forensic",
        "build": "forensic",
        "hair": "forensic",
        "eyes": "forensic",
        "body_marks": "forensic",
        "teeth": "forensic",
        "medical_findings": "forensic",
        "effects": "forensic",
    },
    "SightingRecorded": {
        "seen_on": "common",
        "place.country": "public",
        "place.place": "common",
        "place.coordinates": "reserved",
        "source": "public",
        "source_reliability": "public",
        "description": "reserved",
        "witness": "reserved",
    },
    "DataAmended": {"changes": BY_FIELD, "reason": "reserved"},
    "ConsentGranted": {
        "consent_purpose": "public",
        "given_by": "reserved",
        "explained_by": "reserved",
        "language": "reserved",
        "risks_explained": "reserved",
    },
    "SharingWithheld": {"countries": "common", "reason": "reserved"},
    "ConsentWithdrawn": {"consent_purpose": "public", "withdrawn_by": "reserved"},
    "CasesLinked": {"other_case_id": "common", "basis": "reserved"},
    "CasesJudgedDistinct": {"other_case_id": "common", "reason": "reserved"},
    # Where a located adult lives is theirs to share: even the country is reserved.
    "PersonLocatedAlive": {
        "located_on": "common",
        "place.country": "reserved",
        "place.place": "reserved",
        "place.coordinates": "reserved",
        "whereabouts_may_be_shared": "reserved",
    },
    "BestInterestsDetermined": {"decision": "reserved", "reason": "reserved", "decided_by": "reserved"},
    "IdentificationConfirmed": {"match_id": "common", "remains_id": "common"},
    "IdentificationRevised": {"match_id": "common", "reason": "reserved", "status": "public"},
    # How a family was told, in which language, by whom, from which report, and what they said:
    # the family's own moment, reserved. The plan's number is only a counter.
    "FamilyNotified": {
        "outcome": "public",
        "means": "reserved",
        "whereabouts_shared": "reserved",
        "plan": "public",
        "contact": "reserved",
        "language": "reserved",
        "interpreter": "reserved",
        "report_reference": "reserved",
        "report_copy_handed_over": "reserved",
        "team": "reserved",
        "acknowledgement": "reserved",
        "questions": "reserved",
    },
    "NotificationPlanned": {
        "plan": "public",
        "planned_on": "common",
        "team": "reserved",
        "contact": "reserved",
        "language": "reserved",
        "interpreter": "reserved",
        "place": "reserved",
        "report_copy_handed_over": "reserved",
    },
    # Inquiries: where the person may be held is common (whoever may search may know whom to
    # ask, and the overdue lists need it); what was asked, and above all what was learned and
    # whether the person was found there, are reserved.
    "InquirySent": {
        "inquiry": "public",
        "addressee": "common",
        "addressee_kind": "public",
        "question": "reserved",
        "due_on": "common",
    },
    "InquiryAnswered": {
        "inquiry": "public",
        "outcome": "reserved",
        "learned": "reserved",
        "answered_on": "common",
    },
    # Support: what kind and who provides it is common (consulates and focal points act on
    # it); notes and what came of it are the family's, reserved.
    "SupportReferred": {"referral": "public", "kind": "common", "provider": "common", "note": "reserved"},
    "SupportProvided": {
        "referral": "public",
        "provided_on": "common",
        "outcome": "reserved",
        "notes": "reserved",
    },
    "UpdateCadenceSet": {"every_days": "public", "focal_point": "common"},
    # A linkage candidate (#19): that another country holds a report of this person is itself
    # sensitive; the origin's designated roles read it (ledger/linkage_case.py).
    "LinkageCandidateFound": {
        "other_origin": "reserved",
        "other_case_id": "reserved",
        "score": "reserved",
        "schema_version": "public",
    },
    # Disclosure requests (#19): routed on the linkage topic, reserved in the event; the
    # decision and the requesting country are common, so the approval is sealed with the case's
    # common tier key, whose grant then goes to the requesting node too.
    "DisclosureRequested": {"request": "public", "other_origin": "reserved", "other_case_id": "reserved"},
    "DisclosureDecided": {
        "request": "public",
        "requester_origin": "common",
        "requester_case_id": "reserved",
        "decision": "common",
    },
    "FamilyUpdateGiven": {
        "given_on": "common",
        "given_by": "reserved",
        "means": "common",
        "language": "reserved",
        "summary": "reserved",
        "next_update_on": "common",
    },
    # A language, a gender identity, a pregnancy can tell who a person is: reserved.
    "PersonDetailsRecorded": {
        "languages": "reserved",
        "gender_identity": "reserved",
        "pregnant": "reserved",
        "unaccompanied_child": "reserved",
    },
    "ContactDetailsRecorded": {"contact": "reserved", "languages": "reserved"},
    # Every reader is told to handle the case with care (public); whom the risk concerns and
    # what it is are reserved.
    "ProtectionRiskFlagged": {
        "handle_with_care": "public",
        "scope": "public",
        "contact": "reserved",
        "risks": "reserved",
        "note": "reserved",
    },
    "CaseClosed": {"reason": "public"},
    "CaseReopened": {"reason": "reserved"},
    "DataErased": {"requested_by": "reserved"},
    "RemainsRecovered": {
        "recovered_on": "common",
        "place.country": "public",
        "place.place": "common",
        "place.coordinates": "reserved",
        "context": "public",
        "file_number": "reserved",
        "circumstances": "forensic",
        "imported_from": "common",
    },
    "PostMortemRecorded": {
        "sex": "public",
        "age_range": "forensic",
        "stature_cm": "forensic",
        "condition": "forensic",
        "marks": "forensic",
        "dental": "forensic",
        "clothing": "forensic",
        "belongings": "forensic",
        "time_since_death_days": "forensic",
        "build": "forensic",
        "hair": "forensic",
        "eyes": "forensic",
        "body_marks": "forensic",
        "teeth": "forensic",
        "medical_findings": "forensic",
        "effects": "forensic",
        "documents_found": "forensic",
    },
    "RemainsIdentified": {"match_id": "common", "case_id": "common"},
    # Where remains rest: the cemetery and grave are common (a family, a consulate, a commission
    # must find them), the exact coordinates reserved; who received them is reserved.
    "RemainsBuried": {
        "cemetery": "common",
        "grave": "common",
        "country": "public",
        "coordinates": "reserved",
        "buried_on": "common",
    },
    "RemainsExhumed": {"exhumed_on": "common", "reason": "reserved"},
    "RemainsTransferred": {"from_holder": "forensic", "to_holder": "forensic", "reason": "forensic"},
    "RemainsReleased": {
        "released_to": "public",
        "recipient": "reserved",
        "released_on": "common",
        "from_holder": "forensic",  # a holder, as in SampleTransferred and RemainsTransferred
    },
    "RepatriationCompleted": {
        "part": "public",
        "remains_id": "common",
        "from_country": "public",
        "to_country": "public",
        "completed_on": "common",
        "place": "reserved",
    },
    "RemainsIdentificationRevised": {"match_id": "common", "reason": "forensic"},
    "SampleTaken": {
        "taken_on": "forensic",
        "sample_type": "forensic",
        "holder": "forensic",
        "case_id": "forensic",
        "donor_relationship": "genetic",
        "donor_consent_given_by": "genetic",
        "remains_id": "forensic",
    },
    "SampleTransferred": {"from_holder": "forensic", "to_holder": "forensic", "reason": "forensic"},
    "ProfileRecorded": {"laboratory": "forensic", "kind": "genetic", "profile": "genetic"},
    "SampleDestroyed": {"reason": "forensic"},
    "DonorConsentWithdrawn": {"withdrawn_by": "genetic"},
    "MatchProposed": {
        "case_id": "forensic",
        "remains_id": "forensic",
        "basis": "forensic",
        "score": "forensic",
        "by_matcher": "forensic",
        "explanation": "forensic",
    },
    "MatchReviewed": {"outcome": "forensic", "notes": "forensic"},
    "MatchRevised": {"reason": "forensic"},
    # The audit of reads names the case, the reader (on the envelope) and what the rules said,
    # never what was read: it is public to the network, so that it can be checked.
    "ReadLogOpened": {"case_id": "public"},
    "ReadRecorded": {
        "read_purpose": "public",
        "tiers": "public",
        "outcome": "public",
        "reason": "public",
        "interface": "public",
    },
}


class UnknownField(KeyError):
    """A field with no tier: a new event field must be tagged before it can be published."""


def tier_of(event_type: str, path: str, *, minor: bool = False) -> str:
    """The tier of one field (dotted path), raised for minors where the defaults say so."""
    try:
        tier = FIELD_TIERS[event_type][path]
    except KeyError:
        raise UnknownField(f"{event_type}.{path} has no tier in ledger/tiers.py") from None
    if tier == BY_FIELD:
        raise UnknownField(f"{event_type}.{path}: use amendment_tier() for each change")
    if minor and tier == "common":
        return "reserved"
    return tier


def amendment_tier(fields: Iterable[str], *, minor: bool = False) -> str:
    """The tier of a DataAmended event's changes: the highest tier among the fields amended."""
    tiers = [tier_of("CaseReported", f, minor=minor) for f in fields]
    return max(tiers, key=TIERS.index, default="reserved")


def fields_by_tier(event_type: str, *, minor: bool = False) -> dict[str, list[str]]:
    """Every tagged field of an event type, grouped by tier (BY_FIELD fields apart)."""
    grouped: dict[str, list[str]] = {}
    for path, tier in FIELD_TIERS[event_type].items():
        key = tier if tier == BY_FIELD else tier_of(event_type, path, minor=minor)
        grouped.setdefault(key, []).append(path)
    return grouped


def age_between(born: date | None, on: date | None) -> int | None:
    """Whole years from born to on, when both are known."""
    if not isinstance(born, date) or not isinstance(on, date):
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def is_minor(person: Mapping[str, Any], last_seen: Mapping[str, Any]) -> bool:
    """Under 18 when last seen; with no date of birth, by the top of the age estimate; with
    neither, treated as a possible minor (the stricter default)."""
    age = age_between(person.get("date_of_birth"), last_seen.get("date"))
    if age is not None:
        return age < ADULT_AGE
    estimate = person.get("age_range")
    if estimate:
        return int(estimate["maximum"]) < ADULT_AGE
    return True


def age_readings(person: Mapping[str, Any], last_seen: Mapping[str, Any], on: Any) -> frozenset[str]:
    """Which of "minor" and "adult" the person may be on that day (say, when located): by the
    date of birth when known, else by the age estimate made when last seen, grown by the time
    since; with neither (or no day), both, so that a rule can take the stricter of the two."""
    both = frozenset({"minor", "adult"})
    if not isinstance(on, date):
        return both
    age = age_between(person.get("date_of_birth"), on)
    if age is not None:
        return frozenset({"minor" if age < ADULT_AGE else "adult"})
    estimate, seen = person.get("age_range"), last_seen.get("date")
    if not estimate or not isinstance(seen, date) or on < seen:
        return both
    elapsed = age_between(seen, on) or 0
    birthday_since = 1 if (on.month, on.day) != (seen.month, seen.day) else 0  # a part year more
    youngest, oldest = int(estimate["minimum"]) + elapsed, int(estimate["maximum"]) + elapsed + birthday_since
    readings = set()
    if youngest < ADULT_AGE:
        readings.add("minor")
    if oldest >= ADULT_AGE:
        readings.add("adult")
    return frozenset(readings) or both
