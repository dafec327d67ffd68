"""The family's say over a case: consent given and withdrawn for each purpose (staff never
overturn the family's own withdrawal), and the erasure of the case's personal data, asked by
the person or a family member the case names.

A mixin of MissingPersonCase: its events become the case's own (eventsourcing redefines them
on the aggregate), its decisions read the state the case's events keep."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.consent import FAMILY_ROLE, family_consent_state, refuse_grant_over_the_family
from ledger.errors import RuleBroken
from ledger.events import Recorded

__all__ = ["CaseConsent"]


class CaseConsent:
    """Events and decisions of MissingPersonCase about consent and erasure."""

    if TYPE_CHECKING:  # state and members of MissingPersonCase
        consents: dict[str, bool]
        erased: bool

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _refuse_if_closed(self, action: str) -> None: ...
        def _refuse_if_erased(self, action: str) -> None: ...
        def names_a_contact(self, name: str) -> bool: ...

    # ----------------------------------------------------------------- events

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

    # -------------------------------------------------------------- decisions

    def has_consent(self, purpose: str) -> bool:
        return self.consents.get(purpose, False)

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
