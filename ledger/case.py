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

from ledger.consent import FAMILY_ROLE, family_consent_state, refuse_grant_over_the_family
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


def identified_remains(case: Any) -> dict[str, str]:
    """remains id -> match id of every identification the case holds (an older snapshot: its one)."""
    found = getattr(case, "identified_remains", None)
    if found is not None:
        return dict(found)
    one = getattr(case, "identification", None) or {}
    return {str(one["remains_id"]): str(one["match_id"])} if one.get("remains_id") else {}


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
    PersonProtection, CaseCourse, FamilyNotification, CaseRepatriation, CaseLinkage, LedgerAggregate
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

    class ConsentGranted(Recorded):
        """Consent for one purpose, given by the person or their family."""

        class_version = 3
        consent_purpose: str
        given_by: str
        explained_by: str | None
        language: str | None
        risks_explained: bool | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 recorded neither who explained the purpose nor in which language."""
            state.update(explained_by=None, language=None)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """v2 did not say whether the risks of sharing were explained."""
            state["risks_explained"] = None

        def evolve(self, case: Any) -> None:
            case.consents[self.consent_purpose] = True
            withdrawn, on_behalf = family_consent_state(case)
            if self.recorded_by["role"] == FAMILY_ROLE:
                withdrawn.discard(self.consent_purpose)
                on_behalf.pop(self.consent_purpose, None)
            else:
                on_behalf[self.consent_purpose] = self.recorded_by["organisation"]

    class ConsentWithdrawn(Recorded):
        """Consent for one purpose taken back; that purpose can no longer be used."""

        consent_purpose: str
        withdrawn_by: str

        def evolve(self, case: Any) -> None:
            case.consents[self.consent_purpose] = False
            withdrawn, on_behalf = family_consent_state(case)
            on_behalf.pop(self.consent_purpose, None)
            if self.recorded_by["role"] == FAMILY_ROLE:
                withdrawn.add(self.consent_purpose)

    class SharingWithheld(Recorded):
        """The case is withheld from these countries from now on, whatever the agreements say:
        the country an asylum seeker or refugee fled, its node, organisations and consulates."""

        countries: list[str]
        reason: str

        def evolve(self, case: Any) -> None:
            case.withheld_from = case.withheld_countries | set(self.countries or [])

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

    class PersonLocatedAlive(Recorded):
        """The person was found alive; an adult decides whether their whereabouts are shared."""

        located_on: date
        place: dict[str, Any]
        whereabouts_may_be_shared: bool

        def evolve(self, case: Any) -> None:
            case.status = CaseStatus.LOCATED_ALIVE
            case.located = {
                "on": self.located_on,
                "shareable": self.whereabouts_may_be_shared,
                "by": self.recorded_by.get("organisation"),
                "best_interests": None,  # a minor's whereabouts wait for a decision of their own
            }

    class BestInterestsDetermined(Recorded):
        """A child-protection officer decided, in a located minor's best interests, whether
        their whereabouts may be shared with the family; nothing is shared without it."""

        decision: str
        reason: str
        decided_by: str

        def evolve(self, case: Any) -> None:
            if case.located is not None:
                case.located = {**case.located, "best_interests": self.decision}

    class IdentificationConfirmed(Recorded):
        """Remains were identified as this person, through a confirmed match."""

        match_id: str
        remains_id: str

        def evolve(self, case: Any) -> None:
            case.status = CaseStatus.IDENTIFIED_DECEASED
            case.identification = {"match_id": self.match_id, "remains_id": self.remains_id}
            # Several remains (body parts) can be identified to one person, each by its match.
            if self.remains_id:  # None once erased
                case.identified_remains = {**identified_remains(case), self.remains_id: self.match_id}

    class IdentificationRevised(Recorded):
        """A confirmed match was revised: the remains it identified are no longer this person's,
        and with none left the person is missing again (never presumed dead)."""

        match_id: str
        reason: str
        status: str  # the case's status after the revision

        def evolve(self, case: Any) -> None:
            left = {r: m for r, m in identified_remains(case).items() if m != self.match_id}
            case.identified_remains = left
            case.identification = next(({"match_id": m, "remains_id": r} for r, m in left.items()), None)
            if case.status != CaseStatus.CLOSED:
                case.status = CaseStatus(self.status)
            elif not left and case.status_before_closure == CaseStatus.IDENTIFIED_DECEASED:
                case.status_before_closure = CaseStatus.MISSING  # a reopening finds them missing

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

    class CaseClosed(Recorded):
        """The search ended; only CaseReopened (or the family's erasure) is accepted after this."""

        reason: str

        def evolve(self, case: Any) -> None:
            case.status_before_closure = case.status
            case.status = CaseStatus.CLOSED

    class CaseReopened(Recorded):
        """The search starts again where it stood."""

        reason: str

        def evolve(self, case: Any) -> None:
            case.status = case.status_before_closure or CaseStatus.MISSING
            case.status_before_closure = None

    class DataErased(Recorded):
        """The family withdrew: the case's personal data is erased everywhere."""

        requested_by: str

        def evolve(self, case: Any) -> None:
            case.person = {"sex": case.person.get("sex"), "nationalities": case.person.get("nationalities")}
            case.last_seen = {"country": case.last_seen.get("country"), "date": None}
            case.family_contacts = []
            case.circumstances = None
            case.consents = {p: False for p in case.consents}
            case.erased = True

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

    def has_consent(self, purpose: str) -> bool:
        return self.consents.get(purpose, False)

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

    def grant_consent(
        self, envelope: dict[str, Any], consent_purpose: str, given_by: str, **data: Any
    ) -> None:
        """The family grants with its own credential; staff only on its behalf, only from the
        organisation that reported the case, and never after the family itself withdrew."""
        self._refuse_if_closed("ConsentGranted")
        self._refuse_if_erased("ConsentGranted")
        refuse_grant_over_the_family(self, envelope["recorded_by"], consent_purpose)
        self.trigger_event(
            self.ConsentGranted, **envelope, consent_purpose=consent_purpose, given_by=given_by, **data
        )

    def withdraw_consent(self, envelope: dict[str, Any], consent_purpose: str, withdrawn_by: str) -> None:
        self._refuse_if_closed("ConsentWithdrawn")
        if not self.has_consent(consent_purpose):
            raise RuleBroken("consent", f"there is no active consent for '{consent_purpose}' to withdraw")
        self.trigger_event(
            self.ConsentWithdrawn, **envelope, consent_purpose=consent_purpose, withdrawn_by=withdrawn_by
        )

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

    def locate_alive(
        self, envelope: dict[str, Any], located_on: date, place: dict[str, Any], shareable: bool
    ) -> None:
        self._refuse_if_closed("PersonLocatedAlive")
        if self.status == CaseStatus.IDENTIFIED_DECEASED:
            raise RuleBroken(
                "status", "the person was identified as deceased; reopen the review of the match first"
            )
        not_before_birth("located_on", located_on, self.person.get("date_of_birth"))
        self.trigger_event(
            self.PersonLocatedAlive,
            **envelope,
            located_on=located_on,
            place=place,
            whereabouts_may_be_shared=shareable,
        )

    def confirm_identification(self, envelope: dict[str, Any], match_id: str, remains_id: str) -> None:
        """The caller has checked that the match is confirmed and names this case; further
        remains (body parts) may be identified to the same person, each once."""
        self._refuse_if_closed("IdentificationConfirmed")
        if remains_id in identified_remains(self):
            raise RuleBroken("match_id", "these remains are already identified to this case")
        self.trigger_event(self.IdentificationConfirmed, **envelope, match_id=match_id, remains_id=remains_id)

    def revise_identification(self, envelope: dict[str, Any], match_id: str, reason: str) -> None:
        """The match was revised: what it identified is reopened."""
        identified = identified_remains(self)
        if match_id not in identified.values():
            raise RuleBroken("match_id", "no identification of this case rests on that match")
        still = any(m != match_id for m in identified.values())
        status = self.status
        if status == CaseStatus.IDENTIFIED_DECEASED and not still:
            status = CaseStatus.MISSING
        self.trigger_event(
            self.IdentificationRevised,
            **envelope,
            match_id=match_id,
            reason=reason,
            status=CaseStatus(status).value,
        )

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

    def close(self, envelope: dict[str, Any], reason: str) -> None:
        self._refuse_if_closed("CaseClosed")
        self.trigger_event(self.CaseClosed, **envelope, reason=reason)

    def reopen(self, envelope: dict[str, Any], reason: str) -> None:
        if self.status != CaseStatus.CLOSED:
            raise RuleBroken("reopening", "only a closed case can be reopened")
        self.trigger_event(self.CaseReopened, **envelope, reason=reason)

    def erase(self, envelope: dict[str, Any], requested_by: str) -> None:
        """The right to erasure holds in every status, closed included. It is asked by the
        person themselves (their own credential) or by a family member the case names as
        contact, never by anyone else."""
        if self.erased:
            return
        if envelope["recorded_by"]["role"] != "data_subject" and not self.names_a_contact(requested_by):
            raise RuleBroken(
                "requested_by",
                "an erasure is asked by the person themselves, with their own credential, or by a "
                "family member the case names as contact",
            )
        self.trigger_event(self.DataErased, **envelope, requested_by=requested_by)
