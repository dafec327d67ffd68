"""The API's candidates (#14, item 8): GET /cases/{id}/candidates and GET /remains/{id}/candidates
give the same objects as `caseledger candidates --json`; GET /candidates is the batch run. Each
route is given the caller, the node's lock, the views (to catch up) and the candidates
(services/http/deps.py); the three answer through one helper."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from services.candidates import DEFAULT_MIN_SCORE, Candidates, CandidatesRefused, listed
from services.http import deps
from services.http.common import Caller, not_family
from services.http.view_access import ViewAccess
from services.node_lock import NodeLock

__all__ = ["MinScore", "router"]

MinScore = Query(DEFAULT_MIN_SCORE, ge=0.0, le=1.0, description="The lowest score listed (0 to 1)")
Kind = Literal["duplicate", "am_pm"]

router = APIRouter()


def _listed(
    who: Caller,
    lock: NodeLock,
    views: ViewAccess,
    candidates: Candidates,
    kind: str,
    find: Callable[[], list[Any]],
) -> list[dict[str, Any]]:
    """What find finds (under the node's lock, the views caught up), as listed; a refusal 403."""
    with lock:
        views.sync(who.jurisdiction)
        try:
            found = find()
        except CandidatesRefused as refused:
            raise HTTPException(403, str(refused)) from None
    refs = candidates.references(who.jurisdiction, found)
    return [listed(c, kind, refs) for c in found]


@router.get(
    "/cases/{case_id}/candidates",
    summary="Possible duplicates of a case (kind duplicate), or the remains it may be (kind am_pm, "
    "forensic roles), scored (0 to 1) and explained, among the records this organisation may read "
    "for this purpose (each read is recorded)",
)
def case_candidates(
    case_id: uuid.UUID,
    kind: Kind = "duplicate",
    min_score: float = MinScore,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    candidates: Candidates = Depends(deps.candidates),
) -> list[dict[str, Any]]:
    not_family(who)
    ask = candidates.am_pm.for_case if kind == "am_pm" else candidates.for_case
    return _listed(
        who,
        lock,
        views,
        candidates,
        kind,
        lambda: ask(who.jurisdiction, str(case_id), who.credential.actor, who.purpose, min_score, "http"),
    )


@router.get(
    "/remains/{remains_id}/candidates",
    summary="The cases some remains may be (ante-mortem / post-mortem), scored and explained, "
    "for forensic roles; candidates at the node's threshold are proposed as matches for review",
)
def remains_candidates(
    remains_id: uuid.UUID,
    min_score: float = MinScore,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    candidates: Candidates = Depends(deps.candidates),
) -> list[dict[str, Any]]:
    not_family(who)
    ask = candidates.am_pm.for_remains
    return _listed(
        who,
        lock,
        views,
        candidates,
        "am_pm",
        lambda: ask(who.jurisdiction, str(remains_id), who.credential.actor, who.purpose, min_score, "http"),
    )


@router.get(
    "/candidates",
    summary="The batch run: every pair of possible duplicates among the cases this organisation "
    "may read by name for this purpose (kind am_pm: every unidentified remains and the cases "
    "it may be, for forensic roles)",
)
def all_candidates(
    kind: Kind = "duplicate",
    min_score: float = MinScore,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    candidates: Candidates = Depends(deps.candidates),
) -> list[dict[str, Any]]:
    not_family(who)
    run = candidates.am_pm.batch if kind == "am_pm" else candidates.batch
    return _listed(
        who,
        lock,
        views,
        candidates,
        kind,
        lambda: run(who.jurisdiction, who.credential.actor, who.purpose, min_score, "http"),
    )
