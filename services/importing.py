"""The row -> command pipeline every import shares (CSV, XLSX, PFIF): each record is checked
as the API checks a request body (the same pydantic model, then the command's own checks), new
records are saved in batches, and every record gets a line in the report.

API (for importers of other formats):

    import_records(ledger, kind, records, source=..., recorded_by=Actor(...)) -> ImportSummary

kind: "reports" (ReportMissingPerson), "remains" (RecordRemainsRecovered) or "sightings"
(RecordSighting; its fields name `case_ref`, the external reference of a case imported from
the same source, instead of case_id). records: any iterable of Record(row, external_ref,
fields, columns); fields are the API's body fields (nested dicts for place, family_contacts...);
columns maps a field (top-level or dotted) to the file's column, for the report. on_row is
called with each RowResult as it is decided. The command id of each record derives from kind,
source and external_ref (ledger/imports.py), so a second run records nothing new; a changed
report becomes a DataAmended of what changed; duplicated references in one call are refused.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError

from ledger.case import case_id_for
from ledger.commands import Actor, RecordSighting, ReportMissingPerson
from ledger.errors import CommandIdReused, InvalidField, LedgerError
from ledger.events import command_key
from ledger.forensic_commands import RecordRemainsRecovered
from ledger.import_batch import ImportBatch, Outcome
from ledger.imports import ImportedFrom, import_command_id
from services.command_bodies import body_model
from services.command_registry import COMMANDS
from services.import_commands import MadeWhenNeeded
from services.import_gc import collecting_less
from services.import_results import Checked, ImportSummary, Prepared, Record, RowResult, chunks

__all__ = [
    "BATCH_SIZE",
    "KINDS",
    "OUTCOMES",
    "ImportSummary",
    "Importer",
    "Record",
    "RowResult",
    "body_for",
    "column_of",
    "field_names",
    "import_records",
    "refuse_duplicates",
]

KINDS: dict[str, type] = {
    "reports": ReportMissingPerson,
    "remains": RecordRemainsRecovered,
    "sightings": RecordSighting,
}
OUTCOMES = ("recorded", "unchanged", "amended", "refused")
BATCH_SIZE = 500


def _body_type(kind: str) -> type[BaseModel]:
    command = KINDS[kind]
    route = next(r for r in COMMANDS if r.command is command)
    return body_model(route)


_BODIES: dict[str, type[BaseModel]] = {}


def body_for(kind: str) -> type[BaseModel]:
    if kind not in _BODIES:
        _BODIES[kind] = _body_type(kind)
    return _BODIES[kind]


def field_names(kind: str) -> list[str]:
    """The fields a record of this kind may carry (the API's body fields)."""
    names = list(body_for(kind).model_fields)
    return [*names, "case_ref"] if kind == "sightings" else names


def column_of(record: Record, field_path: str) -> str | None:
    """The file's column a (dotted) field came from: the longest mapped prefix."""
    parts = field_path.split(".")
    for n in range(len(parts), 0, -1):
        found = record.columns.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


def _refusal(record: Record, field_path: str, problem: str, record_id: str | None = None) -> RowResult:
    return RowResult(
        record.row,
        record.external_ref,
        "refused",
        record_id,
        column_of(record, field_path),
        field_path,
        problem,
    )


def _pydantic_problem(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "body"
    given = first.get("input")
    shown = (
        f" (given {given!r})" if isinstance(given, str | int | float) and first["type"] != "missing" else ""
    )
    return loc, f"{first['msg']}{shown}"


class Importer:
    """Turns records into commands of one kind from one source, and records them in batches."""

    def __init__(
        self,
        ledger: Any,
        kind: str,
        *,
        source: str,
        recorded_by: Actor,
        purpose: str = "search",
        batch_size: int = BATCH_SIZE,
        workers: int = 0,
    ) -> None:
        """workers: processes that check rows and make their events beside this one, which
        does the database's part (services/import_workers.py); 0 or 1: this process alone."""
        if kind not in KINDS:
            raise InvalidField("kind", f"{kind!r} is not imported; kinds: {', '.join(KINDS)}")
        self.ledger = ledger
        self.kind = kind
        self.imported_from = ImportedFrom(source, "-")
        self.imported_from.checked()  # the source is refused before any row is read
        self.source = source
        self.recorded_by = recorded_by
        recorded_by.checked()
        self.purpose = purpose
        self.batch_size = max(1, batch_size)
        self.workers = workers
        self.body = body_for(kind)
        self.batch = ImportBatch(ledger)
        self.reason = f"changed in {source} since it was imported"

    def command(self, record: Record) -> Any:
        """The command a record asks for; InvalidField or ValidationError when it is wrong."""
        fields = dict(record.fields)
        extra: dict[str, Any] = {}
        if self.kind == "sightings":
            case_ref = fields.pop("case_ref", None)
            if not case_ref:
                raise InvalidField(
                    "case_ref", "name the case (its reference in the source) this sighting is of"
                )
            extra["case_id"] = case_id_for(
                self.ledger.origin, import_command_id("reports", self.source, str(case_ref))
            )
        body = self.body.model_validate(fields)
        values = {name: getattr(body, name) for name in type(body).model_fields}
        reference = str(record.external_ref).strip()
        if self.kind != "sightings":
            extra["imported_from"] = ImportedFrom(self.source, reference)
        return KINDS[self.kind](
            **values,
            **extra,
            command_id=import_command_id(self.kind, self.source, reference),
            recorded_by=self.recorded_by,
            purpose=self.purpose,
        )

    def run(
        self,
        records: Iterable[Any],
        on_row: Callable[[RowResult], None] | None = None,
        made: Callable[[Any], Record | RowResult] | None = None,
    ) -> ImportSummary:
        """Records in, a result per record out in the same order; a RowResult among the
        records (a row the reader already refused) passes through in its place. made: what
        makes each item of records a Record (or its refusal), when they are a file's rows."""
        with collecting_less():  # services/import_gc.py
            return self._run(records, on_row, made)

    def _run(
        self,
        records: Iterable[Any],
        on_row: Callable[[RowResult], None] | None,
        made: Callable[[Any], Record | RowResult] | None,
    ) -> ImportSummary:
        if self.workers > 1 and self.kind != "sightings":
            from services.import_workers import run_with_workers

            return run_with_workers(self, records, self.workers, on_row, made)
        summary = ImportSummary()
        for chunk in chunks(records, self.batch_size):
            started = time.perf_counter()
            prepared = self._prepare(chunk if made is None else [made(row) for row in chunk])
            middle = time.perf_counter()
            finished = self._finish(prepared)
            summary.took(middle - started, time.perf_counter() - middle)
            for result in finished:
                summary.add(result, on_row)
        return summary

    def _run_chunk(self, chunk: list[Record | RowResult]) -> list[RowResult]:
        return self._finish(self._prepare(chunk))

    def _prepare(self, chunk: list[Record | RowResult]) -> list[Prepared]:
        """What a chunk's records ask and what their checks find, without the database: the
        part a bulk import's worker processes do (services/import_workers.py)."""
        prepared: list[Prepared] = []
        for record in chunk:
            if isinstance(record, RowResult):
                prepared.append(record)
                continue
            try:
                if not str(record.external_ref or "").strip():
                    raise InvalidField(
                        "imported_from.reference", "is empty: every record needs its reference"
                    )
                command = self.command(record)
            except ValidationError as error:
                prepared.append(_refusal(record, *_pydantic_problem(error)))
                continue
            except InvalidField as error:
                prepared.append(_refusal(record, error.field, error.problem))
                continue
            prepared.append(
                (record, command, None if self.kind == "sightings" else self._checks(record, command))
            )
        return prepared

    def _checks(self, record: Record, command: Any) -> Checked:
        """A new record's creating event, or its refusal; the origin's check is kept for after
        the database's checks (the order ImportBatch.new_event checks in)."""
        try:
            envelope, data = self.ledger._prechecked(command)
        except InvalidField as error:
            return _refusal(record, error.field, error.problem)
        except LedgerError as error:
            return _refusal(record, "row", str(error))
        try:
            self.batch.check_origin(command, data)
            later = None
        except InvalidField as error:
            later = _refusal(record, error.field, error.problem)
        return envelope["command_id"], self.batch.event_for(command, envelope, data), later

    def _finish(self, prepared: list[Prepared]) -> list[RowResult]:
        """The database's part of a chunk: which records exist, the command ids' claims, the
        amendments, and one transaction for the new records."""
        results: dict[int, RowResult] = {}
        ready: list[tuple[int, Record, Any, Checked | None]] = []
        for n, item in enumerate(prepared):
            if isinstance(item, RowResult):
                results[n] = item
            else:
                ready.append((n, *item))
        if self.kind == "sightings":
            for n, record, command, _ in ready:
                results[n] = self._one(record, command)
            return [results[n] for n in range(len(prepared))]
        command_ids, ids = self._ids(ready)
        existing, held = self.batch.existing_and_held(ids, command_ids)  # one round trip
        new: list[tuple[int, Record, Any, Any]] = []
        with self.batch.ledger.claims.known(command_ids, held):
            for (n, record, command, checks), record_id in zip(ready, ids, strict=True):
                try:
                    if record_id in existing:
                        command = command or self.command(record)
                        results[n] = self._result(record, self.batch.update(command, self.reason))
                    elif (refused := self._refused(record, command, checks)) is not None:
                        results[n] = refused
                    else:  # decided now, so that one bad row spoils no batch
                        new.append((n, record, command, checks[1]))  # type: ignore[index]
                except InvalidField as error:
                    results[n] = _refusal(record, error.field, error.problem)
                except LedgerError as error:
                    results[n] = _refusal(record, "row", str(error))
        commands = MadeWhenNeeded(self.command, [(r, c) for _, r, c, _ in new])
        saved = self.batch.save_new(commands, [a for _, _, _, a in new])
        for (n, record, _, _), outcome in zip(new, saved, strict=True):
            results[n] = self._result(record, outcome)
        return [results[n] for n in range(len(prepared))]

    def _ids(self, ready: list[tuple[int, Record, Any, Checked | None]]) -> tuple[list[str], list[UUID]]:
        """Each record's command id and the id of the aggregate it would make: read from its
        event when its checks made one (in a worker, from the same command), else derived."""
        command_ids: list[str] = []
        ids: list[UUID] = []
        for _, record, command, checks in ready:
            if type(checks) is tuple:
                made = checks[1]  # the event, or (stored row, keys) when sealed ahead
                command_ids.append(command_key(checks[0]))
                ids.append(made[0][0] if type(made) is tuple else made.originator_id)
                continue
            command_id = self._command_id(record) if command is None else command.command_id
            command_ids.append(command_id)
            ids.append(self.batch.id_for(KINDS[self.kind], command_id))
        return command_ids, ids

    def _refused(self, record: Record, command: Any, checks: Checked | None) -> RowResult | None:
        """A new record's refusal, in ImportBatch.new_event's order: its own checks, then the
        command id's claim and who acts (LedgerError, raised), then the origin."""
        if checks is None or isinstance(checks, RowResult):
            return checks
        stored_id, _, later = checks
        self.ledger.claims.check(stored_id)
        if self.ledger.acting is not None:
            self.ledger.acting.check_command(command or self.command(record))
        return later

    def _command_id(self, record: Record) -> str:
        """The command id command(record) gives its command (ledger/imports.py)."""
        return import_command_id(self.kind, self.source, str(record.external_ref).strip())

    def _one(self, record: Record, command: Any) -> RowResult:
        try:
            self.ledger.record_sighting(command)
        except CommandIdReused:
            return _refusal(
                record,
                "imported_from.reference",
                "differs from the sighting imported before under this reference; a sighting "
                "cannot be amended by an import",
            )
        except InvalidField as error:
            return _refusal(record, error.field, error.problem)
        except LedgerError as error:
            return _refusal(record, "case_ref", str(error))
        return RowResult(record.row, record.external_ref, "recorded", str(command.case_id))

    @staticmethod
    def _result(record: Record, outcome: Outcome) -> RowResult:
        if outcome.outcome == "refused":
            return _refusal(record, outcome.field or "row", outcome.problem or "refused", outcome.record_id)
        return RowResult(record.row, record.external_ref, outcome.outcome, outcome.record_id)


def refuse_duplicates(records: Iterable[Record]) -> Iterator[Record | RowResult]:
    """Records as they come, except every one whose reference another record of the same
    call carries too: a RowResult refusing it (a reference names one record). Holds the
    references seen in memory: for files, services/import_files.py checks on disk instead."""
    first: dict[str, int] = {}
    held: list[Record] = list(records)
    counts = Counter(str(r.external_ref).strip() for r in held)
    for record in held:
        ref = str(record.external_ref).strip()
        first.setdefault(ref, record.row)
        if ref and counts[ref] > 1:
            yield RowResult(
                record.row,
                record.external_ref,
                "refused",
                None,
                record.columns.get("external_ref"),
                "imported_from.reference",
                f"{ref!r} is the reference of {counts[ref]} records (first at row {first[ref]}); "
                "none of them is imported until each has its own",
            )
        else:
            yield record


def import_records(
    ledger: Any,
    kind: str,
    records: Iterable[Record],
    *,
    source: str,
    recorded_by: Actor,
    purpose: str = "search",
    batch_size: int = BATCH_SIZE,
    on_row: Callable[[RowResult], None] | None = None,
    check_duplicates: bool = True,
) -> ImportSummary:
    """Import records of one kind from one source; see the module's docstring."""
    importer = Importer(
        ledger, kind, source=source, recorded_by=recorded_by, purpose=purpose, batch_size=batch_size
    )
    if not check_duplicates:
        return importer.run(records, on_row)
    return importer.run(refuse_duplicates(records), on_row)
