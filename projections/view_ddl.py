"""The views' declaration (projections/view_tables.py) rendered for one backend: its DDL, and
values converted to and from what the backend stores.

SQLite keeps instants and dates as ISO text, lists as comma-joined text and booleans as
integers; PostgreSQL has a type for each. Rows come back as mappings by column name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from psycopg.sql import Identifier

from projections.view_tables import (
    BOOKKEEPING,
    INDEXES,
    SQL_VIEWS,
    VIEW_TABLES,
    Column,
    Index,
    Table,
    Type,
    View,
    table,
)

__all__ = ["Dialect", "PostgresDialect", "SQLiteDialect"]

_SQLITE_TYPES = {
    Type.ID: "TEXT",
    Type.TEXT: "TEXT",
    Type.INT: "INTEGER",
    Type.BOOL: "INTEGER",
    Type.TIME: "TEXT",
    Type.DATE: "TEXT",
    Type.BYTES: "BLOB",
    Type.TEXTS: "TEXT",
}
_POSTGRES_TYPES = {
    Type.ID: "uuid",
    Type.TEXT: "text",
    Type.INT: "bigint",
    Type.BOOL: "boolean",
    Type.TIME: "timestamptz",
    Type.DATE: "date",
    Type.BYTES: "bytea",
    Type.TEXTS: "text[]",
}


def _literal(value: object) -> str:
    """A constant of the declaration as an SQL literal (strings of the declaration only)."""
    return "'" + str(value).replace("'", "''") + "'"


class Dialect:
    """How one backend spells the declaration. `schema` qualifies every name (PostgreSQL keeps
    each jurisdiction's views in a schema of its own)."""

    types: Mapping[Type, str]

    def __init__(self, schema: str | None = None) -> None:
        self.prefix = "" if schema is None else Identifier(schema).as_string(None) + "."

    def name(self, name: str) -> str:
        return self.prefix + name

    def default(self, column: Column) -> str:
        raise NotImplementedError

    def column(self, column: Column) -> str:
        spelled = f"{column.name} {self.types[column.type]}{'' if column.null else ' NOT NULL'}"
        return spelled if column.default is None else f"{spelled} DEFAULT {self.default(column)}"

    def create_table(self, table: Table) -> str:
        parts = [self.column(c) for c in table.columns]
        if table.key:
            parts.append(f"PRIMARY KEY ({', '.join(table.key)})")
        if table.check:
            parts.append(f"CHECK ({table.check})")
        return f"CREATE TABLE IF NOT EXISTS {self.name(table.name)} ({', '.join(parts)})"

    def create_index(self, index: Index) -> str:
        on = self.name(index.table)
        return f"CREATE INDEX IF NOT EXISTS {index.name} ON {on} ({', '.join(index.columns)})"

    def add_column(self, table_name: str, column: Column) -> str:
        return f"ALTER TABLE {self.name(table_name)} ADD COLUMN {self.column(column)}"

    def drop_table(self, table: Table) -> str:
        return f"DROP TABLE IF EXISTS {self.name(table.name)}"

    def drop_view(self, view: View) -> str:
        return f"DROP VIEW IF EXISTS {self.name(view.name)}"

    def select(self, view: View) -> str:
        shown = ", ".join(c if isinstance(c, str) else f"{c[0]} AS {c[1]}" for c in view.columns)
        return f"SELECT {shown} FROM {self.name(view.table)} WHERE {view.kind_column} = {_literal(view.kind)}"

    def create_view(self, view: View) -> str:
        raise NotImplementedError

    def newer_wins(self, table_name: str, columns: Sequence[str]) -> str:
        """The conflict clause of an upsert that a row of a later version wins."""
        key = ", ".join(table(table_name).key)
        return (
            f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns)} "
            f"WHERE excluded.version > {self.name(table_name)}.version"
        )

    def bookkeeping(self) -> list[str]:
        """The tables every opening needs first: the format and the change counter."""
        return [self.create_table(t) for t in BOOKKEEPING]

    def declaration(self) -> list[str]:
        """Every view table, index and SQL view of this release's format."""
        return [
            *(self.create_table(t) for t in VIEW_TABLES),
            *(self.create_index(i) for i in INDEXES),
            *(self.create_view(v) for v in SQL_VIEWS),
        ]

    def columns(self, table_name: str) -> str:
        return ", ".join(table(table_name).names)

    def encode(self, table_name: str, row: object) -> tuple[Any, ...]:
        """A row object's values for this table's columns, as stored."""
        return self.encode_values(table_name, [getattr(row, name) for name in table(table_name).names])

    def encode_values(self, table_name: str, values: Sequence[Any]) -> tuple[Any, ...]:
        """A row's values in this table's column order, as stored."""
        storers = self._storers[table_name]
        return tuple(v if f is None or v is None else f(v) for f, v in zip(storers, values, strict=True))

    def decode(self, table_name: str, rows: Sequence[Any]) -> list[list[Any]]:
        """Rows read with every column of this table (`columns()`), their values in the rows'
        Python types in the declared order. The names the rows were read under are checked
        against the declaration once per batch rather than looked up in every row."""
        if not rows:
            return []
        names, loaders = table(table_name).names, self._loaders[table_name]
        first = rows[0]
        held = tuple(first.keys())
        if held != names:
            raise ValueError(f"{table_name}: read columns {held}, declared {names}")
        values = (r.values() for r in rows) if isinstance(first, dict) else rows
        return [self._load(loaders, row) for row in values]

    @staticmethod
    def _load(loaders: Sequence[tuple[int, Callable[[Any], Any]]], row: Any) -> list[Any]:
        values = list(row)
        for at, load in loaders:
            if values[at] is not None:
                values[at] = load(values[at])
        return values

    @cached_property
    def _storers(self) -> dict[str, tuple[Callable[[Any], Any] | None, ...]]:
        return {t.name: tuple(self.storer(c.type) for c in t.columns) for t in (*VIEW_TABLES, *BOOKKEEPING)}

    @cached_property
    def _loaders(self) -> dict[str, list[tuple[int, Callable[[Any], Any]]]]:
        """For each table, the columns whose stored values are converted when read, with how."""
        return {
            t.name: [(at, load) for at, c in enumerate(t.columns) if (load := self.loader(c.type))]
            for t in (*VIEW_TABLES, *BOOKKEEPING)
        }

    def storer(self, type_: Type) -> Callable[[Any], Any] | None:
        """How a value of this type is stored (None: as it is)."""
        raise NotImplementedError

    def loader(self, type_: Type) -> Callable[[Any], Any] | None:
        """How a stored value of this type is read back (None: as it is)."""
        raise NotImplementedError


