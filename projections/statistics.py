"""Situational statistics (#6, #16 item 3): counts of missing persons by the month they went
missing (and of remains by the month they were recovered), with the month a case was reported
as a second view; by country, sex, nationality, route and status too. A cell under 5 is
suppressed: so small a count can point at a person.

The month someone went missing is in the common tier: where these views cannot read it (a
minor's case, one shared without consent for the views' purpose) the case counts under
UNKNOWN_MONTH rather than under the month it was reported, which would be another figure.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from projections.views import CaseRow, ForensicRow, JurisdictionViews

__all__ = [
    "CASE_DIMENSIONS",
    "SMALLEST_CELL",
    "UNKNOWN",
    "UNKNOWN_MONTH",
    "VIEWS",
    "Cell",
    "Count",
    "monthly",
    "remains_monthly",
    "shown",
    "suppressed",
    "tally",
]

SMALLEST_CELL = 5
UNKNOWN_MONTH = "unknown"  # the month is above what these views may read
UNKNOWN = "unknown"

# What a case can be counted by: each gives the values a case counts under (a person of two
# nationalities counts once under each, so a table by nationality may sum past the cases).
CASE_DIMENSIONS: Mapping[str, Callable[[CaseRow], Sequence[str]]] = {
    "month_missing": lambda r: [r.last_seen_month or UNKNOWN_MONTH],
    "month_reported": lambda r: [r.reported_at.strftime("%Y-%m")],
    "last_seen_country": lambda r: [r.last_seen_country],
    "sex": lambda r: [r.sex],
    "nationality": lambda r: list(r.nationalities) or [UNKNOWN],
    "route": lambda r: [r.route or UNKNOWN],
    "status": lambda r: [r.status],
}
VIEWS = {"missing": "month_missing", "reported": "month_reported"}


@dataclass(frozen=True)
class Cell:
    month: str  # YYYY-MM: when the person went missing (or was reported: Cell.by), or "unknown"
    last_seen_country: str
    sex: str
    cases: int | None  # None: suppressed (fewer than SMALLEST_CELL)
    by: str = "missing"  # which month: "missing" or "reported" (remains: "recovered")

    @property
    def shown(self) -> str:
        return shown(self.cases)


@dataclass(frozen=True)
class Count:
    """One cell of a table by any dimensions: the values, and the count (None: suppressed)."""

    key: tuple[str, ...]
    cases: int | None

    @property
    def shown(self) -> str:
        return shown(self.cases)


def shown(count: int | None) -> str:
    return str(count) if count is not None else f"<{SMALLEST_CELL}"


def suppressed(n: int) -> int | None:
    return n if n >= SMALLEST_CELL else None


def tally(rows: Iterable[CaseRow], *dimensions: str) -> list[Count]:
    """Cases counted by the dimensions named (CASE_DIMENSIONS), in order; small cells suppressed."""
    unknown = [d for d in dimensions if d not in CASE_DIMENSIONS]
    if unknown:
        raise ValueError(f"dimensions: {', '.join(unknown)} not one of {', '.join(CASE_DIMENSIONS)}")
    counts: Counter[tuple[str, ...]] = Counter()
    for row in rows:
        keys: list[tuple[str, ...]] = [()]
        for dimension in dimensions:
            keys = [(*k, value) for k in keys for value in CASE_DIMENSIONS[dimension](row)]
        counts.update(keys)
    return [Count(key, suppressed(n)) for key, n in sorted(counts.items())]


def monthly(views: JurisdictionViews, by: str = "missing") -> list[Cell]:
    """Every (month, country last seen, sex) cell, in order; small cells suppressed. by:
    "missing" (the month the person went missing, the default) or "reported"."""
    if by not in VIEWS:
        raise ValueError(f"by: {by!r} is not one of {', '.join(VIEWS)}")
    return [
        Cell(month, country, sex, count.cases, by)
        for count in tally(views.cases(), VIEWS[by], "last_seen_country", "sex")
        for month, country, sex in [count.key]
    ]


def _recovery(row: ForensicRow) -> tuple[str, str]:
    """(month recovered, country recovered) of remains, as far as these views may read them."""
    state = json.loads(row.state)
    recovered = state.get("recovered_on")
    place = state.get("place") if isinstance(state.get("place"), dict) else {}
    month = str(recovered)[:7] if recovered else UNKNOWN_MONTH
    return month, str(place.get("country") or UNKNOWN)


def remains_monthly(views: JurisdictionViews) -> list[Cell]:
    """Remains by (month recovered, country recovered); small cells suppressed. `sex` is left
    empty (a post-mortem's sex is another event)."""
    counts = Counter(_recovery(row) for row in views.forensic("UnidentifiedRemains"))
    return [
        Cell(month, country, "", suppressed(n), "recovered") for (month, country), n in sorted(counts.items())
    ]
