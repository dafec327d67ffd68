"""The course of a case after the report (the Antigua workshop, 2019): inquiries to the places
where a missing migrant may be held or treated, support to the family and the updates promised
to it, and what protects the people the case names (a protection risk, the person's and the
contacts' languages, gender identity, pregnancy, an unaccompanied child).

A mixin of MissingPersonCase: its events become the case's own (eventsourcing redefines them
on the aggregate), its decisions read the state they keep in `case.course`."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ledger.errors import InvalidField, RuleBroken
from ledger.events import Recorded

__all__ = ["CaseCourse", "course_of", "folded"]


def folded(text: str | None) -> str:
    """A name compared as people write it: accents, case and spacing aside."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


def course_of(case: Any) -> dict[str, Any]:
    """The course state a case keeps (created on first use: older snapshots have none)."""
    found: dict[str, Any] | None = case.__dict__.get("course")
    if found is None:
        found = case.__dict__["course"] = {
            "inquiries": {},
            "referrals": {},
            "cadence": None,
            "plans": {},
            "person_languages": [],
            "contact_languages": {},
            "protection": {"case": False, "contacts": [], "by": None},
        }
    return found


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    return date.fromisoformat(value) if isinstance(value, str) and value else None


class CaseCourse:
    """Events and decisions of MissingPersonCase about the course of the search."""

    if TYPE_CHECKING:  # state and members of MissingPersonCase
        origin: str
        erased: bool
        family_contacts: list[dict[str, Any]]

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _refuse_if_closed(self, action: str) -> None: ...
        def _refuse_if_erased(self, action: str) -> None: ...

    # ----------------------------------------------------------------- events

    class InquirySent(Recorded):
        """A family, an NGO or a consulate asked a detention authority, shelter, hospital, prison
        or migration authority whether the person is or was there; an answer is due by due_on."""

        inquiry: int
        addressee: str
        addressee_kind: str
        question: str
        due_on: date

        def evolve(self, case: Any) -> None:
            course_of(case)["inquiries"][str(self.inquiry)] = {
                "addressee": self.addressee,
                "addressee_kind": self.addressee_kind,
                "due_on": self.due_on,
                "sent_by": self.recorded_by.get("organisation"),
                "purpose": self.purpose,
                "answer": None,
            }

    class InquiryAnswered(Recorded):
        """What the organisation asked said: found, not found, or no answer at all (recorded
        when the family or the NGO gives up waiting), and what was learned."""

        inquiry: int
        outcome: str
        learned: str | None
        answered_on: date

        def evolve(self, case: Any) -> None:
            sent = course_of(case)["inquiries"].get(str(self.inquiry))
            if sent is not None:
                sent["answer"] = self.outcome or "answered"  # None once erased: still answered

    class SupportReferred(Recorded):
        """The family was referred for psychosocial, legal, forensic, financial or administrative
        support to a provider (family_support purpose)."""

        referral: int
        kind: str
        provider: str
        note: str | None

        def evolve(self, case: Any) -> None:
            course_of(case)["referrals"][str(self.referral)] = {
                "kind": self.kind,
                "provider": self.provider,
                "outcome": None,
            }

    class SupportProvided(Recorded):
        """What came of a referral: support given, ongoing, declined, not available."""

        referral: int
        provided_on: date
        outcome: str
        notes: str | None

        def evolve(self, case: Any) -> None:
            referred = course_of(case)["referrals"].get(str(self.referral))
            if referred is not None:
                referred["outcome"] = self.outcome or "recorded"

    class UpdateCadenceSet(Recorded):
        """The family is promised news every `every_days` days by a focal point (an NGO, a
        family association, a consulate), whether or not there is anything new."""

        every_days: int
        focal_point: str

        def evolve(self, case: Any) -> None:
            since = self.occurred_at.date()
            course_of(case)["cadence"] = {
                "every_days": self.every_days,
                "focal_point": self.focal_point,
                "since": since,
                "next_due": since + timedelta(days=self.every_days),
            }

    class FamilyUpdateGiven(Recorded):
        """The family was given news of the search: by whom, how, in which language, and when
        they will hear next."""

        given_on: date
        given_by: str
        means: str
        language: str
        summary: str | None
        next_update_on: date

        def evolve(self, case: Any) -> None:
            cadence = course_of(case)["cadence"]
            if cadence is not None:
                cadence["next_due"] = self.next_update_on or cadence["next_due"]

    class PersonDetailsRecorded(Recorded):
        """What protects the person and helps to talk with them: the languages they speak,
        gender identity, pregnancy, whether a child travels unaccompanied (all reserved)."""

        languages: list[str]
        gender_identity: str | None
        pregnant: bool | None
        unaccompanied_child: bool | None

        def evolve(self, case: Any) -> None:
            course_of(case)["person_languages"] = list(self.languages or [])

    class ContactDetailsRecorded(Recorded):
        """The languages a family contact speaks (what a notification must be given in)."""

        contact: str
        languages: list[str]

        def evolve(self, case: Any) -> None:
            if self.contact:  # None once erased
                course_of(case)["contact_languages"][folded(self.contact)] = list(self.languages or [])

    class ProtectionRiskFlagged(Recorded):
        """A risk to the person or to a family contact (threats, trafficking, violence): every
        reader is told to handle the case with care, and a flagged contact is not shared beyond
        the organisation that recorded the flag."""

        handle_with_care: bool
        scope: str
        contact: str | None
        risks: list[str]
        note: str | None

        def evolve(self, case: Any) -> None:
            protection = course_of(case)["protection"]
            protection["by"] = protection["by"] or self.recorded_by.get("organisation")
            protection["flags"] = protection.get("flags", 0) + 1  # public: it outlives an erasure
            if self.scope == "case":
                protection["case"] = True
            elif self.contact:
                protection["contacts"] = sorted({*protection["contacts"], folded(self.contact)})

    # -------------------------------------------------------------- state read

    @property
    def handle_with_care(self) -> bool:
        """Whether a protection risk was flagged on the case or on one of its contacts."""
        protection = course_of(self)["protection"]
        return bool(protection["case"] or protection["contacts"] or protection.get("flags"))

    def contact_named(self, field: str, name: str) -> dict[str, Any]:
        """The family contact the case names so (accents and case aside), or InvalidField."""
        for contact in self.family_contacts or []:
            if folded(str(contact.get("name") or "")) == folded(name) and folded(name):
                return contact
        raise InvalidField(field, "is not a family contact this case names")

    def contact_speaks(self, contact: str, language: str) -> bool | None:
        """Whether the contact speaks the language; None when their languages were never recorded."""
        known = course_of(self)["contact_languages"].get(folded(contact))
        return None if not known else language in known

    def refuse_unspoken_language(self, contact: str | None, language: str, interpreter: str | None) -> None:
        """A family is told things in a language it speaks, or through an interpreter."""
        if contact is None or interpreter:
            return
        if self.contact_speaks(contact, language) is False:
            raise InvalidField(
                "interpreter",
                f"{contact} does not speak {language} (recorded: "
                f"{', '.join(course_of(self)['contact_languages'][folded(contact)])}); "
                "record the interpreter, or notify in a language they speak",
            )

    def overdue_inquiries(self, today: date) -> list[dict[str, Any]]:
        """Inquiries whose answer was due before today and has not come."""
        found = []
        for number, sent in sorted(course_of(self)["inquiries"].items(), key=lambda kv: int(kv[0])):
            due = _day(sent["due_on"])
            if sent["answer"] is None and due is not None and due < today:
                found.append(
                    {"inquiry": int(number), **sent, "due_on": due, "days_overdue": (today - due).days}
                )
        return found

    def overdue_update(self, today: date) -> dict[str, Any] | None:
        """The family update promised and not given, if its day has passed."""
        cadence = course_of(self)["cadence"]
        if cadence is None:
            return None
        due = _day(cadence["next_due"])
        if due is None or due >= today:
            return None
        return {**cadence, "next_due": due, "days_overdue": (today - due).days}

    # -------------------------------------------------------------- decisions

    def _refuse_if_over(self, action: str) -> None:
        self._refuse_if_closed(action)
        self._refuse_if_erased(action)

    def send_inquiry(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_over("InquirySent")
        if data["due_on"] < envelope["occurred_at"].date():
            raise InvalidField("due_on", "an answer cannot be due before the inquiry was sent")
        number = len(course_of(self)["inquiries"]) + 1
        self.trigger_event(self.InquirySent, **envelope, inquiry=number, **data)

    def answer_inquiry(self, envelope: dict[str, Any], inquiry: int, **data: Any) -> None:
        self._refuse_if_over("InquiryAnswered")
        sent = course_of(self)["inquiries"].get(str(inquiry))
        if sent is None:
            raise InvalidField("inquiry", f"no inquiry {inquiry} was sent on this case")
        if sent["answer"] is not None:
            raise RuleBroken("inquiry", f"inquiry {inquiry} was answered already ({sent['answer']})")
        self.trigger_event(self.InquiryAnswered, **envelope, inquiry=inquiry, **data)

    def refer_support(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_over("SupportReferred")
        number = len(course_of(self)["referrals"]) + 1
        self.trigger_event(self.SupportReferred, **envelope, referral=number, **data)

    def record_support(self, envelope: dict[str, Any], referral: int, **data: Any) -> None:
        self._refuse_if_erased("SupportProvided")
        if str(referral) not in course_of(self)["referrals"]:
            raise InvalidField("referral", f"no referral {referral} was made on this case")
        self.trigger_event(self.SupportProvided, **envelope, referral=referral, **data)

    def set_update_cadence(self, envelope: dict[str, Any], every_days: int, focal_point: str) -> None:
        self._refuse_if_over("UpdateCadenceSet")
        self.trigger_event(self.UpdateCadenceSet, **envelope, every_days=every_days, focal_point=focal_point)

    def give_update(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_erased("FamilyUpdateGiven")
        cadence = course_of(self)["cadence"]
        if data["next_update_on"] is None:
            if cadence is None:
                raise InvalidField(
                    "next_update_on", "say when the family will hear next (no cadence of updates is set)"
                )
            data["next_update_on"] = data["given_on"] + timedelta(days=int(cadence["every_days"]))
        if data["next_update_on"] <= data["given_on"]:
            raise InvalidField("next_update_on", "must be after the day the update was given")
        self.trigger_event(self.FamilyUpdateGiven, **envelope, **data)

    def record_person_details(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_over("PersonDetailsRecorded")
        self.trigger_event(self.PersonDetailsRecorded, **envelope, **data)

    def record_contact_details(self, envelope: dict[str, Any], contact: str, languages: list[str]) -> None:
        self._refuse_if_over("ContactDetailsRecorded")
        named = self.contact_named("contact", contact)
        self.trigger_event(
            self.ContactDetailsRecorded, **envelope, contact=named["name"], languages=languages
        )

    def flag_protection_risk(self, envelope: dict[str, Any], contact: str | None, **data: Any) -> None:
        self._refuse_if_erased("ProtectionRiskFlagged")
        scope = "case"
        if contact is not None:
            contact, scope = self.contact_named("contact", contact)["name"], "contact"
        self.trigger_event(
            self.ProtectionRiskFlagged,
            **envelope,
            handle_with_care=True,
            scope=scope,
            contact=contact,
            **data,
        )