class SQLiteDialect(Dialect):
    types = _SQLITE_TYPES

    def default(self, column: Column) -> str:
        storer = self.storer(column.type)
        stored = column.default if storer is None else storer(column.default)
        return str(stored) if isinstance(stored, int) else _literal(stored)

    def create_table(self, table: Table) -> str:
        return super().create_table(table) + (" WITHOUT ROWID" if table.clustered else "")

    def create_view(self, view: View) -> str:
        return f"CREATE VIEW IF NOT EXISTS {self.name(view.name)} AS {self.select(view)}"

    def storer(self, type_: Type) -> Callable[[Any], Any] | None:
        storers: dict[Type, Callable[[Any], Any]] = {
            Type.TIME: lambda v: v.astimezone(UTC).isoformat(),
            Type.DATE: date.isoformat,
            Type.TEXTS: ",".join,
            Type.BOOL: int,
        }
        return storers.get(type_)

    def loader(self, type_: Type) -> Callable[[Any], Any] | None:
        loaders: dict[Type, Callable[[Any], Any]] = {
            Type.TIME: datetime.fromisoformat,
            Type.DATE: date.fromisoformat,
            Type.TEXTS: lambda v: tuple(t for t in v.split(",") if t),
            Type.BOOL: bool,
        }
        return loaders.get(type_)


class PostgresDialect(Dialect):
    types = _POSTGRES_TYPES

    def default(self, column: Column) -> str:
        if column.type is Type.TEXTS:
            return _literal("{" + ",".join(column.default) + "}")  # type: ignore[arg-type]
        return str(column.default).lower() if column.type is Type.BOOL else _literal(column.default)

    def create_view(self, view: View) -> str:
        """Create or replace the view; a definition whose columns changed cannot be replaced
        in place, so it is dropped and created (its grants go)."""
        name, select = self.name(view.name), self.select(view)
        return (
            f"DO $caseledger$ BEGIN CREATE OR REPLACE VIEW {name} AS {select}; "
            f"EXCEPTION WHEN invalid_table_definition THEN DROP VIEW {name}; "
            f"CREATE VIEW {name} AS {select}; END $caseledger$"
        )

    def drop_table(self, table: Table) -> str:
        return super().drop_table(table) + " CASCADE"  # the SQL views over it go too

    def create_index(self, index: Index) -> str:
        """Create the index unless it exists: CREATE INDEX IF NOT EXISTS would first wait for
        a lock on the table that holds off its writers, at every opening of the views."""
        exists = _literal(self.prefix + index.name)
        return (
            f"DO $caseledger$ BEGIN IF to_regclass({exists}) IS NULL THEN "
            f"{super().create_index(index)}; END IF; END $caseledger$"
        )

    def storer(self, type_: Type) -> Callable[[Any], Any] | None:
        return list if type_ is Type.TEXTS else None

    def loader(self, type_: Type) -> Callable[[Any], Any] | None:
        return {Type.ID: str, Type.TEXTS: tuple}.get(type_)
