"""The port of a jurisdiction's views: rows and Kafka positions written in one transaction. The
rows themselves are projections/view_rows.py (their names are exported here too)."""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

# VIEWS_FORMAT and ViewsFromLaterRelease are where callers have found them.
from projections.migrations import VIEWS_FORMAT as VIEWS_FORMAT
from projections.migrations import ViewsFromLaterRelease as ViewsFromLaterRelease
from projections.migrations import migrate, plan, recreate
from projections.view_ddl import Dialect
from projections.view_rows import (
    CASE_COLUMNS,
    FORENSIC_COLUMNS,
    FORENSIC_TYPES,
    PURGED_COLUMNS,
    TIMELINE_COLUMNS,
    UNKNOWN_CASE,
    CaseRow,
    ForensicRow,
    Link,
    TimelineRow,
)
from topics.log import TopicPartition

__all__ = [
    "CASE_COLUMNS",
    "FORENSIC_COLUMNS",
    "FORENSIC_TYPES",
    "PURGED_COLUMNS",
    "TIMELINE_COLUMNS",
    "UNKNOWN_CASE",
    "VIEWS_FORMAT",
    "CaseRow",
    "ChainHead",
    "ForensicRow",
    "JurisdictionViews",
    "Link",
    "TimelineRow",
    "ViewsFromLaterRelease",
    "create_tables",
    "is_uuid",
    "tracking_at",
    "tracking_name",
]

if TYPE_CHECKING:
    from projections.view_batch import ViewBatch

log = logging.getLogger(__name__)

ChainHead = tuple[int, bytes]  # an aggregate's last verified (version, hash)


def create_tables(recorder: TrackingRecorder) -> None:
    """Create the views' tables, safe when several processes open them at once: eventsourcing
    decides before its transaction whether it is creating the tracking table, so every opener
    that looked too early tries to insert the table's format row; the row is there by then,
    and looking again settles it."""
    for attempt in range(10):
        try:
            recorder.create_table()  # type: ignore[attr-defined]
            return
        except IntegrityError:
            if attempt == 9:
                raise
            time.sleep(0.02 * (attempt + 1))


def is_uuid(text: str) -> bool:
    """Whether text names an aggregate (a UUID); anything else cannot be a key of the views."""
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def tracking_name(tp: TopicPartition) -> str:
    """The tracking row for one topic partition."""
    return f"{tp.topic}:{tp.partition}"


def tracking_at(tp: TopicPartition, next_offset: int) -> Tracking:
    """A tracking row holds the next offset to read (the record at offset 0 done: id 1)."""
    return Tracking(tracking_name(tp), next_offset)


_ONE_WRITER = "a projection group shares views on PostgreSQL; views on SQLite have one writer"


