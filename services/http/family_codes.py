"""`POST /cases/{id}/family-code`: the caseworker who reported a case gives its family a short
sign-in code for /family (services/family_codes.py), as `caseledger family-code` does."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from ledger.application import CaseLedger
from services.family_codes import MAX_LIFETIME, FamilyCodes, shown
from services.http import deps
from services.http.common import Caller
from services.node_lock import NodeLock

__all__ = ["FamilyCodeRequest", "family_code", "router"]


class FamilyCodeRequest(BaseModel):
    family_member: str = Field(min_length=1, max_length=200, description="Whom the code is for")
    expires_days: int = Field(14, ge=1, le=MAX_LIFETIME.days, description="Days it opens the pages")


router = APIRouter()
_ONLY_THE_REPORTER = "a code is given by a caseworker of the organisation that reported the case"


@router.post(
    "/cases/{case_id}/family-code",
    status_code=201,
    summary="A short code (XXXXX-XXXXX) the case's family signs in with at /family; shown once",
)
def family_code(
    case_id: uuid.UUID,
    body: FamilyCodeRequest,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    ledger: CaseLedger = Depends(deps.case_ledger),
    codes: FamilyCodes = Depends(deps.family_codes),
) -> dict[str, str]:
    if who.credential.family or who.credential.role != "caseworker":
        raise HTTPException(403, _ONLY_THE_REPORTER)
    with lock:
        case = ledger.get_case(case_id)  # 404 when the node keeps no such case
        if getattr(case, "reported_by", None) != who.credential.organisation:
            raise HTTPException(403, _ONLY_THE_REPORTER)
        code, credential = codes.issue(
            body.family_member.strip(), str(case_id), timedelta(days=body.expires_days)
        )
    return {
        "code": shown(code),
        "expires_at": str(credential.expires_at),
        "token_id": credential.token_id,
    }
