"""Where the relay keeps the hash of every event it chained, so a restart continues each
aggregate's chain without re-reading the topic. Position is still recovered from the topic."""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from topics.pg_connection import Reconnecting

__all__ = ["ChainStore", "Link", "MemoryChainStore", "PostgresChainStore", "SQLiteChainStore"]

Link = tuple[str, int, bytes]  # aggregate id, version, chain hash


class ChainStore(ABC):
    @abstractmethod
    def get(self, aggregate_id: str, version: int) -> bytes | None: ...

    @abstractmethod
    def put(self, links: Sequence[Link]) -> None:
        """Record links, all or none; recording the same link twice is harmless, and a link
        recorded again with another hash replaces the one kept."""

    def close(self) -> None:  # noqa: B027 - optional for backends
        """Release the connection."""


class MemoryChainStore(ChainStore):
    def __init__(self) -> None:
        self._links: dict[tuple[str, int], bytes] = {}

    def get(self, aggregate_id: str, version: int) -> bytes | None:
        return self._links.get((aggregate_id, version))

    def put(self, links: Sequence[Link]) -> None:
        for aggregate_id, version, digest in links:
            self._links[(aggregate_id, version)] = digest


class SQLiteChainStore(ChainStore):
    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS relay_chain (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, "
            "hash BLOB NOT NULL, PRIMARY KEY (aggregate_id, version)) WITHOUT ROWID"
        )

    def get(self, aggregate_id: str, version: int) -> bytes | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT hash FROM relay_chain WHERE aggregate_id = ? AND version = ?", (aggregate_id, version)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, links: Sequence[Link]) -> None:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.executemany("INSERT OR REPLACE INTO relay_chain VALUES (?, ?, ?)", links)
            except BaseException:
                # Left open, the transaction would hold the half batch and refuse the next BEGIN.
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()


class PostgresChainStore(ChainStore):
    def __init__(self, conninfo: dict[str, Any], schema: str) -> None:
        self._pg = Reconnecting(conninfo)  # outlives a server restart (topics/pg_connection.py)
        self._lock = threading.Lock()
        table = SQL("{}.relay_chain").format(Identifier(schema))
        self._connection.execute(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (aggregate_id uuid NOT NULL, version bigint NOT NULL, "
                "hash bytea NOT NULL, PRIMARY KEY (aggregate_id, version))"
            ).format(table)
        )
        self._select = (
            SQL("SELECT hash FROM {} WHERE aggregate_id = %s AND version = %s")
            .format(table)
            .as_string(self._connection)
        )
        self._insert = (
            # The latest link wins, as on SQLite: a batch whose publish was abandoned is
            # encoded and recorded again, and the topic holds that second encoding.
            SQL(
                "INSERT INTO {} VALUES (%s, %s, %s) "
                "ON CONFLICT (aggregate_id, version) DO UPDATE SET hash = excluded.hash"
            )
            .format(table)
            .as_string(self._connection)
        )

    @property
    def _connection(self) -> psycopg.Connection[Any]:
        return self._pg.connection

    def get(self, aggregate_id: str, version: int) -> bytes | None:
        with self._lock:
            row = self._connection.execute(self._select, (aggregate_id, version)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, links: Sequence[Link]) -> None:
        with self._lock:
            connection = self._connection  # one connection for the transaction and its statement
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(self._insert, links)

    def close(self) -> None:
        self._pg.close()
