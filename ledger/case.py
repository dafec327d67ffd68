"""MissingPersonCase: the aggregate every report, sighting and outcome of a search hangs on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.vocabulary import CaseStatus


def case_id_for(origin: str, command_id: str) -> UUID:
    """The case id derives from the client's command id, so a retried report names the
    same aggregate and the store refuses a second CaseReported."""
    return uuid5(NAMESPACE_URL, f"caseledger:case:{origin}:{command_id}")


class MissingPersonCase(Aggregate):
    """One missing person as reported at one node; never presumed dead."""

    @event("CaseReported")
    def __init__(
        self,
        *,
        origin: str,
        command_id: str,
        occurred_at: datetime,
        recorded_by: dict[str, str],
        source: str,
        purpose: str,
        person: dict[str, Any],
        last_seen: dict[str, Any],
        family_contact: str | None,
        circumstances: str | None,
    ) -> None:
        self.origin = origin
        self.status = CaseStatus.MISSING
        self.person = person
        self.last_seen = last_seen
        self.family_contact = family_contact
        self.circumstances = circumstances
        self.command_ids: set[str] = {command_id}

    @staticmethod
    def create_id(origin: str, command_id: str) -> UUID:
        """Derive the case id from the origin and the client's command id."""
        return case_id_for(origin, command_id)

    @property
    def full_name(self) -> str:
        """Given names and both surnames, as entered."""
        parts = [self.person["given_names"], self.person["first_surname"], self.person.get("second_surname")]
        return " ".join(p for p in parts if p)

    def age_when_missing(self) -> int | None:
        """Whole years between birth and last seen, when the date of birth is known."""
        born = self.person.get("date_of_birth")
        seen = self.last_seen.get("date")
        if not isinstance(born, date) or not isinstance(seen, date):
            return None
        return seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day))
