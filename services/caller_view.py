"""What one caller may see of its jurisdiction's views.

A jurisdiction's views are projected once, for the jurisdiction's node reading to search
(projections/rows.py). The organisations that read them through the API and the review pages
each answer to the access rules for the purpose they state, as the audited case read does
(services/reading.py, AccessRules.decide_member): under their own agreements and their node's,
except a consulate, which speaks for another country. So a consulate sitting in Mexico reads
the names of its own nationals' cases, not every name Mexico's node may read, and a purpose
the family did not consent to shows no personal data. What a caller may not read is shown as
the public tier only, never more than the views hold."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from ledger.access_rules import AccessRules
from ledger.errors import LedgerError
from ledger.tiers import TIERS
from projections.linked import coarse, coarse_entry, refused_by_links
from projections.rows import overlay, public_only
from projections.views import CaseRow, ForensicRow, JurisdictionViews, TimelineRow

__all__ = ["CallerView", "ledger_withholding", "public_listing"]

# The tiers a view may show beside the public one (genetic data never enters a view).
_SHOWN_TIERS = ("common", "reserved", "forensic")
# Match statuses that are a review's outcome, which is forensic; a reader without it sees "reviewed".
_OUTCOME_FREE = frozenset({"proposed", "reviewed", "recorded"})


class CallerView:
    """A jurisdiction's views as `organisation` may read them for `purpose` (rules None: no
    network rules; the node's own cases, up to the common tier, by the family's consent)."""

    def __init__(
        self,
        views: JurisdictionViews,
        rules: AccessRules | None,
        organisation: str,
        purpose: str,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        withheld: Callable[[str], frozenset[str]] = lambda case_id: frozenset(),
    ) -> None:
        self.views, self.rules = views, rules
        self.organisation, self.purpose, self.today = organisation, purpose, today
        self.withheld = withheld  # case id -> the countries it is never shared with
        # A purpose the organisation holds by law needs no consent of the family (its reads are recorded).
        self.mandated = rules is not None and rules.mandate(organisation, purpose) is not None

    def kept_from_caller(self, case_id: str) -> bool:
        """Whether the case is withheld from this caller's country (a refugee's): then the
        caller sees nothing of it, not even its public tier."""
        return self.rules is not None and self.rules.withholds(self.organisation, self.withheld(case_id))

    # ------------------------------------------------------------------ decisions

    def may_read(
        self, origin: str, tier: str, nationalities: Sequence[str] = (), minor: bool = False
    ) -> bool:
        """As the audited read decides (AccessRules.decide_member). A node without network
        rules lists its own cases by the family's consent alone, never above the common tier
        (nor a minor's common tier)."""
        if self.rules is None:
            return tier == "public" or (tier == "common" and not minor)
        return bool(
            self.rules.decide_member(
                self.organisation,
                origin,
                tier,
                self.purpose,
                nationalities=nationalities,
                minor=minor,
                on=self.today(),
            )
        )

    def lists(self, origin: str, nationalities: Sequence[str] = ()) -> bool:
        """Whether this caller sees a record in lists and timelines at all: the rules let it
        read the record's public tier for a purpose other than statistics (which reads counts)."""
        return self.purpose != "statistics" and self.may_read(origin, "public", nationalities)

    def _linked(self, aggregate_ids: Sequence[str]) -> dict[str, set[str]]:
        """The tiers the cases these records are linked to refuse this caller."""
        return refused_by_links(self.views, aggregate_ids, self.purpose, self.may_read, self.mandated)

    def shows(self, row: CaseRow) -> bool:
        """Whether this caller may see the personal data the views hold of a case: the family
        consented to this purpose (or the organisation holds it by mandate), and the rules let this
        organisation read the common tier."""
        return (
            not row.restricted
            and (self.purpose in row.consents or self.mandated)  # a legal mandate stands in for consent
            and (self.may_read(row.origin, "common", row.nationalities) or self.disclosed_to_caller(row))
        )

    def disclosed_to_caller(self, row: CaseRow) -> bool:
        """A case its origin disclosed to this node on a linkage candidate's request (#19) is
        shown, for search and with the family's consent to it, to the node's organisations of
        the kinds the origin's linkage agreement with the node names as members (rules:
        AccessRules.disclosure_members); never to a consulate sitting here."""
        if (
            not row.disclosed
            or self.rules is None
            or self.purpose != "search"
            or "search" not in row.consents
        ):
            return False
        member = self.rules.organisations.get(self.organisation)
        here = getattr(self.views, "jurisdiction", None)
        return (
            member is not None
            and member.kind != "consulate"
            and member.jurisdiction == here
            and member.kind in self.rules.disclosure_members(row.origin, member.jurisdiction, on=self.today())
        )

    # ------------------------------------------------------------------ reads

    def case(self, row: CaseRow) -> CaseRow:
        return row if self.shows(row) else public_listing(row)

    def cases(self) -> list[CaseRow]:
        return [
            self.case(row)
            for row in self.views.cases()
            if not self.kept_from_caller(row.case_id)
            and (self.lists(row.origin, row.nationalities) or self.disclosed_to_caller(row))
        ]

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        entries = self.views.timeline(aggregate_id, until)
        if not entries or self.kept_from_caller(aggregate_id):
            return []
        if entries[0].aggregate_type == "MissingPersonCase":
            row = self.views.rows([aggregate_id]).get(aggregate_id)
            disclosed = row is not None and self.disclosed_to_caller(row)
            if not disclosed and not self.lists(
                entries[0].origin, row.nationalities if row is not None else ()
            ):
                return []
            common = row is not None and self.shows(row)
        else:
            if not self.lists(entries[0].origin):
                return []
            common = self.may_read(entries[0].origin, "common") and "common" not in self._linked(
                [aggregate_id]
            ).get(aggregate_id, ())
        return entries if common else [coarse_entry(_without_common(e)) for e in entries]

    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        rows = [r for r in self.views.forensic(aggregate_type) if self.lists(r.origin)]
        linked = self._linked([r.aggregate_id for r in rows])
        refused = {row.aggregate_id: self._refused(row, linked.get(row.aggregate_id, set())) for row in rows}
        timelines = self.views.timelines([i for i, tiers in refused.items() if tiers])  # one query
        return [
            self._listed(
                self._narrowed(row, refused[row.aggregate_id], timelines.get(row.aggregate_id, [])),
                linked.get(row.aggregate_id, set()),
            )
            for row in rows
        ]

    def forensic_row(self, row: ForensicRow) -> ForensicRow:
        linked = self._linked([row.aggregate_id]).get(row.aggregate_id, set())
        refused = self._refused(row, linked)
        narrowed = self._narrowed(row, refused, self.views.timeline(row.aggregate_id) if refused else [])
        return self._listed(narrowed, linked)

    def _refused(self, row: ForensicRow, linked: set[str]) -> list[str]:
        """The tiers the views show of this record that this caller may not read, on the
        record's own rules or on those of the cases it is linked to."""
        return [
            t
            for t in _SHOWN_TIERS
            if t not in row.withheld and (t in linked or not self.may_read(row.origin, t))
        ]

    def _listed(self, row: ForensicRow, linked: set[str]) -> ForensicRow:
        """The record with its exact instant only if this caller may read its common tier."""
        if self.may_read(row.origin, "common") and "common" not in linked:
            return row
        return replace(row, recorded_at=coarse(row.recorded_at))

    def _narrowed(
        self, row: ForensicRow, refused: Sequence[str], timeline: Sequence[TimelineRow]
    ) -> ForensicRow:
        """The row as the views hold it when this caller may read every tier it shows;
        otherwise its public fields, and the common ones if this caller may read them,
        folded again from its timeline."""
        if not refused:
            return row
        common = "common" not in refused
        state: dict[str, Any] = {}
        for entry in timeline:
            layers = [json.loads(entry.public)] + ([json.loads(entry.shown)] if common else [])
            for fields in layers:
                for key, value in fields.items():
                    if key != "sealed":
                        overlay(state, key, value)
        status = row.status
        if row.aggregate_type == "Match" and "forensic" in refused and status not in _OUTCOME_FREE:
            status = "reviewed"
        withheld = set(row.withheld) | set(refused)
        return replace(
            row,
            status=status,
            state=json.dumps(state, sort_keys=True, ensure_ascii=False),
            withheld=tuple(t for t in TIERS if t in withheld),
        )


def ledger_withholding(ledger: Any) -> Callable[[str], frozenset[str]]:
    """The countries a case of this node's own ledger is withheld from (none for the cases of
    other origins: their views rows hold no names for anyone, and their origins wrap no keys)."""

    def withheld(case_id: str) -> frozenset[str]:
        try:
            return frozenset(ledger.get_case(UUID(case_id)).withheld_countries)
        except (LedgerError, ValueError):
            return frozenset()

    return withheld


def _without_common(entry: TimelineRow) -> TimelineRow:
    if entry.shown in ("", "{}"):
        return entry
    withheld = {"common", *entry.withheld}
    return replace(entry, shown="{}", withheld=tuple(t for t in TIERS if t in withheld))


def public_listing(row: CaseRow) -> CaseRow:
    """A case listed at its public tier: no field above it, and the month it was reported."""
    return replace(public_only(row), reported_at=coarse(row.reported_at))
