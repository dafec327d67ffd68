"""The rows a jurisdiction's views hold, as every adapter reads them back: a case, a timeline
entry, a forensic record, a link; and the columns that name them (projections/view_tables.py
declares the tables). The port that writes and reads them is projections/views.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from projections.view_tables import CASES, FORENSIC, TIMELINE

__all__ = [
    "CASE_COLUMNS",
    "FORENSIC_COLUMNS",
    "FORENSIC_TYPES",
    "PURGED_COLUMNS",
    "TIMELINE_COLUMNS",
    "UNKNOWN_CASE",
    "CaseRow",
    "ForensicRow",
    "Link",
    "TimelineRow",
]


@dataclass(frozen=True)
class CaseRow:
    """One case as a jurisdiction may see it; restricted fields are None."""

    case_id: str
    origin: str
    version: int
    status: str
    reported_at: datetime
    sex: str
    age_band: str | None
    nationalities: tuple[str, ...]
    last_seen_country: str
    last_seen_month: str | None  # from the common tier: None where it cannot be opened
    route: str | None
    restricted: bool
    given_names: str | None = None
    first_surname: str | None = None
    second_surname: str | None = None
    last_seen_date: date | None = None
    last_seen_place: str | None = None
    consents: tuple[str, ...] = ()  # the purposes the case is consented for (public tier)
    # Under 18 when last seen, or of unknown age (the stricter reading), as far as these views
    # can tell: remains, samples and matches linked to the case inherit the minor rule. Stored
    # sealed with the fields above public (projections/sealed_rows.py), never as a column.
    minor: bool = True
    # Shown by an approved disclosure (#19) rather than by the agreements: the origin wrapped
    # this case's common tier for this node on a linkage candidate's request. Stored sealed
    # like `minor`; the callers it is shown to are the node's own (services/caller_view.py).
    disclosed: bool = False

    @property
    def display_name(self) -> str:
        if self.restricted:
            return "(restricted)"
        return " ".join(p for p in (self.given_names, self.first_surname, self.second_surname) if p)


@dataclass(frozen=True)
class TimelineRow:
    """One event of an aggregate as a jurisdiction may see it: who recorded it, when, why,
    and its fields up to the tiers this view shows (the rest named in `withheld`)."""

    aggregate_id: str
    version: int
    aggregate_type: str
    event_type: str
    origin: str
    occurred_at: datetime
    recorded_at: datetime
    organisation: str
    role: str
    purpose: str
    public: str  # JSON: the public fields
    shown: str  # JSON: the common fields, where this view shows them ("{}" otherwise)
    withheld: tuple[str, ...]  # the tiers the event holds that this view does not show


# The columns of the view tables (projections/view_tables.py), in the rows' field order.
TIMELINE_COLUMNS = TIMELINE.names

# The aggregates besides cases that the views keep a current row for.
FORENSIC_TYPES = ("UnidentifiedRemains", "Sample", "Match")


@dataclass(frozen=True)
class ForensicRow:
    """Remains, a sample or a match as a jurisdiction may see it now: its status, and the
    fields of the tiers it may read (JSON; genetic data never, a closed tier never)."""

    aggregate_id: str
    aggregate_type: str
    origin: str
    version: int
    status: str
    recorded_at: datetime  # of its last event
    state: str  # JSON: the fields this view shows, as of its last event
    withheld: tuple[str, ...]  # the tiers its events hold that this view does not show


FORENSIC_COLUMNS = FORENSIC.names

# What an erasure empties in a case row: everything above the public tier.
PURGED_COLUMNS = (
    "age_band",
    "last_seen_month",
    "given_names",
    "first_surname",
    "second_surname",
    "last_seen_date",
    "last_seen_place",
)

# The cases view's columns, in CaseRow's order, for every adapter: the stored ones but the
# sealed value and the search tokens (projections/sealed_rows.py).
CASE_COLUMNS = CASES.names[:-2]


@dataclass(frozen=True)
class Link:
    """Remains, a sample or a match (aggregate_id) linked to a case, or a sample to the remains
    it was taken from (kind "remains"): who may read them answers to the case's rules too."""

    aggregate_id: str
    linked_id: str
    kind: str  # "case" or "remains"


# The case a link that cannot be opened any more names: none the views hold.
UNKNOWN_CASE = ""
