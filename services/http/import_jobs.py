"""The imports an API runs beside its requests: each job's progress and the result of every
row, kept in the process that ran them (a restarted server forgets them; the import itself is
safe to run again: it records nothing twice)."""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import InvalidField, LedgerError
from services.import_files import Scan, import_file
from services.import_mapping import ImportMapping
from services.importing import RowResult

__all__ = ["ImportJob", "ImportJobs", "LockedLedger"]

log = logging.getLogger(__name__)


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


class ImportJobs:
    """The node's import jobs, by id; each runs in a thread of its own, on the ledger under the
    API's lock; uploads are spooled under spool."""

    def __init__(self, ledger: Any, lock: Any, spool: Path) -> None:
        self.ledger, self.lock, self.spool = ledger, lock, spool
        self.jobs: dict[str, ImportJob] = {}

    def start(
        self, kind: str, organisation: str, path: Path, mapping: ImportMapping, actor: Any, purpose: str
    ) -> ImportJob:
        job = ImportJob(str(uuid.uuid4()), kind, organisation)
        self.jobs[job.id] = job
        threading.Thread(target=self.run, args=(job, path, mapping, actor, purpose), daemon=True).start()
        return job

    def run(self, job: ImportJob, path: Path, mapping: ImportMapping, actor: Any, purpose: str) -> None:
        job.status = "running"

        def scanned(found: Scan) -> None:
            job.rows_total = found.rows

        try:
            import_file(
                LockedLedger(self.ledger, self.lock),
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
