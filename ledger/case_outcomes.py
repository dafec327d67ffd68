"""How a search ends, or does not: the person located alive, remains identified as theirs (and
an identification revised, which never presumes death), the case closed and reopened.

A mixin of MissingPersonCase: its events become the case's own (eventsourcing redefines them
on the aggregate), its decisions read the state the case's events keep."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from ledger.errors import RuleBroken
from ledger.events import Recorded
from ledger.validation import not_before_birth
from ledger.vocabulary import CaseStatus

__all__ = ["CaseOutcomes", "identified_remains"]


def identified_remains(case: Any) -> dict[str, str]:
    """remains id -> match id of every identification the case holds (an older snapshot: its one)."""
    found = getattr(case, "identified_remains", None)
    if found is not None:
        return dict(found)
    one = getattr(case, "identification", None) or {}
    return {str(one["remains_id"]): str(one["match_id"])} if one.get("remains_id") else {}


class CaseOutcomes:
    """Events and decisions of MissingPersonCase about the outcome of the search."""

    if TYPE_CHECKING:  # state and members of MissingPersonCase
        id: Any
        status: CaseStatus
        person: dict[str, Any]

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _refuse_if_closed(self, action: str) -> None: ...

    # ----------------------------------------------------------------- events

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

    # -------------------------------------------------------------- decisions

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

    def close(self, envelope: dict[str, Any], reason: str) -> None:
        self._refuse_if_closed("CaseClosed")
        self.trigger_event(self.CaseClosed, **envelope, reason=reason)

    def reopen(self, envelope: dict[str, Any], reason: str) -> None:
        if self.status != CaseStatus.CLOSED:
            raise RuleBroken("reopening", "only a closed case can be reopened")
        self.trigger_event(self.CaseReopened, **envelope, reason=reason)
