"""What every ledger event carries: who recorded it, when it happened, for which purpose, and
the client's command id (so a retried command never records twice)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from ledger.errors import CommandIdReused

__all__ = ["DIGEST_LENGTH", "ENVELOPE_KEYS", "LedgerAggregate", "Recorded", "command_key", "with_digest"]

DIGEST_LENGTH = 16
_HEX = frozenset("0123456789abcdef")


def with_digest(command_id: str, digest: str) -> str:
    """The command id as events store it: the client's id, then a keyed digest of what the
    command asked (so a reused id with another request is told apart from a retry)."""
    return f"{command_id}#{digest}"


def command_key(stored: str) -> str:
    """The client's own command id, less the digest with_digest added."""
    key, separator, digest = stored.rpartition("#")
    if separator and len(digest) == DIGEST_LENGTH and set(digest) <= _HEX:
        return key
    return stored


class LedgerAggregate(Aggregate):
    """An aggregate that remembers the command ids it has applied."""

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        command_ids: set[str]

    def already_applied(self, command_id: str) -> bool:
        """True if this very command (id and content) was recorded; CommandIdReused if its id
        was recorded with a different request. An id recorded before digests were kept counts
        as this command."""
        if command_id in self.command_ids:
            return True
        key = command_key(command_id)
        if key in self.command_ids:
            return True
        prefix = f"{key}#"
        if any(c.startswith(prefix) and command_key(c) == key for c in self.command_ids):
            raise CommandIdReused(key)
        return False


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
