"""The views' tables are declared once (projections/view_tables.py): both backends' DDL comes
from the declaration, the row types follow it, and no index covers personal data."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from projections.migrations import AddColumn, AddIndex, AddTable
from projections.view_ddl import PostgresDialect, SQLiteDialect
from projections.view_tables import (
    CASES,
    FORENSIC,
    INDEXES,
    TIMELINE,
    VIEW_TABLES,
    Column,
    Index,
    Table,
    Type,
)
from projections.views import PURGED_COLUMNS, CaseRow, ForensicRow, TimelineRow

PROJECTIONS = Path(__file__).resolve().parents[2] / "projections"
# DDL that creates a table, an index or a view (a transaction's temporary staging table, made
# LIKE a declared one, is not a declaration).
_DDL = re.compile(r"CREATE\s+(OR\s+REPLACE\s+)?(UNIQUE\s+)?(TABLE|INDEX|VIEW)\b", re.IGNORECASE)


def test_no_view_ddl_is_written_by_hand_outside_the_declaration() -> None:
    found = {p.name: _DDL.findall(p.read_text()) for p in PROJECTIONS.glob("*.py")}
    assert found["view_ddl.py"], "control: the renderer's DDL is found"
    assert {name for name, hits in found.items() if hits} == {"view_ddl.py"}


def test_the_row_types_have_the_declared_columns() -> None:
    assert tuple(f.name for f in dataclasses.fields(TimelineRow)) == TIMELINE.names
    assert tuple(f.name for f in dataclasses.fields(ForensicRow)) == FORENSIC.names
    stored = tuple(f.name for f in dataclasses.fields(CaseRow) if f.name not in ("minor", "disclosed"))
    assert (*stored, "sealed", "name_tokens") == CASES.names


def test_no_index_covers_personal_data() -> None:
    sealed = {*PURGED_COLUMNS, "sealed", "name_tokens", "shown", "state"}
    covered = {c.split()[0] for index in INDEXES for c in index.columns}
    assert covered and not covered & sealed
    tables = {t.name: t for t in VIEW_TABLES}
    assert all(c.split()[0] in tables[i.table].names for i in INDEXES for c in i.columns)


def test_both_backends_spell_each_type_and_default() -> None:
    sqlite, postgres = SQLiteDialect(), PostgresDialect("views_mx")
    assert sqlite.create_table(CASES).startswith("CREATE TABLE IF NOT EXISTS cases (case_id TEXT NOT NULL")
    assert "consents TEXT NOT NULL DEFAULT ''" in sqlite.create_table(CASES)
    assert "consents text[] NOT NULL DEFAULT '{}'" in postgres.create_table(CASES)
    assert postgres.create_table(TIMELINE).startswith('CREATE TABLE IF NOT EXISTS "views_mx".timeline (')
    assert sqlite.create_table(TIMELINE).endswith("PRIMARY KEY (aggregate_id, version)) WITHOUT ROWID")
    for type_ in Type:  # every type of the vocabulary has a spelling on each backend
        assert sqlite.types[type_] and postgres.types[type_]


def test_values_go_in_and_come_back_out_as_they_were_on_sqlite() -> None:
    """A table made from the declaration takes a row's values and gives them back by name."""
    dialect = SQLiteDialect()
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    for statement in dialect.declaration():
        connection.execute(statement)
    entry = TimelineRow(
        "00000000-0000-4000-8000-000000000001",
        1,
        "MissingPersonCase",
        "CaseReported",
        "GT",
        datetime(2026, 2, 3, tzinfo=UTC),
        datetime(2026, 2, 3, 12, tzinfo=UTC),
        "org",
        "role",
        "search",
        "{}",
        "{}",
        ("common", "restricted"),
    )
    names = TIMELINE.names
    connection.execute(
        f"INSERT INTO timeline ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        dialect.encode("timeline", entry),
    )
    found = connection.execute(f"SELECT {dialect.columns('timeline')} FROM timeline").fetchall()
    assert [TimelineRow(*v) for v in dialect.decode("timeline", found)] == [entry]
    reordered = connection.execute("SELECT version, aggregate_id FROM timeline").fetchall()
    with pytest.raises(ValueError, match="declared"):  # read back by name: other columns are refused
        dialect.decode("timeline", reordered)


def test_migration_steps_alter_a_table_that_holds_rows_in_place() -> None:
    dialect = SQLiteDialect()
    connection = sqlite3.connect(":memory:")
    connection.execute(dialect.create_table(FORENSIC))
    connection.execute("INSERT INTO forensic VALUES ('a', 'Sample', 'GT', 1, 's', 't', '{}', '')")
    extra = Table("extra", (Column("one", Type.INT),))
    steps = [
        AddColumn("forensic", Column("note", Type.TEXT, null=True)),
        AddColumn("forensic", Column("tags", Type.TEXTS, default=())),
        AddIndex(Index("forensic_by_note", "forensic", ("note",))),
        AddTable(extra),
    ]
    for step in steps:
        for statement in step.sql(dialect):
            connection.execute(statement)
    assert connection.execute("SELECT aggregate_id, note, tags FROM forensic").fetchall() == [("a", None, "")]
    assert (
        "ADD COLUMN tags text[] NOT NULL DEFAULT '{}'"
        in AddColumn("forensic", Column("tags", Type.TEXTS, default=())).sql(PostgresDialect("views_mx"))[0]
    )
