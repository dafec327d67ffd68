"""MissingPersonCase: one missing person as reported at one node, and every step of the search.

Command methods decide (check the field's rules against the current state, then trigger an
event); the events' evolve() only changes state. A person is never presumed dead.
"""

from __future__ import annotations

import functools
import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.case_consent import CaseConsent
from ledger.case_outcomes import CaseOutcomes, identified_remains
from ledger.course import CaseCourse
from ledger.errors import RuleBroken
from ledger.events import LedgerAggregate, Recorded, command_key
from ledger.linkage_case import CaseLinkage
from ledger.notification import FamilyNotification
from ledger.protection import PersonProtection
from ledger.remains_course import CaseRepatriation
from ledger.tiers import age_between, is_minor
from ledger.validation import not_before_birth
from ledger.vocabulary import CaseStatus

__all__ = ["ANTE_MORTEM_V2", "MissingPersonCase", "case_id_for", "identified_remains"]


@functools.lru_cache(maxsize=2048)  # a bulk import asks twice per row (uuid5: ~5 us)
def case_id_for(origin: str, command_id: str) -> UUID:
    """The case id derives from the client's command id, so a retried report names the
    same aggregate and the store refuses a second CaseReported."""
    return uuid5(NAMESPACE_URL, f"caseledger:case:{origin}:{command_id}")


ANTE_MORTEM_V2 = (
    "stature_cm",
    "build",
    "hair",
    "eyes",
    "body_marks",
    "teeth",
    "medical_findings",
    "effects",
)


