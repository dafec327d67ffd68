"""Commands about a missing person's case: what a caseworker or a family asks the ledger to
record, each checked into an event's attributes before anything is written."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from ledger import validation as v
from ledger.errors import InvalidField
from ledger.imports import ImportedFrom
from ledger.tiers import TIERS
from ledger.values import (
    AgeRange,
    Coordinates,
    Effect,
    FamilyContact,
    IdDocument,
    Mark,
    MedicalFinding,
    PhotoReference,
    Place,
    TeamMember,
    Tooth,
    each,
    optional_range,
    physique,
    texts,
)
from ledger.vocabulary import (
    CLOSURE_REASONS,
    LANGUAGES,
    NOTIFICATION_MEANS,
    PURPOSES,
    RELIABILITY,
    ROLES,
    SEXES,
    SOURCES,
)

__all__ = [
    "AMENDABLE",
    "INTERFACES",
    "READ_OUTCOMES",
    "Actor",
    "AddComprehensiveData",
    "AmendData",
    "CaseCommand",
    "CloseCase",
    "Command",
    "ConfirmIdentification",
    "EraseData",
    "GrantConsent",
    "JudgeCasesDistinct",
    "LinkCases",
    "NotifyFamily",
    "RecordPersonLocatedAlive",
    "RecordRead",
    "RecordSighting",
    "ReopenCase",
    "ReportMissingPerson",
    "WithdrawConsent",
    "explained_consent",
    "source_fields",
]


@dataclass(frozen=True)
class Actor:
    """Who acts: an organisation and the role of the person acting for it."""

    organisation: str
    role: str

    def checked(self, field_prefix: str = "recorded_by") -> dict[str, str]:
        return {
            "organisation": v.required_text(f"{field_prefix}.organisation", self.organisation),
            "role": v.choice(f"{field_prefix}.role", self.role, ROLES),
        }


@dataclass(frozen=True, kw_only=True)
class Command:
    """What every command says: its id (for safe retries), who, for which purpose, when."""

    command_id: str
    recorded_by: Actor
    purpose: str = "search"
    occurred_at: datetime | None = None
    expected_version: int | None = None

    def envelope(self, now: datetime) -> dict[str, Any]:
        occurred_at = self.occurred_at or now
        if not isinstance(occurred_at, datetime):
            raise InvalidField("occurred_at", "must be an instant (ISO 8601 with a time zone)")
        if occurred_at.tzinfo is None:
            raise InvalidField("occurred_at", "must carry a time zone")
        occurred_at = v.instant("occurred_at", occurred_at)
        if occurred_at > now:
            raise InvalidField("occurred_at", f"{occurred_at.isoformat()} is in the future")
        if self.expected_version is not None and (
            isinstance(self.expected_version, bool) or not isinstance(self.expected_version, int)
        ):
            raise InvalidField("expected_version", "must be a whole number")
        return {
            "command_id": v.required_text("command_id", self.command_id, max_length=100),
            "occurred_at": occurred_at.astimezone(UTC),
            "recorded_by": self.recorded_by.checked(),
            "purpose": v.choice("purpose", self.purpose, PURPOSES),
        }


def source_fields(source: str, reliability: str) -> dict[str, str]:
    return {
        "source": v.choice("source", source, SOURCES),
        "source_reliability": v.choice("source_reliability", reliability, RELIABILITY),
    }


@dataclass(frozen=True, kw_only=True)
class ReportMissingPerson(Command):
    """Report a missing person with the basic data set (workshop report, section B); `origin`
    is the person's place of origin (home municipality), not the node that records it."""

    given_names: str
    first_surname: str
    sex: str
    nationalities: tuple[str, ...]
    last_seen_date: date | str
    last_seen_country: str
    second_surname: str | None = None
    father_name: str | None = None
    mother_name: str | None = None
    aliases: tuple[str, ...] = ()
    id_documents: tuple[IdDocument, ...] = ()
    date_of_birth: date | str | None = None
    age_range: AgeRange | None = None
    photo: PhotoReference | None = None
    physical_description: str | None = None
    origin: str | None = None
    last_seen_place: str | None = None
    last_seen_coordinates: Coordinates | None = None
    route: str | None = None
    family_contacts: tuple[FamilyContact, ...] = ()
    circumstances: str | None = None
    source: str = "family"
    source_reliability: str = "unverified"
    consented_purposes: tuple[str, ...] = ()
    consent_explained_by: str | None = None
    consent_language: str | None = None
    withheld_from_countries: tuple[str, ...] = ()
    imported_from: ImportedFrom | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def checked(self, today: date) -> dict[str, Any]:
        """The event's attributes less the envelope, or InvalidField naming the first bad field."""
        if self.extra:
            raise InvalidField(sorted(self.extra)[0], "is not a field of a missing-person report")
        born = v.past_date("date_of_birth", self.date_of_birth, today=today, required=False)
        seen = v.past_date("last_seen_date", self.last_seen_date, today=today, required=True)
        if born is not None and seen is not None and seen < born:
            raise InvalidField("last_seen_date", "is before the date of birth")
        if born is not None and self.age_range is not None:
            raise InvalidField("age_range", "give a date of birth or an estimated age range, not both")
        consented = [
            v.choice(f"consented_purposes[{i}]", p, PURPOSES) for i, p in enumerate(self.consented_purposes)
        ]
        explanation = explained_consent(
            bool(consented), self.consent_explained_by, self.consent_language, prefix="consent_"
        )
        withheld = list(v.countries("withheld_from_countries", self.withheld_from_countries, at_least=0))
        return {
            **source_fields(self.source, self.source_reliability),
            "person": {
                "given_names": v.required_text("given_names", self.given_names),
                "first_surname": v.required_text("first_surname", self.first_surname),
                "second_surname": v.optional_text("second_surname", self.second_surname),
                "father_name": v.optional_text("father_name", self.father_name),
                "mother_name": v.optional_text("mother_name", self.mother_name),
                "aliases": texts("aliases", self.aliases, max_length=200),
                "id_documents": each("id_documents", self.id_documents, at_most=10),
                "sex": v.choice("sex", self.sex, SEXES),
                "date_of_birth": born,
                "age_range": self.age_range.checked("age_range") if self.age_range else None,
                "nationalities": list(v.countries("nationalities", self.nationalities)),
                "photo": self.photo.checked("photo") if self.photo else None,
                "physical_description": v.optional_text(
                    "physical_description", self.physical_description, max_length=2000
                ),
                "origin": v.optional_text("origin", self.origin),
            },
            "last_seen": {
                "date": seen,
                "country": v.country("last_seen_country", self.last_seen_country),
                "place": v.optional_text("last_seen_place", self.last_seen_place),
                "coordinates": self.last_seen_coordinates.checked("last_seen_coordinates")
                if self.last_seen_coordinates
                else None,
                "route": v.optional_text("route", self.route),
            },
            "family_contacts": each("family_contacts", self.family_contacts, at_most=10),
            "circumstances": v.optional_text("circumstances", self.circumstances, max_length=4000),
            # Consent is explicit: a report that names no purpose shares nothing beyond the public tier.
            "consented_purposes": consented,
            "consent_explained_by": explanation["explained_by"],
            "consent_language": explanation["language"],
            "withheld_from_countries": withheld,
            # Only when imported: a report made here keeps the digest it always had.
            **({"imported_from": self.imported_from.checked()} if self.imported_from else {}),
        }


