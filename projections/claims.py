"""The partitions a process projects as one member of a jurisdiction's projection group.

A process claims the partitions the group gives it, reading their positions from the views'
tracking rows. From then on a batch commits a claimed partition's position only if the row
still holds the position this process read or last wrote (compare-and-set, in the batch's
transaction): a process that lost a partition, and has not heard yet, cannot commit it once
its successor has, and a batch always covers exactly the records after the stored position.
Nor may it publish a dead letter (projections/projector.py): a record it finds out of chain
order may be one its successor applied meanwhile, so the claim is checked first (check()).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier

__all__ = ["Claims", "PartitionTaken"]


class PartitionTaken(Exception):
    """Another process moved a claimed partition's position: this batch is not written."""


class Claims:
    """The claimed partitions of one views schema, by tracking row name, with the position
    this process expects each row to hold."""

    def __init__(self, schema: Identifier) -> None:
        self._expected: dict[str, int] = {}
        # A group member's batch waits at most 5 s for a row another process holds, and holds
        # its own no longer than 10 s idle or 30 s in one statement (a COPY waits for its
        # client's rows): a member stopped mid-batch (SIGSTOP, a paused VM) loses its transaction
        # instead of stalling the others, whose batches all touch a few shared rows (the change
        # counter, the key grants' positions). One statement each: a pipelined batch
        # (projections/postgres_views.py) sends no string of several.
        self.bounded = tuple(
            SQL(f"SET LOCAL {setting}")
            for setting in (
                "lock_timeout = '5s'",
                "idle_in_transaction_session_timeout = '10s'",
                "statement_timeout = '30s'",
            )
        )
        # A partition never written has no row, or one at 0.
        self._first = SQL(
            "INSERT INTO {0}.tracking AS t VALUES (%(name)s, %(next)s) ON CONFLICT (application_name) "
            "DO UPDATE SET notification_id = excluded.notification_id WHERE t.notification_id = 0 "
            "RETURNING t.notification_id"
        ).format(schema)
        self._next = SQL(
            "UPDATE {0}.tracking SET notification_id = %(next)s "
            "WHERE application_name = %(name)s AND notification_id = %(expected)s RETURNING notification_id"
        ).format(schema)

    def hold(self, positions: Mapping[str, int]) -> None:
        self._expected.update(positions)

    def drop(self, names: Sequence[str]) -> None:
        for name in names:
            self._expected.pop(name, None)

    def __bool__(self) -> bool:
        """Whether this process holds any partition (it is a member of a projection group)."""
        return bool(self._expected)

    def held(self, name: str) -> bool:
        return name in self._expected

    def write(self, cursor: Any, tracking: Tracking) -> None:
        """Move a claimed position inside the batch's transaction, or raise PartitionTaken."""
        name, expected = tracking.application_name, self._expected[tracking.application_name]
        statement = self._first if expected == 0 else self._next
        cursor.execute(statement, {"name": name, "next": tracking.notification_id, "expected": expected})
        if cursor.fetchone() is None:
            raise PartitionTaken(
                f"{name}: another process moved its position from {expected}; this batch is not written"
            )

    def check(self, stored: Mapping[str, int]) -> None:
        """Raise PartitionTaken if a claimed row no longer holds the position this process
        expects (stored: the rows' positions now): another process has committed it since."""
        for name, position in stored.items():
            expected = self._expected.get(name)
            if expected is not None and position != expected:
                raise PartitionTaken(
                    f"{name}: another process moved its position from {expected}; this batch is not written"
                )

    def committed(self, trackings: Sequence[Tracking]) -> None:
        """The batch committed: its positions are what the rows hold now."""
        for tracking in trackings:
            if tracking.application_name in self._expected:
                self._expected[tracking.application_name] = tracking.notification_id
