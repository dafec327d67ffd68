"""What an import is made of and gives back: a source's records, each record's result (a
line of the report), a run's summary, and what a chunk's records are between their checks
and the database's part (services/importing.py, services/import_workers.py)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Checked", "ImportSummary", "Prepared", "Record", "RemadeRecord", "RowResult", "chunks"]


@dataclass(frozen=True)
class Record:
    """One record of a source: its row (or position), its reference there, its fields."""

    row: int
    external_ref: str
    fields: Mapping[str, Any]
    columns: Mapping[str, str] = field(default_factory=dict)


class RemadeRecord(Record):
    """A record known by its row and reference, its fields made again (make()) only if they
    are read: a bulk import's worker made the record from its row, and sending it back whole
    cost the process that saves more to unpickle than its database's part of most rows
    (services/import_workers.py)."""

    _make: Callable[[], Record]

    def __init__(self, row: int, external_ref: str, make: Callable[[], Record]) -> None:
        object.__setattr__(self, "row", row)
        object.__setattr__(self, "external_ref", external_ref)
        object.__setattr__(self, "_make", make)

    def _made(self) -> Record:
        made = self.__dict__.get("_record")
        if made is None:
            made = self._make()
            if not isinstance(made, Record) or (made.row, made.external_ref) != (self.row, self.external_ref):
                raise RuntimeError(
                    f"row {self.row} made another record again ({type(made).__name__})"
                )  # no row data
            object.__setattr__(self, "_record", made)
        return made

    @property
    def fields(self) -> Mapping[str, Any]:
        return self._made().fields

    @property
    def columns(self) -> Mapping[str, str]:
        return self._made().columns


@dataclass(frozen=True)
class RowResult:
    """One line of the report: the row, what became of it, and for a refusal, where and why."""

    row: int
    external_ref: str
    outcome: str
    record_id: str | None = None
    column: str | None = None
    field: str | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# What a record's checks found without the database: its refusal, or (the stored command id,
# the creating event, the refusal the origin's check left for after the database's checks).
Checked = RowResult | tuple[str, Any, RowResult | None]
# A chunk's record as prepared: its result already, or (record, command, its checks).
Prepared = RowResult | tuple[Record, Any, Checked | None]


@dataclass
class ImportSummary:
    counts: Counter[str] = field(default_factory=Counter)
    refused: list[RowResult] = field(default_factory=list)  # at most keep_refused of them
    # Seconds spent per stage in this process: "prepare" (checking rows and making events, or
    # waiting for the workers that do), "finish" (the database's part, sealing included).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def took(self, prepare: float, finish: float) -> None:
        self.seconds["prepare"] = self.seconds.get("prepare", 0.0) + prepare
        self.seconds["finish"] = self.seconds.get("finish", 0.0) + finish

    def add(self, result: RowResult, on_row: Callable[[RowResult], None] | None = None) -> None:
        self.counts[result.outcome] += 1
        if result.outcome == "refused" and len(self.refused) < 10_000:
            self.refused.append(result)
        if on_row is not None:
            on_row(result)


def chunks(records: Iterable[Record | RowResult], size: int) -> Iterator[list[Record | RowResult]]:
    chunk: list[Record | RowResult] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