@dataclass(frozen=True, kw_only=True)
class CaseCommand(Command):
    """A command about one recorded case."""

    case_id: UUID


@dataclass(frozen=True, kw_only=True)
class AddComprehensiveData(CaseCommand):
    """Ante-mortem data for forensic comparison: the free text the family gives (dental,
    medical, marks, clothing, belongings) and, beside it, the same described in the DVI
    ante-mortem form's categories (stature, build, hair, eyes, body marks, teeth by FDI
    number, medical findings, clothing and effects)."""

    dental: str | None = None
    medical: str | None = None
    marks: tuple[str, ...] = ()
    clothing: tuple[str, ...] = ()
    belongings: tuple[str, ...] = ()
    stature_cm: tuple[int, int] | None = None
    build: str | None = None
    hair: str | None = None
    eyes: str | None = None
    body_marks: tuple[Mark, ...] = ()
    teeth: tuple[Tooth, ...] = ()
    medical_findings: tuple[MedicalFinding, ...] = ()
    effects: tuple[Effect, ...] = ()
    source: str = "family"
    source_reliability: str = "unverified"

    def checked(self, today: date) -> dict[str, Any]:
        data = {
            "dental": v.optional_text("dental", self.dental, max_length=4000),
            "medical": v.optional_text("medical", self.medical, max_length=4000),
            "marks": texts("marks", self.marks),
            "clothing": texts("clothing", self.clothing),
            "belongings": texts("belongings", self.belongings),
            "stature_cm": optional_range("stature_cm", self.stature_cm, low=30, high=250),
            **physique(self.build, self.hair, self.eyes),
            "body_marks": each("body_marks", self.body_marks),
            "teeth": each("teeth", self.teeth, at_most=32),
            "medical_findings": each("medical_findings", self.medical_findings),
            "effects": each("effects", self.effects),
        }
        if not any(data.values()):
            raise InvalidField("dental", "give at least one ante-mortem detail (dental, marks, stature...)")
        return {**source_fields(self.source, self.source_reliability), **data}


