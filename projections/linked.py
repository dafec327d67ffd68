"""Remains, samples and matches linked to a case answer to that case's rules as well as their own.

A reader sees a tier of such a record above public only where it may read that tier of every
case the record is linked to (through a match, an identification, or, for a sample, the
remains it was taken from): the family's consent for the reader's purpose, the agreements,
and the minor rule (a minor's common tier counts as reserved). A link to a case these views
do not hold, or hold erased, shows nothing above public. The decision is made when reading,
so a match recorded after the remains were projected narrows them from then on, and a
family's consent given again shows them again. Lists show coarse instants (the month) where
the reader may not read the record's common tier.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ledger.tiers import TIERS
from projections.views import CaseRow, ForensicRow, JurisdictionViews, TimelineRow

__all__ = [
    "SHOWN_TIERS",
    "CaseReader",
    "JurisdictionReading",
    "coarse",
    "coarse_entry",
    "public_fields",
    "refused_by_links",
    "without_common",
]

# The tiers a view may show beside the public one (genetic data never enters a view).
SHOWN_TIERS = ("common", "reserved", "forensic")
# Match statuses that are not a review's outcome (which is forensic).
_OUTCOME_FREE = frozenset({"proposed", "reviewed", "recorded"})

# May a reader read this tier of a case: (origin, tier, nationalities, minor) -> bool.
CaseReader = Callable[[str, str, Sequence[str], bool], bool]


def refused_by_links(
    views: JurisdictionViews,
    aggregate_ids: Iterable[str],
    purpose: str,
    may_read: CaseReader,
    mandated: bool = False,
) -> dict[str, set[str]]:
    """The tiers above public of each of these records that the cases it is linked to refuse
    this reader (records with none refused are left out). mandated: the reader holds the
    purpose by a legal mandate (AccessRules.mandate), which stands in for the family's consent."""
    linked = views.linked_cases(list(aggregate_ids))
    rows = views.rows(sorted({c for cases in linked.values() for c in cases})) if linked else {}
    verdicts: dict[str, set[str]] = {}
    for case_id in {c for cases in linked.values() for c in cases}:
        row = rows.get(case_id)
        verdicts[case_id] = {t for t in SHOWN_TIERS if not _case_allows(row, t, purpose, may_read, mandated)}
    found: dict[str, set[str]] = {}
    for aggregate_id, cases in linked.items():
        refused = set().union(*(verdicts[c] for c in cases))
        if refused:
            found[aggregate_id] = refused
    return found


def _case_allows(
    row: CaseRow | None, tier: str, purpose: str, may_read: CaseReader, mandated: bool = False
) -> bool:
    if row is None or row.status == "erased" or (purpose not in row.consents and not mandated):
        return False
    return may_read(row.origin, tier, row.nationalities, row.minor)


def public_fields(row: ForensicRow, refused: Iterable[str], timeline: Sequence[TimelineRow]) -> ForensicRow:
    """The record without the refused tiers: its public fields, and the common ones unless
    refused, folded again from its timeline (its state holds every tier the views show)."""
    refused = set(refused)
    if not refused:
        return row
    common = "common" not in refused
    state: dict[str, Any] = {}
    for entry in timeline:
        layers = [json.loads(entry.public)] + ([json.loads(entry.shown)] if common else [])
        for fields in layers:
            for key, value in fields.items():
                if key != "sealed":
                    section = state.get(key)
                    both = isinstance(section, dict) and isinstance(value, dict)
                    state[key] = {**section, **value} if both else value  # type: ignore[dict-item]
    status = row.status
    if row.aggregate_type == "Match" and "forensic" in refused and status not in _OUTCOME_FREE:
        status = "reviewed"
    withheld = set(row.withheld) | refused
    return replace(
        row,
        status=status,
        state=json.dumps(state, sort_keys=True, ensure_ascii=False),
        withheld=tuple(t for t in TIERS if t in withheld),
    )


def without_common(entry: TimelineRow) -> TimelineRow:
    """A timeline entry with its common fields withheld."""
    if entry.shown in ("", "{}"):
        return entry
    withheld = {"common", *entry.withheld}
    return replace(entry, shown="{}", withheld=tuple(t for t in TIERS if t in withheld))


def coarse(at: datetime) -> datetime:
    """An instant as the public tier gives it: its month (the first, at midnight UTC)."""
    return at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def coarse_entry(entry: TimelineRow) -> TimelineRow:
    return replace(entry, occurred_at=coarse(entry.occurred_at), recorded_at=coarse(entry.recorded_at))


class JurisdictionReading:
    """What a jurisdiction's node shows of its own views (the CLI, `--as`): remains, samples
    and matches narrowed by their linked cases as the views decided those cases for their
    purpose (a row restricted there refuses every tier above public)."""

    def __init__(self, views: JurisdictionViews) -> None:
        self.views = views

    def _refused(self, aggregate_ids: Sequence[str]) -> dict[str, set[str]]:
        linked = self.views.linked_cases(list(aggregate_ids))
        rows = self.views.rows(sorted({c for cases in linked.values() for c in cases})) if linked else {}
        return {
            aggregate_id: set(SHOWN_TIERS)
            for aggregate_id, cases in linked.items()
            if any((r := rows.get(c)) is None or r.restricted or r.status == "erased" for c in cases)
        }

    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        rows = self.views.forensic(aggregate_type)
        refused = self._refused([r.aggregate_id for r in rows])
        timelines = self.views.timelines(list(refused)) if refused else {}
        return [
            _listed(public_fields(r, refused[r.aggregate_id], timelines.get(r.aggregate_id, [])))
            if r.aggregate_id in refused
            else r
            for r in rows
        ]

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        entries = self.views.timeline(aggregate_id, until)
        if not entries or entries[0].aggregate_type == "MissingPersonCase":
            return entries
        if self._refused([aggregate_id]):
            return [coarse_entry(without_common(e)) for e in entries]
        return entries


def _listed(row: ForensicRow) -> ForensicRow:
    """A record whose common tier the reader may not read, listed with a coarse instant."""
    return replace(row, recorded_at=coarse(row.recorded_at)) if "common" in row.withheld else row
