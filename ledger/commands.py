"""Commands about a missing person's case: what a caseworker or a family asks the ledger to
record, each checked into an event's attributes before anything is written. This module holds
the report and the person's data (more data, sightings, amendments); what every command says is
ledger/command_base.py, the decisions about a case are ledger/case_commands.py, and every name
of the three is exported here too."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger import validation as v
from ledger.case_commands import (
    INTERFACES,
    READ_OUTCOMES,
    CloseCase,
    ConfirmIdentification,
    EraseData,
    GrantConsent,
    JudgeCasesDistinct,
    LinkCases,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordRead,
    ReopenCase,
    WithdrawConsent,
)
from ledger.command_base import Actor, CaseCommand, Command, explained_consent, source_fields
from ledger.errors import InvalidField
from ledger.imports import ImportedFrom
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
    Tooth,
    each,
    optional_range,
    physique,
    texts,
)
from ledger.vocabulary import (
    PURPOSES,
    SEXES,
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
