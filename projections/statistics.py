"""Monthly situational statistics (#6): counts of reported cases by month reported, country
last seen and sex, from the public tier only. A cell under 5 is suppressed: so small a count
can point at a person."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from projections.views import JurisdictionViews

SMALLEST_CELL = 5


@dataclass(frozen=True)
class Cell:
    month: str  # YYYY-MM, when the case was reported
    last_seen_country: str
    sex: str
    cases: int | None  # None: suppressed (fewer than SMALLEST_CELL)

    @property
    def shown(self) -> str:
        return str(self.cases) if self.cases is not None else f"<{SMALLEST_CELL}"


def monthly(views: JurisdictionViews) -> list[Cell]:
    """Every (month, country last seen, sex) cell, in order; small cells suppressed."""
    counts = Counter(
        (row.reported_at.strftime("%Y-%m"), row.last_seen_country, row.sex) for row in views.cases()
    )
    return [
        Cell(month, country, sex, n if n >= SMALLEST_CELL else None)
        for (month, country, sex), n in sorted(counts.items())
    ]
