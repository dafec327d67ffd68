"""Reading a registry's file (CSV in UTF-8, with or without BOM, or Windows-1252 when asked;
XLSX in openpyxl's read-only mode) row by row, and importing it: memory stays flat whatever
the file's size. The file is read twice: a first pass refuses an unreadable file (a header
that is not there, bytes of another encoding, a column the mapping names that the header
lacks) before anything is written, and finds references given to more than one row (kept in
a SQLite file on disk, not in memory); the second pass imports."""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import InvalidField
from services.import_mapping import ImportMapping, MappingRefused, RowProblem
from services.importing import Importer, ImportSummary, Record, RowResult

ENCODINGS = ("utf-8", "cp1252")
BOM = b"\xef\xbb\xbf"
EXTRA = "\x00extra"  # a row with more cells than the header: {EXTRA: how many}
csv.field_size_limit(1 << 24)


class FileRefused(InvalidField):
    """The file cannot be read as it says it is: the whole file is refused, nothing written."""


class TabularFile:
    """A CSV or XLSX file as a header and rows of {column: cell}, read afresh on each call."""

    def __init__(
        self,
        path: Path,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
    ) -> None:
        self.path = path
        self.encoding = (encoding or "utf-8").lower().replace("windows-1252", "cp1252")
        if self.encoding not in ENCODINGS:
            raise FileRefused("--encoding", f"{encoding!r}: give utf-8 or cp1252")
        self.delimiter = delimiter
        self.sheet = sheet
        try:
            with path.open("rb") as probe:
                self.is_xlsx = probe.read(4) == b"PK\x03\x04"
        except OSError as error:
            raise FileRefused("file", f"cannot read {path}: {error.strerror}") from None

    # ------------------------------------------------------------------ CSV

    def _lines(self, counter: list[int]) -> Iterator[str]:
        with self.path.open("rb") as raw:
            for number, line in enumerate(raw, start=1):
                counter[0] = number
                if number == 1 and line.startswith(BOM):
                    line = line[len(BOM) :]
                yield self._decode(number, line)

    def _decode(self, number: int, line: bytes) -> str:
        if self.encoding == "cp1252" and not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                raise FileRefused(
                    f"line {number}",
                    "holds UTF-8 text though the file is read as cp1252: the file mixes encodings; "
                    "save it in one encoding (UTF-8) and import it again",
                )
        try:
            return line.decode(self.encoding)
        except UnicodeDecodeError as error:
            byte = line[error.start : error.start + 1].hex().upper()
            advice = (
                "the file mixes encodings or is not UTF-8; save it as UTF-8, or give "
                "--encoding cp1252 if it is Windows-1252 throughout"
                if self.encoding == "utf-8"
                else "this byte is not Windows-1252 either; save the file as UTF-8"
            )
            raise FileRefused(
                f"line {number}",
                f"byte 0x{byte} at position {error.start + 1} is not {self.encoding}: {advice}",
            ) from None

    def _csv_rows(self) -> Iterator[tuple[int, list[Any]]]:
        counter = [0]
        lines = self._lines(counter)
        first = next(lines, None)
        if first is None or not first.strip():
            raise FileRefused("header", "the file is empty: its first line must name the columns")
        delimiter = self.delimiter or max((",", ";", "\t"), key=first.count)

        def all_lines() -> Iterator[str]:
            yield first
            yield from lines

        reader = csv.reader(all_lines(), delimiter=delimiter)
        while True:
            start = counter[0] + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise FileRefused(f"line {counter[0]}", f"is not CSV: {error}") from None
            yield (1 if start == 1 else start), cells

    # ------------------------------------------------------------------ XLSX

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        import zipfile

        from openpyxl import load_workbook

        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
            raise FileRefused("file", f"is not a readable XLSX workbook: {error}") from None
        try:
            if self.sheet is not None and self.sheet not in book.sheetnames:
                raise FileRefused(
                    "sheet", f"{self.sheet!r} is not a sheet of the workbook: {book.sheetnames}"
                )
            sheet = book[self.sheet] if self.sheet else book.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, list(values)
        finally:
            book.close()

    # ------------------------------------------------------------------ both

    def rows(self) -> Iterator[tuple[list[str], int, dict[str, Any]]]:
        """(header, row number, {column: cell}) for each non-blank row after the header."""
        source = self._xlsx_rows() if self.is_xlsx else self._csv_rows()
        found = next(source, None)
        if found is None:
            raise FileRefused("header", "the file is empty: its first row must name the columns")
        header = [("" if h is None else str(h)).strip() for h in found[1]]
        if not any(header):
            raise FileRefused("header", "the first row is blank: it must name the columns")
        for number, cells in source:
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            if len(cells) > len(header) and any(c not in (None, "") for c in cells[len(header) :]):
                yield header, number, {EXTRA: len(cells)}
                continue
            yield header, number, dict(zip(header, cells, strict=False))

    def header(self) -> list[str]:
        for header, _, _ in self.rows():
            return header
        source = self._xlsx_rows() if self.is_xlsx else self._csv_rows()
        found = next(source, None)
        return [("" if h is None else str(h)).strip() for h in (found[1] if found else [])]


