"""Writing restored events into an empty event store (#18) under the notification ids they
had: the relay finds where it stopped from the highest id on the topic, so a new event must
get an id above every restored one, and followers read the same order as before. The
library's recorders number events themselves, so this writes their table directly, in one
transaction with the command claims the events' command ids make (ledger/command_claims.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.command_claims import TABLE as CLAIMS
from ledger.errors import LedgerError
from ledger.events import command_key

__all__ = ["Row", "StoreNotEmpty", "insert_restored", "restoring"]


class StoreNotEmpty(LedgerError):
    """A restore writes into an empty event store only."""


def _claims(stored: Sequence[tuple[int, StoredEvent, str]]) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for _, _, command_id in stored:
        if command_id:
            key = command_key(command_id)
            found.setdefault(key, command_id[len(key) + 1 :] if command_id != key else "")
    return list(found.items())


Row = tuple[int, StoredEvent, str]  # notification id, stored event, its command id as recorded


@contextlib.contextmanager
def restoring(recorder: Any, after: int = 0) -> Iterator[Callable[[Sequence[Row]], None]]:
    """One transaction into which restored events are inserted batch by batch (any order of
    notification ids, all above `after`, the highest id the store holds now: 0 when empty);
    it commits when the block ends and writes nothing if the block raises."""
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
    postgres = hasattr(datastore, "schema")
    events = f'"{datastore.schema}"."{table}"' if postgres else table
    claims = f'"{datastore.schema}"."{CLAIMS}"' if postgres else CLAIMS
    mark = "%s" if postgres else "?"
    highest = after
    with datastore.transaction(commit=True) as cursor:

        def insert(rows: Sequence[Row]) -> None:
            nonlocal highest
            if not rows:
                return
            if min(n for n, _, _ in rows) <= after:
                raise StoreNotEmpty(
                    f"restore: notification {min(n for n, _, _ in rows)} is in the store already"
                )
            column = "notification_id" if postgres else "rowid"  # SQLite: the rowid is the id
            cursor.executemany(
                f"INSERT INTO {events} ({column}, originator_id, originator_version, topic, state) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
                [
                    (n, _originator(s.originator_id, postgres), s.originator_version, s.topic, s.state)
                    for n, s, _ in rows
                ],
            )
            cursor.executemany(
                f"INSERT INTO {claims} (command_id, digest) VALUES ({mark}, {mark}) "
                "ON CONFLICT (command_id) DO NOTHING",
                _claims(rows),
            )
            highest = max(highest, *(n for n, _, _ in rows))

        yield insert
        if postgres and highest > after:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)", (events, highest)
            )


def _originator(originator_id: Any, postgres: bool) -> Any:
    """As the library's recorder stores it: a UUID in PostgreSQL, its hex digits in SQLite."""
    return originator_id if postgres or not isinstance(originator_id, UUID) else originator_id.hex


def insert_restored(recorder: Any, stored: Sequence[Row], after: int = 0) -> None:
    """The restored events, in one transaction (restoring())."""
    with restoring(recorder, after) as insert:
        insert(stored)
