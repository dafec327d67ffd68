"""A jurisdiction's views in a SQLite file (the embedded default)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from ledger.keystore import KeyStore
from ledger.private_files import private_dir
from projections.sealed_rows import STORED_CASE_COLUMNS, RowSealer
from projections.view_keys import ViewKeys
from projections.views import (
    FORENSIC_COLUMNS,
    PURGED_COLUMNS,
    TIMELINE_COLUMNS,
    VIEWS_FORMAT,
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

_CREATE = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, origin TEXT NOT NULL, version INTEGER NOT NULL,
    status TEXT NOT NULL, reported_at TEXT NOT NULL, sex TEXT NOT NULL, age_band TEXT,
    nationalities TEXT NOT NULL, last_seen_country TEXT NOT NULL, last_seen_month TEXT,
    route TEXT,
    restricted INTEGER NOT NULL, given_names TEXT, first_surname TEXT, second_surname TEXT,
    last_seen_date TEXT, last_seen_place TEXT, consents TEXT NOT NULL DEFAULT '',
    sealed BLOB, name_tokens BLOB)
"""
# One row counting the views' writes (projections/search_index.py): every apply() and reset
# adds one, in its own transaction.
_CREATE_CHANGES = (
    "CREATE TABLE IF NOT EXISTS views_changes "
    "(one INTEGER PRIMARY KEY CHECK (one = 1), serial INTEGER NOT NULL)"
)
_COUNT_CHANGE = (
    "INSERT INTO views_changes VALUES (1, 1) "
    "ON CONFLICT (one) DO UPDATE SET serial = views_changes.serial + 1 RETURNING serial"
)
_CREATE_HEADS = """
CREATE TABLE IF NOT EXISTS chain_heads (
    aggregate_id TEXT PRIMARY KEY, version INTEGER NOT NULL, hash BLOB NOT NULL) WITHOUT ROWID
"""
_CREATE_TIMELINE = """
CREATE TABLE IF NOT EXISTS timeline (
    aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, aggregate_type TEXT NOT NULL,
    event_type TEXT NOT NULL, origin TEXT NOT NULL, occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL,
    organisation TEXT NOT NULL, role TEXT NOT NULL, purpose TEXT NOT NULL, public TEXT NOT NULL,
    shown TEXT NOT NULL, withheld TEXT NOT NULL, PRIMARY KEY (aggregate_id, version)) WITHOUT ROWID
"""
_CREATE_FORENSIC = """
CREATE TABLE IF NOT EXISTS forensic (
    aggregate_id TEXT PRIMARY KEY, aggregate_type TEXT NOT NULL, origin TEXT NOT NULL,
    version INTEGER NOT NULL, status TEXT NOT NULL, recorded_at TEXT NOT NULL, state TEXT NOT NULL,
    withheld TEXT NOT NULL) WITHOUT ROWID
"""
# A record's links to cases, sealed under its views key (projections/sealed_rows.py).
_CREATE_LINKS = "CREATE TABLE IF NOT EXISTS case_links (aggregate_id TEXT NOT NULL, sealed BLOB NOT NULL)"
_INDEX_LINKS = "CREATE INDEX IF NOT EXISTS case_links_by_aggregate ON case_links (aggregate_id)"
# Remains, samples and matches each as a view of their own; a sample's custody chain is its
# timeline: who held it, who recorded each step, when and why.
_CREATE_NAMED = [
    f"CREATE VIEW IF NOT EXISTS {name} AS SELECT aggregate_id AS {key}, origin, version, status, "
    f"recorded_at, state, withheld FROM forensic WHERE aggregate_type = '{kind}'"
    for name, key, kind in (
        ("remains", "remains_id", "UnidentifiedRemains"),
        ("samples", "sample_id", "Sample"),
        ("matches", "match_id", "Match"),
    )
] + [
    "CREATE VIEW IF NOT EXISTS custody AS SELECT aggregate_id AS sample_id, version, event_type, "
    "occurred_at, recorded_at, organisation, role, purpose, public, shown, withheld FROM timeline "
    "WHERE aggregate_type = 'Sample'"
]
_COLUMNS = STORED_CASE_COLUMNS
_FORENSIC_UPSERT = (
    "INSERT INTO forensic VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (aggregate_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in FORENSIC_COLUMNS[3:])
    + " WHERE excluded.version > forensic.version"
)
_UPSERT = (
    f"INSERT INTO cases ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (case_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
    + " WHERE excluded.version > cases.version"
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

    def __init__(self, path: Path | str, jurisdiction: str, keys: KeyStore | None = None) -> None:
        """keys: the node's key store, where the views keys live (without it, what these
        views seal opens in this process only)."""
        private_dir(Path(path).parent)
        self.jurisdiction = jurisdiction
        self.view_keys = ViewKeys(keys)
        self._sealer = RowSealer(self.view_keys)
        use_wal(path)
        super().__init__(SQLiteDatastore(str(path)))
        create_tables(self)
        with self.datastore.transaction(commit=True) as cursor:
            # Views of an earlier release lack the sealed columns; their rows go at the rebuild.
            # A write first takes the file's write lock, so openers take turns.
            cursor.execute("UPDATE views_format SET format = format")
            cursor.execute("PRAGMA table_info(cases)")
            held = {r[1] for r in cursor.fetchall()}
            for column in ("sealed", "name_tokens"):
                if column not in held:
                    cursor.execute(f"ALTER TABLE cases ADD COLUMN {column} BLOB")

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            _CREATE,
            _CREATE_HEADS,
            _CREATE_TIMELINE,
            _CREATE_FORENSIC,
            _CREATE_LINKS,
            _INDEX_LINKS,
            "CREATE TABLE IF NOT EXISTS views_format (format INTEGER NOT NULL)",
            _CREATE_CHANGES,
            *_CREATE_NAMED,
        ]

    def chain_heads(self, aggregate_ids: Sequence[str]) -> dict[str, ChainHead]:
        found: dict[str, ChainHead] = {}
        with self.datastore.transaction(commit=False) as cursor:
            for aggregate_id in aggregate_ids:
                cursor.execute(
                    "SELECT version, hash FROM chain_heads WHERE aggregate_id = ?", (aggregate_id,)
                )
                row = cursor.fetchone()
                if row is not None:
                    found[aggregate_id] = (int(row[0]), bytes(row[1]))
        return found

    def apply(
        self,
        rows: Sequence[CaseRow],
        trackings: Sequence[Tracking],
        heads: Mapping[str, ChainHead] | None = None,
        purged: Sequence[str] = (),
        timeline: Sequence[TimelineRow] = (),
        restricted: Sequence[str] = (),
        forensic: Sequence[ForensicRow] = (),
        restored: Sequence[TimelineRow] = (),
        links: Sequence[Link] = (),
        removed: Sequence[str] = (),
    ) -> None:
        forensic = self._sealer.forensic(forensic)
        timeline = self._sealer.timeline(timeline)
        restored = self._sealer.timeline(restored)
        cases = self._sealer.case_values(rows)
        sealed_links = self._sealer.links(links)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")  # erased names are overwritten on disk
            cursor.executemany("INSERT INTO case_links VALUES (?, ?)", sealed_links)
            cursor.executemany(
                _FORENSIC_UPSERT,
                [
                    (
                        f.aggregate_id,
                        f.aggregate_type,
                        f.origin,
                        f.version,
                        f.status,
                        f.recorded_at.astimezone(UTC).isoformat(),
                        f.state,
                        ",".join(f.withheld),
                    )
                    for f in forensic
                ],
            )
            cursor.executemany(
                f"INSERT OR IGNORE INTO timeline VALUES ({', '.join('?' * len(TIMELINE_COLUMNS))})",
                [
                    (
                        *(getattr(e, c) for c in TIMELINE_COLUMNS[:5]),
                        e.occurred_at.astimezone(UTC).isoformat(),
                        e.recorded_at.astimezone(UTC).isoformat(),
                        e.organisation,
                        e.role,
                        e.purpose,
                        e.public,
                        e.shown,
                        ",".join(e.withheld),
                    )
                    for e in timeline
                ],
            )
            for aggregate_id, (version, digest) in (heads or {}).items():
                cursor.execute(
                    "INSERT OR REPLACE INTO chain_heads VALUES (?, ?, ?)", (aggregate_id, version, digest)
                )
            for values in cases:
                cursor.execute(_UPSERT, _case_values(values))
            # Shown again: its fields, and who recorded it and when, exact where the first pass
            # held no key to the envelope (a case disclosed afterwards, #19).
            cursor.executemany(
                "UPDATE timeline SET shown = ?, withheld = ?, occurred_at = ?, recorded_at = ?, "
                "organisation = ?, role = ? WHERE aggregate_id = ? AND version = ?",
                [
                    (
                        e.shown,
                        ",".join(e.withheld),
                        e.occurred_at.astimezone(UTC).isoformat(),
                        e.recorded_at.astimezone(UTC).isoformat(),
                        e.organisation,
                        e.role,
                        e.aggregate_id,
                        e.version,
                    )
                    for e in restored
                ],
            )
            for case_id in purged:
                cursor.execute(_PURGE, (case_id,))
            for case_id in (*purged, *restricted):
                cursor.execute(_TIMELINE_FORGET, (case_id,))
            for case_id in removed:  # withheld from this country: nothing of it stays
                cursor.execute("DELETE FROM cases WHERE case_id = ?", (case_id,))
                cursor.execute("DELETE FROM timeline WHERE aggregate_id = ?", (case_id,))
            for tracking in trackings:
                self._insert_tracking(cursor, tracking)
            cursor.execute(_COUNT_CHANGE)
            serial = int(cursor.fetchone()[0])
        self.view_keys.destroy([*purged, *removed])
        self.changed([r.case_id for r in rows], [*purged, *removed], serial)

    def all_chain_heads(self) -> dict[str, ChainHead]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT aggregate_id, version, hash FROM chain_heads")
            return {r[0]: (int(r[1]), bytes(r[2])) for r in cursor.fetchall()}

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        query = f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM timeline WHERE aggregate_id = ?"
        args: tuple[str, ...] = (aggregate_id,)
        if until is not None:
            query += " AND recorded_at <= ?"
            args = (aggregate_id, until.astimezone(UTC).isoformat())
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(query + " ORDER BY version", args)
            found = cursor.fetchall()
        return self._sealer.open_timeline(_timeline_row(r) for r in found)

    def timelines(self, aggregate_ids: Sequence[str]) -> dict[str, list[TimelineRow]]:
        wanted = list(dict.fromkeys(aggregate_ids))
        found: dict[str, list[TimelineRow]] = {}
        if not wanted:
            return found
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(wanted), 500):  # within SQLite's limit on bound variables
                chunk = wanted[start : start + 500]
                cursor.execute(
                    f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM timeline "
                    f"WHERE aggregate_id IN ({', '.join('?' * len(chunk))}) ORDER BY aggregate_id, version",
                    chunk,
                )
                for entry in self._sealer.open_timeline(_timeline_row(r) for r in cursor.fetchall()):
                    found.setdefault(entry.aggregate_id, []).append(entry)
        return found

    def reset(self, keep: Sequence[TopicPartition] = ()) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            self._reset(cursor, keep)

    def upgrade(self, keep: Sequence[TopicPartition] = ()) -> int | None:
        with self.datastore.transaction(commit=True) as cursor:
            # A write first: the transaction takes the file's write lock before it reads, so
            # processes opening the views together take turns instead of failing.
            cursor.execute("UPDATE views_format SET format = format")
            cursor.execute("SELECT format FROM views_format")
            found = cursor.fetchone()
            cursor.execute("SELECT 1 FROM tracking WHERE application_name LIKE '%:%' LIMIT 1")
            built = cursor.fetchone() is not None
            return self._settle_format(cursor, int(found[0]) if found else None, built, keep)

    def _reset(self, cursor: Any, keep: Sequence[TopicPartition]) -> None:
        # eventsourcing's row that marks the tracking table's format stays too: without it, the
        # next process to open these views "migrates" the table, and a second reset makes that fail.
        kept = [tracking_name(tp) for tp in keep] + [self.table_migration_identifier]
        cursor.execute("PRAGMA secure_delete = ON")
        for table in ("cases", "chain_heads", "timeline", "forensic", "case_links"):
            cursor.execute(f"DELETE FROM {table}")
        marks = ", ".join("?" for _ in kept)
        cursor.execute(f"DELETE FROM tracking WHERE application_name NOT IN ({marks})", kept)
        cursor.execute(_COUNT_CHANGE)
        self._stamp(cursor)

    def _stamp(self, cursor: Any) -> None:
        cursor.execute("DELETE FROM views_format")
        cursor.execute("INSERT INTO views_format VALUES (?)", (VIEWS_FORMAT,))

    def cases(self) -> list[CaseRow]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT {', '.join(_COLUMNS)} FROM cases ORDER BY reported_at DESC, case_id")
            found = cursor.fetchall()
        return self._sealer.open_cases([_case_row(r) for r in found])

    def search_tokens(self) -> dict[str, bytes]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT case_id, name_tokens FROM cases WHERE name_tokens IS NOT NULL")
            return {r[0]: bytes(r[1]) for r in cursor.fetchall()}

    def change_stamp(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT serial FROM views_changes")
            found = cursor.fetchone()
            return int(found[0]) if found else 0

    def case_signatures(self) -> dict[str, tuple[int, bool, bool]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT case_id, version, restricted, sealed IS NULL FROM cases")
            return {str(r[0]): (int(r[1]), bool(r[2]), bool(r[3])) for r in cursor.fetchall()}

    def rows(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        wanted = list(dict.fromkeys(case_ids))
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM cases WHERE case_id IN ({', '.join('?' * len(wanted))})",
                wanted,
            )
            found = cursor.fetchall()
        return {r.case_id: r for r in self._sealer.open_cases([_case_row(r) for r in found])}

    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        query = f"SELECT {', '.join(FORENSIC_COLUMNS)} FROM forensic"
        args: tuple[str, ...] = ()
        if aggregate_type is not None:
            query, args = query + " WHERE aggregate_type = ?", (aggregate_type,)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(query + " ORDER BY recorded_at DESC, aggregate_id", args)
            found = cursor.fetchall()
        return self._sealer.open_forensic(_forensic_row(r) for r in found)

    def forensic_rows(self, aggregate_ids: Sequence[str]) -> dict[str, ForensicRow]:
        wanted = list(dict.fromkeys(aggregate_ids))
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {', '.join(FORENSIC_COLUMNS)} FROM forensic "
                f"WHERE aggregate_id IN ({', '.join('?' * len(wanted))})",
                wanted,
            )
            found = cursor.fetchall()
        return {f.aggregate_id: f for f in self._sealer.open_forensic(_forensic_row(r) for r in found)}

    def links(self, aggregate_ids: Sequence[str] | None = None) -> list[Link]:
        query = "SELECT aggregate_id, sealed FROM case_links"
        wanted = list(dict.fromkeys(aggregate_ids or ()))
        if aggregate_ids is not None and not wanted:
            return []
        found: list[tuple[str, bytes]] = []
        with self.datastore.transaction(commit=False) as cursor:
            if aggregate_ids is None:
                cursor.execute(query)
                found = [(r[0], bytes(r[1])) for r in cursor.fetchall()]
            for start in range(0, len(wanted), 500):  # within SQLite's limit on bound variables
                chunk = wanted[start : start + 500]
                cursor.execute(f"{query} WHERE aggregate_id IN ({', '.join('?' * len(chunk))})", chunk)
                found += [(r[0], bytes(r[1])) for r in cursor.fetchall()]
        return self._sealer.open_links(found)

    def close(self) -> None:
        self.datastore.close()


def _case_values(values: Sequence[Any]) -> tuple[Any, ...]:
    """A stored case row (STORED_CASE_COLUMNS) as SQLite keeps it."""
    row = list(values)
    row[4] = row[4].isoformat()
    row[7] = ",".join(row[7])
    row[11] = int(row[11])
    row[15] = row[15].isoformat() if row[15] else None
    row[17] = ",".join(row[17])
    return tuple(row)


def _case_row(r: Sequence[Any]) -> tuple[CaseRow, bytes | None]:
    return _plain_case_row(r), None if r[18] is None else bytes(r[18])


def _plain_case_row(r: Sequence[Any]) -> CaseRow:
    return CaseRow(
        case_id=r[0],
        origin=r[1],
        version=r[2],
        status=r[3],
        reported_at=datetime.fromisoformat(r[4]),
        sex=r[5],
        age_band=r[6],
        nationalities=tuple(n for n in r[7].split(",") if n),
        last_seen_country=r[8],
        last_seen_month=r[9],
        route=r[10],
        restricted=bool(r[11]),
        given_names=r[12],
        first_surname=r[13],
        second_surname=r[14],
        last_seen_date=date.fromisoformat(r[15]) if r[15] else None,
        last_seen_place=r[16],
        consents=tuple(c for c in r[17].split(",") if c),
    )


def _forensic_row(r: Sequence[Any]) -> ForensicRow:
    return ForensicRow(
        r[0],
        r[1],
        r[2],
        int(r[3]),
        r[4],
        datetime.fromisoformat(r[5]),
        r[6],
        tuple(t for t in r[7].split(",") if t),
    )


def _timeline_row(r: Sequence[Any]) -> TimelineRow:
    values = (
        *r[:5],
        datetime.fromisoformat(r[5]),
        datetime.fromisoformat(r[6]),
        *r[7:12],
        tuple(t for t in r[12].split(",") if t),
    )
    return TimelineRow(**dict(zip(TIMELINE_COLUMNS, values, strict=True)))
