"""Commands about the course of a case (ledger/course.py, ledger/notification.py): inquiries,
family support and the updates promised, the notification plan, the person's and contacts'
languages, protection risks. Each checks its fields into an event's attributes, naming the
first bad field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ledger import validation as v
from ledger.commands import CaseCommand
from ledger.errors import InvalidField
from ledger.values import TeamMember
from ledger.vocabulary import (
    GENDER_IDENTITIES,
    INQUIRY_ADDRESSEE_KINDS,
    INQUIRY_OUTCOMES,
    LANGUAGES,
    PROTECTION_RISKS,
    SUPPORT_KINDS,
    SUPPORT_OUTCOMES,
    UPDATE_MEANS,
)

__all__ = [
    "FAMILY_SUPPORT",
    "LONGEST_WAIT_DAYS",
    "AnswerInquiry",
    "FlagProtectionRisk",
    "GiveFamilyUpdate",
    "PlanNotification",
    "RecordContactDetails",
    "RecordPersonDetails",
    "RecordSupportProvided",
    "ReferSupport",
    "SendInquiry",
    "SetUpdateCadence",
    "day",
    "family_support",
    "language",
    "languages",
    "team_of",
    "whole",
    "within",
    "yes_no",
]

FAMILY_SUPPORT = "family_support"
LONGEST_WAIT_DAYS = 366


def day(field: str, value: date | str | None, *, required: bool = True) -> date | None:
    """A calendar date (ISO 8601 text accepted), past or future, in the years 1900 to 2999."""
    if value is None or value == "":
        if required:
            raise InvalidField(field, "is required (YYYY-MM-DD)")
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise InvalidField(field, f"{value!r} is not a date (YYYY-MM-DD)") from None
    if not isinstance(value, date):
        raise InvalidField(field, "must be a date (YYYY-MM-DD)")
    if not 1900 <= value.year <= 2999:
        raise InvalidField(field, f"{value.isoformat()} is outside the years 1900 to 2999")
    return value


def within(field: str, value: date, today: date, days: int = LONGEST_WAIT_DAYS) -> date:
    """A day no further ahead than `days` from today (a promise a family can hold on to)."""
    if value > today + timedelta(days=days):
        raise InvalidField(field, f"{value.isoformat()} is more than {days} days ahead")
    return value


def language(field: str, value: str | None) -> str:
    return v.choice(field, value, LANGUAGES)


def languages(field: str, values: tuple[str, ...] | list[str] | None) -> list[str]:
    checked = [language(f"{field}[{i}]", x) for i, x in enumerate(values or ())]
    if len(set(checked)) != len(checked):
        raise InvalidField(field, "names a language twice")
    return checked


def whole(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(field, "must be a whole number")
    if not low <= value <= high:
        raise InvalidField(field, f"{value} is outside {low}–{high}")
    return value


def yes_no(field: str, value: Any, *, required: bool = False) -> bool | None:
    if value is None and not required:
        return None
    if not isinstance(value, bool):
        raise InvalidField(field, "must be true or false")
    return value


def family_support(purpose: str) -> None:
    if purpose != FAMILY_SUPPORT:
        raise InvalidField("purpose", f"support to the family is recorded for the {FAMILY_SUPPORT} purpose")


def team_of(field: str, members: tuple[TeamMember, ...] | None, *, at_least: int = 0) -> list[dict[str, str]]:
    items = list(members or ())
    if len(items) < at_least:
        raise InvalidField(field, f"name at least {at_least} people and their roles")
    if len(items) > 12:
        raise InvalidField(field, f"holds {len(items)} people; at most 12")
    return [m.checked(f"{field}[{i}]") for i, m in enumerate(items)]


@dataclass(frozen=True, kw_only=True)
class SendInquiry(CaseCommand):
    """Ask a detention authority, shelter, hospital, prison or migration authority whether the
    person is or was there, with the day an answer is due."""

    addressee: str
    addressee_kind: str
    question: str
    due_on: date | str

    def checked(self, today: date) -> dict[str, Any]:
        due = day("due_on", self.due_on)
        assert due is not None
        return {
            "addressee": v.required_text("addressee", self.addressee),
            "addressee_kind": v.choice("addressee_kind", self.addressee_kind, INQUIRY_ADDRESSEE_KINDS),
            "question": v.required_text("question", self.question, max_length=2000),
            "due_on": within("due_on", due, today),
        }


@dataclass(frozen=True, kw_only=True)
class AnswerInquiry(CaseCommand):
    """What the organisation asked said (found, not found), or that it never answered."""

    inquiry: int
    outcome: str
    answered_on: date | str
    learned: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "inquiry": whole("inquiry", self.inquiry, 1, 10_000),
            "outcome": v.choice("outcome", self.outcome, INQUIRY_OUTCOMES),
            "learned": v.optional_text("learned", self.learned, max_length=4000),
            "answered_on": v.past_date("answered_on", self.answered_on, today=today, required=True),
        }


@dataclass(frozen=True, kw_only=True)
class ReferSupport(CaseCommand):
    """Refer the family for support (family_support purpose)."""

    kind: str
    provider: str
    note: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        family_support(self.purpose)
        return {
            "kind": v.choice("kind", self.kind, SUPPORT_KINDS),
            "provider": v.required_text("provider", self.provider),
            "note": v.optional_text("note", self.note, max_length=2000),
        }


@dataclass(frozen=True, kw_only=True)
class RecordSupportProvided(CaseCommand):
    """What came of a referral (family_support purpose)."""

    referral: int
    provided_on: date | str
    outcome: str
    notes: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        family_support(self.purpose)
        return {
            "referral": whole("referral", self.referral, 1, 10_000),
            "provided_on": v.past_date("provided_on", self.provided_on, today=today, required=True),
            "outcome": v.choice("outcome", self.outcome, SUPPORT_OUTCOMES),
            "notes": v.optional_text("notes", self.notes, max_length=2000),
        }


@dataclass(frozen=True, kw_only=True)
class SetUpdateCadence(CaseCommand):
    """Promise the family news every N days through a focal point (family_support purpose)."""

    every_days: int
    focal_point: str

    def checked(self, today: date) -> dict[str, Any]:
        family_support(self.purpose)
        return {
            "every_days": whole("every_days", self.every_days, 1, 180),
            "focal_point": v.required_text("focal_point", self.focal_point),
        }


@dataclass(frozen=True, kw_only=True)
class GiveFamilyUpdate(CaseCommand):
    """Record news given to the family: by whom, how, in which language, and when next."""

    given_on: date | str
    given_by: str
    means: str
    language: str
    summary: str | None = None
    next_update_on: date | str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        family_support(self.purpose)
        following = day("next_update_on", self.next_update_on, required=False)
        return {
            "given_on": v.past_date("given_on", self.given_on, today=today, required=True),
            "given_by": v.required_text("given_by", self.given_by),
            "means": v.choice("means", self.means, UPDATE_MEANS),
            "language": language("language", self.language),
            "summary": v.optional_text("summary", self.summary, max_length=4000),
            "next_update_on": None if following is None else within("next_update_on", following, today),
        }


@dataclass(frozen=True, kw_only=True)
class PlanNotification(CaseCommand):
    """Plan how the family will be told: the team and roles, the contact, the language (and
    interpreter), the place and day, and whether a copy of the report is handed over."""

    planned_on: date | str
    team: tuple[TeamMember, ...]
    contact: str
    language: str
    place: str
    report_copy_handed_over: bool
    interpreter: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        planned = day("planned_on", self.planned_on)
        assert planned is not None
        return {
            "planned_on": within("planned_on", planned, today),
            "team": team_of("team", self.team, at_least=2),
            "contact": v.required_text("contact", self.contact),
            "language": language("language", self.language),
            "interpreter": v.optional_text("interpreter", self.interpreter),
            "place": v.required_text("place", self.place, max_length=500),
            "report_copy_handed_over": yes_no(
                "report_copy_handed_over", self.report_copy_handed_over, required=True
            ),
        }


@dataclass(frozen=True, kw_only=True)
class RecordPersonDetails(CaseCommand):
    """The person's languages, gender identity, pregnancy, and whether a child travels
    unaccompanied: reserved, read only through the audited read."""

    languages: tuple[str, ...] = ()
    gender_identity: str | None = None
    pregnant: bool | None = None
    unaccompanied_child: bool | None = None

    def checked(self, today: date) -> dict[str, Any]:
        data = {
            "languages": languages("languages", self.languages),
            "gender_identity": None
            if self.gender_identity is None
            else v.choice("gender_identity", self.gender_identity, GENDER_IDENTITIES),
            "pregnant": yes_no("pregnant", self.pregnant),
            "unaccompanied_child": yes_no("unaccompanied_child", self.unaccompanied_child),
        }
        if not data["languages"] and all(data[k] is None for k in data if k != "languages"):
            raise InvalidField("languages", "give at least one detail (languages, gender identity...)")
        return data


@dataclass(frozen=True, kw_only=True)
class RecordContactDetails(CaseCommand):
    """The languages a family contact speaks."""

    contact: str
    languages: tuple[str, ...]

    def checked(self, today: date) -> dict[str, Any]:
        spoken = languages("languages", self.languages)
        if not spoken:
            raise InvalidField("languages", "name at least one language the contact speaks")
        return {"contact": v.required_text("contact", self.contact), "languages": spoken}


@dataclass(frozen=True, kw_only=True)
class FlagProtectionRisk(CaseCommand):
    """Flag a risk to the person (no contact named) or to one family contact."""

    risks: tuple[str, ...]
    contact: str | None = None
    note: str | None = None

    def checked(self, today: date) -> dict[str, Any]:
        risks = [v.choice(f"risks[{i}]", r, PROTECTION_RISKS) for i, r in enumerate(self.risks)]
        if not risks:
            raise InvalidField("risks", f"name at least one risk: {', '.join(PROTECTION_RISKS)}")
        return {
            "contact": v.optional_text("contact", self.contact),
            "risks": sorted(set(risks)),
            "note": v.optional_text("note", self.note, max_length=2000),
        }
