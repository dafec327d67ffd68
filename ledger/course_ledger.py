"""A node's handlers for the course of a case (ledger/course.py, ledger/notification.py), and
the overdue lists: inquiries not answered by their day, family updates not given when promised."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from ledger.base import LedgerApplication
from ledger.case import MissingPersonCase
from ledger.course_commands import (
    AnswerInquiry,
    FlagProtectionRisk,
    GiveFamilyUpdate,
    PlanNotification,
    RecordContactDetails,
    RecordPersonDetails,
    RecordSupportProvided,
    ReferSupport,
    SendInquiry,
    SetUpdateCadence,
)
from ledger.errors import NotFound
from ledger.remains import UnidentifiedRemains
from ledger.remains_commands import (
    BuryRemains,
    ExhumeRemains,
    HandOverRemains,
    ReceiveRemains,
    ReleaseRemains,
    TransferRemains,
)

__all__ = ["OVERDUE_EVENTS", "CourseLedger"]

# The events that put a case on an overdue list (the lists read only the cases that hold one).
OVERDUE_EVENTS = ("InquirySent", "UpdateCadenceSet")


class CourseLedger(LedgerApplication):
    """Handlers for inquiries, family support and updates, notification plans, languages and
    protection risks; and the node's overdue lists."""

    def send_inquiry(self, command: SendInquiry) -> int:
        return self._case_act(command, lambda c, e, d: c.send_inquiry(e, **d))

    def answer_inquiry(self, command: AnswerInquiry) -> int:
        return self._case_act(command, lambda c, e, d: c.answer_inquiry(e, **d))

    def refer_support(self, command: ReferSupport) -> int:
        return self._case_act(command, lambda c, e, d: c.refer_support(e, **d))

    def record_support_provided(self, command: RecordSupportProvided) -> int:
        return self._case_act(command, lambda c, e, d: c.record_support(e, **d))

    def set_update_cadence(self, command: SetUpdateCadence) -> int:
        return self._case_act(command, lambda c, e, d: c.set_update_cadence(e, **d))

    def give_family_update(self, command: GiveFamilyUpdate) -> int:
        return self._case_act(command, lambda c, e, d: c.give_update(e, **d))

    def plan_notification(self, command: PlanNotification) -> int:
        return self._case_act(command, lambda c, e, d: c.plan_notification(e, **d))

    def record_person_details(self, command: RecordPersonDetails) -> int:
        return self._case_act(command, lambda c, e, d: c.record_person_details(e, **d))

    def record_contact_details(self, command: RecordContactDetails) -> int:
        return self._case_act(command, lambda c, e, d: c.record_contact_details(e, **d))

    def flag_protection_risk(self, command: FlagProtectionRisk) -> int:
        return self._case_act(command, lambda c, e, d: c.flag_protection_risk(e, **d))

    # ------------------------------------------------------------- remains

    def match_facts(self, match_id: UUID) -> Mapping[str, Any]:
        """A match's facts (ledger/base.py), and, where this node holds its remains, whom they
        are identified as already: a second identification of them is refused anywhere."""
        facts = dict(super().match_facts(match_id))
        if "remains_identified_as" not in facts and facts.get("remains_id"):
            try:
                remains = self._load(UnidentifiedRemains, "remains", UUID(str(facts["remains_id"])))
            except NotFound:
                return facts  # held elsewhere: that node's facts say it
            facts["remains_identified_as"] = remains.identified_as
        return facts

    def _remains_act(self, command: Any, decide: Any) -> int:
        return self._act(UnidentifiedRemains, "remains", command.remains_id, command, decide)

    def bury_remains(self, command: BuryRemains) -> int:
        return self._remains_act(command, lambda r, e, d: r.bury(e, **d))

    def exhume_remains(self, command: ExhumeRemains) -> int:
        return self._remains_act(command, lambda r, e, d: r.exhume(e, **d))

    def release_remains(self, command: ReleaseRemains) -> int:
        return self._remains_act(command, lambda r, e, d: r.release(e, **d))

    def transfer_remains(self, command: TransferRemains) -> int:
        return self._remains_act(command, lambda r, e, d: r.transfer(e, **d))

    def hand_over_remains(self, command: HandOverRemains) -> int:
        return self._remains_act(command, lambda r, e, d: r.hand_over(e, **d))

    def receive_remains(self, command: ReceiveRemains) -> int:
        return self._case_act(command, lambda c, e, d: c.receive_remains(e, **d))

    # ------------------------------------------------------------- overdue lists

    def _cases_holding(self, event_names: tuple[str, ...]) -> Iterator[MissingPersonCase]:
        """The cases recorded here that hold one of these events, each once, erased ones aside.
        Reads the notification log by topic: only the events named, never every event."""
        topics = [f"{MissingPersonCase.__module__}:MissingPersonCase.{name}" for name in event_names]
        seen: set[str] = set()
        start = 1
        while True:
            batch = self.recorder.select_notifications(start, 500, topics=topics)
            if not batch:
                return
            for notification in batch:
                originator = str(notification.originator_id)
                if originator in seen:
                    continue
                seen.add(originator)
                try:
                    case = self._load(MissingPersonCase, "case", UUID(originator))
                except NotFound:
                    continue
                if not case.erased:
                    yield case
            start = batch[-1].id + 1

    def overdue_inquiries(self, today: date | None = None) -> list[dict[str, Any]]:
        """Every inquiry recorded here whose answer is overdue, oldest due first; a case whose
        family withdrew the purpose the inquiry was sent for is left out."""
        today = today or self.clock().date()
        found = []
        for case in self._cases_holding(("InquirySent",)):
            for item in case.overdue_inquiries(today):
                if case.has_consent(str(item["purpose"])):
                    found.append({"case_id": str(case.id), "handle_with_care": case.handle_with_care, **item})
        return sorted(found, key=lambda i: (i["due_on"], i["case_id"], i["inquiry"]))

    def overdue_updates(self, today: date | None = None) -> list[dict[str, Any]]:
        """Every case recorded here whose family was promised news that has not come, with the
        focal point that owes it; only while the family consents to family support."""
        today = today or self.clock().date()
        found = []
        for case in self._cases_holding(("UpdateCadenceSet",)):
            late = case.overdue_update(today)
            if late is not None and case.has_consent("family_support"):
                found.append({"case_id": str(case.id), "handle_with_care": case.handle_with_care, **late})
        return sorted(found, key=lambda i: (i["next_due"], i["case_id"]))
