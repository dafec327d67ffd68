"""Which tiers of a case a jurisdiction's views may show.

With access rules loaded (ledger/access_rules.py), a jurisdiction's node reads what its
agreements grant for the purpose of search; without them, it reads the public tier of
every origin and the higher tiers only of its own cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Protocol

from ledger.access_rules import AccessRules

__all__ = ["AccessPolicy", "OwnCasesOnly", "RulesPolicy"]


class AccessPolicy(Protocol):
    def may_read(
        self, jurisdiction: str, origin: str, tier: str, *, nationalities: Sequence[str], minor: bool
    ) -> bool: ...


class OwnCasesOnly:
    """Public tier of every origin; other tiers only for the jurisdiction's own cases."""

    def may_read(
        self, jurisdiction: str, origin: str, tier: str, *, nationalities: Sequence[str], minor: bool
    ) -> bool:
        return tier == "public" or jurisdiction == origin


class RulesPolicy:
    """What the rules grant the jurisdiction's node, for a purpose, on the day of reading."""

    def __init__(
        self,
        rules: AccessRules,
        purpose: str = "search",
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.rules, self.purpose, self.today = rules, purpose, today

    def may_read(
        self, jurisdiction: str, origin: str, tier: str, *, nationalities: Sequence[str], minor: bool
    ) -> bool:
        return bool(
            self.rules.decide(
                jurisdiction,
                origin,
                tier,
                self.purpose,
                nationalities=nationalities,
                minor=minor,
                on=self.today(),
            )
        )
