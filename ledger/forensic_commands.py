"""Commands about remains, samples and matches: the forensic side of a search."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ledger import validation as v
from ledger.commands import Command
from ledger.errors import InvalidField
from ledger.imports import ImportedFrom
from ledger.values import (
    AgeRange,
    Effect,
    FoundDocument,
    Mark,
    MedicalFinding,
    Place,
    Tooth,
    each,
    optional_range,
    physique,
    texts,
)
from ledger.vocabulary import (
    DONOR_RELATIONSHIPS,
    ESTIMATED_SEXES,
    MATCH_BASES,
    MATCH_OUTCOMES,
    PROFILE_KINDS,
    RECOVERY_CONTEXTS,
    REMAINS_CONDITIONS,
    SAMPLE_TYPES,
    SEXES,
)

__all__ = [
    "POST_MORTEM_SEXES",
    "DestroySample",
    "IdentifyRemains",
    "ProposeMatch",
    "RecordPostMortem",
    "RecordProfile",
    "RecordRemainsRecovered",
    "ReopenIdentification",
    "ReviewMatch",
    "ReviseMatch",
    "TakeSample",
    "TransferSample",
    "WithdrawDonorConsent",
]


@dataclass(frozen=True, kw_only=True)
class RecordRemainsRecovered(Command):
    recovered_on: date | str
    place: Place
    context: str
    file_number: str | None = None
    circumstances: str | None = None
    imported_from: ImportedFrom | None = None

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "recovered_on": v.past_date("recovered_on", self.recovered_on, today=today, required=True),
            "place": self.place.checked("place"),
            "context": v.choice("context", self.context, RECOVERY_CONTEXTS),
            "file_number": v.optional_text("file_number", self.file_number, max_length=100),
            "circumstances": v.optional_text("circumstances", self.circumstances, max_length=4000),
            **({"imported_from": self.imported_from.checked()} if self.imported_from else {}),
        }


POST_MORTEM_SEXES = (*ESTIMATED_SEXES, *(s for s in SEXES if s not in ESTIMATED_SEXES))
"""The estimated sex of remains; "intersex" and "unknown" are still read, as first released."""


@dataclass(frozen=True, kw_only=True)
class RecordPostMortem(Command):
    """The examination of remains, in the categories of the DVI post-mortem form: estimated
    sex, age, stature and time since death, condition, build, hair, eyes, body marks, teeth
    by FDI number, medical findings, clothing and effects, documents found; the free text
    (marks, dental, clothing, belongings) stays beside the structure."""

    remains_id: UUID
    sex: str
    condition: str
    age_range: AgeRange | None = None
    stature_cm: tuple[int, int] | None = None
    marks: tuple[str, ...] = ()
    dental: str | None = None
    clothing: tuple[str, ...] = ()
    belongings: tuple[str, ...] = ()
    time_since_death_days: tuple[int, int] | None = None
    build: str | None = None
    hair: str | None = None
    eyes: str | None = None
    body_marks: tuple[Mark, ...] = ()
    teeth: tuple[Tooth, ...] = ()
    medical_findings: tuple[MedicalFinding, ...] = ()
    effects: tuple[Effect, ...] = ()
    documents_found: tuple[FoundDocument, ...] = ()

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "sex": v.choice("sex", self.sex, POST_MORTEM_SEXES),
            "age_range": self.age_range.checked("age_range") if self.age_range else None,
            "stature_cm": optional_range("stature_cm", self.stature_cm, low=30, high=250),
            "condition": v.choice("condition", self.condition, REMAINS_CONDITIONS),
            "marks": texts("marks", self.marks),
            "dental": v.optional_text("dental", self.dental, max_length=4000),
            "clothing": texts("clothing", self.clothing),
            "belongings": texts("belongings", self.belongings),
            "time_since_death_days": optional_range(
                "time_since_death_days", self.time_since_death_days, low=0, high=36500
            ),
            **physique(self.build, self.hair, self.eyes),
            "body_marks": each("body_marks", self.body_marks),
            "teeth": each("teeth", self.teeth, at_most=32),
            "medical_findings": each("medical_findings", self.medical_findings),
            "effects": each("effects", self.effects),
            "documents_found": each("documents_found", self.documents_found, at_most=10),
        }


@dataclass(frozen=True, kw_only=True)
class TakeSample(Command):
    """From a relative of a missing person (case_id and relationship) or from remains."""

    taken_on: date | str
    sample_type: str
    holder: str
    case_id: UUID | None = None
    donor_relationship: str | None = None
    donor_consent_given_by: str | None = None  # the relative who gave the sample consents, themself
    remains_id: UUID | None = None

    def checked(self, today: date) -> dict[str, Any]:
        if (self.case_id is None) == (self.remains_id is None):
            raise InvalidField(
                "case_id", "a sample comes from a relative (case_id) or from remains (remains_id)"
            )
        if self.case_id is not None and self.donor_relationship is None:
            raise InvalidField("donor_relationship", "is required for a reference sample from a relative")
        if self.case_id is not None and self.donor_consent_given_by is None:
            raise InvalidField(
                "donor_consent_given_by",
                "a reference sample is taken with the donor's own consent: who gave it",
            )
        if self.remains_id is not None and self.donor_relationship is not None:
            raise InvalidField("donor_relationship", "does not apply to a sample from remains")
        if self.remains_id is not None and self.donor_consent_given_by is not None:
            raise InvalidField("donor_consent_given_by", "does not apply to a sample from remains")
        return {
            "taken_on": v.past_date("taken_on", self.taken_on, today=today, required=True),
            "sample_type": v.choice("sample_type", self.sample_type, SAMPLE_TYPES),
            "holder": v.required_text("holder", self.holder),
            "case_id": str(self.case_id) if self.case_id else None,
            "donor_relationship": v.choice("donor_relationship", self.donor_relationship, DONOR_RELATIONSHIPS)
            if self.donor_relationship is not None
            else None,
            "donor_consent_given_by": v.optional_text(
                "donor_consent_given_by", self.donor_consent_given_by, max_length=200
            ),
            "remains_id": str(self.remains_id) if self.remains_id else None,
        }


@dataclass(frozen=True, kw_only=True)
class TransferSample(Command):
    sample_id: UUID
    from_holder: str
    to_holder: str
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "from_holder": v.required_text("from_holder", self.from_holder),
            "to_holder": v.required_text("to_holder", self.to_holder),
            "reason": v.required_text("reason", self.reason, max_length=1000),
        }


@dataclass(frozen=True, kw_only=True)
class RecordProfile(Command):
    sample_id: UUID
    laboratory: str
    kind: str
    profile: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "laboratory": v.required_text("laboratory", self.laboratory),
            "kind": v.choice("kind", self.kind, PROFILE_KINDS),
            "profile": v.required_text("profile", self.profile, max_length=20000),
        }


@dataclass(frozen=True, kw_only=True)
class DestroySample(Command):
    sample_id: UUID
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"reason": v.required_text("reason", self.reason, max_length=1000)}


@dataclass(frozen=True, kw_only=True)
class ProposeMatch(Command):
    case_id: UUID
    remains_id: UUID
    basis: str
    score: float
    by_matcher: bool = False
    # The matcher's reasons: (field, comparison, weight in bits) for each comparison it made.
    explanation: tuple[tuple[str, str, float], ...] = ()

    def checked(self, today: date) -> dict[str, Any]:
        if (
            isinstance(self.score, bool)
            or not isinstance(self.score, int | float)
            or not math.isfinite(self.score)
        ):
            raise InvalidField("score", "must be a number")
        if not 0.0 <= self.score <= 1.0:
            raise InvalidField("score", f"{self.score} is outside 0–1 (a posterior probability)")
        return {
            "case_id": str(self.case_id),
            "remains_id": str(self.remains_id),
            "basis": v.choice("basis", self.basis, MATCH_BASES),
            "score": float(self.score),
            "by_matcher": bool(self.by_matcher),
            "explanation": _explanation(self.explanation),
        }


def _explanation(given: Any) -> list[dict[str, Any]] | None:
    """The matcher's comparisons as the event keeps them; None when it gave none."""
    if not given:
        return None
    if not isinstance(given, list | tuple) or len(given) > 100:
        raise InvalidField("explanation", "must be a list of at most 100 (field, comparison, weight)")
    kept = []
    for i, item in enumerate(given):
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise InvalidField(f"explanation[{i}]", "must be (field, comparison, weight)")
        field, comparison, weight = item
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            raise InvalidField(f"explanation[{i}].weight", "must be a finite number")
        kept.append(
            {
                "field": v.required_text(f"explanation[{i}].field", field, max_length=100),
                "comparison": v.required_text(f"explanation[{i}].comparison", comparison, max_length=500),
                "weight": float(weight),
            }
        )
    return kept


