"""One projection per view of a jurisdiction, each with its own apply: the cases view, the
timeline, the forensic rows and the links between aggregates. The projector
(projections/projector.py) checks and opens each record, then hands the event to each in turn;
what they make of a batch gathers in one Pending and is written as one ViewBatch.

Events that change more than a row are handled by the projection they concern, through its
map of handlers, not by the projector's loop: consent given again (or a disclosure approved)
folds the case again from the log, a reopening looks back over the timeline, and an erasure
purges the case. The statistics are counted from the cases and forensic views when read
(projections/statistics.py) and the consular feed is a projection of its own
(projections/feed.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from eventsourcing.persistence import Tracking

from projections.rows import RowMaker, links_of, status_before_closure
from projections.view_batch import ViewBatch
from projections.views import CaseRow, ChainHead, ForensicRow, Link, TimelineRow
from topics.avro import Decoded
from topics.log import LogRecord
from topics.mapping import Opened

__all__ = [
    "CASE",
    "CasesProjection",
    "ForensicProjection",
    "LinksProjection",
    "Pending",
    "ProjectedEvent",
    "Projection",
    "TimelineProjection",
]

CASE = "MissingPersonCase"

# A case folded again from the log up to a record: its row and timeline (projections/refold.py).
Refold = Callable[[str, LogRecord], tuple[CaseRow | None, list[TimelineRow]]]


@dataclass
class Pending:
    """What one batch writes to the views, gathered as its events are applied."""

    rows: dict[str, CaseRow] = field(default_factory=dict)
    purged: list[str] = field(default_factory=list)
    restricted: list[str] = field(default_factory=list)
    restored: dict[str, list[TimelineRow]] = field(default_factory=dict)
    timeline: list[TimelineRow] = field(default_factory=list)
    forensic: dict[str, ForensicRow] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    heads: dict[str, ChainHead] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def remove(self, case_id: str) -> None:
        """Nothing of the case enters the views (withheld from this country)."""
        self.removed.append(case_id)
        self.rows.pop(case_id, None)
        self.timeline = [e for e in self.timeline if e.aggregate_id != case_id]

    def batch(self, trackings: Sequence[Tracking]) -> ViewBatch:
        return ViewBatch(
            rows=list(self.rows.values()),
            trackings=trackings,
            heads=self.heads,
            purged=self.purged,
            timeline=self.timeline,
            restricted=self.restricted,
            forensic=list(self.forensic.values()),
            restored=[entry for entries in self.restored.values() for entry in entries],
            links=self.links,
            removed=self.removed,
        )


@dataclass
class ProjectedEvent:
    """One event, checked and opened, as every projection sees it."""

    decoded: Decoded  # as it came, its tiers sealed
    record: LogRecord  # the message it came in
    opened: Opened
    aggregate_id: str
    current: CaseRow | None  # its case's row before it (None for other aggregates)
    row: CaseRow | None = None  # its case's row after it, once the cases projection applied it

    @property
    def name(self) -> str:
        return self.decoded.name

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.decoded.record["meta"]  # type: ignore[no-any-return]

    @property
    def readable(self) -> Decoded:
        """The event with the tiers these views hold keys for opened."""
        return Decoded(self.decoded.name, self.decoded.writer_version, self.opened.plain)


class Projection(Protocol):
    def apply(self, event: ProjectedEvent, pending: Pending) -> None: ...


# A handler: the case row after an event that asks more of the cases view than its row.
Handler = Callable[[ProjectedEvent, "CaseRow | None", Pending], "CaseRow | None"]


class CasesProjection:
    """The cases view: one row per case, as far as the rules, the family's consent and the
    keys held allow."""

    def __init__(
        self,
        maker: RowMaker,
        stored: dict[str, CaseRow],
        refold: Refold,
        disclosed: Callable[[str, str], bool],
        timeline_of: Callable[[str], Sequence[TimelineRow]],
    ) -> None:
        """stored: the rows the batch's later events change, read in one query."""
        self.maker, self.stored, self.refold = maker, stored, refold
        self.disclosed, self.timeline_of = disclosed, timeline_of
        self.handlers: Mapping[str, Handler] = {
            "ConsentGranted": self._consent_given,
            "DisclosureDecided": self._disclosure_decided,
            "CaseReopened": self._reopened,
            "DataErased": self._erased,
        }

    def current(self, decoded: Decoded, pending: Pending) -> CaseRow | None:
        """The case row an event of a case finds (None for a report or another aggregate)."""
        meta = decoded.record["meta"]
        case_id = str(meta["aggregate_id"])
        found = pending.rows.get(case_id)
        if found is not None or decoded.name == "CaseReported" or meta["aggregate_type"] != CASE:
            return found
        return self.stored.get(case_id)

    def pass_over(self, event: ProjectedEvent, pending: Pending) -> None:
        """A case withheld from this country: what the batch holds of it is taken out, and
        the stored row is forgotten so that its later events pass over too."""
        if event.current is not None or event.name == "CaseReported":
            pending.remove(event.aggregate_id)
            self.stored.pop(event.aggregate_id, None)

    def apply(self, event: ProjectedEvent, pending: Pending) -> None:
        current = event.current
        row = self.maker.to_row(event.readable, current, event.opened.closed)
        handler = self.handlers.get(event.name)
        if handler is not None:
            row = handler(event, row, pending)
        event.row = row
        if row is None:
            return
        pending.rows[row.case_id] = row
        if row.restricted and current is not None and not current.restricted:
            pending.restricted.append(row.case_id)  # consent withdrawn: the timeline forgets too
            pending.restored.pop(row.case_id, None)

    def _may_show_again(self, event: ProjectedEvent, row: CaseRow | None) -> bool:
        """A row held back that these views' purpose is consented for, of a case they held."""
        if row is None or event.current is None:
            return False
        return row.restricted and row.status != "erased" and self.maker.purpose in row.consents

    def _shown_again(self, event: ProjectedEvent, row: CaseRow, pending: Pending) -> CaseRow:
        """What withdrawing consent emptied is only in the log now: the case folded again."""
        refolded, entries = self.refold(event.aggregate_id, event.record)
        if refolded is None or refolded.restricted:
            return row
        pending.restored[event.aggregate_id] = entries
        pending.restricted = [c for c in pending.restricted if c != event.aggregate_id]
        return replace(refolded, version=row.version)

    def _consent_given(self, event: ProjectedEvent, row: CaseRow | None, pending: Pending) -> CaseRow | None:
        """Consent given again for the views' purpose."""
        if row is None or not self._may_show_again(event, row):
            return row
        if event.current is None or self.maker.purpose in event.current.consents:
            return row
        return self._shown_again(event, row, pending)

    def _disclosure_decided(
        self, event: ProjectedEvent, row: CaseRow | None, pending: Pending
    ) -> CaseRow | None:
        """A disclosure approved (#19): the case's earlier events open with its key."""
        if row is None or not self._may_show_again(event, row):
            return row
        if not self.disclosed(event.aggregate_id, str(event.meta["origin"])):
            return row
        return self._shown_again(event, row, pending)

    def _reopened(self, event: ProjectedEvent, row: CaseRow | None, pending: Pending) -> CaseRow | None:
        """The search starts again where it stood before the case was closed."""
        if row is None:
            return None
        before = [
            e.event_type
            for e in (*self.timeline_of(event.aggregate_id), *pending.timeline)
            if e.aggregate_id == event.aggregate_id
        ]
        return replace(row, status=status_before_closure(before))

    def _erased(self, event: ProjectedEvent, row: CaseRow | None, pending: Pending) -> CaseRow | None:
        """The family withdrew: the case's personal data is purged after the batch's rows."""
        pending.purged.append(event.aggregate_id)
        pending.restored.pop(event.aggregate_id, None)
        return row


class TimelineProjection:
    """The timeline: every event of every aggregate as these views may show it."""

    def __init__(self, maker: RowMaker) -> None:
        self.maker = maker

    def apply(self, event: ProjectedEvent, pending: Pending) -> None:
        shown = event.row or event.current
        pending.timeline.append(self.maker.timeline_entry(event.name, event.opened, shown))


class ForensicProjection:
    """Remains, samples and matches: one row each, their status and the tiers these views read."""

    def __init__(self, maker: RowMaker, stored: dict[str, ForensicRow]) -> None:
        self.maker, self.stored = maker, stored

    def apply(self, event: ProjectedEvent, pending: Pending) -> None:
        aggregate_id = event.aggregate_id
        current = pending.forensic.get(aggregate_id) or self.stored.get(aggregate_id)
        found = self.maker.forensic_row(event.name, event.opened, current)
        if found is not None:
            pending.forensic[found.aggregate_id] = found


class LinksProjection:
    """What links remains, samples and matches to cases, and samples to remains."""

    def apply(self, event: ProjectedEvent, pending: Pending) -> None:
        pending.links += links_of(event.name, event.opened)
