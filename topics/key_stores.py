"""Where a node keeps its data keys: in a SQLite file (embedded) or in PostgreSQL (servers),
side by side under one contract (ledger/keystore.py; tests/contracts/test_key_store_contract.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from ledger.crypto import MasterKey
from ledger.keystore import KeyRow, KeyStore
from ledger.private_files import private_file
from topics.pg_connection import Reconnecting

_COLUMNS = "key_id, aggregate_id, tier, generation, wrapped"

__all__ = ["PostgresKeyStore", "SQLiteKeyStore"]


class PostgresKeyStore(KeyStore):
    def __init__(self, master: MasterKey, conninfo: dict[str, Any], schema: str) -> None:
        super().__init__(master)
        self.conninfo = {k: conninfo.get(k) for k in ("dbname", "host", "port")}
        self.schema = schema
        self._pg = Reconnecting(conninfo)  # outlives a server restart (topics/pg_connection.py)
        self._table = SQL("{}.data_keys").format(Identifier(schema))
        self._insert_many_sql: str | None = None
        self._copy_sql: str | None = None
        self._connection.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        self._connection.execute(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (key_id text PRIMARY KEY, aggregate_id text NOT NULL, "
                "tier text NOT NULL, generation integer NOT NULL, wrapped bytea, destroyed_at timestamptz)"
            ).format(self._table)
        )
        self._connection.execute(
            SQL("CREATE INDEX IF NOT EXISTS data_keys_aggregate ON {} (aggregate_id)").format(self._table)
        )
        self._grants_table = SQL("{}.key_grants").format(Identifier(schema))
        self._connection.execute(
            SQL("CREATE TABLE IF NOT EXISTS {} (key_id text PRIMARY KEY, readers text[] NOT NULL)").format(
                self._grants_table
            )
        )

    @property
    def _connection(self) -> psycopg.Connection[Any]:
        return self._pg.connection

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self._connection.execute(SQL(sql).format(self._table), args).fetchall()

    def _key_rows(self, sql: str, *args: Any) -> list[KeyRow]:
        """The key rows a SELECT of _COLUMNS finds."""
        return [
            KeyRow(r[0], r[1], r[2], r[3], None if r[4] is None else bytes(r[4]))
            for r in self._query(sql, *args)
        ]

    def _rows(self, aggregate_id: str) -> list[KeyRow]:
        return self._key_rows(f"SELECT {_COLUMNS} FROM {{}} WHERE aggregate_id = %s", aggregate_id)

    def _all_rows(self) -> list[KeyRow]:
        return self._key_rows(f"SELECT {_COLUMNS} FROM {{}}")

    def _row(self, key_id: str) -> KeyRow | None:
        rows = self._key_rows(f"SELECT {_COLUMNS} FROM {{}} WHERE key_id = %s", key_id)
        return rows[0] if rows else None

    def _insert(self, row: KeyRow) -> bool:
        cursor = self._connection.execute(
            SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, NULL) ON CONFLICT DO NOTHING").format(
                self._table
            ),
            (row.key_id, row.aggregate_id, row.tier, row.generation, row.wrapped),
        )
        return cursor.rowcount == 1

    def _rows_by_ids(self, key_ids: list[str]) -> list[KeyRow]:
        return self._key_rows(f"SELECT {_COLUMNS} FROM {{}} WHERE key_id = ANY(%s)", key_ids)

    def _rows_of(self, aggregate_ids: list[str]) -> list[KeyRow]:
        return self._key_rows(f"SELECT {_COLUMNS} FROM {{}} WHERE aggregate_id = ANY(%s)", aggregate_ids)

    def _insert_many(self, rows: list[KeyRow]) -> set[str]:
        if not rows:
            return set()
        # One statement whatever the batch's size, prepared once: a VALUES list composed per
        # batch made psycopg parse a 5,000-placeholder query each time (about 26 ms). Binary
        # parameters (%b): as text, each wrapped key was escaped into an array literal in
        # Python, which cost a bulk import more than the insert itself.
        if self._insert_many_sql is None:
            self._insert_many_sql = (
                SQL(
                    "INSERT INTO {} SELECT k, a, t, g, w, NULL FROM unnest("
                    "%b::text[], %b::text[], %b::text[], %b::integer[], %b::bytea[]) AS r(k, a, t, g, w) "
                    "ON CONFLICT DO NOTHING RETURNING key_id"
                )
                .format(self._table)
                .as_string(self._connection)
            )
        args = (
            [r.key_id for r in rows],
            [r.aggregate_id for r in rows],
            [r.tier for r in rows],
            [r.generation for r in rows],
            [r.wrapped for r in rows],
        )
        found = self._connection.execute(self._insert_many_sql, args, prepare=True).fetchall()
        return {r[0] for r in found}

    def copy_statement(self) -> str:
        """A binary COPY of new key rows (key id, aggregate, tier, generation, wrapped key) into
        this store, for a caller's transaction on this store's database (ledger/import_postgres.py):
        a key id that exists fails it."""
        if self._copy_sql is None:
            self._copy_sql = (
                SQL("COPY {} (key_id, aggregate_id, tier, generation, wrapped) FROM STDIN (FORMAT BINARY)")
                .format(self._table)
                .as_string(self._connection)
            )
        return self._copy_sql

    def insert_staged(self, rows: list[KeyRow]) -> tuple[Any, tuple[list[Any], ...]]:
        """The statement and parameters inserting keys (stage_first_keys) in the caller's
        transaction, on a connection to this store's database; it returns the key ids it
        inserted (a key id that exists is left as it is)."""
        statement = SQL(
            "INSERT INTO {} SELECT k, a, t, g, w, NULL FROM unnest("
            "%b::text[], %b::text[], %b::text[], %b::integer[], %b::bytea[]) AS r(k, a, t, g, w) "
            "ON CONFLICT DO NOTHING RETURNING key_id"
        ).format(self._table)
        return statement, (
            [r.key_id for r in rows],
            [r.aggregate_id for r in rows],
            [r.tier for r in rows],
            [r.generation for r in rows],
            [r.wrapped for r in rows],
        )

    def _destroy(self, key_ids: Iterable[str]) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(
                SQL("UPDATE {} SET wrapped = NULL, destroyed_at = now() WHERE key_id = %s").format(
                    self._table
                ),
                [(k,) for k in key_ids],
            )

    def _grants(self, key_ids: list[str]) -> dict[str, frozenset[str]]:
        rows = self._connection.execute(
            SQL("SELECT key_id, readers FROM {} WHERE key_id = ANY(%s)").format(self._grants_table),
            (key_ids,),
        ).fetchall()
        return {r[0]: frozenset(r[1]) for r in rows}

    def _set_grants(self, grants: dict[str, frozenset[str]]) -> None:
        # One statement for a pass's grants (a thousand rows took 0.2-0.3 s as executemany).
        self._connection.execute(
            SQL(
                "INSERT INTO {} SELECT key, ARRAY(SELECT jsonb_array_elements_text(value)) "
                "FROM jsonb_each(%s) ON CONFLICT (key_id) DO UPDATE SET readers = excluded.readers"
            ).format(self._grants_table),
            (Jsonb({k: sorted(v) for k, v in grants.items()}),),
        )

    def close(self) -> None:
        self._pg.close()


class SQLiteKeyStore(KeyStore):
    """Keys in a SQLite file; secure_delete overwrites a destroyed key's bytes on disk."""

    def __init__(self, master: MasterKey, path: Path) -> None:
        super().__init__(master)
        self._db = sqlite3.connect(
            private_file(path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS data_keys (key_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, "
            "tier TEXT NOT NULL, generation INTEGER NOT NULL, wrapped BLOB, destroyed_at TEXT)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS data_keys_aggregate ON data_keys (aggregate_id)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS key_grants (key_id TEXT PRIMARY KEY, readers TEXT NOT NULL)"
        )

    _COLUMNS = "key_id, aggregate_id, tier, generation, wrapped"

    def _rows(self, aggregate_id: str) -> list[KeyRow]:
        cursor = self._db.execute(
            f"SELECT {self._COLUMNS} FROM data_keys WHERE aggregate_id = ?", (aggregate_id,)
        )
        return [KeyRow(*row) for row in cursor.fetchall()]

    def _all_rows(self) -> list[KeyRow]:
        return [KeyRow(*row) for row in self._db.execute(f"SELECT {self._COLUMNS} FROM data_keys").fetchall()]

    def _row(self, key_id: str) -> KeyRow | None:
        row = self._db.execute(
            f"SELECT {self._COLUMNS} FROM data_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        return None if row is None else KeyRow(*row)

    def _insert(self, row: KeyRow) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?, NULL)",
            (row.key_id, row.aggregate_id, row.tier, row.generation, row.wrapped),
        )
        return cursor.rowcount == 1

    def _insert_many(self, rows: list[KeyRow]) -> set[str]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            inserted = {row.key_id for row in rows if self._insert(row)}
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return inserted

    def _destroy(self, key_ids: Iterable[str]) -> None:
        self._db.executemany(
            "UPDATE data_keys SET wrapped = NULL, destroyed_at = datetime('now') WHERE key_id = ?",
            [(k,) for k in key_ids],
        )

    def _grants(self, key_ids: list[str]) -> dict[str, frozenset[str]]:
        found = {}
        for key_id in key_ids:
            row = self._db.execute("SELECT readers FROM key_grants WHERE key_id = ?", (key_id,)).fetchone()
            if row is not None:
                found[key_id] = frozenset(r for r in row[0].split(",") if r)
        return found

    def _set_grants(self, grants: dict[str, frozenset[str]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO key_grants VALUES (?, ?)",
            [(k, ",".join(sorted(v))) for k, v in grants.items()],
        )

    def close(self) -> None:
        self._db.close()
