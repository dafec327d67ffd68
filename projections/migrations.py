"""The views' formats, one numbered migration each, applied when a node opens its views.

A release that derives any row differently, or changes the declaration of a view table
(projections/view_tables.py), adds a migration here. A migration either alters the views in
place (its steps, written against the previous format's tables) or says the views must be
rebuilt: then their tables are created anew from the declaration and every position but the
keys' is forgotten, so the projector reads the events again from offset 0. Views record
their format in `views_format`; views of a later format are refused, never altered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from projections.view_ddl import Dialect
from projections.view_tables import FORENSIC, FORENSIC_BY_KIND, SQL_VIEWS, VIEW_TABLES, Column, Index, Table

__all__ = [
    "MIGRATIONS",
    "VIEWS_FORMAT",
    "AddColumn",
    "AddIndex",
    "AddTable",
    "Migration",
    "Plan",
    "Step",
    "ViewsFromLaterRelease",
    "migrate",
    "plan",
    "recreate",
]


@dataclass(frozen=True)
class AddIndex:
    index: Index

    def sql(self, dialect: Dialect) -> list[str]:
        return [dialect.create_index(self.index)]


@dataclass(frozen=True)
class AddColumn:
    """A column added to a table that holds rows: nullable, or with a default."""

    table: str
    column: Column

    def sql(self, dialect: Dialect) -> list[str]:
        return [dialect.add_column(self.table, self.column)]


@dataclass(frozen=True)
class AddTable:
    table: Table

    def sql(self, dialect: Dialect) -> list[str]:
        return [dialect.create_table(self.table)]


Step = AddIndex | AddColumn | AddTable


@dataclass(frozen=True)
class Migration:
    to_format: int
    why: str
    rebuild: bool = False
    steps: tuple[Step, ...] = ()


MIGRATIONS = (
    # 1: views that recorded no format (up to 5b21567).
    Migration(
        2,
        "consent given again shows a case again; a timeline entry whose common fields were "
        "emptied says they are withheld",
        rebuild=True,
    ),
    Migration(
        3,
        "a date of birth corrected to a minor's (or taken away) restricts the case's row and "
        "timeline; a corrected adult's age band follows the correction",
        rebuild=True,
    ),
    Migration(
        4,
        "fields above public are stored sealed under the node's views keys (cases.sealed, "
        "timeline.shown, forensic.state) and names as keyed tokens (cases.name_tokens); the "
        "rebuild seals what views of earlier formats held in clear",
        rebuild=True,
    ),
    Migration(
        5,
        "a case row says whether the person is (possibly) a minor (sealed with its fields above "
        "public); the links of remains, samples and matches to cases (and of samples to remains) "
        "are kept, sealed under the linked record's views key",
        rebuild=True,
    ),
    Migration(
        6,
        "remains, samples or matches of one kind are listed newest first from an index "
        f"({FORENSIC_BY_KIND.name}) instead of a scan and a sort of every {FORENSIC.name} row",
        steps=(AddIndex(FORENSIC_BY_KIND),),
    ),
)

# This release's format: the views it writes and the only ones it reads.
VIEWS_FORMAT = MIGRATIONS[-1].to_format


class ViewsFromLaterRelease(Exception):
    """The views were built by a later release; this one would misread them."""

    def __init__(self, jurisdiction: str, found: int) -> None:
        self.what = f"views of {jurisdiction}: built by a later caseledger (views format {found})"
        super().__init__(
            f"{self.what}; this release reads format {VIEWS_FORMAT}. Run that release, or "
            f"`caseledger rebuild --as {jurisdiction}` with this one."
        )


@dataclass(frozen=True)
class Plan:
    """What opening views of an earlier format does: the migrations after it, in order."""

    earlier: int
    migrations: tuple[Migration, ...]

    @property
    def rebuild(self) -> bool:
        return any(m.rebuild for m in self.migrations)


def plan(found: int | None, built: bool, jurisdiction: str) -> Plan | None:
    """The migrations views of format `found` need (None: no format recorded; `built`: they
    hold positions all the same, views of format 1), or None when they need none (this
    release's, or new). Views of a later format are refused."""
    if found is not None and found > VIEWS_FORMAT:
        raise ViewsFromLaterRelease(jurisdiction, found)
    if found == VIEWS_FORMAT or (found is None and not built):
        return None
    earlier = found or 1
    return Plan(earlier, tuple(m for m in MIGRATIONS if m.to_format > earlier))


def recreate(dialect: Dialect) -> list[str]:
    """The DDL of a rebuild of views of another format: every view table and SQL view
    dropped, whatever shape that format gave them, and created from the declaration."""
    return [
        *(dialect.drop_view(v) for v in SQL_VIEWS),
        *(dialect.drop_table(t) for t in VIEW_TABLES),
        *dialect.declaration(),
    ]


def migrate(
    cursor: Any,
    dialect: Dialect,
    pending: Plan,
    run: Callable[[Any, Sequence[str]], None],
) -> list[str]:
    """Apply the in-place steps of a plan that needs no rebuild, in order, and define the SQL
    views again (a format may change what they show); return what each migration did (for the
    log). The steps alone bring the tables and indexes to the declaration: nothing else
    creates them here."""
    assert not pending.rebuild
    done = []
    for migration in pending.migrations:
        run(cursor, [s for step in migration.steps for s in step.sql(dialect)])
        done.append(f"format {migration.to_format}: {migration.why}")
    run(cursor, [dialect.create_view(v) for v in SQL_VIEWS])
    return done
