"""Which request each command id was first used for, node-wide (issue 12, item 6).

An aggregate remembers the command ids it applied (ledger/events.py), which tells a retry from
a reused id on the same record only. A client id reused for another record or another kind of
command would reach an aggregate that never saw it and be recorded as new. So each command id
is claimed, with the keyed digest of its request, in the ledger's own database before its
events are saved: a later claim with another digest is refused, naming the id. A claim is taken
only once the aggregate decided (a refused request leaves its id free) and is given back if the
save fails. Ids and keyed digests are public already (the envelope); nothing personal is kept.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ledger.errors import CommandIdReused
from ledger.events import command_key

__all__ = ["TABLE", "CommandClaims"]

TABLE = "caseledger_command_claims"


def _digest(stored: str) -> str:
    key = command_key(stored)
    return stored[len(key) + 1 :] if stored != key else ""


class CommandClaims:
    """The claims of one ledger, in the database its events are recorded in (SQLite,
    PostgreSQL) or in memory for a throwaway ledger."""

    def __init__(self, recorder: Any) -> None:
        datastore: Any = getattr(recorder, "datastore", None)
        self.datastore: Any = datastore
        self.postgres = hasattr(self.datastore, "schema")
        self.sqlite = not self.postgres and hasattr(self.datastore, "transaction")
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()
        self._batch = threading.local()  # this thread's prefetched claims (known())
        # Around check()'s read: the API gives its node lock up there (services/node_lock.py);
        # the command has decided nothing yet, so it is as if it took the lock after the read.
        self.waiting: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        if self.postgres:
            self.table = f'"{self.datastore.schema}"."{TABLE}"' if self.datastore.schema else TABLE
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} "
                    "(command_id text PRIMARY KEY, digest text NOT NULL)"
                )
        elif self.sqlite:
            self.table = TABLE
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (command_id TEXT PRIMARY KEY, digest TEXT NOT NULL)"
                )

    @contextlib.contextmanager
    def claimed(self, stored_command_id: str) -> Iterator[None]:
        """Claim the command id for this request (CommandIdReused if another request holds it)
        while the block saves; give the claim back if the block fails."""
        key, digest = command_key(stored_command_id), _digest(stored_command_id)
        fresh = self._claim(key, digest)
        try:
            yield
        except BaseException:
            if fresh:
                self._release(key)
            raise

    @contextlib.contextmanager
    def known(self, command_ids: Iterable[str], held: dict[str, str] | None = None) -> Iterator[None]:
        """Within the block, this thread's check() of these command ids reads the claims they
        had when it began, fetched in one query (a bulk import's batch), not one query each;
        held: those claims, fetched already by the caller (ledger/import_postgres.py)."""
        keys = sorted(set(command_ids))
        self._batch.held = (set(keys), self._held_many(keys) if held is None else held)
        try:
            yield
        finally:
            self._batch.held = None

    def check(self, stored_command_id: str) -> None:
        """CommandIdReused if another request holds this command id, so that a reused id is
        refused whatever the request would have met: read before anything is decided, or, for
        the commands that claim in their save's transaction (reports, case commands), once
        something else refused them (LedgerApplication.claims_first)."""
        key, digest = command_key(stored_command_id), _digest(stored_command_id)
        prefetched = getattr(self._batch, "held", None)
        if prefetched and key in prefetched[0]:
            held = prefetched[1].get(key)
        else:
            with self.waiting():
                held = self._held(key)
        if held and digest and held != digest:
            raise CommandIdReused(key)

    def _held(self, key: str) -> str | None:
        if self.postgres:  # one round trip: the pool's connections are in autocommit
            with self.datastore.get_connection() as connection:
                sql = f"SELECT digest FROM {self.table} WHERE command_id = %s"
                row = connection.execute(sql, (key,), prepare=True).fetchone()
                return None if row is None else str(row["digest"] if isinstance(row, dict) else row[0])
        if self.sqlite:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(f"SELECT digest FROM {TABLE} WHERE command_id = ?", (key,))
                row = cursor.fetchone()
                return None if row is None else str(row[0])
        with self._lock:
            return self._memory.get(key)

    def _held_many(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        if self.postgres:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT command_id, digest FROM {self.table} WHERE command_id = ANY(%s)", (keys,)
                )
                rows = cursor.fetchall()
            return {
                str(r["command_id"] if isinstance(r, dict) else r[0]): str(
                    r["digest"] if isinstance(r, dict) else r[1]
                )
                for r in rows
            }
        if self.sqlite:
            found: dict[str, str] = {}
            with self.datastore.transaction(commit=False) as cursor:
                for start in range(0, len(keys), 500):  # under SQLite's limit of parameters
                    part = keys[start : start + 500]
                    marks = ",".join("?" * len(part))
                    cursor.execute(
                        f"SELECT command_id, digest FROM {TABLE} WHERE command_id IN ({marks})", part
                    )
                    found.update({str(r[0]): str(r[1]) for r in cursor.fetchall()})
            return found
        with self._lock:
            return {k: self._memory[k] for k in keys if k in self._memory}

    def _claim(self, key: str, digest: str) -> bool:
        """True if this call took the claim; False if this very request held it already."""
        if self.postgres:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"INSERT INTO {self.table} (command_id, digest) VALUES (%s, %s) "
                    "ON CONFLICT (command_id) DO NOTHING RETURNING digest",
                    (key, digest),
                )
                if cursor.fetchone() is not None:
                    return True
                cursor.execute(f"SELECT digest FROM {self.table} WHERE command_id = %s", (key,))
                row = cursor.fetchone()
                held = row["digest"] if isinstance(row, dict) else row[0]
        elif self.sqlite:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"INSERT INTO {TABLE} (command_id, digest) VALUES (?, ?) "
                    "ON CONFLICT (command_id) DO NOTHING RETURNING digest",
                    (key, digest),
                )
                if cursor.fetchone() is not None:
                    return True
                cursor.execute(f"SELECT digest FROM {TABLE} WHERE command_id = ?", (key,))
                held = cursor.fetchone()[0]
        else:
            with self._lock:
                if key not in self._memory:
                    self._memory[key] = digest
                    return True
                held = self._memory[key]
        if held != digest and held and digest:
            raise CommandIdReused(key)
        return False

    def _release(self, key: str) -> None:
        if self.postgres:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(f"DELETE FROM {self.table} WHERE command_id = %s", (key,))
        elif self.sqlite:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(f"DELETE FROM {TABLE} WHERE command_id = ?", (key,))
        else:
            with self._lock:
                self._memory.pop(key, None)
