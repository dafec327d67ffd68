"""Commands that decide about a recorded case: consent given and withdrawn, cases linked or
judged distinct, the person located alive or identified, the family told, the case closed,
reopened or erased, and the record of a read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ledger import validation as v
from ledger.command_base import CaseCommand, Command, explained_consent
from ledger.errors import InvalidField
from ledger.tiers import TIERS
from ledger.values import (
    Place,
    TeamMember,
    each,
    texts,
)
from ledger.vocabulary import (
    CLOSURE_REASONS,
    LANGUAGES,
    NOTIFICATION_MEANS,
    PURPOSES,
)

__all__ = [
    "INTERFACES",
    "READ_OUTCOMES",
    "CloseCase",
    "ConfirmIdentification",
    "EraseData",
    "GrantConsent",
    "JudgeCasesDistinct",
    "LinkCases",
    "NotifyFamily",
    "RecordPersonLocatedAlive",
    "RecordRead",
    "ReopenCase",
    "WithdrawConsent",
]


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
