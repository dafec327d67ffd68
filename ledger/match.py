"""Match: a proposed identification of remains as a missing person, and its review."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.errors import RuleBroken
from ledger.events import LedgerAggregate, Recorded


def match_id_for(origin: str, command_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"caseledger:match:{origin}:{command_id}")


class Match(LedgerAggregate):
    """Proposed by a person or the matcher; confirmed, rejected or sent back for more evidence."""

    class MatchProposed(LedgerAggregate.Created):
        origin: str
        command_id: str
        occurred_at: datetime
        recorded_by: dict[str, str]
        purpose: str
        case_id: str
        remains_id: str
        basis: str
        score: float
        by_matcher: bool

        def apply(self, aggregate: Any) -> None:
            aggregate.origin = self.origin
            aggregate.case_id = self.case_id
            aggregate.remains_id = self.remains_id
            aggregate.outcome = None
            aggregate.command_ids = {self.command_id}

    class MatchReviewed(Recorded):
        outcome: str
        notes: str | None

        def evolve(self, match: Any) -> None:
            match.outcome = self.outcome

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        origin: str
        case_id: str
        remains_id: str
        outcome: str | None

    @property
    def confirmed(self) -> bool:
        return self.outcome == "confirmed"

    def review(self, envelope: dict[str, Any], outcome: str, notes: str | None) -> None:
        if self.outcome in ("confirmed", "rejected"):
            raise RuleBroken("review", f"the match was already {self.outcome}; propose a new match instead")
        self.trigger_event(self.MatchReviewed, **envelope, outcome=outcome, notes=notes)
