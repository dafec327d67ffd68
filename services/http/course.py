"""The overdue lists of a case's course, GET /inquiries/overdue and GET /family-updates/overdue
(the course's commands are in the one registry, services/command_registry.py COURSE)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import Depends, FastAPI, HTTPException

from services.acting import Acting
from services.bootstrap import Node
from services.http.common import Caller, jsonable

__all__ = ["OVERSEERS", "Oversees", "add_course_reads", "overdue_inquiries", "overdue_updates"]

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
