"""A bulk import's round trips to PostgreSQL (ledger/import_batch.py): the new events in by
binary COPY, with the first data keys sealed ahead for them (ledger/import_ahead.py) in the
same transaction when the key store is in the same database; and, before that, which records
exist and who holds their command ids, asked together in one round trip.

The keys used to go in by an INSERT of their own, in the key store's own transaction: its
commit (a flush of the WAL) and round trips cost the process that saves more than the events'
COPY (bench/import.py). In the events' transaction a key that exists already (made by another
process, or by a run killed between its keys and its events) fails the COPY, the whole
transaction rolls back, and the caller inserts the keys apart, leaving out those that exist
(ImportBatch._save_sealed), as before: nothing is recorded twice, nothing half.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ledger.import_ahead import StoredRow
from ledger.keystore import KeyRow

__all__ = ["copy_events", "existing_and_held", "keys_in_database"]

_KEY_TYPES = ["text", "text", "text", "int4", "bytea"]


def keys_in_database(ledger: Any) -> bool:
    """Whether the ledger's key store is a PostgreSQL one in the event store's own database."""
    keys, env = ledger.keys, getattr(ledger, "env", None) or {}
    if not hasattr(keys, "copy_statement"):
        return False
    here = (env.get("POSTGRES_DBNAME"), env.get("POSTGRES_HOST"), str(env.get("POSTGRES_PORT")))
    there = keys.conninfo
    return here == (there.get("dbname"), there.get("host"), str(there.get("port")))


def copy_events(ledger: Any, rows: Sequence[StoredRow], key_rows: Sequence[KeyRow] = ()) -> None:
    """The stored rows in by binary COPY, in one transaction that takes the library's own
    table lock and notification first, so notification ids commit in order, with their first
    keys copied before them (keys_in_database must hold); IntegrityError, and nothing
    written, if one of the events or keys is there already."""
    recorder: Any = ledger.recorder
    datastore: Any = recorder.datastore
    statement = (
        f'COPY "{datastore.schema}"."{recorder.events_table_name}" '
        "(originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
    )
    with datastore.transaction(commit=True) as cursor:
        recorder._lock_table(cursor)  # notification ids commit in order, as the library's
        recorder._notify_channel(cursor)
        if key_rows:
            with cursor.copy(ledger.keys.copy_statement()) as copy:
                copy.set_types(_KEY_TYPES)
                for key_row in key_rows:
                    copy.write_row(key_row)
        with cursor.copy(statement) as copy:
            copy.set_types([datastore.originator_id_type, "int8", "text", "bytea"])
            for row in rows:
                copy.write_row(row)


def existing_and_held(
    ledger: Any, ids: Sequence[UUID], command_ids: Sequence[str]
) -> tuple[set[UUID], dict[str, str]]:
    """Which of these aggregates the event store holds (their first event), and the digest
    each of these command ids is claimed with (CommandClaims._held_many): both queries sent
    together, in one round trip, on PostgreSQL."""
    recorder: Any = ledger.recorder
    datastore: Any = recorder.datastore
    events = f'"{datastore.schema}"."{recorder.events_table_name}"'
    keys = sorted(set(command_ids))
    with (
        datastore.get_connection() as connection,
        connection.pipeline(),
        connection.cursor() as found,
        connection.cursor() as held,
    ):
        # The ids as one text: psycopg dumps a list of UUIDs element by element in Python.
        found.execute(
            f"SELECT originator_id FROM {events} "
            "WHERE originator_id = ANY(%s::uuid[]) AND originator_version = 1",
            ("{" + ",".join(map(str, ids)) + "}",),
        )
        held.execute(
            f"SELECT command_id, digest FROM {ledger.claims.table} WHERE command_id = ANY(%s)",
            (keys,),
        )
        existing = {UUID(str(row["originator_id"])) for row in found.fetchall()}
        claims = {str(row["command_id"]): str(row["digest"]) for row in held.fetchall()}
    return existing, claims
