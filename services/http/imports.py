"""`POST /imports` (multipart: the file, its TOML mapping, the kind) answers at once with a
job id; the import runs beside the API, and `GET /imports/{id}` shows its progress and the
result of every row. Jobs live in the process that ran them (a restarted server forgets
them; the import itself is safe to run again: it records nothing twice)."""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse

from ledger.command_roles import IMPORTED_AS, may_run
from ledger.errors import InvalidField
from services.http import deps
from services.http.common import Caller
from services.http.import_jobs import ImportJobs
from services.import_mapping import ImportMapping
from services.importing import KINDS

__all__ = ["KINDS", "MAX_IMPORT_BYTES", "router", "show_import", "start_import"]

MAX_IMPORT_BYTES = 200_000_000  # an upload; larger files go through `caseledger import`


router = APIRouter()


@router.post("/imports", status_code=202, summary="Import a registry's CSV or XLSX file under a TOML mapping")
def start_import(
    file: UploadFile = File(..., description="CSV (UTF-8, or cp1252 as the mapping says) or XLSX"),
    mapping: UploadFile = File(..., description="The TOML mapping (caseledger import --template)"),
    kind: str = Form(..., description="reports or remains"),
    who: Caller = Depends(deps.caller),
    imports: ImportJobs = Depends(deps.import_jobs),
    jurisdiction: str = Depends(deps.node_jurisdiction),
) -> JSONResponse:
    if kind not in IMPORTED_AS:
        raise InvalidField("kind", f"{kind!r}: give reports or remains")
    if who.credential.family or not may_run(IMPORTED_AS[kind], who.credential.role):
        raise HTTPException(403, f"the role {who.credential.role} may not import {kind}")
    if who.jurisdiction != jurisdiction:
        raise HTTPException(403, f"{who.credential.organisation} does not belong to node {jurisdiction}")
    try:
        text = mapping.file.read(1_000_000).decode("utf-8")
        parsed = ImportMapping.from_dict(tomllib.loads(text), kind)
    except UnicodeDecodeError:
        raise InvalidField("mapping", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidField("mapping", f"is not TOML: {error}") from None
    imports.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory = Path(tempfile.mkdtemp(dir=imports.spool))
    suffix = ".xlsx" if (file.filename or "").lower().endswith(".xlsx") else ".csv"
    path = directory / f"upload{suffix}"
    with path.open("wb") as out:
        shutil.copyfileobj(file.file, out, 1 << 20)
    job = imports.start(kind, who.credential.organisation, path, parsed, who.credential.actor, who.purpose)
    return JSONResponse(
        {"id": job.id, "status": job.status}, status_code=202, headers={"Location": f"/imports/{job.id}"}
    )


@router.get("/imports/{job_id}", summary="An import's progress and the result of each row")
def show_import(
    job_id: str,
    outcome: str | None = Query(None, description="recorded, amended, unchanged or refused"),
    offset: int = Query(0, ge=0),
    limit: int = Query(1000, ge=1, le=10_000),
    who: Caller = Depends(deps.caller),
    imports: ImportJobs = Depends(deps.import_jobs),
) -> JSONResponse:
    job = imports.jobs.get(job_id)
    if job is None or job.organisation != who.credential.organisation:
        raise HTTPException(404, f"no import {job_id} of {who.credential.organisation} here")
    if outcome is not None and outcome not in ("recorded", "amended", "unchanged", "refused"):
        raise InvalidField("outcome", "give recorded, amended, unchanged or refused")
    return JSONResponse(job.shown(outcome, offset, limit))
