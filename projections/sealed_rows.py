"""View rows as the adapters store them: what is above the public tier sealed under the
node's views keys (projections/view_keys.py), opened again when read. Both adapters go
through here, so neither ever writes a name, a date or a place in clear.

- a case row keeps its public columns; the fields above public (PURGED_COLUMNS) are stored
  empty and travel sealed in one `sealed` value, the names as keyed tokens in `name_tokens`;
- a timeline entry's `shown` (its common fields) and a forensic row's `state` are stored as
  "sealed:<base64>" text ("{}", nothing shown, as it is);
- whether the person is (possibly) a minor travels in the case's sealed value too (only when
  not: a row without it reads as a minor's, the stricter reading);
- a link of remains, a sample or a match to a case (or of a sample to its remains) is stored
  as the record's id and the link sealed under the record's own views key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from operator import attrgetter
from typing import Any

from projections.view_ddl import Dialect
from projections.view_keys import ViewKeys
from projections.views import (
    CASE_COLUMNS,
    PURGED_COLUMNS,
    UNKNOWN_CASE,
    CaseRow,
    ForensicRow,
    Link,
    TimelineRow,
)

__all__ = ["SEALED_CASE_FIELDS", "STORED_CASE_COLUMNS", "RowSealer"]

SEALED_CASE_FIELDS = PURGED_COLUMNS
# The cases table's columns: CaseRow's, then the sealed fields and the search tokens.
STORED_CASE_COLUMNS = (*CASE_COLUMNS, "sealed", "name_tokens")
_EMPTY: dict[str, Any] = dict.fromkeys(SEALED_CASE_FIELDS)
_COLUMNS = attrgetter(*CASE_COLUMNS)
_SEALED = attrgetter(*SEALED_CASE_FIELDS)
_KEPT = tuple(c not in SEALED_CASE_FIELDS for c in CASE_COLUMNS)  # stored as they are


class RowSealer:
    """Seals rows on their way into the views and opens them on their way out."""

    def __init__(self, keys: ViewKeys, dialect: Dialect) -> None:
        """dialect: how the adapter's backend stores the rows (projections/view_ddl.py)."""
        self.keys = keys
        self.dialect = dialect

    # The rows are read with every column of their table, which the row types hold in the
    # declared order (tests/unit/test_view_tables.py); a case row's are followed by its sealed
    # value and its name tokens.

    def read_cases(self, found: Sequence[Any]) -> list[CaseRow]:
        """Case rows as read, opened (left empty where the key is gone)."""
        return self.open_cases([(CaseRow(*v[:-2]), v[-2]) for v in self.dialect.decode("cases", found)])

    def read_timeline(self, found: Sequence[Any]) -> list[TimelineRow]:
        return self.open_timeline(TimelineRow(*v) for v in self.dialect.decode("timeline", found))

    def read_forensic(self, found: Sequence[Any]) -> list[ForensicRow]:
        return self.open_forensic(ForensicRow(*v) for v in self.dialect.decode("forensic", found))

    def cases(self, rows: Sequence[CaseRow]) -> list[tuple[CaseRow, bytes | None, bytes | None]]:
        """Each row with its sealed fields emptied, the sealed value and the name tokens."""
        return [(replace(row, **_EMPTY), sealed, tokens) for row, sealed, tokens in self._sealed(rows)]

    def case_values(self, rows: Sequence[CaseRow]) -> list[tuple[Any, ...]]:
        """The cases table's values (STORED_CASE_COLUMNS), in CaseRow's types: the sealed
        fields None, as in the rows cases() gives (built without a copy of each row)."""
        return [
            (*(v if keep else None for v, keep in zip(_COLUMNS(row), _KEPT, strict=True)), sealed, tokens)
            for row, sealed, tokens in self._sealed(rows)
        ]

    def _sealed(self, rows: Sequence[CaseRow]) -> list[tuple[CaseRow, bytes | None, bytes | None]]:
        """Each row with its sealed value and its name tokens."""
        self.keys.prepare(r.case_id for r in rows)
        stored = []
        for row in rows:
            fields: dict[str, Any] = dict(zip(SEALED_CASE_FIELDS, _SEALED(row), strict=True))
            if not row.minor:
                fields["minor"] = False
            if row.disclosed:
                fields["disclosed"] = True
            stored.append(
                (
                    row,
                    self.keys.seal_fields(row.case_id, fields),
                    self.keys.name_tokens(
                        row.case_id, (row.given_names, row.first_surname, row.second_surname)
                    ),
                )
            )
        return stored

    def open_cases(self, found: Sequence[tuple[CaseRow, bytes | None]]) -> list[CaseRow]:
        """Rows read with their sealed value, opened (left empty where the key is gone)."""
        self.keys.prepare_blobs((row.case_id, sealed) for row, sealed in found)
        opened = []
        for row, sealed in found:
            fields = self.keys.open_fields(row.case_id, sealed)
            if fields.get("last_seen_date"):
                fields["last_seen_date"] = date.fromisoformat(str(fields["last_seen_date"]))
            opened.append(replace(row, **{**_EMPTY, "minor": True, **fields}) if fields else row)
        return opened

    def timeline(self, entries: Iterable[TimelineRow]) -> list[TimelineRow]:
        listed = list(entries)
        self.keys.prepare(e.aggregate_id for e in listed)
        return [replace(e, shown=self.keys.seal_text(e.aggregate_id, "shown", e.shown)) for e in listed]

    def open_timeline(self, entries: Iterable[TimelineRow]) -> list[TimelineRow]:
        listed = list(entries)
        self.keys.prepare_blobs((e.aggregate_id, self.keys.text_blob(e.shown)) for e in listed)
        return [replace(e, shown=self.keys.open_text(e.aggregate_id, "shown", e.shown)) for e in listed]

    def forensic(self, rows: Iterable[ForensicRow]) -> list[ForensicRow]:
        listed = list(rows)
        self.keys.prepare(f.aggregate_id for f in listed)
        return [replace(f, state=self.keys.seal_text(f.aggregate_id, "state", f.state)) for f in listed]

    def open_forensic(self, rows: Iterable[ForensicRow]) -> list[ForensicRow]:
        listed = list(rows)
        self.keys.prepare_blobs((f.aggregate_id, self.keys.text_blob(f.state)) for f in listed)
        return [replace(f, state=self.keys.open_text(f.aggregate_id, "state", f.state)) for f in listed]

    def links(self, links: Sequence[Link]) -> list[tuple[str, bytes]]:
        """Each link as stored: the record's id and the link sealed under its views key."""
        self.keys.prepare(k.aggregate_id for k in links)
        return [
            (k.aggregate_id, self.keys.seal(k.aggregate_id, "link", f"{k.kind}:{k.linked_id}".encode()))
            for k in links
        ]

    def open_links(self, found: Sequence[tuple[str, bytes]]) -> list[Link]:
        """Stored links opened, once each, in a canonical order; one whose key is gone names
        UNKNOWN_CASE."""
        self.keys.prepare_blobs(found)
        opened = set()
        for aggregate_id, sealed in found:
            plain = self.keys.open(aggregate_id, "link", sealed)
            kind, _, linked_id = plain.decode().partition(":") if plain else ("case", "", UNKNOWN_CASE)
            opened.add(Link(aggregate_id, linked_id, kind))
        return sorted(opened, key=lambda k: (k.aggregate_id, k.linked_id, k.kind))
