"""Group commit (#18 item 5): the saves of concurrent commands committed together, in one
PostgreSQL transaction, instead of one transaction (and one flush of the WAL) each.

A command decides as before, in its own thread; its save hands the events, with the command
id it claims (ledger/command_claims.py), to GroupCommit.record and waits. The first waiter
that finds no commit under way leads: it takes every save queued so far, makes the new
aggregates' first data keys in one round trip, seals the events, and commits them in one
transaction that takes the event table's lock as the library's own insert does (so
notification ids are issued in commit order, contiguous per group, as the relay expects),
inserts the command claims, and inserts the events. Each save is answered only after the
commit that holds it, and the waiters of the next group queue meanwhile.

A save fails alone: a claim held by another request (CommandIdReused) is refused and its
events left out of the group; if the group's insert fails (another process or another save of
the group recorded the same aggregate version first: IntegrityError), the transaction rolls
back and each save of the group is committed alone, in order, so that only the ones in
conflict fail. The claims go into the transaction of their events, so a save that fails
leaves no claim behind.

While a save waits, `waiting` (set by the API to give up its node lock: services/node_lock.py)
lets other requests decide theirs: that is where the next group comes from.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    Recording,
    StoredEvent,
)
from eventsourcing.utils import retry

from ledger.command_claims import _digest
from ledger.errors import CommandIdReused
from ledger.events import command_key
from ledger.group_statements import (
    claim_statements,
    ensure_refuse_function,
    keys_statement,
    refusal_in,
    rolled_back,
)
from ledger.tier_split import tiers_of

__all__ = ["MAX_GROUP_EVENTS", "Figures", "GroupCommit", "KeyConflict"]

MAX_GROUP_EVENTS = 500  # a group's insert stays one modest statement


@dataclass(eq=False)
class _Save:
    """One save waiting for its commit: its events, the command id it claims, its outcome."""

    events: list[Any]
    claim: str | None
    stored: list[StoredEvent] = field(default_factory=list)
    keys: list[tuple[Any, bytes]] = field(default_factory=list)  # first keys stored with the events
    recordings: list[Recording[Any]] | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class Figures:
    """What the writer did: transactions committed, saves in them, the largest group."""

    groups: int = 0
    saves: int = 0
    largest: int = 0
    alone: int = 0  # saves committed one by one after their group's insert failed
    split: list[int] = field(default_factory=list)  # the last such groups' sizes
    sizes: list[int] = field(default_factory=list)  # the last groups' sizes, newest last

    def add(self, size: int) -> None:
        self.groups += 1
        self.saves += size
        self.largest = max(self.largest, size)
        self.sizes = [*self.sizes[-999:], size]


class KeyConflict(IntegrityError):
    """A first data key staged for a new aggregate exists already (made by an earlier attempt)."""


class GroupCommit:
    """The PostgreSQL write path of one LedgerApplication."""

    def __init__(self, app: Any, max_events: int = MAX_GROUP_EVENTS) -> None:
        self.app = app
        self.recorder: Any = app.recorder
        self.datastore: Any = self.recorder.datastore
        self.claims_table: str = app.claims.table
        self.max_events = max_events
        self.waiting: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        self.figures = Figures()
        self._turn = threading.Condition()
        self._queue: list[_Save] = []
        self._leading = False
        ensure_refuse_function(self.datastore)

    @staticmethod
    def usable(app: Any) -> bool:
        """Whether the application records to the library's PostgreSQL application recorder."""
        recorder = app.recorder
        return bool(getattr(app.claims, "postgres", False)) and all(
            hasattr(recorder, name) for name in ("_lock_table", "_notify_channel", "insert_events_statement")
        )

    def metrics(self, node: str) -> str:
        """The writer's figures in Prometheus' text format (the API's /metrics)."""
        f = self.figures
        return (
            "# HELP caseledger_commit_groups_total Transactions that committed commands' events.\n"
            "# TYPE caseledger_commit_groups_total counter\n"
            f'caseledger_commit_groups_total{{node="{node}"}} {f.groups}\n'
            "# HELP caseledger_commit_group_saves_total Commands' saves committed in those transactions.\n"
            "# TYPE caseledger_commit_group_saves_total counter\n"
            f'caseledger_commit_group_saves_total{{node="{node}"}} {f.saves}\n'
        )

    # ------------------------------------------------------------------ waiting

    def record(self, events: Sequence[Any], claim: str | None) -> list[Recording[Any]]:
        """Commit these events (and the claim of this command id) with whatever else is
        waiting; returns their recordings once committed, or raises this save's own error."""
        if not events:
            return []
        save = _Save(list(events), claim)
        with self.waiting():
            with self._turn:
                self._queue.append(save)
            while True:
                with self._turn:
                    while self._leading and not save.done:
                        self._turn.wait()
                    if save.done:
                        break
                    self._leading = True
                    group = self._take()
                try:
                    self._commit(group)
                finally:
                    with self._turn:
                        for each in group:
                            each.done = True
                        self._leading = False
                        self._turn.notify_all()
        if save.error is not None:
            raise save.error
        assert save.recordings is not None
        return save.recordings

    def _take(self) -> list[_Save]:
        """The saves queued first, up to max_events events (one at least)."""
        taken, count = 0, 0
        for save in self._queue:
            if taken and count + len(save.events) > self.max_events:
                break
            taken, count = taken + 1, count + len(save.events)
        group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    # ------------------------------------------------------------------ committing

    def _commit(self, group: list[_Save]) -> None:
        try:
            self._seal(group)
            sealed = [s for s in group if s.error is None]
            if sealed:
                self._settle(sealed)
        except Exception as error:  # the database is out of reach: every save of the group hears it
            for save in group:
                save.error = save.error or error
        finally:
            for save in group:
                if save.recordings is None and save.error is None:
                    save.error = RuntimeError("the group's commit was interrupted")

    def _settle(self, sealed: list[_Save]) -> None:
        """Commit the sealed saves together; if an aggregate version of one of them was
        recorded first, each alone, in order, so that only the ones in conflict fail."""
        try:
            kept = self._commit_refusing(sealed)
            if kept:
                self.figures.add(kept)
            return
        except IntegrityError as error:
            if len(sealed) == 1 and not isinstance(error, KeyConflict):
                sealed[0].error = error
                return
        self.figures.split = [*self.figures.split[-99:], len(sealed)]
        for save in sealed:
            try:
                try:
                    kept = self._commit_refusing([save])
                except KeyConflict:  # sealed again with the keys stored before
                    save.keys, save.stored = [], [self.app.mapper.to_stored_event(e) for e in save.events]
                    kept = self._commit_refusing([save])
                if kept:
                    self.figures.add(1)
                    self.figures.alone += 1
            except IntegrityError as error:
                save.error = error

    def _seal(self, group: list[_Save]) -> None:
        """The events as stored (sealed). The new aggregates' first keys are made together:
        stored in the transaction of the events when the key store is in the same database,
        else in one round trip before it."""
        keys = self.app.keys
        wanted: dict[str, set[str]] = {}
        owner: dict[str, _Save] = {}
        for save in group:
            for event in save.events:
                if event.originator_version == 1 and not isinstance(event, Snapshot):
                    wanted.setdefault(str(event.originator_id), set()).update(tiers_of(type(event).__name__))
                    owner.setdefault(str(event.originator_id), save)
        staged: dict[tuple[str, str], tuple[str, bytes]] = {}
        if wanted and self._keys_in_transaction:
            for row, key in keys.stage_first_keys(wanted):
                owner[row.aggregate_id].keys.append((row, key))
                staged[(row.aggregate_id, row.tier)] = (row.key_id, key)
        elif wanted and hasattr(keys, "make_first_keys"):
            keys.make_first_keys(wanted)
        to_stored = self.app.mapper.to_stored_event
        for save in group:
            try:
                save.stored = [to_stored(event, staged) for event in save.events]
            except Exception as error:  # this save alone: the others are sealed
                save.error = error

    @property
    def _keys_in_transaction(self) -> bool:
        keys, env = self.app.keys, self.app.env
        if not hasattr(keys, "insert_staged"):
            return False
        here = (env.get("POSTGRES_DBNAME"), env.get("POSTGRES_HOST"), str(env.get("POSTGRES_PORT")))
        there = keys.conninfo
        return here == (there.get("dbname"), there.get("host"), str(there.get("port")))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _together(self, saves: list[_Save]) -> int:
        """One transaction: the table's lock, the claims, the keys, the events; IntegrityError
        if one of the events' aggregate versions is recorded already. A save whose command id
        another request holds is refused and the rest committed without it. Returns how many
        saves it committed."""
        for save in saves:
            save.error = None
        failed: Exception | None = None
        # One round trip whatever the group's size: BEGIN, every statement and COMMIT sent
        # together (ledger/group_statements.py); a refusal rolls the transaction back.
        # The server answers an error as soon as it meets it, so a refusal may surface from
        # any statement's send, and the pipeline's exit then raises PipelineAborted for the
        # statements it skipped: the refusal is caught around the pipeline, not inside it.
        with self.datastore.get_connection() as connection:
            try:
                with connection.pipeline() as pipeline:
                    ids = self._statements(connection, pipeline, saves)
            except Exception as error:
                failed = error
            if failed is not None:
                rolled_back(connection)
                raise self._refused(failed, saves)
        for save in saves:
            if save.keys:
                self.app.keys.adopt_first_keys(save.keys)
        position = 0
        for save in saves:
            save.recordings = [
                Recording(
                    event,
                    Notification(
                        originator_id=s.originator_id,
                        originator_version=s.originator_version,
                        topic=s.topic,
                        state=s.state,
                        id=n,
                    ),
                )
                for event, s, n in zip(
                    save.events, save.stored, ids[position : position + len(save.stored)], strict=True
                )
            ]
            position += len(save.stored)
        return len(saves)

    def _commit_refusing(self, saves: list[_Save]) -> int:
        """_together, the saves whose command id another request holds refused (CommandIdReused)."""
        try:
            return int(self._together(saves))
        except _Refused as refusal:
            for save, error in refusal.refused.items():
                save.error = error
            rest = [s for s in saves if s not in refusal.refused]
            return self._commit_refusing(rest) if rest else 0

    def _statements(self, connection: Any, pipeline: Any, saves: list[_Save]) -> list[int]:
        """The transaction's statements, sent together with its BEGIN and COMMIT; the events'
        notification ids."""
        stored = [event for s in saves for event in s.stored]
        staged = {row.key_id: row for save in saves for row, _ in save.keys}
        claiming = [(command_key(s.claim), _digest(s.claim)) for s in saves if s.claim]
        with connection.cursor() as cursor, connection.cursor() as events:
            cursor.execute("BEGIN")
            self.recorder._lock_table(cursor)  # notification ids in commit order, as the library's
            if claiming:
                keys, digests = [k for k, _ in claiming], [d for _, d in claiming]
                for statement in claim_statements(self.datastore, self.claims_table, keys, digests):
                    cursor.execute(*statement)
            if staged:
                insert = self.app.keys.insert_staged(list(staged.values()))
                cursor.execute(*keys_statement(self.datastore, connection, insert, len(staged)))
            self.recorder._notify_channel(cursor)
            rows = [
                self.recorder.construct_pg_stored_event(
                    e.originator_id, e.originator_version, e.topic, e.state
                )
                for e in stored
            ]
            events.execute(self.recorder.insert_events_statement, (rows,))
            cursor.execute("COMMIT")
            pipeline.sync()
            return [row["notification_id"] for row in events.fetchall()]

    def _refused(self, error: Exception, saves: list[_Save]) -> Exception:
        """The error a failed transaction raises: _Refused naming the saves whose claims
        another request holds, KeyConflict, or the error itself."""
        found = refusal_in(error)
        if found is None:
            return error
        if found.what == "keys":
            return KeyConflict("a first data key of a new aggregate exists already")
        claiming = [s for s in saves if s.claim]
        return _Refused(
            {claiming[p]: CommandIdReused(command_key(claiming[p].claim or "")) for p in found.positions}
        )


class _Refused(Exception):
    """Saves whose command id another request holds: the transaction is rolled back and made
    again without them (rare: the claims were checked when the commands were decided)."""

    def __init__(self, refused: dict[_Save, CommandIdReused]) -> None:
        super().__init__(f"{len(refused)} command ids held by other requests")
        self.refused = refused