@dataclass(frozen=True, kw_only=True)
class RecordSighting(CaseCommand):
    seen_on: date | str
    place: Place
    source: str
    source_reliability: str = "unverified"
    description: str | None = None
    witness: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "seen_on": v.past_date("seen_on", self.seen_on, today=today, required=True),
            "place": self.place.checked("place"),
            **source_fields(self.source, self.source_reliability),
            "description": v.optional_text("description", self.description, max_length=4000),
            "witness": v.optional_text("witness", self.witness, max_length=500),
        }


# The fields a family may amend, and how each new value is checked.
AMENDABLE: dict[str, Any] = {
    "person.given_names": lambda f, x, t: v.required_text(f, x),
    "person.first_surname": lambda f, x, t: v.required_text(f, x),
    "person.second_surname": lambda f, x, t: v.optional_text(f, x),
    "person.father_name": lambda f, x, t: v.optional_text(f, x),
    "person.mother_name": lambda f, x, t: v.optional_text(f, x),
    "person.aliases": lambda f, x, t: texts(f, x, max_length=200),
    "person.date_of_birth": lambda f, x, t: (lambda d: d.isoformat() if d else None)(
        v.past_date(f, x, today=t, required=False)
    ),
    "person.physical_description": lambda f, x, t: v.optional_text(f, x, max_length=2000),
    "person.origin": lambda f, x, t: v.optional_text(f, x),
    "last_seen.place": lambda f, x, t: v.optional_text(f, x),
    "last_seen.route": lambda f, x, t: v.optional_text(f, x),
    "circumstances": lambda f, x, t: v.optional_text(f, x, max_length=4000),
}


@dataclass(frozen=True, kw_only=True)
class AmendData(CaseCommand):
    """The family corrects or completes the record; the original stays in the history."""

    changes: Mapping[str, Any]
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        if not self.changes:
            raise InvalidField("changes", "name at least one field to amend")
        checked = []
        for name, value in self.changes.items():
            if name not in AMENDABLE:
                raise InvalidField(f"changes.{name}", f"cannot be amended; amendable: {', '.join(AMENDABLE)}")
            new = AMENDABLE[name](f"changes.{name}", value, today)
            checked.append({"field": name, "value": json.dumps(new, ensure_ascii=False)})
        return {"changes": checked, "reason": v.required_text("reason", self.reason, max_length=1000)}


def explained_consent(
    required: bool, explained_by: str | None, language: str | None, *, prefix: str = ""
) -> dict[str, str | None]:
    """Who explained a consent and in which language: required when staff record a consent."""
    checked = {
        "explained_by": v.optional_text(f"{prefix}explained_by", explained_by),
        "language": v.optional_text(f"{prefix}language", language, max_length=100),
    }
    if required and checked["explained_by"] is None:
        raise InvalidField(f"{prefix}explained_by", "say who explained each purpose before consent was given")
    if required and checked["language"] is None:
        raise InvalidField(f"{prefix}language", "say in which language consent was explained and given")
    return checked


@dataclass(frozen=True, kw_only=True)
class GrantConsent(CaseCommand):
    """Consent for one purpose. Recorded by staff on the family's behalf, it says who explained
    the purpose and in which language; a family member granting it themselves may say so."""

    consent_purpose: str
    given_by: str
    explained_by: str | None = None
    language: str | None = None
    risks_explained: bool | None = None  # whether the risks of sharing were explained (None: not said)

    def checked(self, today: date) -> dict[str, Any]:
        if self.risks_explained is not None and not isinstance(self.risks_explained, bool):
            raise InvalidField("risks_explained", "must be true or false")
        return {
            "consent_purpose": v.choice("consent_purpose", self.consent_purpose, PURPOSES),
            "given_by": v.required_text("given_by", self.given_by),
            **explained_consent(self.recorded_by.role != "family_member", self.explained_by, self.language),
            "risks_explained": self.risks_explained,
        }


@dataclass(frozen=True, kw_only=True)
class WithdrawConsent(CaseCommand):
    consent_purpose: str
    withdrawn_by: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "consent_purpose": v.choice("consent_purpose", self.consent_purpose, PURPOSES),
            "withdrawn_by": v.required_text("withdrawn_by", self.withdrawn_by),
        }


@dataclass(frozen=True, kw_only=True)
class LinkCases(CaseCommand):
    """Mark two cases as probably the same person; neither loses anything."""

    other_case_id: UUID
    basis: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"other_case_id": str(self.other_case_id), "basis": v.required_text("basis", self.basis)}


