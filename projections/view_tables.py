"""The views' tables, declared once: names, columns, neutral types, keys and indexes.

Both adapters create their tables from this declaration (projections/view_ddl.py renders it
for SQLite and for PostgreSQL) and read rows back by these column names. A change here is a
change of the views' format: it comes with a migration (projections/migrations.py).

Personal data never has a column of its own: the fields above the public tier travel sealed
(`cases.sealed`, `timeline.shown`, `forensic.state`, `case_links.sealed`; see
projections/sealed_rows.py), and no index covers a sealed value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BOOKKEEPING",
    "CASES",
    "CASE_LINKS",
    "CASE_LINKS_BY_AGGREGATE",
    "CHAIN_HEADS",
    "FORENSIC",
    "FORENSIC_BY_KIND",
    "INDEXES",
    "SQL_VIEWS",
    "TIMELINE",
    "VIEWS_CHANGES",
    "VIEWS_FORMAT_TABLE",
    "VIEW_TABLES",
    "Column",
    "Index",
    "Table",
    "Type",
    "View",
    "table",
]


class Type(Enum):
    """A column's type in the views' own vocabulary; each backend maps it to its own."""

    ID = "id"  # an aggregate's id (a UUID)
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    TIME = "time"  # an instant, with its time zone
    DATE = "date"
    BYTES = "bytes"
    TEXTS = "texts"  # a list of short codes (no commas)


@dataclass(frozen=True)
class Column:
    name: str
    type: Type
    null: bool = False
    default: object = None  # a neutral value (True, (), ...), rendered by each backend


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    check: str = ""  # a boolean column that must hold (a one-row table)
    # SQLite stores the rows in the key's own B-tree (small rows looked up by their key).
    clustered: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...]  # a name, or "name DESC"


@dataclass(frozen=True)
class View:
    """An SQL view over one table: some of its columns (renamed where given) for the rows of
    one kind."""

    name: str
    table: str
    columns: tuple[str | tuple[str, str], ...]  # a column, or (column, its name in the view)
    kind_column: str
    kind: str


def _columns(spec: str, type_: Type, null: bool = False) -> tuple[Column, ...]:
    return tuple(Column(name, type_, null) for name in spec.split())


ID, TEXT, INT, BOOL, TIME, DATE, BYTES, TEXTS = Type

CASES = Table(
    "cases",
    (
        Column("case_id", ID),
        *_columns("origin", TEXT),
        Column("version", INT),
        *_columns("status", TEXT),
        Column("reported_at", TIME),
        Column("sex", TEXT),
        Column("age_band", TEXT, null=True),
        Column("nationalities", TEXTS),
        Column("last_seen_country", TEXT),
        *_columns("last_seen_month route", TEXT, null=True),
        Column("restricted", BOOL),
        *_columns("given_names first_surname second_surname", TEXT, null=True),
        Column("last_seen_date", DATE, null=True),
        Column("last_seen_place", TEXT, null=True),
        Column("consents", TEXTS, default=()),
        # The fields above public, sealed (projections/sealed_rows.py), and the names as keyed
        # tokens for the search index (projections/view_keys.py).
        *_columns("sealed name_tokens", BYTES, null=True),
    ),
    key=("case_id",),
)
CHAIN_HEADS = Table(
    "chain_heads",
    (Column("aggregate_id", ID), Column("version", INT), Column("hash", BYTES)),
    key=("aggregate_id",),
    clustered=True,
)
TIMELINE = Table(
    "timeline",
    (
        Column("aggregate_id", ID),
        Column("version", INT),
        *_columns("aggregate_type event_type origin", TEXT),
        *_columns("occurred_at recorded_at", TIME),
        *_columns("organisation role purpose public shown", TEXT),
        Column("withheld", TEXTS),
    ),
    key=("aggregate_id", "version"),
    clustered=True,
)
FORENSIC = Table(
    "forensic",
    (
        Column("aggregate_id", ID),
        *_columns("aggregate_type origin", TEXT),
        Column("version", INT),
        Column("status", TEXT),
        Column("recorded_at", TIME),
        Column("state", TEXT),
        Column("withheld", TEXTS),
    ),
    key=("aggregate_id",),
    clustered=True,
)
# A record's links to cases, sealed under its views key (projections/sealed_rows.py).
CASE_LINKS = Table("case_links", (Column("aggregate_id", ID), Column("sealed", BYTES)))

# The tables a rebuild empties (and a migration that needs one creates anew).
VIEW_TABLES = (CASES, CHAIN_HEADS, TIMELINE, FORENSIC, CASE_LINKS)

# Kept across rebuilds: the views' format, and one row counting the views' writes
# (projections/search_index.py): every apply() and reset adds one, in its own transaction.
VIEWS_FORMAT_TABLE = Table("views_format", (Column("format", INT),))
VIEWS_CHANGES = Table(
    "views_changes",
    (Column("one", BOOL, default=True), Column("serial", INT)),
    key=("one",),
    check="one",
)
BOOKKEEPING = (VIEWS_FORMAT_TABLE, VIEWS_CHANGES)

CASE_LINKS_BY_AGGREGATE = Index("case_links_by_aggregate", "case_links", ("aggregate_id",))
# Remains, samples or matches of one kind, newest first (GET /forensic?type=, the named views
# below): read in the index's order instead of scanning and sorting every forensic row.
FORENSIC_BY_KIND = Index(
    "forensic_by_kind", "forensic", ("aggregate_type", "recorded_at DESC", "aggregate_id")
)
INDEXES = (CASE_LINKS_BY_AGGREGATE, FORENSIC_BY_KIND)

# Remains, samples and matches each as a view of their own; a sample's custody chain is its
# timeline: who held it, who recorded each step, when and why.
_FORENSIC_SHOWN = ("origin", "version", "status", "recorded_at", "state", "withheld")
_CUSTODY_SHOWN = _columns(
    "version event_type occurred_at recorded_at organisation role purpose public shown withheld", TEXT
)
SQL_VIEWS = (
    *(
        View(name, "forensic", (("aggregate_id", key), *_FORENSIC_SHOWN), "aggregate_type", kind)
        for name, key, kind in (
            ("remains", "remains_id", "UnidentifiedRemains"),
            ("samples", "sample_id", "Sample"),
            ("matches", "match_id", "Match"),
        )
    ),
    View(
        "custody",
        "timeline",
        (("aggregate_id", "sample_id"), *(c.name for c in _CUSTODY_SHOWN)),
        "aggregate_type",
        "Sample",
    ),
)


def table(name: str) -> Table:
    """The declared table of this name."""
    return next(t for t in (*VIEW_TABLES, *BOOKKEEPING) if t.name == name)
