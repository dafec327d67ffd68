"""Match: a proposed identification of remains as a missing person, and its review."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.errors import RuleBroken
from ledger.events import LedgerAggregate, Recorded
from ledger.vocabulary import PRIMARY_IDENTIFIERS

__all__ = ["Match", "match_id_for"]


def match_id_for(origin: str, command_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"caseledger:match:{origin}:{command_id}")


class Match(LedgerAggregate):
    """Proposed by a person or the matcher; confirmed, rejected or sent back for more evidence."""

    class MatchProposed(LedgerAggregate.Created):
        """From v2 with the matcher's explanation: each comparison, its outcome and weight."""

        class_version = 2
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
        explanation: list[dict[str, Any]] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 carried no explanation: a person's proposal, or the matcher's before it gave one."""
            state.setdefault("explanation", None)

        def apply(self, aggregate: Any) -> None:
            aggregate.origin = self.origin
            aggregate.case_id = self.case_id
            aggregate.remains_id = self.remains_id
            aggregate.outcome = None
            aggregate.basis = self.basis
            aggregate.proposed_by = dict(self.recorded_by)
            aggregate.confirmed_by = []
            aggregate.command_ids = {self.command_id}

    class MatchReviewed(Recorded):
        outcome: str
        notes: str | None

        def evolve(self, match: Any) -> None:
            match.outcome = self.outcome
            if self.outcome == "confirmed":
                match.confirmed_by = [*getattr(match, "confirmed_by", []), self.recorded_by["organisation"]]

    class MatchRevised(Recorded):
        """A confirmed match taken back (new evidence, an error found): the identification it
        supported is reopened, and the person is missing again, never presumed dead."""

        reason: str

        def evolve(self, match: Any) -> None:
            match.outcome = "revised"

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        origin: str
        case_id: str
        remains_id: str
        outcome: str | None

    @property
    def confirmed(self) -> bool:
        return self.outcome == "confirmed"

    @property
    def confirmations(self) -> list[str]:
        """The organisations that confirmed the match (snapshots taken before: none known)."""
        return list(getattr(self, "confirmed_by", []))

    @property
    def on_primary_identifier(self) -> bool:
        return getattr(self, "basis", None) in PRIMARY_IDENTIFIERS

    @property
    def identifies(self) -> bool:
        """Confirmed on a primary identifier (DNA, fingerprints, dental), or by two reviewers:
        two organisations' confirming reviews."""
        return self.confirmed and (self.on_primary_identifier or len(set(self.confirmations)) >= 2)

    def review(self, envelope: dict[str, Any], outcome: str, notes: str | None) -> None:
        """The organisation that proposed the match never confirms it; a match on a secondary
        basis stays open, once confirmed, for a second organisation's review."""
        reviewer = envelope["recorded_by"]["organisation"]
        awaiting_second = self.confirmed and not self.identifies
        if self.outcome in ("confirmed", "rejected", "revised") and not awaiting_second:
            raise RuleBroken("review", f"the match was already {self.outcome}; propose a new match instead")
        if outcome == "confirmed":
            proposer = (getattr(self, "proposed_by", None) or {}).get("organisation")
            if reviewer == proposer:
                raise RuleBroken(
                    "recorded_by.organisation",
                    "the organisation that proposed the match cannot confirm it; another one reviews it",
                )
            if reviewer in self.confirmations:
                raise RuleBroken(
                    "recorded_by.organisation",
                    "this organisation confirmed the match already; a second reviewer is another one",
                )
        self.trigger_event(self.MatchReviewed, **envelope, outcome=outcome, notes=notes)

    def revise(self, envelope: dict[str, Any], reason: str) -> None:
        if not self.confirmed:
            raise RuleBroken(
                "match_id", f"only a confirmed match is revised; this one is {self.outcome or 'not reviewed'}"
            )
        self.trigger_event(self.MatchRevised, **envelope, reason=reason)