@dataclass
class Scan:
    """What the first pass found: how many rows, and the references given to several rows."""

    rows: int = 0
    duplicates: dict[str, list[int]] = field(default_factory=dict)


def scan(file: TabularFile, mapping: ImportMapping) -> Scan:
    """Read the whole file once before writing: FileRefused/MappingRefused refuse it whole."""
    mapping.check_header(file.header())
    found = Scan()
    with tempfile.TemporaryDirectory(prefix="caseledger-import-") as directory:
        db = sqlite3.connect(Path(directory) / "references.sqlite")
        db.execute("CREATE TABLE refs (ref TEXT, row INTEGER)")
        batch: list[tuple[str, int]] = []
        for _, number, cells in file.rows():
            found.rows += 1
            ref = cells.get(mapping.reference)
            ref = (
                ""
                if ref is None
                else str(int(ref) if isinstance(ref, float) and ref.is_integer() else ref).strip()
            )
            if ref:
                batch.append((ref, number))
            if len(batch) >= 10_000:
                db.executemany("INSERT INTO refs VALUES (?, ?)", batch)
                batch.clear()
        db.executemany("INSERT INTO refs VALUES (?, ?)", batch)
        db.execute("CREATE INDEX refs_by_ref ON refs (ref)")
        for ref, rows in db.execute(
            "SELECT ref, group_concat(row) FROM refs GROUP BY ref HAVING count(*) > 1 LIMIT 100000"
        ):
            found.duplicates[ref] = sorted(int(r) for r in rows.split(","))
        db.close()
    return found


def import_file(
    ledger: Any,
    path: Path,
    mapping: ImportMapping,
    *,
    recorded_by: Any,
    purpose: str = "search",
    encoding: str | None = None,
    batch_size: int = 500,
    workers: int = 0,
    on_row: Callable[[RowResult], None] | None = None,
    on_scan: Callable[[Scan], None] | None = None,
) -> ImportSummary:
    """Import a file of one kind under a mapping; refused whole (FileRefused, MappingRefused)
    before anything is written, or row by row (each row's result to on_row); workers: see
    services/import_workers.py."""
    file = TabularFile(
        path, encoding=encoding or mapping.encoding, delimiter=mapping.delimiter, sheet=mapping.sheet
    )
    importer = Importer(
        ledger,
        mapping.kind,
        source=mapping.source,
        recorded_by=recorded_by,
        purpose=purpose,
        batch_size=batch_size,
        workers=workers,
    )
    found = scan(file, mapping)
    if on_scan is not None:
        on_scan(found)

    rows = ((number, cells) for _, number, cells in file.rows())
    return importer.run(rows, on_row, made=_RowRecord(mapping, found))


class _RowRecord:
    """A row's record, or its refusal (run by the import's workers when it has some)."""

    def __init__(self, mapping: ImportMapping, found: Scan) -> None:
        self.mapping, self.found = mapping, found

    def __call__(self, row: tuple[int, dict[str, Any]]) -> Record | RowResult:
        number, cells = row
        if EXTRA in cells:
            return RowResult(
                number, "", "refused", None, None, "row", f"has {cells[EXTRA]} cells, more than the header"
            )
        made = self.mapping.record(number, cells)
        if isinstance(made, RowProblem):
            return RowResult(
                made.row, made.external_ref, "refused", None, made.column, made.field, made.problem
            )
        rows = self.found.duplicates.get(made.external_ref.strip())
        if rows:
            shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
            return RowResult(
                number,
                made.external_ref,
                "refused",
                None,
                self.mapping.reference,
                "imported_from.reference",
                f"{made.external_ref!r} is the reference of {len(rows)} rows ({shown}); none of "
                "them is imported until each has its own",
            )
        return made


__all__ = ["FileRefused", "MappingRefused", "Scan", "TabularFile", "import_file", "scan"]
