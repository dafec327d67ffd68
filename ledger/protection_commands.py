"""Commands that protect the people a case is about (ledger/protection.py): a best-interests
decision on a located minor's whereabouts, and withholding a case from the country a
refugee fled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger import validation as v
from ledger.commands import CaseCommand
from ledger.errors import InvalidField
from ledger.vocabulary import BEST_INTERESTS_DECISIONS, BEST_INTERESTS_ROLES

__all__ = ["DetermineBestInterests", "WithholdSharing"]


@dataclass(frozen=True, kw_only=True)
class DetermineBestInterests(CaseCommand):
    """A child-protection officer's decision, in a located minor's best interests, on sharing
    their whereabouts with the family; without one, they are not shared."""

    decision: str
    reason: str
    decided_by: str

    def checked(self, today: date) -> dict[str, Any]:
        if self.recorded_by.role not in BEST_INTERESTS_ROLES:
            raise InvalidField(
                "recorded_by.role",
                f"a best-interests decision is made by a {', '.join(BEST_INTERESTS_ROLES)}",
            )
        return {
            "decision": v.choice("decision", self.decision, BEST_INTERESTS_DECISIONS),
            "reason": v.required_text("reason", self.reason, max_length=1000),
            "decided_by": v.required_text("decided_by", self.decided_by, max_length=200),
        }


@dataclass(frozen=True, kw_only=True)
class WithholdSharing(CaseCommand):
    """Withhold the case from countries from now on (the country an asylum seeker or refugee
    fled): their nodes, organisations and consulates receive nothing of it."""

    countries: tuple[str, ...]
    reason: str

    def checked(self, today: date) -> dict[str, Any]:
        return {
            "countries": list(v.countries("countries", self.countries)),
            "reason": v.required_text("reason", self.reason, max_length=1000),
        }