@dataclass(frozen=True, kw_only=True)
class ReviewMatch(Command):
    match_id: UUID
    outcome: str
    notes: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "outcome": v.choice("outcome", self.outcome, MATCH_OUTCOMES),
            "notes": v.optional_text("notes", self.notes, max_length=4000),
        }


@dataclass(frozen=True, kw_only=True)
class ReviseMatch(Command):
    """Take back a confirmed match, with the reason; the identification it supported reopens."""

    match_id: UUID
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"reason": v.required_text("reason", self.reason, max_length=4000)}


@dataclass(frozen=True, kw_only=True)
class IdentifyRemains(Command):
    """At the remains' own node: record their identification through a confirmed match made
    elsewhere (the case's node cannot write on remains it does not hold)."""

    remains_id: UUID
    match_id: UUID

    def checked(self, today: date) -> dict[str, Any]:
        return {"match_id": str(self.match_id)}


@dataclass(frozen=True, kw_only=True)
class WithdrawDonorConsent(Command):
    """The relative who gave a reference sample withdraws their consent: the sample's data
    (its profile included) is erased with the keys it is sealed under."""

    sample_id: UUID
    withdrawn_by: str

    def checked(self, today: date) -> dict[str, Any]:
        return {"withdrawn_by": v.required_text("withdrawn_by", self.withdrawn_by, max_length=200)}


@dataclass(frozen=True, kw_only=True)
class ReopenIdentification(Command):
    """At the node holding a case identified through a match revised at another node (where
    the match and its remains are, and were reopened together): record the revision here."""

    case_id: UUID
    match_id: UUID
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "match_id": str(self.match_id),
            "reason": v.required_text("reason", self.reason, max_length=4000),
        }
