"""What every ledger event carries: who recorded it, when it happened, for which purpose, and
the client's command id (so a retried command never records twice)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate


class LedgerAggregate(Aggregate):
    """An aggregate that remembers the command ids it has applied."""

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        command_ids: set[str]

    def already_applied(self, command_id: str) -> bool:
        return command_id in self.command_ids


class Recorded(LedgerAggregate.Event):
    """Base of every non-creating event: the envelope fields, then the event's own."""

    command_id: str
    occurred_at: datetime
    recorded_by: dict[str, str]
    purpose: str

    def apply(self, aggregate: Any) -> None:
        aggregate.command_ids.add(self.command_id)
        self.evolve(aggregate)

    def evolve(self, aggregate: Any) -> None:
        """How the event changes its aggregate's state (decided already; never refuses)."""


ENVELOPE_KEYS = ("command_id", "occurred_at", "recorded_by", "purpose")
