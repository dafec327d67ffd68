"""`caseledger import pfif`: a PFIF feed into the ledger, every record accounted for.

The file is read three times, streaming: first to check it whole (a file refused for being
unreadable, or for giving one record id twice, writes nothing), then its persons go through
the import core every registry shares (services/importing.py: checked as the API checks a
report, saved in batches, `imported_from` {pfif, person_record_id}; a changed record becomes
an amendment of what changed), then its notes become sightings (a note may come before its
person). Each record is reported recorded, amended, already there (a re-import records
nothing new), or bad with each field's problem; the good ones go in whatever the bad say.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.case import case_id_for
from ledger.commands import Actor, Command, LinkCases, RecordSighting, ReportMissingPerson
from ledger.errors import CaseNotFound, CommandIdReused, LedgerError
from ledger.imports import import_command_id
from ledger.values import AgeRange, Coordinates, FamilyContact, Place
from services import importing
from services.pfif import FeedRefused, Record, read_feed
from services.pfif_mapping import (
    SOURCE,
    ImportOptions,
    left_out,
    link_command,
    report_command,
    sighting_command,
)

__all__ = ["ImportReport", "PfifImport", "body", "build"]


@dataclass
class ImportReport:
    """What became of each record of one file."""

    file: str
    refused: str | None = None
    recorded: list[str] = field(default_factory=list)
    amended: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    bad: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def body(command: dict[str, Any]) -> dict[str, Any]:
    """A command dict's fields as the API's request body takes them (no envelope)."""
    envelope = ("command", "command_id", "recorded_by", "purpose", "occurred_at")
    return {k: v for k, v in command.items() if k not in envelope}


def build(command: dict[str, Any]) -> Command:
    """The ledger command a plain command dict (services/pfif_mapping.py) names."""
    c = dict(command)
    kind = c.pop("command")
    c["recorded_by"] = Actor(**c["recorded_by"])
    c["occurred_at"] = datetime.fromisoformat(c["occurred_at"])
    if kind == "ReportMissingPerson":
        c["family_contacts"] = tuple(FamilyContact(**x) for x in c["family_contacts"])
        c["age_range"] = AgeRange(**c["age_range"]) if c["age_range"] else None
        for name in ("aliases", "nationalities", "consented_purposes"):
            c[name] = tuple(c[name])
        return ReportMissingPerson(**c)
    c["case_id"] = UUID(c["case_id"])
    if kind == "RecordSighting":
        place = dict(c["place"])
        place["coordinates"] = Coordinates(**place["coordinates"]) if place["coordinates"] else None
        c["place"] = Place(**place)
        return RecordSighting(**c)
    if kind == "LinkCases":
        c["other_case_id"] = UUID(c["other_case_id"])
        return LinkCases(**c)
    raise ValueError(f"command: {kind} is not a command PFIF imports")


def _flat(path: Path) -> Iterator[Record]:
    """Every record of the file, persons and then their nested notes, in file order."""
    for record in read_feed(path):
        yield record
        yield from record.notes


class PfifImport:
    """Imports feeds into one node's ledger for one organisation."""

    def __init__(self, ledger: Any, options: ImportOptions) -> None:
        self.ledger, self.options = ledger, options
        self.origin = ledger.origin

    def case_id(self, person_record_id: str) -> UUID:
        """The case a PFIF person became here (as the shared import core names it)."""
        return case_id_for(self.origin, import_command_id("reports", SOURCE, person_record_id))

    def run(self, path: Path) -> ImportReport:
        report = ImportReport(str(path))
        try:
            self._check(path, report)
        except FeedRefused as error:
            return ImportReport(str(path), refused=str(error))
        persons = (
            importing.Record(r.ordinal, r.record_id, body(report_command(r, self.options)))
            for r in _flat(path)
            if r.kind == "person" and r.record_id not in report.bad
        )
        importer = importing.Importer(
            self.ledger,
            "reports",
            source=SOURCE,
            recorded_by=Actor(self.options.organisation, self.options.role),
        )
        importer.run(persons, on_row=lambda result: self._reported(result, report))
        for note in (r for r in _flat(path) if r.kind == "note" and r.record_id not in report.bad):
            self._sighting(note, report)
        return report

    def _check(self, path: Path, report: ImportReport) -> None:
        """The whole file, before anything is written: FeedRefused for a repeated record id;
        each record's schema problems and what caseledger refuses in it, in `report.bad`.
        Record ids wait in a SQLite file on disk, so memory stays flat however long the file."""
        now = datetime.now(UTC)
        with tempfile.TemporaryDirectory(prefix="caseledger-pfif-") as directory:
            ids = sqlite3.connect(Path(directory) / "ids.sqlite")
            ids.execute("CREATE TABLE ids (kind TEXT, id TEXT, ordinal INTEGER)")
            batch: list[tuple[str, str, int]] = []
            for record in _flat(path):
                batch.append((record.kind, record.record_id, record.ordinal))
                if len(batch) >= 10_000:
                    ids.executemany("INSERT INTO ids VALUES (?, ?, ?)", batch)
                    batch.clear()
                problems = list(record.problems)
                if not problems and record.kind == "person":
                    problems = self._refusals(record, now)
                if problems:
                    report.bad[record.record_id] = problems
            ids.executemany("INSERT INTO ids VALUES (?, ?, ?)", batch)
            twice = ids.execute(
                "SELECT kind, id, group_concat(ordinal) FROM ids GROUP BY kind, id HAVING count(*) > 1 "
                "ORDER BY min(ordinal) LIMIT 1"
            ).fetchone()
            ids.close()
        if twice:
            kind, record_id, ordinals = twice
            numbers = " and #".join(sorted(ordinals.split(","), key=int))
            raise FeedRefused(
                f"{kind}_record_id: {record_id} is given twice ({kind}s #{numbers}); "
                "which one is right cannot be told"
            )

    def _refusals(self, person: Record, now: datetime) -> list[str]:
        try:
            command: Any = build(report_command(person, self.options))
            command.envelope(now)
            command.checked(now.date())
        except (ValueError, LedgerError) as error:
            return [str(error)]
        return []

    @staticmethod
    def _reported(result: importing.RowResult, report: ImportReport) -> None:
        """A person as the import core decided it: recorded, amended where the record
        changed, unchanged, or refused naming the field."""
        if result.outcome == "refused":
            report.bad[result.external_ref] = [f"{result.field}: {result.problem}"]
        else:
            getattr(report, result.outcome).append(result.external_ref)

    def _exists(self, case_id: UUID) -> bool:
        try:
            self.ledger.get_case(case_id)
        except (CaseNotFound, LedgerError):
            return False
        return True

    def _sighting(self, note: Record, report: ImportReport) -> None:
        person = note.fields["person_record_id"]
        case_id = self.case_id(person)
        try:
            case = self.ledger.get_case(case_id)
        except LedgerError:
            why = "was refused (see its problems)" if person in report.bad else "is no case at this node"
            report.bad[note.record_id] = [f"person_record_id: {person} {why}; import the person first"]
            return
        country = str(case.last_seen.get("country") or self.options.country or "")
        warnings = left_out(note)
        try:
            before = int(case.version)
            after = self.ledger.record_sighting(
                build(sighting_command(note, str(case_id), country, self.options))
            )
            linked = note.fields.get("linked_person_record_id")
            if linked:
                warnings += self._link(note, case_id, linked)
        except CommandIdReused:
            report.bad[note.record_id] = [
                "note_record_id: imported before with other content; a note is never changed"
            ]
            return
        except (LedgerError, ValueError) as error:
            report.bad[note.record_id] = [str(error)]
            return
        (report.recorded if after > before else report.unchanged).append(note.record_id)
        if warnings:
            report.warnings[note.record_id] = warnings

    def _link(self, note: Record, case_id: UUID, linked: str) -> list[str]:
        other = self.case_id(linked)
        if other == case_id:
            return ["linked_person_record_id: names the note's own person; nothing to link"]
        if not self._exists(other):
            return [
                f"linked_person_record_id: {linked} is no case at this node yet; import it and "
                "this file again to record the link"
            ]
        self.ledger.link_cases(build(link_command(note, str(case_id), str(other), self.options)))
        return []
