"""What one pass over a batch of records writes to a jurisdiction's views, in one transaction:
JurisdictionViews.apply takes it whole."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import Tracking

from projections.views import CaseRow, ChainHead, ForensicRow, Link, TimelineRow

__all__ = ["ViewBatch"]


@dataclass(frozen=True)
class ViewBatch:
    """Rows, forensic rows, timeline entries, links, chain heads and positions to upsert; the
    timeline entries to show again (`restored`: a case whose family consents again); the cases
    whose personal data to purge (erased by their family, or their key destroyed) and whose
    timeline keeps only its public fields (`purged`, `restricted`); and the cases to remove
    altogether, chain heads kept (`removed`: withheld from this country)."""

    rows: Sequence[CaseRow] = ()
    trackings: Sequence[Tracking] = ()
    heads: Mapping[str, ChainHead] = field(default_factory=dict)
    purged: Sequence[str] = ()
    timeline: Sequence[TimelineRow] = ()
    restricted: Sequence[str] = ()
    forensic: Sequence[ForensicRow] = ()
    restored: Sequence[TimelineRow] = ()
    links: Sequence[Link] = ()
    removed: Sequence[str] = ()