class MissingPersonCase(
    PersonProtection,
    CaseConsent,
    CaseOutcomes,
    CaseCourse,
    FamilyNotification,
    CaseRepatriation,
    CaseLinkage,
    LedgerAggregate,
):
    """A missing person's case: status is missing, located_alive, identified_deceased or closed."""

    class CaseReported(LedgerAggregate.Created):
        """A missing person reported with the basic data set."""

        class_version = 5
        origin: str
        command_id: str
        occurred_at: datetime
        recorded_by: dict[str, str]
        purpose: str
        source: str
        source_reliability: str
        person: dict[str, Any]
        last_seen: dict[str, Any]
        family_contacts: list[dict[str, Any]]
        circumstances: str | None
        consented_purposes: list[str]
        consent_explained_by: str | None
        consent_language: str | None
        withheld_from_countries: list[str]
        imported_from: dict[str, str] | None = None  # the registry and its reference, when imported

        @staticmethod
        def upcast_v4_v5(state: dict[str, Any]) -> None:
            """v4 was never imported from another registry."""
            state.setdefault("imported_from", None)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """v2 recorded neither who explained consent nor in which language, and shared with
            every country the agreements named."""
            state.update(consent_explained_by=None, consent_language=None, withheld_from_countries=[])

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 had one free-text family contact and no structured identity data."""
            contact = state.pop("family_contact", None)
            state["family_contacts"] = (
                [
                    {
                        "name": "(as reported)",
                        "relationship": "unknown",
                        "phone": contact,
                        "email": None,
                        "address": None,
                    }
                ]
                if contact
                else []
            )
            state["source_reliability"] = "unverified"
            state["consented_purposes"] = [state["purpose"]]
            state["person"].update(id_documents=[], age_range=None, photo=None, physical_description=None)
            state["last_seen"]["coordinates"] = None

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """v3 had no place of origin (the person's home municipality)."""
            if isinstance(state.get("person"), dict):
                state["person"].setdefault("origin", None)

        def apply(self, aggregate: Any) -> None:
            aggregate.origin = self.origin
            aggregate.status = CaseStatus.MISSING
            aggregate.status_before_closure = None
            aggregate.person = dict(self.person)
            aggregate.last_seen = dict(self.last_seen)
            aggregate.family_contacts = list(self.family_contacts or [])  # None once erased
            aggregate.circumstances = self.circumstances
            aggregate.consents = {p: True for p in self.consented_purposes}
            aggregate.reported_by = self.recorded_by["organisation"]
            aggregate.withdrawn_by_family = set()  # purposes the family itself withdrew
            aggregate.consents_on_behalf = {}  # purpose -> the organisation that granted it
            aggregate.withheld_from = set(self.withheld_from_countries or [])  # None once erased
            # Counts, not copies: the views hold the details; decisions need only these.
            aggregate.comprehensive_records = 0
            aggregate.sightings = 0
            aggregate.amendments = 0
            aggregate.linked_cases = set()
            aggregate.located = None
            aggregate.identification = None
            aggregate.notifications = 0
            aggregate.erased = False
            aggregate.command_ids = {self.command_id}

    @classmethod
    def report(cls, origin: str, envelope: dict[str, Any], data: dict[str, Any]) -> MissingPersonCase:
        """A new case from a checked report; its id derives from the command id."""
        return cls._create(
            cls.CaseReported,
            id=case_id_for(origin, command_key(envelope["command_id"])),
            origin=origin,
            **envelope,
            **data,
        )

    # ----------------------------------------------------------------- events

    class ComprehensiveDataAdded(Recorded):
        """Ante-mortem data: dental, medical, marks, clothing, belongings as the family said
        them, and beside them the same in the DVI form's categories (v2)."""

        class_version = 2
        source: str
        source_reliability: str
        dental: str | None
        medical: str | None
        marks: list[str]
        clothing: list[str]
        belongings: list[str]
        stature_cm: dict[str, int] | None
        build: str | None
        hair: str | None
        eyes: str | None
        body_marks: list[dict[str, Any]] | None
        teeth: list[dict[str, Any]] | None
        medical_findings: list[dict[str, Any]] | None
        effects: list[dict[str, Any]] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 had free text only: no structured description was given."""
            for name in ANTE_MORTEM_V2:
                state.setdefault(name, None)

        def evolve(self, case: Any) -> None:
            case.comprehensive_records += 1

    class SightingRecorded(Recorded):
        """Someone saw, or says they saw, the person somewhere."""

        seen_on: date
        place: dict[str, Any]
        source: str
        source_reliability: str
        description: str | None
        witness: str | None

        def evolve(self, case: Any) -> None:
            case.sightings += 1

    class DataAmended(Recorded):
        """The family corrects or completes what was recorded; the original stays in the history."""

        changes: list[dict[str, str]]
        reason: str

        def evolve(self, case: Any) -> None:
            for change in self.changes:
                value = json.loads(change["value"])
                section, _, name = change["field"].rpartition(".")
                target = (
                    case.person if section == "person" else case.last_seen if section == "last_seen" else None
                )
                if target is not None:
                    target[name] = date.fromisoformat(value) if name == "date_of_birth" and value else value
                elif change["field"] == "circumstances":
                    case.circumstances = value
            case.amendments += 1

    class CasesLinked(Recorded):
        """Probably the same person as another case; both cases keep all they hold."""

        other_case_id: str
        basis: str

        def evolve(self, case: Any) -> None:
            if self.other_case_id:  # None once erased
                case.linked_cases.add(self.other_case_id)

    class CasesJudgedDistinct(Recorded):
        """A person judged this case and another, proposed as possible duplicates, to be two
        people: the pair is not proposed again. Nothing is merged or lost."""

        other_case_id: str
        reason: str

        def evolve(self, case: Any) -> None:
            if self.other_case_id:  # None once erased
                # Snapshots taken before this event existed lack the attribute.
                case.__dict__.setdefault("distinct_cases", set()).add(self.other_case_id)

    class FamilyNotified(Recorded):
        """The family was told of the outcome: by which means, to which contact, in which
        language (through which interpreter), by which team, from which identification report
        (and whether they kept a copy), and what they said (v2)."""

        class_version = 2
        outcome: str
        means: str
        whereabouts_shared: bool
        plan: int | None
        contact: str | None
        language: str | None
        interpreter: str | None
        report_reference: str | None
        report_copy_handed_over: bool | None
        team: list[dict[str, str]]
        acknowledgement: str | None
        questions: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 recorded the means only: nothing of the language, the team or the report."""
            state.update(
                plan=None,
                contact=None,
                language=None,
                interpreter=None,
                report_reference=None,
                report_copy_handed_over=None,
                team=[],
                acknowledgement=None,
                questions=[],
            )

        def evolve(self, case: Any) -> None:
            case.notifications += 1

    # ------------------------------------------------------------- state read

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        origin: str
        status: CaseStatus
        status_before_closure: CaseStatus | None
        person: dict[str, Any]
        last_seen: dict[str, Any]
        consents: dict[str, bool]
        linked_cases: set[str]
        located: dict[str, Any] | None
        identification: dict[str, Any] | None
        erased: bool
        reported_by: str
        withdrawn_by_family: set[str]
        consents_on_behalf: dict[str, str]
        withheld_from: set[str]
        family_contacts: list[dict[str, Any]]

    @property
    def full_name(self) -> str:
        """Given names and both surnames, as entered."""
        parts = [
            self.person.get("given_names"),
            self.person.get("first_surname"),
            self.person.get("second_surname"),
        ]
        return " ".join(p for p in parts if p)

    def age_when_missing(self) -> int | None:
        """Whole years between birth and last seen, or the top of the estimated range."""
        exact = age_between(self.person.get("date_of_birth"), self.last_seen.get("date"))
        if exact is not None:
            return exact
        estimate = self.person.get("age_range")
        return None if estimate is None else int(estimate["maximum"])

    @property
    def is_minor(self) -> bool:
        """Under 18 when they went missing; an unknown age counts as possibly a minor."""
        return is_minor(self.person, self.last_seen)

    # -------------------------------------------------------------- decisions

    def _refuse_if_closed(self, action: str) -> None:
        if self.status == CaseStatus.CLOSED:
            raise RuleBroken("closed case", f"a closed case accepts nothing but CaseReopened, not {action}")

    def _refuse_if_erased(self, action: str) -> None:
        if self.erased:
            raise RuleBroken("erased case", f"the family withdrew this case's data; {action} is not accepted")

    def add_comprehensive_data(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_closed("ComprehensiveDataAdded")
        self._refuse_if_erased("ComprehensiveDataAdded")
        self.trigger_event(self.ComprehensiveDataAdded, **envelope, **data)

    def record_sighting(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_closed("SightingRecorded")
        self._refuse_if_erased("SightingRecorded")
        if self.status == CaseStatus.IDENTIFIED_DECEASED:
            raise RuleBroken(
                "status", "the person was identified as deceased; reopen the identification before a sighting"
            )
        not_before_birth("seen_on", data["seen_on"], self.person.get("date_of_birth"))
        self.trigger_event(self.SightingRecorded, **envelope, **data)

    def amend(self, envelope: dict[str, Any], changes: list[dict[str, str]], reason: str) -> None:
        self._refuse_if_closed("DataAmended")
        self._refuse_if_erased("DataAmended")
        self.trigger_event(self.DataAmended, **envelope, changes=changes, reason=reason)

    def link(self, envelope: dict[str, Any], other_case_id: str, basis: str) -> None:
        self._refuse_if_closed("CasesLinked")
        if other_case_id == str(self.id):
            raise RuleBroken("linking", "a case cannot be linked to itself")
        if other_case_id in self.linked_cases:
            return  # already linked: nothing new to record
        self.trigger_event(self.CasesLinked, **envelope, other_case_id=other_case_id, basis=basis)

    def judge_distinct(self, envelope: dict[str, Any], other_case_id: str, reason: str) -> None:
        if other_case_id == str(self.id):
            raise RuleBroken("other_case_id", "a case cannot be judged distinct from itself")
        if other_case_id in getattr(self, "distinct_cases", ()):
            return  # already judged: nothing new to record
        self.trigger_event(self.CasesJudgedDistinct, **envelope, other_case_id=other_case_id, reason=reason)

    def notify_family(
        self, envelope: dict[str, Any], means: str, whereabouts_shared: bool, **details: Any
    ) -> None:
        self._refuse_if_closed("FamilyNotified")
        if self.status not in (CaseStatus.LOCATED_ALIVE, CaseStatus.IDENTIFIED_DECEASED):
            raise RuleBroken(
                "notification", "a family is notified only after an identification or a location"
            )
        if whereabouts_shared:
            if self.status != CaseStatus.LOCATED_ALIVE:
                raise RuleBroken("whereabouts_shared", "there are no whereabouts to share")
            if not self.whereabouts_shareable:
                raise RuleBroken(
                    "whereabouts_shared",
                    "the whereabouts may not be shared: a located adult did not agree, or a located "
                    "minor (or a person who may be one) has no best-interests decision to share them",
                )
        self.trigger_event(
            self.FamilyNotified,
            **envelope,
            outcome=CaseStatus(self.status).value,
            means=means,
            whereabouts_shared=whereabouts_shared,
            **self.notification_details(details),
        )
