"""Views of the previous format are migrated in place when a node opens them, on SQLite and on
PostgreSQL: rows, positions and the change counter kept, no rebuild. The previous format's
tables are made here by its own DDL, frozen as that release wrote it (format 5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from projections.migrations import MIGRATIONS
from projections.postgres_views import PostgresJurisdictionViews, views_schema
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.view_batch import ViewBatch
from projections.view_tables import FORENSIC_BY_KIND, VIEW_TABLES
from projections.views import (
    VIEWS_FORMAT,
    ForensicRow,
    JurisdictionViews,
    Link,
    TimelineRow,
    ViewsFromLaterRelease,
    tracking_at,
)
from services.settings import Settings
from tests.contracts.test_views_contract import KEYS, TP, row

PREVIOUS = 5
assert VIEWS_FORMAT == PREVIOUS + 1, "a new format: freeze this one's DDL here as PREVIOUS"
assert not MIGRATIONS[-1].rebuild, "the migration tested here alters the views in place"

_SQLITE_NAMED = [
    f"CREATE VIEW IF NOT EXISTS {name} AS SELECT aggregate_id AS {key}, origin, version, status, "
    f"recorded_at, state, withheld FROM forensic WHERE aggregate_type = '{kind}'"
    for name, key, kind in (
        ("remains", "remains_id", "UnidentifiedRemains"),
        ("samples", "sample_id", "Sample"),
        ("matches", "match_id", "Match"),
    )
]
# Format 5 as projections/sqlite_views.py created it (0f44ea7).
SQLITE_FORMAT_5 = [
    """CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, origin TEXT NOT NULL, version INTEGER NOT NULL,
    status TEXT NOT NULL, reported_at TEXT NOT NULL, sex TEXT NOT NULL, age_band TEXT,
    nationalities TEXT NOT NULL, last_seen_country TEXT NOT NULL, last_seen_month TEXT,
    route TEXT,
    restricted INTEGER NOT NULL, given_names TEXT, first_surname TEXT, second_surname TEXT,
    last_seen_date TEXT, last_seen_place TEXT, consents TEXT NOT NULL DEFAULT '',
    sealed BLOB, name_tokens BLOB)""",
    """CREATE TABLE IF NOT EXISTS chain_heads (
    aggregate_id TEXT PRIMARY KEY, version INTEGER NOT NULL, hash BLOB NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS timeline (
    aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, aggregate_type TEXT NOT NULL,
    event_type TEXT NOT NULL, origin TEXT NOT NULL, occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL,
    organisation TEXT NOT NULL, role TEXT NOT NULL, purpose TEXT NOT NULL, public TEXT NOT NULL,
    shown TEXT NOT NULL, withheld TEXT NOT NULL, PRIMARY KEY (aggregate_id, version)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS forensic (
    aggregate_id TEXT PRIMARY KEY, aggregate_type TEXT NOT NULL, origin TEXT NOT NULL,
    version INTEGER NOT NULL, status TEXT NOT NULL, recorded_at TEXT NOT NULL, state TEXT NOT NULL,
    withheld TEXT NOT NULL) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS case_links (aggregate_id TEXT NOT NULL, sealed BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS case_links_by_aggregate ON case_links (aggregate_id)",
    "CREATE TABLE IF NOT EXISTS views_format (format INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS views_changes "
    "(one INTEGER PRIMARY KEY CHECK (one = 1), serial INTEGER NOT NULL)",
    *_SQLITE_NAMED,
    "CREATE VIEW IF NOT EXISTS custody AS SELECT aggregate_id AS sample_id, version, event_type, "
    "occurred_at, recorded_at, organisation, role, purpose, public, shown, withheld FROM timeline "
    "WHERE aggregate_type = 'Sample'",
    f"INSERT INTO views_format VALUES ({PREVIOUS})",
]
# Format 5 as projections/postgres_views.py created it (0f44ea7); {0} is the schema.
POSTGRES_FORMAT_5 = [
    "CREATE SCHEMA {0}",
    "CREATE TABLE {0}.views_format (format integer NOT NULL)",
    "CREATE TABLE {0}.cases ("
    "case_id uuid PRIMARY KEY, origin text NOT NULL, version bigint NOT NULL, "
    "status text NOT NULL, reported_at timestamptz NOT NULL, sex text NOT NULL, "
    "age_band text, nationalities text[] NOT NULL, last_seen_country text NOT NULL, "
    "last_seen_month text, route text, restricted boolean NOT NULL, "
    "given_names text, first_surname text, "
    "second_surname text, last_seen_date date, last_seen_place text, "
    "consents text[] NOT NULL DEFAULT '{{}}', sealed bytea, name_tokens bytea)",
    "CREATE TABLE {0}.case_links (aggregate_id uuid NOT NULL, sealed bytea NOT NULL)",
    "CREATE INDEX case_links_by_aggregate ON {0}.case_links (aggregate_id)",
    "CREATE TABLE {0}.views_changes ("
    "one boolean PRIMARY KEY DEFAULT true CHECK (one), serial bigint NOT NULL)",
    "CREATE TABLE {0}.chain_heads ("
    "aggregate_id uuid PRIMARY KEY, version bigint NOT NULL, hash bytea NOT NULL)",
    "CREATE TABLE {0}.timeline ("
    "aggregate_id uuid NOT NULL, version bigint NOT NULL, aggregate_type text NOT NULL, "
    "event_type text NOT NULL, origin text NOT NULL, occurred_at timestamptz NOT NULL, "
    "recorded_at timestamptz NOT NULL, organisation text NOT NULL, role text NOT NULL, "
    "purpose text NOT NULL, public text NOT NULL, shown text NOT NULL, "
    "withheld text[] NOT NULL, "
    "PRIMARY KEY (aggregate_id, version))",
    "CREATE TABLE {0}.forensic ("
    "aggregate_id uuid PRIMARY KEY, aggregate_type text NOT NULL, origin text NOT NULL, "
    "version bigint NOT NULL, status text NOT NULL, recorded_at timestamptz NOT NULL, "
    "state text NOT NULL, withheld text[] NOT NULL)",
    *(
        f"CREATE VIEW {{0}}.{name} AS SELECT aggregate_id AS {key}, origin, version, status, recorded_at, "
        f"state, withheld FROM {{0}}.forensic WHERE aggregate_type = '{kind}'"
        for name, key, kind in (
            ("remains", "remains_id", "UnidentifiedRemains"),
            ("samples", "sample_id", "Sample"),
            ("matches", "match_id", "Match"),
        )
    ),
    "CREATE VIEW {0}.custody AS SELECT aggregate_id AS sample_id, version, event_type, occurred_at, "
    "recorded_at, organisation, role, purpose, public, shown, withheld FROM {0}.timeline "
    "WHERE aggregate_type = 'Sample'",
    f"INSERT INTO {{0}}.views_format VALUES ({PREVIOUS})",
]

SAMPLE = "00000000-0000-4000-9000-000000000002"
# Samples are listed newest first: the query the migration's index serves.
BY_KIND = (
    "SELECT aggregate_id FROM {0}forensic WHERE aggregate_type = {1} ORDER BY recorded_at DESC, aggregate_id"
)


def fill(views: JurisdictionViews) -> None:
    """Rows of every view table, written into the previous format's tables."""
    case = row(1)
    entry = TimelineRow(
        aggregate_id=case.case_id,
        version=1,
        aggregate_type="MissingPersonCase",
        event_type="CaseReported",
        origin="GT",
        occurred_at=datetime(2026, 2, 3, tzinfo=UTC),
        recorded_at=datetime(2026, 2, 3, tzinfo=UTC),
        organisation="Casa del Migrante",
        role="caseworker",
        purpose="search",
        public="{}",
        shown='{"person": {"given_names": "María José"}}',
        withheld=(),
    )
    forensic = [
        ForensicRow(f"00000000-0000-4000-9000-00000000000{n}", kind, "GT", 1, "recorded", at, '{"a": 1}', ())
        for n, kind, at in (
            (1, "UnidentifiedRemains", datetime(2026, 2, 4, tzinfo=UTC)),
            (2, "Sample", datetime(2026, 2, 5, tzinfo=UTC)),
            (3, "Sample", datetime(2026, 2, 6, tzinfo=UTC)),
        )
    ]
    views.apply(
        ViewBatch(
            [case, row(2, minor=False)],
            [tracking_at(TP, 7), tracking_at(KEYS, 3)],
            {case.case_id: (1, b"h")},
            timeline=[entry],
            forensic=forensic,
            links=[Link(SAMPLE, case.case_id, "case")],
        ),
    )


def state(views: JurisdictionViews) -> tuple[Any, ...]:
    """Everything a rebuild would change: the rows, the positions, the change counter."""
    return views.digest(), views.positions([TP, KEYS]), views.change_stamp(), len(views.cases())


class MigrationContract:
    """Fixtures: open_views (the node's views), previous (makes the previous format's views with
    its frozen DDL, stamped with the format given), raw and fresh (run SQL on the views' database
    or on views this release created, rows back; {0} in the SQL is the schema prefix, {1} a
    placeholder, {2} the schema's name as a literal)."""

    open_views: Callable[[], JurisdictionViews]

    def has_index(self, raw: Callable[..., list[Any]]) -> bool:
        raise NotImplementedError

    def plan(self, raw: Callable[..., list[Any]]) -> str:
        raise NotImplementedError

    def shape(self, raw: Callable[..., list[Any]]) -> list[tuple[Any, ...]]:
        """The view tables' columns and types, and the indexes."""
        raise NotImplementedError

    def test_views_of_the_previous_format_are_migrated_in_place_without_a_rebuild(
        self,
        open_views: Callable[[], JurisdictionViews],
        previous: Callable[[int], None],
        raw: Any,
        fresh: Any,
    ) -> None:
        previous(PREVIOUS)
        views = open_views()
        fill(views)
        before = state(views)
        views.close()
        assert not self.has_index(raw), "control: opening alone leaves views of another format as they are"
        assert "forensic_by_kind" not in self.plan(raw)
        again = open_views()  # the node opens its views
        try:
            assert again.upgrade(keep=[KEYS]) is None, "not rebuilt"
            assert state(again) == before, "rows, positions and the change counter kept"
            assert next(f.aggregate_id for f in again.forensic("Sample")).endswith("3"), "newest first"
            assert again.upgrade(keep=[KEYS]) is None and state(again) == before
        finally:
            again.close()
        assert self.has_index(raw) and "forensic_by_kind" in self.plan(raw)
        assert raw("SELECT format FROM {0}views_format") == [(VIEWS_FORMAT,)]
        assert self.shape(raw) == self.shape(fresh), "the migrated tables and indexes are the declared ones"

    def test_a_migration_that_needs_a_rebuild_rebuilds(
        self, open_views: Callable[[], JurisdictionViews], previous: Callable[[int], None], raw: Any
    ) -> None:
        previous(PREVIOUS - 1)  # format 5's migration says the views are rebuilt
        views = open_views()
        fill(views)
        digest, _, changes, _ = state(views)
        views.close()
        again = open_views()
        try:
            assert again.upgrade(keep=[KEYS]) == PREVIOUS - 1
            assert state(again)[1:] == ({TP: 0, KEYS: 3}, changes + 1, 0) and again.digest() != digest
        finally:
            again.close()
        assert self.has_index(raw) and raw("SELECT format FROM {0}views_format") == [(VIEWS_FORMAT,)]

    def test_views_of_an_unknown_later_format_are_refused_and_left_alone(
        self, open_views: Callable[[], JurisdictionViews], previous: Callable[[int], None], raw: Any
    ) -> None:
        previous(PREVIOUS)
        views = open_views()
        fill(views)
        before = state(views)
        raw(f"UPDATE {{0}}views_format SET format = {VIEWS_FORMAT + 1}")
        views.close()
        again = open_views()
        try:
            with pytest.raises(
                ViewsFromLaterRelease, match=f"views format {VIEWS_FORMAT + 1}.*caseledger rebuild"
            ):
                again.upgrade(keep=[KEYS])
            assert state(again) == before
        finally:
            again.close()
        assert not self.has_index(raw), "a later format's views are not altered"

    def test_rebuilding_a_later_formats_views_gives_them_this_releases_tables(
        self,
        open_views: Callable[[], JurisdictionViews],
        previous: Callable[[int], None],
        raw: Any,
        fresh: Any,
    ) -> None:
        """What ViewsFromLaterRelease advises (`caseledger rebuild`) works whatever shape the
        later release gave its tables: here one without a column this release writes."""
        previous(VIEWS_FORMAT + 1)
        raw("ALTER TABLE {0}cases DROP COLUMN route")
        views = open_views()
        try:
            with pytest.raises(ViewsFromLaterRelease):
                views.upgrade(keep=[KEYS])
            views.reset(keep=[KEYS])
            fill(views)
            assert len(views.cases()) == 2 and views.upgrade(keep=[KEYS]) is None
        finally:
            views.close()
        assert self.shape(raw) == self.shape(fresh)


class TestSQLiteMigrations(MigrationContract):
    @pytest.fixture
    def open_views(self, tmp_path: Path) -> Callable[[], JurisdictionViews]:
        keys = MemoryKeyStore(MasterKey(new_data_key()))
        return lambda: SQLiteJurisdictionViews(tmp_path / "views-mx.sqlite", "MX", keys)

    @pytest.fixture
    def previous(self, tmp_path: Path) -> Callable[[int], None]:
        def make(format_: int) -> None:
            with sqlite3.connect(tmp_path / "views-mx.sqlite") as connection:
                for statement in SQLITE_FORMAT_5:
                    connection.execute(statement.replace(f"VALUES ({PREVIOUS})", f"VALUES ({format_})"))

        return make

    @staticmethod
    def _raw(path: Path) -> Callable[..., list[Any]]:
        def run(sql: str, *args: Any) -> list[Any]:
            with sqlite3.connect(path) as connection:
                return [tuple(r) for r in connection.execute(sql.format("", "?", "'main'"), args).fetchall()]

        return run

    @pytest.fixture
    def raw(self, tmp_path: Path) -> Callable[..., list[Any]]:
        return self._raw(tmp_path / "views-mx.sqlite")

    @pytest.fixture
    def fresh(self, tmp_path: Path) -> Iterator[Callable[..., list[Any]]]:
        path = tmp_path / "fresh" / "views-mx.sqlite"
        SQLiteJurisdictionViews(path, "MX").close()
        yield self._raw(path)

    def has_index(self, raw: Callable[..., list[Any]]) -> bool:
        return bool(
            raw("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", FORENSIC_BY_KIND.name)
        )

    def plan(self, raw: Callable[..., list[Any]]) -> str:
        found = " | ".join(str(r[-1]) for r in raw("EXPLAIN QUERY PLAN " + BY_KIND, "Sample"))
        assert ("TEMP B-TREE" in found) != ("forensic_by_kind" in found), found  # sorted, or read in order
        return found

    def shape(self, raw: Callable[..., list[Any]]) -> list[tuple[Any, ...]]:
        columns = [(t.name, *r[1:3]) for t in VIEW_TABLES for r in raw(f"PRAGMA table_info({t.name})")]
        indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite%' ORDER BY 1"
        return columns + raw(indexes)


@pytest.mark.integration
class TestPostgresMigrations(MigrationContract):
    @pytest.fixture
    def conninfo(self, database_url: str) -> dict[str, Any]:
        return Settings(database_url=database_url).postgres_conninfo()

    @pytest.fixture
    def open_views(self, conninfo: dict[str, Any]) -> Callable[[], JurisdictionViews]:
        keys = MemoryKeyStore(MasterKey(new_data_key()))
        return lambda: PostgresJurisdictionViews(conninfo, "MX", keys)

    @staticmethod
    def _raw(database_url: str, schema: str) -> Callable[..., list[Any]]:
        def run(sql: str, *args: Any) -> list[Any]:
            with psycopg.connect(database_url) as connection:
                if sql.startswith("EXPLAIN"):  # a handful of rows: show whether the index serves
                    connection.execute("SET enable_seqscan = off")
                cursor = connection.execute(sql.format(f'"{schema}".', "%s", f"'{schema}'"), args or None)
                return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

        return run

    @pytest.fixture
    def raw(self, database_url: str) -> Callable[..., list[Any]]:
        return self._raw(database_url, views_schema("MX"))

    @pytest.fixture
    def previous(self, database_url: str) -> Callable[[int], None]:
        def make(format_: int) -> None:
            with psycopg.connect(database_url) as connection:
                for statement in POSTGRES_FORMAT_5:
                    text = statement.replace(f"VALUES ({PREVIOUS})", f"VALUES ({format_})")
                    connection.execute(text.format(f'"{views_schema("MX")}"'))

        return make

    @pytest.fixture
    def fresh(self, conninfo: dict[str, Any], database_url: str) -> Callable[..., list[Any]]:
        PostgresJurisdictionViews(conninfo, "XX").close()
        return self._raw(database_url, views_schema("XX"))

    def has_index(self, raw: Callable[..., list[Any]]) -> bool:
        schema = views_schema("MX")
        found = raw(
            "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s", schema, "forensic_by_kind"
        )
        return bool(found)

    def plan(self, raw: Callable[..., list[Any]]) -> str:
        found = " | ".join(str(r[0]) for r in raw("EXPLAIN " + BY_KIND, "Sample"))
        assert ("Sort" in found) != ("forensic_by_kind" in found), found  # sorted, or read in order
        return found

    def shape(self, raw: Callable[..., list[Any]]) -> list[tuple[Any, ...]]:
        indexes = raw("SELECT indexname FROM pg_indexes WHERE schemaname = {2} ORDER BY 1")
        return indexes + [
            (t.name, *r)
            for t in VIEW_TABLES
            for r in raw(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = {2} AND table_name = %s ORDER BY ordinal_position",
                t.name,
            )
        ]