@dataclass(frozen=True, kw_only=True)
class JudgeCasesDistinct(CaseCommand):
    """Record that two cases proposed as possible duplicates are two people, and why."""

    other_case_id: UUID
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"other_case_id": str(self.other_case_id), "reason": v.required_text("reason", self.reason)}


@dataclass(frozen=True, kw_only=True)
class RecordPersonLocatedAlive(CaseCommand):
    located_on: date | str
    place: Place
    whereabouts_may_be_shared: bool

    def checked(self, today: date) -> dict[str, Any]:
        if not isinstance(self.whereabouts_may_be_shared, bool):
            raise InvalidField("whereabouts_may_be_shared", "must be true or false")
        return {
            "located_on": v.past_date("located_on", self.located_on, today=today, required=True),
            "place": self.place.checked("place"),
            "shareable": self.whereabouts_may_be_shared,
        }


@dataclass(frozen=True, kw_only=True)
class ConfirmIdentification(CaseCommand):
    match_id: UUID

    def checked(self, today: date) -> dict[str, Any]:
        return {"match_id": str(self.match_id)}


@dataclass(frozen=True, kw_only=True)
class NotifyFamily(CaseCommand):
    """The family was told: an identification from its report (report_reference), as planned
    (plan: the latest plan unless named), in a language the contact speaks or through an
    interpreter; what the family acknowledged or asked."""

    means: str
    whereabouts_shared: bool = False
    plan: int | None = None
    contact: str | None = None
    language: str | None = None
    interpreter: str | None = None
    report_reference: str | None = None
    report_copy_handed_over: bool | None = None
    team: tuple[TeamMember, ...] = ()
    acknowledgement: str | None = None
    questions: tuple[str, ...] = ()

    def checked(self, today: date) -> dict[str, Any]:
        if not isinstance(self.whereabouts_shared, bool):
            raise InvalidField("whereabouts_shared", "must be true or false")
        if self.report_copy_handed_over is not None and not isinstance(self.report_copy_handed_over, bool):
            raise InvalidField("report_copy_handed_over", "must be true or false")
        if self.plan is not None and (isinstance(self.plan, bool) or not isinstance(self.plan, int)):
            raise InvalidField("plan", "must be a plan's number")
        return {
            "means": v.choice("means", self.means, NOTIFICATION_MEANS),
            "whereabouts_shared": self.whereabouts_shared,
            "plan": self.plan,
            "contact": v.optional_text("contact", self.contact),
            "language": None if self.language is None else v.choice("language", self.language, LANGUAGES),
            "interpreter": v.optional_text("interpreter", self.interpreter),
            "report_reference": v.optional_text("report_reference", self.report_reference, max_length=200),
            "report_copy_handed_over": self.report_copy_handed_over,
            "team": each("team", self.team, at_most=12),
            "acknowledgement": v.optional_text("acknowledgement", self.acknowledgement, max_length=2000),
            "questions": texts("questions", self.questions, at_most=20, max_length=1000),
        }


@dataclass(frozen=True, kw_only=True)
class CloseCase(CaseCommand):
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"reason": v.choice("reason", self.reason, CLOSURE_REASONS)}


@dataclass(frozen=True, kw_only=True)
class ReopenCase(CaseCommand):
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"reason": v.required_text("reason", self.reason, max_length=1000)}


@dataclass(frozen=True, kw_only=True)
class EraseData(CaseCommand):
    """The family withdraws: the case's personal data is erased (crypto-shredding)."""

    requested_by: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"requested_by": v.required_text("requested_by", self.requested_by)}


READ_OUTCOMES = ("granted", "refused")
INTERFACES = ("cli", "http", "consult", "feed")


@dataclass(frozen=True, kw_only=True)
class RecordRead(Command):
    """A read of a case above the common tier (or an attempt), for the audit. The envelope's
    purpose is accountability; the purpose the reader gave is read_purpose, kept as given
    even when the rules do not know it (that is why it was refused)."""

    case_id: UUID
    purpose: str = "accountability"
    read_purpose: str
    tiers: tuple[str, ...]
    outcome: str
    reason: str
    interface: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "read_purpose": v.required_text("read_purpose", self.read_purpose, max_length=100),
            "tiers": [v.choice("tiers", t, TIERS) for t in self.tiers],
            "outcome": v.choice("outcome", self.outcome, READ_OUTCOMES),
            "reason": v.required_text("reason", self.reason, max_length=500),
            "interface": v.choice("interface", self.interface, INTERFACES),
        }