class JurisdictionViews(TrackingRecorder, ABC):
    """A jurisdiction's views; apply() writes rows and positions atomically."""

    jurisdiction: str

    dialect: Dialect  # how this backend spells the declaration (projections/view_ddl.py)

    @abstractmethod
    def _format_transaction(self) -> AbstractContextManager[Any]:
        """A write transaction on these views that processes opening them at once take in
        turn (its cursor)."""

    @abstractmethod
    def _read_format(self, cursor: Any) -> tuple[int | None, bool]:
        """The recorded format (None when none is) and whether the views hold positions."""

    def _run(self, cursor: Any, statements: Sequence[Any]) -> None:
        for statement in statements:
            cursor.execute(statement)

    def _open_tables(self) -> None:
        """At opening: new views get this release's tables and are stamped with its format;
        views of this format get any table, index or SQL view they lack. Views of another
        format are left as they are for upgrade()."""
        with self._format_transaction() as cursor:
            found, built = self._read_format(cursor)
            if found == VIEWS_FORMAT or (found is None and not built):
                self._run(cursor, self.dialect.declaration())
                if found is None:
                    self._stamp(cursor)

    def upgrade(self, keep: Sequence[TopicPartition] = ()) -> int | None:
        """Bring the views to this release's format (VIEWS_FORMAT) by the migrations after
        theirs (projections/migrations.py), in one transaction that concurrent openers take in
        turn. If one of them needs a rebuild, the view tables are created anew from the
        declaration and emptied for a rebuild from offset 0 (keep's positions kept, as reset()
        does) and the earlier format is returned; otherwise the views are altered in place,
        rows and positions kept, and None returned, as for views of this format. Views of a
        later format raise ViewsFromLaterRelease, nothing altered."""
        with self._format_transaction() as cursor:
            found, built = self._read_format(cursor)
            pending = plan(found, built, self.jurisdiction)
            if pending is not None and pending.rebuild:
                self._run(cursor, recreate(self.dialect))
                self._reset(cursor, keep)
                return pending.earlier
            if pending is not None:
                for done in migrate(cursor, self.dialect, pending, self._run):
                    log.info("views %s migrated in place to %s", self.jurisdiction, done)
            elif found is None:  # new views (opened before they were stamped)
                self._run(cursor, self.dialect.declaration())
            if found != VIEWS_FORMAT:
                self._stamp(cursor)
            return None

    @abstractmethod
    def _reset(self, cursor: Any, keep: Sequence[TopicPartition]) -> None:
        """reset() inside a transaction; it stamps the views with this release's format."""

    def _stamp(self, cursor: Any) -> None:
        """Record that the views are of this release's format (VIEWS_FORMAT)."""
        formats = self.dialect.name("views_format")
        cursor.execute(f"DELETE FROM {formats}")
        cursor.execute(f"INSERT INTO {formats} VALUES ({VIEWS_FORMAT})")

    @abstractmethod
    def apply(self, batch: ViewBatch) -> None:
        """Write the batch (projections/view_batch.py) in one transaction, all or nothing:
        upsert its rows, forensic rows, timeline entries, links, chain heads and positions;
        show again what its `restored` entries show; then purge the personal data of its purged
        cases and keep only the public fields in the timeline of the purged and restricted
        ones; and remove the row and timeline of its removed cases, keeping their chain heads."""

    @abstractmethod
    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        """The remains, samples and matches in the view (of one type if given), newest first."""

    @abstractmethod
    def forensic_rows(self, aggregate_ids: Sequence[str]) -> dict[str, ForensicRow]:
        """The forensic rows of these aggregates that the view holds (one query)."""

    @abstractmethod
    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        """The aggregate's events in version order, those recorded by `until` if given."""

    @abstractmethod
    def timelines(self, aggregate_ids: Sequence[str]) -> dict[str, list[TimelineRow]]:
        """The timelines of these aggregates, each in version order (one query); an aggregate
        the view holds no event of is left out."""

    @abstractmethod
    def links(self, aggregate_ids: Sequence[str] | None = None) -> list[Link]:
        """The links of these aggregates (every link if None), once each, in a canonical order.
        They are stored sealed (projections/sealed_rows.py): one whose key is gone reads as a
        link to UNKNOWN_CASE, which these views never hold, so it refuses every tier above
        public."""

    def linked_cases(self, aggregate_ids: Sequence[str]) -> dict[str, set[str]]:
        """The cases each of these aggregates is linked to: its own links, and for a sample
        those of the remains it was taken from (two queries). Unlinked ones are left out."""
        direct = self.links(aggregate_ids)
        remains = sorted({link.linked_id for link in direct if link.kind == "remains"})
        through: dict[str, set[str]] = {}
        for link in self.links(remains) if remains else []:
            if link.kind == "case":
                through.setdefault(link.aggregate_id, set()).add(link.linked_id)
        found: dict[str, set[str]] = {}
        for link in direct:
            cases = {link.linked_id} if link.kind == "case" else through.get(link.linked_id, set())
            if cases:
                found.setdefault(link.aggregate_id, set()).update(cases)
        return found

    @abstractmethod
    def chain_heads(self, aggregate_ids: Sequence[str]) -> dict[str, ChainHead]:
        """The last verified (version, hash) of each aggregate seen so far."""

    @abstractmethod
    def cases(self) -> list[CaseRow]:
        """Every case in the view, newest report first."""

    @abstractmethod
    def all_chain_heads(self) -> dict[str, ChainHead]:
        """Every aggregate's last verified (version, hash)."""

    def reset(self, keep: Sequence[TopicPartition] = ()) -> None:
        """Empty every view table and forget every position but those of keep (one
        transaction): a rebuild. The node's data keys outlive its views, so a rebuild keeps
        its place on the keys topic rather than unwrapping every grant again. Emptied views
        are of this release's format: views of another (a later release's) get this release's
        tables, whatever shape that format gave them."""
        with self._format_transaction() as cursor:
            found, _ = self._read_format(cursor)
            if found != VIEWS_FORMAT:
                self._run(cursor, recreate(self.dialect))
            self._reset(cursor, keep)

    def digest(self) -> str:
        """SHA-256 over every row of every view table, in a canonical order: two views hold the
        same data exactly when their digests are equal."""
        hasher = hashlib.sha256()
        for row in sorted(self.cases(), key=lambda r: r.case_id):
            hasher.update(repr((*(getattr(row, c) for c in CASE_COLUMNS), row.minor, row.disclosed)).encode())
        for aggregate_id, (version, digest) in sorted(self.all_chain_heads().items()):
            hasher.update(f"{aggregate_id}:{version}:{digest.hex()}".encode())
            for entry in self.timeline(aggregate_id):
                hasher.update(repr(tuple(getattr(entry, c) for c in TIMELINE_COLUMNS)).encode())
        for forensic in sorted(self.forensic(), key=lambda r: r.aggregate_id):
            hasher.update(repr(tuple(getattr(forensic, c) for c in FORENSIC_COLUMNS)).encode())
        for link in self.links():
            hasher.update(f"link:{link.aggregate_id}:{link.linked_id}:{link.kind}".encode())
        return hasher.hexdigest()

    @abstractmethod
    def search_tokens(self) -> dict[str, bytes]:
        """Each case's names as keyed tokens (projections/view_keys.py), never in clear."""

    @abstractmethod
    def rows(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        """The rows of these cases that the view holds (one query)."""

    def watch(self, watcher: Callable[[Sequence[str], int], None]) -> None:
        """Call watcher(case ids, change serial) after each apply() of this process commits: an
        in-memory search index keeps up without reading every row (projections/search_index.py)."""
        self.__dict__.setdefault("_watchers", []).append(watcher)

    def changed(self, rows: Sequence[str], purged: Sequence[str], serial: int) -> None:
        """apply() has committed as change `serial`: tell the watchers which cases it wrote."""
        for watcher in self.__dict__.get("_watchers", ()):
            watcher([*rows, *purged], serial)

    @abstractmethod
    def change_stamp(self) -> int:
        """How many times the views were written (every apply() and reset adds one, in its own
        transaction): an unchanged figure says the views are as they were, and the serials a
        process's own writes got tell whether anyone else wrote in between."""

    @abstractmethod
    def case_signatures(self) -> dict[str, tuple[int, bool, bool]]:
        """Each case's (version, restricted, sealed value gone) without opening anything: a row
        whose signature is unchanged holds what it held (an erasure empties the sealed value
        without a new version)."""

    def positions(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offset to read in each partition."""
        return {tp: self.max_tracking_id(tracking_name(tp)) or 0 for tp in tps}

    def claim(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """Hold these partitions for this process, as projections/claims.py says: their positions."""
        raise NotImplementedError(_ONE_WRITER)

    def release(self, tps: Sequence[TopicPartition]) -> None:
        """Forget the claim on these partitions (the group moved them to another process)."""
        raise NotImplementedError(_ONE_WRITER)

    def still_held(self, tps: Sequence[TopicPartition]) -> None:
        """PartitionTaken if another process committed a claimed one since (one writer: never)."""

    @abstractmethod
    def close(self) -> None: ...
