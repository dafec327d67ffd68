"""Telling a family, as the field does it: a plan first (a multidisciplinary team and its roles,
the language, the place, whether a copy of the identification report is handed over), then the
notification itself (ledger/case.py, FamilyNotified), which names the report it explains and
records what the family said. A mixin of MissingPersonCase, like ledger/course.py."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from ledger.course import course_of
from ledger.errors import InvalidField, RuleBroken
from ledger.events import Recorded
from ledger.vocabulary import CaseStatus

__all__ = ["FamilyNotification"]


class FamilyNotification:
    """NotificationPlanned, and the checks every notification passes."""

    if TYPE_CHECKING:  # state and members of MissingPersonCase
        status: CaseStatus
        family_contacts: list[dict[str, Any]]

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _refuse_if_closed(self, action: str) -> None: ...
        def _refuse_if_erased(self, action: str) -> None: ...
        def contact_named(self, field: str, name: str) -> dict[str, Any]: ...
        def refuse_unspoken_language(
            self, contact: str | None, language: str, interpreter: str | None
        ) -> None: ...

    class NotificationPlanned(Recorded):
        """How the family will be told: the team and each member's role, the family contact,
        the language (and interpreter), the place and day, and whether they keep a copy of the
        identification report."""

        plan: int
        planned_on: date
        team: list[dict[str, str]]
        contact: str
        language: str
        interpreter: str | None
        place: str
        report_copy_handed_over: bool

        def evolve(self, case: Any) -> None:
            course_of(case)["plans"][str(self.plan)] = {
                "contact": self.contact,
                "language": self.language,
                "interpreter": self.interpreter,
                "team": list(self.team or []),
                "report_copy_handed_over": self.report_copy_handed_over,
            }

    def plan_notification(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_closed("NotificationPlanned")
        self._refuse_if_erased("NotificationPlanned")
        if self.status not in (CaseStatus.LOCATED_ALIVE, CaseStatus.IDENTIFIED_DECEASED):
            raise RuleBroken(
                "notification", "a notification is planned after an identification or a location"
            )
        data["contact"] = self.contact_named("contact", data["contact"])["name"]
        self.refuse_unspoken_language(data["contact"], data["language"], data["interpreter"])
        number = len(course_of(self)["plans"]) + 1
        self.trigger_event(self.NotificationPlanned, **envelope, plan=number, **data)

    def _only_contact(self) -> str | None:
        """The family contact a notification went to when it names none: the case's only one.
        With several, and languages known for any, the notification must say which."""
        contacts = [c for c in self.family_contacts or [] if c.get("name")]
        if len(contacts) == 1:
            return str(contacts[0]["name"])
        if course_of(self)["contact_languages"]:
            raise InvalidField("contact", "say which family contact was told (the case names several)")
        return None

    def notification_details(self, details: dict[str, Any]) -> dict[str, Any]:
        """The details a notification records, completed from its plan and checked: an
        identification is explained from its report (a reference is required), to a family
        contact in a language they speak or through an interpreter."""
        plans = course_of(self)["plans"]
        plan_number = details.get("plan")
        if plan_number is None and plans:
            plan_number = max(int(n) for n in plans)
        plan = plans.get(str(plan_number)) if plan_number is not None else None
        if plan_number is not None and plan is None:
            raise InvalidField("plan", f"no notification plan {plan_number} was made on this case")
        identification = self.status == CaseStatus.IDENTIFIED_DECEASED
        if identification and plan is None:
            raise InvalidField(
                "plan",
                "an identification is explained to the family as planned (NotificationPlanned: "
                "team, language, place, copy of the report) before it is notified",
            )
        if identification and not details.get("report_reference"):
            raise InvalidField("report_reference", "name the identification report explained to the family")
        contact = details.get("contact") or (plan or {}).get("contact") or self._only_contact()
        if contact is not None:
            contact = self.contact_named("contact", contact)["name"]
        language = details.get("language") or (plan or {}).get("language")
        if language is None:
            raise InvalidField("language", "say in which language the family was told")
        interpreter = details.get("interpreter") or (plan or {}).get("interpreter")
        self.refuse_unspoken_language(contact, language, interpreter)
        copy = details.get("report_copy_handed_over")
        return {
            "plan": plan_number,
            "contact": contact,
            "language": language,
            "interpreter": interpreter,
            "report_reference": details.get("report_reference"),
            "report_copy_handed_over": (plan or {}).get("report_copy_handed_over") if copy is None else copy,
            "team": list(details.get("team") or (plan or {}).get("team") or []),
            "acknowledgement": details.get("acknowledgement"),
            "questions": list(details.get("questions") or []),
        }
