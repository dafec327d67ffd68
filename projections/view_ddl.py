"""The views' declaration (projections/view_tables.py) rendered for one backend: its DDL, and
values converted to and from what the backend stores.

SQLite keeps instants and dates as ISO text, lists as comma-joined text and booleans as
integers; PostgreSQL has a type for each. Rows come back as mappings by column name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
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
        """A row object's (or mapping's) values for this table's columns, as stored."""
        get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
        return tuple(self.store(c.type, get(c.name)) for c in table(table_name).columns)

    def encode_values(self, table_name: str, values: Sequence[Any]) -> tuple[Any, ...]:
        """A row's values in this table's column order, as stored."""
        return tuple(self.store(c.type, v) for c, v in zip(table(table_name).columns, values, strict=True))

    def decode(self, table_name: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A stored row (by column name) with its values in the rows' Python types."""
        declared = table(table_name)
        return {name: self.load(declared.column(name).type, row[name]) for name in row.keys()}  # noqa: SIM118 (sqlite3.Row)

    def store(self, type_: Type, value: Any) -> Any:
        raise NotImplementedError

    def load(self, type_: Type, value: Any) -> Any:
        raise NotImplementedError


class SQLiteDialect(Dialect):
    types = _SQLITE_TYPES

    def default(self, column: Column) -> str:
        stored = self.store(column.type, column.default)
        return str(stored) if isinstance(stored, int) else _literal(stored)

    def create_table(self, table: Table) -> str:
        return super().create_table(table) + (" WITHOUT ROWID" if table.clustered else "")

    def create_view(self, view: View) -> str:
        return f"CREATE VIEW IF NOT EXISTS {self.name(view.name)} AS {self.select(view)}"

    def store(self, type_: Type, value: Any) -> Any:
        if value is None:
            return None
        if type_ is Type.TIME:
            return value.astimezone(UTC).isoformat()
        if type_ is Type.DATE:
            return value.isoformat()
        if type_ is Type.TEXTS:
            return ",".join(value)
        if type_ is Type.BOOL:
            return int(value)
        return value

    def load(self, type_: Type, value: Any) -> Any:
        if value is None:
            return None
        if type_ is Type.TIME:
            return datetime.fromisoformat(value)
        if type_ is Type.DATE:
            return date.fromisoformat(value)
        if type_ is Type.TEXTS:
            return tuple(v for v in value.split(",") if v)
        if type_ is Type.BOOL:
            return bool(value)
        if type_ is Type.BYTES:
            return bytes(value)
        return int(value) if type_ is Type.INT else value


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

    def store(self, type_: Type, value: Any) -> Any:
        return list(value) if type_ is Type.TEXTS and value is not None else value

    def load(self, type_: Type, value: Any) -> Any:
        if value is None:
            return None
        if type_ is Type.ID:
            return str(value)
        if type_ is Type.TEXTS:
            return tuple(value)
        if type_ is Type.BYTES:
            return bytes(value)
        return int(value) if type_ is Type.INT else value
