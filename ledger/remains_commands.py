"""Commands about remains after recovery and identification (ledger/remains_course.py):
burial, exhumation, custody, release, and each node's part of a repatriation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ledger import validation as v
from ledger.commands import CaseCommand, Command
from ledger.errors import InvalidField
from ledger.remains_course import RELEASE_RECIPIENTS, REPATRIATION_PARTS
from ledger.values import Coordinates

__all__ = [
    "BuryRemains",
    "ExhumeRemains",
    "HandOverRemains",
    "ReceiveRemains",
    "ReleaseRemains",
    "RemainsCommand",
    "TransferRemains",
    "repatriation_fields",
]


@dataclass(frozen=True, kw_only=True)
class RemainsCommand(Command):
    """A command about remains held at this node."""

    remains_id: UUID


@dataclass(frozen=True, kw_only=True)
class BuryRemains(RemainsCommand):
    """Bury remains in a cemetery's grave, where they are held."""

    cemetery: str
    grave: str
    country: str
    buried_on: date | str
    coordinates: Coordinates | None = None

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "cemetery": v.required_text("cemetery", self.cemetery),
            "grave": v.required_text("grave", self.grave, max_length=100),
            "country": v.country("country", self.country),
            "coordinates": self.coordinates.checked("coordinates") if self.coordinates else None,
            "buried_on": v.past_date("buried_on", self.buried_on, today=today, required=True),
        }


@dataclass(frozen=True, kw_only=True)
class ExhumeRemains(RemainsCommand):
    exhumed_on: date | str
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "exhumed_on": v.past_date("exhumed_on", self.exhumed_on, today=today, required=True),
            "reason": v.required_text("reason", self.reason, max_length=1000),
        }


@dataclass(frozen=True, kw_only=True)
class ReleaseRemains(RemainsCommand):
    """Release identified remains to the family or a consulate."""

    released_to: str
    recipient: str
    released_on: date | str
    from_holder: str | None = None  # who gives them up; by default the custody chain's last

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "released_to": v.choice("released_to", self.released_to, RELEASE_RECIPIENTS),
            "recipient": v.required_text("recipient", self.recipient),
            "released_on": v.past_date("released_on", self.released_on, today=today, required=True),
            "from_holder": v.optional_text("from_holder", self.from_holder, max_length=200),
        }


@dataclass(frozen=True, kw_only=True)
class TransferRemains(RemainsCommand):
    """Pass custody of remains from their current holder to the next, as for samples."""

    from_holder: str
    to_holder: str
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "from_holder": v.required_text("from_holder", self.from_holder),
            "to_holder": v.required_text("to_holder", self.to_holder),
            "reason": v.required_text("reason", self.reason, max_length=1000),
        }


def repatriation_fields(
    part: str, from_country: str, to_country: str, completed_on: date | str, place: str | None, today: date
) -> dict[str, Any]:
    checked = {
        "part": v.choice("part", part, REPATRIATION_PARTS),
        "from_country": v.country("from_country", from_country),
        "to_country": v.country("to_country", to_country),
        "completed_on": v.past_date("completed_on", completed_on, today=today, required=True),
        "place": v.optional_text("place", place, max_length=500),
    }
    if checked["from_country"] == checked["to_country"]:
        raise InvalidField("to_country", "a repatriation goes from one country to another")
    return checked


@dataclass(frozen=True, kw_only=True)
class HandOverRemains(RemainsCommand):
    """The remains' node hands released remains over for repatriation."""

    from_country: str
    to_country: str
    completed_on: date | str
    place: str | None = None
    part: str = "handed_over"

    def checked(self, today: date) -> dict[str, Any]:
        return repatriation_fields(
            self.part, self.from_country, self.to_country, self.completed_on, self.place, today
        )


@dataclass(frozen=True, kw_only=True)
class ReceiveRemains(CaseCommand):
    """The case's node records the remains received, then buried at home."""

    remains_id: UUID
    part: str
    from_country: str
    to_country: str
    completed_on: date | str
    place: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "remains_id": str(self.remains_id),
            **repatriation_fields(
                self.part, self.from_country, self.to_country, self.completed_on, self.place, today
            ),
        }
