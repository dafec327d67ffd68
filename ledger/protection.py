"""What protects the people a case is about, beside the case's other rules (ledger/case.py):
where a located person is (their agreement, a best-interests decision for a minor, both for a
person who may be either, by their age when located), the countries a refugee's case is
withheld from, and who may ask for erasure or hold a credential of their own.

A mixin of MissingPersonCase: its events become the case's own (eventsourcing redefines them
on the aggregate)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from ledger.errors import RuleBroken
from ledger.events import Recorded
from ledger.tiers import age_readings
from ledger.vocabulary import CaseStatus

__all__ = ["PersonProtection"]


class PersonProtection:
    """Decisions of MissingPersonCase that protect its person, on the state its events keep."""

    if TYPE_CHECKING:  # state and members of MissingPersonCase
        origin: str
        status: CaseStatus
        person: dict[str, Any]
        last_seen: dict[str, Any]
        located: dict[str, Any] | None
        family_contacts: list[dict[str, Any]]

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _refuse_if_closed(self, action: str) -> None: ...
        def _refuse_if_erased(self, action: str) -> None: ...

    # ----------------------------------------------------------------- events

    class BestInterestsDetermined(Recorded):
        """A child-protection officer decided, in a located minor's best interests, whether
        their whereabouts may be shared with the family; nothing is shared without it."""

        decision: str
        reason: str
        decided_by: str

        def evolve(self, case: Any) -> None:
            if case.located is not None:
                case.located = {**case.located, "best_interests": self.decision}

    class SharingWithheld(Recorded):
        """The case is withheld from these countries from now on, whatever the agreements say:
        the country an asylum seeker or refugee fled, its node, organisations and consulates."""

        countries: list[str]
        reason: str

        def evolve(self, case: Any) -> None:
            case.withheld_from = case.withheld_countries | set(self.countries or [])

    # -------------------------------------------------------------- decisions

    def age_readings_when_located(self) -> frozenset[str]:
        """Whether the person may have been a minor, an adult, or either, the day they were
        located (not the day they went missing)."""
        located_on = (self.located or {}).get("on")
        return age_readings(self.person, self.last_seen, located_on)

    @property
    def whereabouts_shareable(self) -> bool:
        """Whether a located person's whereabouts may reach the family and other readers: an
        adult's only if they agreed, a minor's only after a best-interests decision to share,
        and a person who may be either needs both (the stricter reading, never the looser)."""
        if self.located is None or self.status != CaseStatus.LOCATED_ALIVE:
            return False
        readings = self.age_readings_when_located()
        if "adult" in readings and not self.located.get("shareable"):
            return False
        return "minor" not in readings or self.located.get("best_interests") == "share_whereabouts"

    @property
    def withheld_countries(self) -> frozenset[str]:
        """The countries this case is never shared with (snapshots older than the rule hold none)."""
        return frozenset(getattr(self, "withheld_from", ()) or ())

    def determine_best_interests(
        self, envelope: dict[str, Any], decision: str, reason: str, decided_by: str
    ) -> None:
        self._refuse_if_closed("BestInterestsDetermined")
        self._refuse_if_erased("BestInterestsDetermined")
        if self.status != CaseStatus.LOCATED_ALIVE or self.located is None:
            raise RuleBroken("decision", "a best-interests decision follows the person's location")
        if "minor" not in self.age_readings_when_located():
            raise RuleBroken("decision", "the person was an adult when located: they decide themselves")
        self.trigger_event(
            self.BestInterestsDetermined, **envelope, decision=decision, reason=reason, decided_by=decided_by
        )

    def withhold_from(self, envelope: dict[str, Any], countries: list[str], reason: str) -> None:
        self._refuse_if_erased("SharingWithheld")
        if self.origin in countries:
            raise RuleBroken(
                "countries", f"the case is recorded in {self.origin}; it cannot be withheld from it"
            )
        if set(countries) <= self.withheld_countries:
            return  # withheld already: nothing new to record
        self.trigger_event(self.SharingWithheld, **envelope, countries=countries, reason=reason)

    def check_own_credential(self) -> None:
        """A located adult may hold a credential of their own for their case (to consult it,
        correct it, decide its consents and ask for its erasure); nobody else may."""
        if self.status != CaseStatus.LOCATED_ALIVE or self.age_readings_when_located() != {"adult"}:
            raise RuleBroken("case", "a credential of their own is for a person located alive as an adult")

    def names_a_contact(self, name: str) -> bool:
        """Whether name (as said: "Rosa Chávez, mother") begins with a family contact's name."""
        said = _folded(name)
        contacts = [_folded(str(c.get("name") or "")) for c in self.family_contacts or []]
        return any(
            c and c != "(as reported)" and (said == c or said.startswith(f"{c},") or said.startswith(f"{c} "))
            for c in contacts
        )


def _folded(text: str) -> str:
    """Text compared as people write names: accents, case and spacing aside."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())
