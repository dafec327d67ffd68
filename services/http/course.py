"""The overdue lists of a case's course, GET /inquiries/overdue and GET /family-updates/overdue
(the course's commands are in the one registry, services/command_registry.py COURSE)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from ledger.application import CaseLedger
from services.acting import Acting
from services.http import deps
from services.http.common import Caller, jsonable
from services.node_lock import NodeLock
from services.overdue import overdue_inquiries, overdue_updates

__all__ = ["inquiries_overdue", "router", "updates_overdue"]

router = APIRouter()


def _overseen(acting: Acting, who: Caller) -> Callable[[str], bool]:
    return lambda case_id: acting.may_act(who.credential.organisation, who.purpose, [("case", case_id)])


def _staff(who: Caller) -> None:
    if who.credential.family:
        raise HTTPException(403, "a family member's credential opens their own case only")


@router.get(
    "/inquiries/overdue", summary="Inquiries whose answer is overdue, sent by or to this organisation"
)
def inquiries_overdue(
    addressee: str | None = None,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    ledger: CaseLedger = Depends(deps.case_ledger),
    acting: Acting = Depends(deps.acting),
) -> list[dict[str, Any]]:
    """addressee: only those sent to this organisation."""
    _staff(who)
    with lock:
        found = overdue_inquiries(
            ledger, who.credential.organisation, who.credential.role, addressee, _overseen(acting, who)
        )
    return [jsonable(_dated(i)) for i in found]


@router.get("/family-updates/overdue", summary="Families promised news they have not had, by focal point")
def updates_overdue(
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    ledger: CaseLedger = Depends(deps.case_ledger),
    acting: Acting = Depends(deps.acting),
) -> list[dict[str, Any]]:
    _staff(who)
    with lock:
        found = overdue_updates(
            ledger, who.credential.organisation, who.credential.role, _overseen(acting, who)
        )
    return [jsonable(_dated(i)) for i in found]


def _dated(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in item.items()}
