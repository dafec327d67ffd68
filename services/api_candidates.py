"""The API's candidates (#14, item 8): GET /cases/{id}/candidates and GET /remains/{id}/candidates
give the same objects as `caseledger candidates --json`; GET /candidates is the batch run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query

from ledger.errors import NotFound
from services.api_commands import FORENSIC
from services.api_common import Caller, QueryProblem, not_family
from services.bootstrap import Node
from services.candidates import DEFAULT_MIN_SCORE, Candidates, CandidatesRefused, NoEngine, listed

NO_AM_PM = "am_pm: no ante-mortem / post-mortem engine at this node yet"
MinScore = Query(DEFAULT_MIN_SCORE, ge=0.0, le=1.0, description="The lowest score listed (0 to 1)")


def add_candidates(
    app: FastAPI,
    node: Node,
    candidates: Candidates,
    lock: Any,
    caller: Callable[..., Caller],
    sync: Callable[[str], None],
) -> None:
    @app.get(
        "/cases/{case_id}/candidates",
        summary="Possible duplicates of a case, scored (0 to 1) and explained, among the cases this "
        "organisation may read by name for this purpose (each read is recorded)",
    )
    def case_candidates(
        case_id: uuid.UUID,
        kind: Literal["duplicate", "am_pm"] = "duplicate",
        min_score: float = MinScore,
        who: Caller = Depends(caller),
    ) -> list[dict[str, Any]]:
        not_family(who)
        if kind == "am_pm":
            raise QueryProblem("kind", NO_AM_PM)
        with lock:
            sync(who.jurisdiction)
            try:
                found = candidates.for_case(
                    who.jurisdiction, str(case_id), who.credential.actor, who.purpose, min_score, "http"
                )
            except CandidatesRefused as refused:
                raise HTTPException(403, str(refused)) from None
        return [listed(c) for c in found]

    @app.get(
        "/remains/{remains_id}/candidates",
        summary="The cases some remains may be (ante-mortem / post-mortem), scored and explained",
    )
    def remains_candidates(
        remains_id: uuid.UUID, min_score: float = MinScore, who: Caller = Depends(caller)
    ) -> list[dict[str, Any]]:
        not_family(who)
        if who.credential.role not in FORENSIC:
            raise HTTPException(403, f"the role {who.credential.role} may not see remains' candidates")
        with lock:
            sync(who.jurisdiction)
            if str(remains_id) not in node.views(who.jurisdiction).forensic_rows([str(remains_id)]):
                raise NotFound("remains", str(remains_id))
            try:
                found = candidates.for_remains(str(remains_id))
            except NoEngine as missing:
                raise HTTPException(409, str(missing)) from None
        return [listed(c, "am_pm") for c in found]

    @app.get(
        "/candidates",
        summary="The batch run: every pair of possible duplicates among the cases this organisation "
        "may read by name for this purpose",
    )
    def all_candidates(
        kind: Literal["duplicate", "am_pm"] = "duplicate",
        min_score: float = MinScore,
        who: Caller = Depends(caller),
    ) -> list[dict[str, Any]]:
        not_family(who)
        if kind == "am_pm":
            raise QueryProblem("kind", NO_AM_PM)
        with lock:
            sync(who.jurisdiction)
            try:
                found = candidates.batch(
                    who.jurisdiction, who.credential.actor, who.purpose, min_score, "http"
                )
            except CandidatesRefused as refused:
                raise HTTPException(403, str(refused)) from None
        return [listed(c) for c in found]
