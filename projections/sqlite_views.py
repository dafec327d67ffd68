"""A jurisdiction's views in a SQLite file (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from ledger.keystore import KeyStore
from ledger.private_files import private_dir
from projections.sealed_rows import STORED_CASE_COLUMNS, RowSealer
from projections.view_batch import ViewBatch
from projections.view_ddl import SQLiteDialect
from projections.view_keys import ViewKeys
from projections.view_tables import VIEW_TABLES
from projections.views import (
    FORENSIC_COLUMNS,
    PURGED_COLUMNS,
    TIMELINE_COLUMNS,
    CaseRow,
    ChainHead,
    ForensicRow,
    JurisdictionViews,
    Link,
    TimelineRow,
    create_tables,
    tracking_name,
)
from topics.embedded import use_wal
from topics.log import TopicPartition

__all__ = ["SQLiteJurisdictionViews"]

_D = SQLiteDialect()
_COUNT_CHANGE = (
    "INSERT INTO views_changes VALUES (1, 1) "
    "ON CONFLICT (one) DO UPDATE SET serial = views_changes.serial + 1 RETURNING serial"
)
_COLUMNS = STORED_CASE_COLUMNS
_FORENSIC_UPSERT = (
    f"INSERT INTO forensic ({_D.columns('forensic')}) VALUES ({', '.join('?' * len(FORENSIC_COLUMNS))}) "
    + _D.newer_wins("forensic", FORENSIC_COLUMNS[3:])
)
_UPSERT = (
    f"INSERT INTO cases ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    + _D.newer_wins("cases", _COLUMNS[1:])
)
_TIMELINE_INSERT = (
    f"INSERT OR IGNORE INTO timeline ({_D.columns('timeline')}) "
    f"VALUES ({', '.join('?' * len(TIMELINE_COLUMNS))})"
)
# Shown again: its fields, and who recorded it and when, exact where the first pass held no
# key to the envelope (a case disclosed afterwards, #19).
_RESTORED = ("shown", "withheld", "occurred_at", "recorded_at", "organisation", "role")
_TIMELINE_RESTORE = (
    f"UPDATE timeline SET {', '.join(f'{c} = ?' for c in _RESTORED)} WHERE aggregate_id = ? AND version = ?"
)

# The timeline keeps only an entry's public fields, and says the common ones are withheld.
_TIMELINE_FORGET = (
    "UPDATE timeline SET shown = '{}', withheld = CASE WHEN shown = '{}' THEN withheld "
    "WHEN withheld = '' THEN 'common' ELSE 'common,' || withheld END WHERE aggregate_id = ?"
)

_PURGE = (
    "UPDATE cases SET status = 'erased', restricted = 1, "
    + ", ".join(f"{c} = NULL" for c in (*PURGED_COLUMNS, "sealed", "name_tokens"))
    + " WHERE case_id = ?"
)


class SQLiteJurisdictionViews(SQLiteTrackingRecorder, JurisdictionViews):
    """Views and tracking rows share one SQLite file and one transaction."""

    dialect = _D

    def __init__(self, path: Path | str, jurisdiction: str, keys: KeyStore | None = None) -> None:
        """keys: the node's key store, where the views keys live (without it, what these
        views seal opens in this process only)."""
        private_dir(Path(path).parent)
        self.jurisdiction = jurisdiction
        self.view_keys = ViewKeys(keys)
        self._sealer = RowSealer(self.view_keys, _D)
        use_wal(path)
        super().__init__(SQLiteDatastore(str(path)))
        create_tables(self)
        self._open_tables()

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *_D.bookkeeping()]

    @contextmanager
    def _format_transaction(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")  # what a rebuild drops is overwritten on disk
            # A write first: the transaction takes the file's write lock before it reads, so
            # processes opening the views together take turns instead of failing.
            cursor.execute("UPDATE views_format SET format = format")
            yield cursor

    def _read_format(self, cursor: Any) -> tuple[int | None, bool]:
        cursor.execute("SELECT format FROM views_format")
        found = cursor.fetchone()
        cursor.execute("SELECT 1 FROM tracking WHERE application_name LIKE '%:%' LIMIT 1")
        return (None if found is None else int(found["format"])), cursor.fetchone() is not None

    def chain_heads(self, aggregate_ids: Sequence[str]) -> dict[str, ChainHead]:
        found: dict[str, ChainHead] = {}
        with self.datastore.transaction(commit=False) as cursor:
            for aggregate_id in aggregate_ids:
                cursor.execute(
                    "SELECT version, hash FROM chain_heads WHERE aggregate_id = ?", (aggregate_id,)
                )
                row = cursor.fetchone()
                if row is not None:
                    found[aggregate_id] = (int(row["version"]), bytes(row["hash"]))
        return found

    def apply(self, batch: ViewBatch) -> None:
        rows, trackings, heads, purged = batch.rows, batch.trackings, batch.heads, batch.purged
        restricted, removed = batch.restricted, batch.removed
        forensic = self._sealer.forensic(batch.forensic)
        timeline = self._sealer.timeline(batch.timeline)
        restored = self._sealer.timeline(batch.restored)
        cases = self._sealer.case_values(rows)
        sealed_links = self._sealer.links(batch.links)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")  # erased names are overwritten on disk
            cursor.executemany("INSERT INTO case_links VALUES (?, ?)", sealed_links)
            cursor.executemany(_FORENSIC_UPSERT, [_D.encode("forensic", f) for f in forensic])
            cursor.executemany(_TIMELINE_INSERT, [_D.encode("timeline", e) for e in timeline])
            cursor.executemany(
                "INSERT OR REPLACE INTO chain_heads VALUES (?, ?, ?)",
                [(a, version, digest) for a, (version, digest) in (heads or {}).items()],
            )
            cursor.executemany(_UPSERT, [_D.encode_values("cases", c) for c in cases])
            cursor.executemany(_TIMELINE_RESTORE, [_restored(e) for e in restored])
            cursor.executemany(_PURGE, [(c,) for c in purged])
            cursor.executemany(_TIMELINE_FORGET, [(c,) for c in (*purged, *restricted)])
            for case_id in removed:  # withheld from this country: nothing of it stays
                cursor.execute("DELETE FROM cases WHERE case_id = ?", (case_id,))
                cursor.execute("DELETE FROM timeline WHERE aggregate_id = ?", (case_id,))
            for tracking in trackings:
                self._insert_tracking(cursor, tracking)
            cursor.execute(_COUNT_CHANGE)
            serial = int(cursor.fetchone()["serial"])
        self.view_keys.destroy([*purged, *removed])
        self.changed([r.case_id for r in rows], [*purged, *removed], serial)

    def all_chain_heads(self) -> dict[str, ChainHead]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT aggregate_id, version, hash FROM chain_heads")
            return {r["aggregate_id"]: (int(r["version"]), bytes(r["hash"])) for r in cursor.fetchall()}

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        query = f"SELECT {_D.columns('timeline')} FROM timeline WHERE aggregate_id = ?"
        args: tuple[str, ...] = (aggregate_id,)
        if until is not None:
            query += " AND recorded_at <= ?"
            args = (aggregate_id, until.astimezone(UTC).isoformat())
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(query + " ORDER BY version", args)
            found = cursor.fetchall()
        return self._sealer.read_timeline(found)

    def timelines(self, aggregate_ids: Sequence[str]) -> dict[str, list[TimelineRow]]:
        query = (
            f"SELECT {_D.columns('timeline')} FROM timeline WHERE aggregate_id IN ({{}}) "
            "ORDER BY aggregate_id, version"
        )
        found: dict[str, list[TimelineRow]] = {}
        for entry in self._sealer.read_timeline(self._select_in(query, aggregate_ids)):
            found.setdefault(entry.aggregate_id, []).append(entry)
        return found

    def _select_in(self, query: str, keys: Sequence[str]) -> list[Any]:
        """The rows of a query whose `IN ({})` takes these keys, a chunk at a time."""
        wanted = list(dict.fromkeys(keys))
        found: list[Any] = []
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(wanted), 500):  # within SQLite's limit on bound variables
                chunk = wanted[start : start + 500]
                cursor.execute(query.format(", ".join("?" * len(chunk))), chunk)
                found += cursor.fetchall()
        return found

    def _reset(self, cursor: Any, keep: Sequence[TopicPartition]) -> None:
        # eventsourcing's row that marks the tracking table's format stays too: without it, the
        # next process to open these views "migrates" the table, and a second reset makes that fail.
        kept = [tracking_name(tp) for tp in keep] + [self.table_migration_identifier]
        cursor.execute("PRAGMA secure_delete = ON")
        for table in VIEW_TABLES:
            cursor.execute(f"DELETE FROM {table.name}")
        marks = ", ".join("?" for _ in kept)
        cursor.execute(f"DELETE FROM tracking WHERE application_name NOT IN ({marks})", kept)
        cursor.execute(_COUNT_CHANGE)
        self._stamp(cursor)

    def cases(self) -> list[CaseRow]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT {', '.join(_COLUMNS)} FROM cases ORDER BY reported_at DESC, case_id")
            found = cursor.fetchall()
        return self._sealer.read_cases(found)

    def search_tokens(self) -> dict[str, bytes]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT case_id, name_tokens FROM cases WHERE name_tokens IS NOT NULL")
            return {r["case_id"]: bytes(r["name_tokens"]) for r in cursor.fetchall()}

    def change_stamp(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT serial FROM views_changes")
            found = cursor.fetchone()
            return int(found["serial"]) if found else 0

    def case_signatures(self) -> dict[str, tuple[int, bool, bool]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT case_id, version, restricted, sealed IS NULL AS gone FROM cases")
            return {
                str(r["case_id"]): (int(r["version"]), bool(r["restricted"]), bool(r["gone"]))
                for r in cursor.fetchall()
            }

    def rows(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        found = self._select_in(f"SELECT {', '.join(_COLUMNS)} FROM cases WHERE case_id IN ({{}})", case_ids)
        opened = self._sealer.read_cases(found)
        return {r.case_id: r for r in opened}

    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        query = f"SELECT {_D.columns('forensic')} FROM forensic"
        args: tuple[str, ...] = ()
        if aggregate_type is not None:
            query, args = query + " WHERE aggregate_type = ?", (aggregate_type,)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(query + " ORDER BY recorded_at DESC, aggregate_id", args)
            found = cursor.fetchall()
        return self._sealer.read_forensic(found)

    def forensic_rows(self, aggregate_ids: Sequence[str]) -> dict[str, ForensicRow]:
        query = f"SELECT {_D.columns('forensic')} FROM forensic WHERE aggregate_id IN ({{}})"
        found = self._select_in(query, aggregate_ids)
        opened = self._sealer.read_forensic(found)
        return {f.aggregate_id: f for f in opened}

    def links(self, aggregate_ids: Sequence[str] | None = None) -> list[Link]:
        query = "SELECT aggregate_id, sealed FROM case_links"
        if aggregate_ids is None:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(query)
                found = cursor.fetchall()
        else:
            found = self._select_in(query + " WHERE aggregate_id IN ({})", aggregate_ids)
        return self._sealer.open_links([(r["aggregate_id"], bytes(r["sealed"])) for r in found])

    def close(self) -> None:
        self.datastore.close()


def _restored(entry: TimelineRow) -> tuple[Any, ...]:
    """A timeline entry shown again, as _TIMELINE_RESTORE takes it."""
    stored = dict(zip(TIMELINE_COLUMNS, _D.encode("timeline", entry), strict=True))
    return (*(stored[c] for c in _RESTORED), stored["aggregate_id"], stored["version"])
