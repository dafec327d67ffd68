"""The course of a case over HTTP and on the command line, from one registry: COURSE_ROUTES
(each a command of ledger/course_commands.py, or the notification itself) become POST routes
through services/api_commands.py and `caseledger course ...` commands through
services/cli_course.py; and the overdue lists, GET /inquiries/overdue and
GET /family-updates/overdue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import Depends, FastAPI, HTTPException

from ledger.commands import NotifyFamily
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
from ledger.remains_commands import (
    BuryRemains,
    ExhumeRemains,
    HandOverRemains,
    ReceiveRemains,
    ReleaseRemains,
    TransferRemains,
)
from services.acting import Acting
from services.api_commands import CASEWORK, FORENSIC, REVIEWERS, Route
from services.api_common import Caller, jsonable
from services.bootstrap import Node

__all__ = [
    "COURSE_ROUTES",
    "NOTIFY",
    "OVERSEERS",
    "PROTECTION",
    "Oversees",
    "add_course_reads",
    "overdue_inquiries",
    "overdue_updates",
]

PROTECTION = CASEWORK | {"child_protection_officer"}
COURSE_ROUTES = (
    Route(
        "/cases/{case_id}/inquiries",
        SendInquiry,
        "send_inquiry",
        "Ask a detention centre, shelter, hospital, prison or migration authority about the person",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/inquiry-answers",
        AnswerInquiry,
        "answer_inquiry",
        "Record the answer to an inquiry (found, not found, no answer)",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/support-referrals",
        ReferSupport,
        "refer_support",
        "Refer the family for psychosocial, legal, forensic, financial or administrative support",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/support-provided",
        RecordSupportProvided,
        "record_support_provided",
        "Record what came of a referral for support",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/update-cadence",
        SetUpdateCadence,
        "set_update_cadence",
        "Promise the family news every N days through a focal point",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/family-updates",
        GiveFamilyUpdate,
        "give_family_update",
        "Record news given to the family, and when they will hear next",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/notification-plans",
        PlanNotification,
        "plan_notification",
        "Plan how the family will be told: team and roles, language, place, copy of the report",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/person-details",
        RecordPersonDetails,
        "record_person_details",
        "Record the person's languages, gender identity, pregnancy, unaccompanied child",
        CASEWORK,
        "case_id",
        family=True,
    ),
    Route(
        "/cases/{case_id}/contact-details",
        RecordContactDetails,
        "record_contact_details",
        "Record the languages a family contact speaks",
        CASEWORK,
        "case_id",
        family=True,
    ),
    Route(
        "/cases/{case_id}/repatriation",
        ReceiveRemains,
        "receive_remains",
        "Record the remains received home, then buried at home (the case's node's part)",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/remains/{remains_id}/burial",
        BuryRemains,
        "bury_remains",
        "Record where remains held here are buried (cemetery, grave, coordinates)",
        FORENSIC | REVIEWERS,
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/exhumation",
        ExhumeRemains,
        "exhume_remains",
        "Record that remains were exhumed",
        FORENSIC | REVIEWERS,
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/custody",
        TransferRemains,
        "transfer_remains",
        "Pass custody of remains from their current holder to the next",
        FORENSIC | REVIEWERS,
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/release",
        ReleaseRemains,
        "release_remains",
        "Release identified remains to the family or a consulate",
        FORENSIC | REVIEWERS,
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/repatriation",
        HandOverRemains,
        "hand_over_remains",
        "Record that released remains were handed over for repatriation (the remains' node's part)",
        FORENSIC | REVIEWERS,
        "remains_id",
    ),
    Route(
        "/cases/{case_id}/protection-risks",
        FlagProtectionRisk,
        "flag_protection_risk",
        "Flag a protection risk to the person or a family contact (handle with care)",
        PROTECTION,
        "case_id",
    ),
)
"""The course's commands. The notification (POST /cases/{id}/notifications) stays among the
ledger's routes; the command line takes it from NOTIFY below."""

NOTIFY = Route(
    "/cases/{case_id}/notifications",
    NotifyFamily,
    "notify_family",
    "Record that the family was told",
    CASEWORK,
    "case_id",
)

# Who sees the overdue items of every case they may read, not only their own organisation's.
OVERSEERS = frozenset({"commissioner", "investigator", "node_operator"})
Oversees = Callable[[str], bool] | None


def overdue_inquiries(
    node: Node, organisation: str, role: str, addressee: str | None, oversees: Oversees = None
) -> list[dict[str, Any]]:
    """The overdue inquiries an organisation sent or was sent; to an overseer, also those of
    the cases it may read (oversees(case id); None: every one, as on the node's command line)."""
    items = [
        i
        for i in node.ledger.overdue_inquiries()
        if organisation in (i["sent_by"], i["addressee"])
        or (role in OVERSEERS and (oversees is None or oversees(i["case_id"])))
    ]
    if addressee is not None:
        items = [i for i in items if i["addressee"] == addressee]
    return [{k: v for k, v in i.items() if k != "purpose"} for i in items]


def overdue_updates(
    node: Node, organisation: str, role: str, oversees: Oversees = None
) -> list[dict[str, Any]]:
    """The overdue family updates a focal point owes; to an overseer, also those of the cases
    it may read."""
    return [
        i
        for i in node.ledger.overdue_updates()
        if i["focal_point"] == organisation
        or (role in OVERSEERS and (oversees is None or oversees(i["case_id"])))
    ]


def add_course_reads(
    app: FastAPI, node: Node, lock: Any, caller: Callable[..., Caller], acting: Acting
) -> None:
    """The overdue lists: what is owed to families, by whom, and for how long; an overseer sees
    the items of the cases the rules let it read for the stated purpose."""

    def overseen(who: Caller) -> Callable[[str], bool]:
        return lambda case_id: acting.may_act(who.credential.organisation, who.purpose, [("case", case_id)])

    def staff(who: Caller) -> None:
        if who.credential.family:
            raise HTTPException(403, "a family member's credential opens their own case only")

    @app.get(
        "/inquiries/overdue", summary="Inquiries whose answer is overdue, sent by or to this organisation"
    )
    def inquiries_overdue(
        addressee: str | None = None, who: Caller = Depends(caller)
    ) -> list[dict[str, Any]]:
        """addressee: only those sent to this organisation."""
        staff(who)
        with lock:
            found = overdue_inquiries(
                node, who.credential.organisation, who.credential.role, addressee, overseen(who)
            )
        return [jsonable(_dated(i)) for i in found]

    @app.get("/family-updates/overdue", summary="Families promised news they have not had, by focal point")
    def updates_overdue(who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        staff(who)
        with lock:
            found = overdue_updates(node, who.credential.organisation, who.credential.role, overseen(who))
        return [jsonable(_dated(i)) for i in found]


def _dated(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in item.items()}
