"""Commands: what a caseworker asks the ledger to record, checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ledger import validation as v
from ledger.errors import InvalidField
from ledger.vocabulary import PURPOSES, ROLES, SEXES, SOURCES


@dataclass(frozen=True)
class Actor:
    """Who acts: an organisation and the role of the person acting for it."""

    organisation: str
    role: str

    def checked(self, field_prefix: str = "recorded_by") -> dict[str, str]:
        return {
            "organisation": v.required_text(f"{field_prefix}.organisation", self.organisation),
            "role": v.choice(f"{field_prefix}.role", self.role, ROLES),
        }


@dataclass(frozen=True)
class ReportMissingPerson:
    """Report a missing person with the basic data set (workshop report, section B)."""

    command_id: str
    recorded_by: Actor
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
    date_of_birth: date | str | None = None
    last_seen_place: str | None = None
    route: str | None = None
    family_contact: str | None = None
    circumstances: str | None = None
    source: str = "family"
    purpose: str = "search"
    occurred_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def checked(self, today: date) -> dict[str, Any]:
        """The event's attributes, or InvalidField naming the first bad field."""
        if self.extra:
            name = sorted(self.extra)[0]
            raise InvalidField(name, "is not a field of a missing-person report")
        command_id = v.required_text("command_id", self.command_id, max_length=100)
        born = v.past_date("date_of_birth", self.date_of_birth, today=today, required=False)
        seen = v.past_date("last_seen_date", self.last_seen_date, today=today, required=True)
        if born is not None and seen is not None and seen < born:
            raise InvalidField("last_seen_date", "is before the date of birth")
        aliases = [v.required_text(f"aliases[{i}]", a) for i, a in enumerate(self.aliases)]
        occurred_at = self.occurred_at or datetime.now(UTC)
        if occurred_at.tzinfo is None:
            raise InvalidField("occurred_at", "must carry a time zone")
        return {
            "command_id": command_id,
            "occurred_at": occurred_at.astimezone(UTC),
            "recorded_by": self.recorded_by.checked(),
            "source": v.choice("source", self.source, SOURCES),
            "purpose": v.choice("purpose", self.purpose, PURPOSES),
            "person": {
                "given_names": v.required_text("given_names", self.given_names),
                "first_surname": v.required_text("first_surname", self.first_surname),
                "second_surname": v.optional_text("second_surname", self.second_surname),
                "father_name": v.optional_text("father_name", self.father_name),
                "mother_name": v.optional_text("mother_name", self.mother_name),
                "aliases": aliases,
                "sex": v.choice("sex", self.sex, SEXES),
                "date_of_birth": born,
                "nationalities": list(v.countries("nationalities", self.nationalities)),
            },
            "last_seen": {
                "date": seen,
                "country": v.country("last_seen_country", self.last_seen_country),
                "place": v.optional_text("last_seen_place", self.last_seen_place),
                "route": v.optional_text("route", self.route),
            },
            "family_contact": v.optional_text("family_contact", self.family_contact),
            "circumstances": v.optional_text("circumstances", self.circumstances, max_length=4000),
        }
