"""Writing restored events into an empty event store (#18) under the notification ids they
had: the relay finds where it stopped from the highest id on the topic, so a new event must
get an id above every restored one, and followers read the same order as before. The
library's recorders number events themselves, so this writes their table directly, in one
transaction with the command claims the events' command ids make (ledger/command_claims.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger.command_claims import TABLE as CLAIMS
from ledger.errors import LedgerError
from ledger.events import command_key


class StoreNotEmpty(LedgerError):
    """A restore writes into an empty event store only."""


def _claims(stored: Sequence[tuple[int, StoredEvent, str]]) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for _, _, command_id in stored:
        if command_id:
            key = command_key(command_id)
            found.setdefault(key, command_id[len(key) + 1 :] if command_id != key else "")
    return list(found.items())


def insert_restored(recorder: Any, stored: Sequence[tuple[int, StoredEvent, str]], after: int = 0) -> None:
    """stored: (notification id, stored event, its command id as recorded) in id order, all
    above `after`, the highest id the store must hold now (0: it must be empty)."""
    datastore: Any = getattr(recorder, "datastore", None)
    table = getattr(recorder, "events_table_name", None)
    if datastore is None or table is None:
        raise StoreNotEmpty(
            "restore: this event store keeps nothing on disk (memory): nothing to restore into"
        )
    if (recorder.max_notification_id() or 0) != after:
        raise StoreNotEmpty(
            "restore: the node's event store changed while it was being restored; "
            "stop the node's other processes and run the restore again"
        )
    if stored and stored[0][0] <= after:
        raise StoreNotEmpty(f"restore: notification {stored[0][0]} is in the store already")
    claims = _claims(stored)
    if hasattr(datastore, "schema"):  # PostgreSQL
        qualified = f'"{datastore.schema}"."{table}"'
        with datastore.transaction(commit=True) as cursor:
            cursor.executemany(
                f"INSERT INTO {qualified} (notification_id, originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(n, s.originator_id, s.originator_version, s.topic, s.state) for n, s, _ in stored],
            )
            if stored:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                    (qualified, stored[-1][0]),
                )
            cursor.executemany(
                f'INSERT INTO "{datastore.schema}"."{CLAIMS}" (command_id, digest) VALUES (%s, %s) '
                "ON CONFLICT (command_id) DO NOTHING",
                claims,
            )
        return
    with datastore.transaction(commit=True) as cursor:  # SQLite: the rowid is the notification id
        for n, s, _ in stored:
            originator = s.originator_id.hex if hasattr(s.originator_id, "hex") else s.originator_id
            cursor.execute(
                f"INSERT INTO {table} (rowid, originator_id, originator_version, topic, state) "
                "VALUES (?, ?, ?, ?, ?)",
                (n, originator, s.originator_version, s.topic, s.state),
            )
        for key, digest in claims:
            cursor.execute(
                f"INSERT INTO {CLAIMS} (command_id, digest) VALUES (?, ?) "
                "ON CONFLICT (command_id) DO NOTHING",
                (key, digest),
            )
