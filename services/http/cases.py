"""One case, read as the rules let the caller read it (GET /cases/{id}, audited), and the
photos a report carries: kept here sealed (POST /photos) and read as a read of the case
(GET /cases/{id}/photo). Each route is given the caller, the node's lock and what it reads
(services/http/deps.py)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from ledger.application import CaseLedger
from ledger.command_roles import CASEWORK
from ledger.errors import InvalidField, NotFound
from services.http import deps
from services.http.common import Caller, etag, jsonable, own_case, problem
from services.node_lock import NodeLock
from services.photos import MEDIA_TYPES, PhotoAltered, PhotoStore, photo_of
from services.reading import CaseReading, Dossier

__all__ = ["BINARY", "audited_read", "case_then_read", "router"]

log = logging.getLogger(__name__)
BINARY = {"type": "string", "format": "binary"}

router = APIRouter()


def audited_read(reading: CaseReading, case_id: uuid.UUID, who: Caller) -> Dossier:
    """The family consults its own case; anyone else reads as the rules allow. Recorded."""
    if who.credential.family:
        own_case(who, case_id)
        return reading.consult(case_id, who.credential.actor)
    return reading.read(case_id, who.credential.actor, who.purpose, interface="http")


def case_then_read(
    ledger: CaseLedger, reading: CaseReading, case_id: uuid.UUID, who: Caller
) -> tuple[Any, Dossier]:
    """The case as it stands, then the audited read of it: recording the read gives the node's
    lock up (services/node_lock.py), and a command committed meanwhile must not lend the answer
    a later version than the one read. A family's own case is checked first, and a case the
    ledger does not hold is left for the read to refuse, as it always has."""
    if who.credential.family:
        own_case(who, case_id)
    try:
        case = ledger.get_case(case_id)
    except NotFound:
        case = None
    dossier = audited_read(reading, case_id, who)
    return (case if case is not None else ledger.get_case(case_id)), dossier


@router.get("/cases/{case_id}", summary="One case as the rules let this caller read it (reads are audited)")
def read_case(
    case_id: uuid.UUID,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    ledger: CaseLedger = Depends(deps.case_ledger),
    reading: CaseReading = Depends(deps.reading),
) -> JSONResponse:
    with lock:
        case, dossier = case_then_read(ledger, reading, case_id, who)
        version = case.version
    return JSONResponse(jsonable(asdict(dossier)), headers={"ETag": etag(version)})


@router.post(
    "/photos",
    status_code=201,
    summary="Keep a photo of a missing person here, sealed; returns the reference a report carries",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": BINARY} for t in MEDIA_TYPES},
        }
    },
)
async def upload_photo(
    request: Request,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    photos: PhotoStore = Depends(deps.photos),
) -> JSONResponse:
    if who.credential.role not in CASEWORK and not who.credential.family:
        raise HTTPException(403, f"the role {who.credential.role} may not upload photos")
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    content = await request.body()  # BodyLimit has refused anything over the photo limit
    try:
        with lock:
            stored = photos.put(content, media_type, who.credential.actor.organisation)
    except InvalidField as error:
        if error.field == "Content-Type":
            return problem(415, ["header", "Content-Type"], error.problem, "unsupported_media_type")
        return problem(422, ["body"], error.problem, "invalid_body")
    reference = {"sha256": stored.sha256, "location": stored.location}
    return JSONResponse(
        {"photo_id": stored.photo_id, "media_type": stored.media_type, "reference": reference},
        status_code=201,
        headers={"Location": f"/photos/{stored.photo_id}"},
    )


@router.get(
    "/cases/{case_id}/photo",
    summary="The case's photo, as a read of the case: the rules, the family's consent and the "
    "purpose decide, and the read is recorded",
    response_class=Response,
    responses={200: {"content": {t: {"schema": BINARY} for t in MEDIA_TYPES}}},
)
def read_photo(
    case_id: uuid.UUID,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    ledger: CaseLedger = Depends(deps.case_ledger),
    reading: CaseReading = Depends(deps.reading),
    photos: PhotoStore = Depends(deps.photos),
) -> Response:
    with lock:
        case, dossier = case_then_read(ledger, reading, case_id, who)
        reference = case.person.get("photo") or {}
        photo_id = photo_of(str(reference.get("location", "")))
        if photo_id is None:
            raise HTTPException(404, f"case {case_id}: no photo kept at this node")
        if "common" not in dossier.tiers and not who.credential.family:
            raise HTTPException(403, "the photo is in the common tier, which this read does not open")
        try:
            content, media_type = photos.get_for_case(
                photo_id, str(case_id), str(reference.get("sha256", ""))
            )
        except PhotoAltered as error:
            log.error("api: %s", error)  # ids and a hash only
            return problem(
                409,
                ["path", "case_id"],
                "the photo kept here is not the one the case records",
                "photo_altered",
            )
    return Response(content, media_type=media_type, headers={"Cache-Control": "no-store"})
