"""`POST /imports` (multipart: the file, its TOML mapping, the kind) answers at once with a
job id; the import runs beside the API, and `GET /imports/{id}` shows its progress and the
result of every row. Jobs live in the process that ran them (a restarted server forgets
them; the import itself is safe to run again: it records nothing twice)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse

from ledger.command_roles import IMPORTED_AS, may_run
from ledger.errors import InvalidField, LedgerError
from services.bootstrap import Node
from services.import_files import Scan, import_file
from services.import_mapping import ImportMapping
from services.importing import KINDS, RowResult

log = logging.getLogger(__name__)
MAX_IMPORT_BYTES = 200_000_000  # an upload; larger files go through `caseledger import`


@dataclass
class ImportJob:
    id: str
    kind: str
    organisation: str
    status: str = "queued"  # queued, running, done, refused (the whole file), failed
    rows_total: int | None = None
    rows: list[RowResult] = field(default_factory=list)
    problem: dict[str, str] | None = None

    def shown(self, outcome: str | None, offset: int, limit: int) -> dict[str, Any]:
        rows = [r for r in self.rows if outcome is None or r.outcome == outcome]
        counts = {o: 0 for o in ("recorded", "amended", "unchanged", "refused")}
        for result in self.rows:
            counts[result.outcome] += 1
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "rows_total": self.rows_total,
            "rows_done": len(self.rows),
            "counts": counts,
            "problem": self.problem,
            "rows": [r.as_dict() for r in rows[offset : offset + limit]],
            "rows_listed": len(rows),
        }


class LockedLedger:
    """The node's ledger, each call under the API's lock, so an import's batches take turns
    with the API's commands instead of holding the node for the whole file."""

    def __init__(self, ledger: Any, lock: Any) -> None:
        self._ledger, self._lock = ledger, lock

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._ledger, name)
        if not callable(found):
            return found

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return found(*args, **kwargs)

        return locked


def add_imports(app: FastAPI, node: Node, lock: Any, caller: Any) -> None:
    jobs: dict[str, ImportJob] = {}
    spool = node.settings.data_dir / "imports"

    def run(job: ImportJob, path: Path, mapping: ImportMapping, actor: Any, purpose: str) -> None:
        job.status = "running"

        def scanned(found: Scan) -> None:
            job.rows_total = found.rows

        try:
            import_file(
                LockedLedger(node.ledger, lock),
                path,
                mapping,
                recorded_by=actor,
                purpose=purpose,
                on_row=job.rows.append,
                on_scan=scanned,
            )
            job.status = "done"
        except InvalidField as error:  # FileRefused, MappingRefused: nothing was written
            job.status, job.problem = "refused", {"field": error.field, "problem": error.problem}
        except LedgerError as error:
            job.status, job.problem = "failed", {"field": "file", "problem": str(error)}
        except Exception as error:  # a sentence for the caller; the details in the log, no data
            log.error("import %s failed: %s", job.id, type(error).__name__)
            job.status, job.problem = (
                "failed",
                {"field": "file", "problem": f"unexpected {type(error).__name__}"},
            )
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)

    @app.post(
        "/imports", status_code=202, summary="Import a registry's CSV or XLSX file under a TOML mapping"
    )
    def start_import(
        file: UploadFile = File(..., description="CSV (UTF-8, or cp1252 as the mapping says) or XLSX"),
        mapping: UploadFile = File(..., description="The TOML mapping (caseledger import --template)"),
        kind: str = Form(..., description="reports or remains"),
        who: Any = Depends(caller),
    ) -> JSONResponse:
        if kind not in IMPORTED_AS:
            raise InvalidField("kind", f"{kind!r}: give reports or remains")
        if who.credential.family or not may_run(IMPORTED_AS[kind], who.credential.role):
            raise HTTPException(403, f"the role {who.credential.role} may not import {kind}")
        if who.jurisdiction != node.settings.node:
            raise HTTPException(
                403, f"{who.credential.organisation} does not belong to node {node.settings.node}"
            )
        try:
            text = mapping.file.read(1_000_000).decode("utf-8")
            parsed = ImportMapping.from_dict(tomllib.loads(text), kind)
        except UnicodeDecodeError:
            raise InvalidField("mapping", "is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as error:
            raise InvalidField("mapping", f"is not TOML: {error}") from None
        spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory = Path(tempfile.mkdtemp(dir=spool))
        suffix = ".xlsx" if (file.filename or "").lower().endswith(".xlsx") else ".csv"
        path = directory / f"upload{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        job = ImportJob(str(uuid.uuid4()), kind, who.credential.organisation)
        jobs[job.id] = job
        threading.Thread(
            target=run, args=(job, path, parsed, who.credential.actor, who.purpose), daemon=True
        ).start()
        return JSONResponse(
            {"id": job.id, "status": job.status}, status_code=202, headers={"Location": f"/imports/{job.id}"}
        )

    @app.get("/imports/{job_id}", summary="An import's progress and the result of each row")
    def show_import(
        job_id: str,
        outcome: str | None = Query(None, description="recorded, amended, unchanged or refused"),
        offset: int = Query(0, ge=0),
        limit: int = Query(1000, ge=1, le=10_000),
        who: Any = Depends(caller),
    ) -> JSONResponse:
        job = jobs.get(job_id)
        if job is None or job.organisation != who.credential.organisation:
            raise HTTPException(404, f"no import {job_id} of {who.credential.organisation} here")
        if outcome is not None and outcome not in ("recorded", "amended", "unchanged", "refused"):
            raise InvalidField("outcome", "give recorded, amended, unchanged or refused")
        return JSONResponse(job.shown(outcome, offset, limit))


__all__ = ["KINDS", "MAX_IMPORT_BYTES", "add_imports"]
