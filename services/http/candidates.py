"""The API's candidates (#14, item 8): GET /cases/{id}/candidates and GET /remains/{id}/candidates
give the same objects as `caseledger candidates --json`; GET /candidates is the batch run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query

from services.bootstrap import Node
from services.candidates import DEFAULT_MIN_SCORE, Candidates, CandidatesRefused, listed
from services.http.common import Caller, not_family

__all__ = ["MinScore", "add_candidates"]

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
        summary="Possible duplicates of a case (kind duplicate), or the remains it may be (kind am_pm, "
        "forensic roles), scored (0 to 1) and explained, among the records this organisation may read "
        "for this purpose (each read is recorded)",
    )
    def case_candidates(
        case_id: uuid.UUID,
        kind: Literal["duplicate", "am_pm"] = "duplicate",
        min_score: float = MinScore,
        who: Caller = Depends(caller),
    ) -> list[dict[str, Any]]:
        not_family(who)
        ask = candidates.am_pm.for_case if kind == "am_pm" else candidates.for_case
        with lock:
            sync(who.jurisdiction)
            try:
                found = ask(
                    who.jurisdiction, str(case_id), who.credential.actor, who.purpose, min_score, "http"
                )
            except CandidatesRefused as refused:
                raise HTTPException(403, str(refused)) from None
        refs = candidates.references(who.jurisdiction, found)
        return [listed(c, kind, refs) for c in found]

    @app.get(
        "/remains/{remains_id}/candidates",
        summary="The cases some remains may be (ante-mortem / post-mortem), scored and explained, "
        "for forensic roles; candidates at the node's threshold are proposed as matches for review",
    )
    def remains_candidates(
        remains_id: uuid.UUID, min_score: float = MinScore, who: Caller = Depends(caller)
    ) -> list[dict[str, Any]]:
        not_family(who)
        with lock:
            sync(who.jurisdiction)
            try:
                found = candidates.am_pm.for_remains(
                    who.jurisdiction, str(remains_id), who.credential.actor, who.purpose, min_score, "http"
                )
            except CandidatesRefused as refused:
                raise HTTPException(403, str(refused)) from None
        refs = candidates.references(who.jurisdiction, found)
        return [listed(c, "am_pm", refs) for c in found]

    @app.get(
        "/candidates",
        summary="The batch run: every pair of possible duplicates among the cases this organisation "
        "may read by name for this purpose (kind am_pm: every unidentified remains and the cases "
        "it may be, for forensic roles)",
    )
    def all_candidates(
        kind: Literal["duplicate", "am_pm"] = "duplicate",
        min_score: float = MinScore,
        who: Caller = Depends(caller),
    ) -> list[dict[str, Any]]:
        not_family(who)
        run = candidates.am_pm.batch if kind == "am_pm" else candidates.batch
        with lock:
            sync(who.jurisdiction)
            try:
                found = run(who.jurisdiction, who.credential.actor, who.purpose, min_score, "http")
            except CandidatesRefused as refused:
                raise HTTPException(403, str(refused)) from None
        refs = candidates.references(who.jurisdiction, found)
        return [listed(c, kind, refs) for c in found]
