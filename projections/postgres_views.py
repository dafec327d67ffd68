"""A jurisdiction's views in PostgreSQL: one schema per jurisdiction, tracking included."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier

from ledger.keystore import KeyStore
from projections.claims import Claims
from projections.postgres_statements import Statements
from projections.sealed_rows import RowSealer
from projections.view_batch import ViewBatch
from projections.view_ddl import PostgresDialect
from projections.view_keys import ViewKeys
from projections.views import (
    CaseRow,
    ChainHead,
    ForensicRow,
    JurisdictionViews,
    Link,
    TimelineRow,
    create_tables,
    is_uuid,
    tracking_name,
)
from topics.log import TopicPartition

__all__ = ["DIRECT_ROWS", "PostgresJurisdictionViews", "ensure_schema", "views_schema"]

# At most this many rows a batch: inserted directly in one pipeline rather than staged by COPY.
DIRECT_ROWS = 64


def ensure_schema(conninfo: dict[str, Any], schema: str) -> None:
    """CREATE SCHEMA IF NOT EXISTS, safe when two processes of a node start at once."""
    # The other process may create it between the check and the insert.
    duplicate = (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema)
    with (
        psycopg.connect(**_psycopg_args(conninfo), autocommit=True) as connection,
        contextlib.suppress(*duplicate),
    ):
        connection.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))


def views_schema(jurisdiction: str) -> str:
    """The PostgreSQL schema holding one jurisdiction's views."""
    return f"views_{jurisdiction.lower()}"


class PostgresJurisdictionViews(PostgresTrackingRecorder, JurisdictionViews):
    """Views and tracking rows in one PostgreSQL schema, written in one transaction."""

    def __init__(self, conninfo: dict[str, Any], jurisdiction: str, keys: KeyStore | None = None) -> None:
        """keys: the node's key store, where the views keys live (without it, what these
        views seal opens in this process only)."""
        self.jurisdiction = jurisdiction
        self.view_keys = ViewKeys(keys)
        schema = views_schema(jurisdiction)
        self._schema = Identifier(schema)
        self._claims = Claims(self._schema)
        self.dialect = PostgresDialect(schema)
        self._sealer = RowSealer(self.view_keys, self.dialect)
        self._sql = Statements(schema, self.dialect)
        ensure_schema(conninfo, schema)
        datastore = PostgresDatastore(
            dbname=conninfo["dbname"],
            host=conninfo["host"],
            port=conninfo["port"],
            user=conninfo["user"],
            password=conninfo.get("password") or "",
            schema=schema,
        )
        super().__init__(datastore, tracking_table_name="tracking")
        # Several processes may open the same views at once (rebuild workers, a node's serve and
        # its CLI): their DDL (replacing the SQL views above all) would collide in the catalogue.
        # One transaction-scoped advisory lock per schema makes them take turns.
        self.sql_create_statements.insert(0, Composed([SQL(self._sql.lock)]))
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in self.dialect.bookkeeping())
        create_tables(self)
        self._open_tables()

    @contextmanager
    def _format_transaction(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self._sql.lock)
            yield cursor

    def _read_format(self, cursor: Any) -> tuple[int | None, bool]:
        cursor.execute(self._sql.format)
        found = cursor.fetchone()
        cursor.execute(self._sql.built)
        return (None if found is None else int(found["format"])), cursor.fetchone() is not None

    def positions(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offset to read in each partition, in one query (a query per partition was
        a sixth of a live pass)."""
        if not tps:
            return {}
        names = {tracking_name(tp): tp for tp in tps}
        found = {str(r["application_name"]): r["next"] for r in self._query(self._sql.positions, list(names))}
        return {tp: int(found.get(name) or 0) for name, tp in names.items()}

    def _query(self, statement: str, *args: Any) -> list[Any]:
        """The rows one statement reads, on an autocommit connection: a statement is its own
        transaction there, read from one snapshot. An explicit BEGIN ... ROLLBACK around it
        cost a live pass two more round trips per read (positions, chain heads, rows)."""
        with self.datastore.get_connection() as connection:
            return connection.execute(statement, args or None).fetchall()

    def chain_heads(self, aggregate_ids: Sequence[str]) -> dict[str, ChainHead]:
        if not aggregate_ids:
            return {}
        found = self._query(self._sql.heads_of, list(aggregate_ids))
        return {str(r["aggregate_id"]): (int(r["version"]), bytes(r["hash"])) for r in found}

    def apply(self, batch: ViewBatch) -> None:
        rows, trackings, heads, purged = batch.rows, batch.trackings, batch.heads, batch.purged
        restricted, removed = batch.restricted, batch.removed
        forensic = self._sealer.forensic(batch.forensic)
        timeline = self._sealer.timeline(batch.timeline)
        restored = self._sealer.timeline(batch.restored)
        cases = self._sealer.case_values(rows)
        sealed_links = self._sealer.links(batch.links)
        sql, encode = self._sql, self.dialect.encode
        batches = {
            "timeline": [encode("timeline", e) for e in timeline],
            "chain_heads": [(a, v, h) for a, (v, h) in (heads or {}).items()],
            "cases": [self.dialect.encode_values("cases", c) for c in cases],
            "forensic": [encode("forensic", f) for f in forensic],
        }
        # A group member writes as before, in a plain transaction (see the note of 2026-12-02:
        # with the pipeline, test_projection_group's stopped worker failed 2 runs in 5).
        small = not self._claims and sum(map(len, batches.values())) <= DIRECT_ROWS
        with self._writing(pipelined=small) as cursor:
            if self._claims:  # a group member: a stopped one must not stall the others
                for bound in self._claims.bounded:
                    cursor.execute(bound)
            if sealed_links:  # a few per match or identification: no staging needed
                cursor.executemany(sql.links_insert, sealed_links)
            self._rows(cursor, batches, small)
            if restored:
                cursor.executemany(sql.timeline_restore, [_restored(e) for e in restored])
            if purged:
                cursor.executemany(sql.purge, [(c,) for c in purged])
            if purged or restricted:
                cursor.executemany(sql.timeline_forget, [(c,) for c in (*purged, *restricted)])
            for case_id in removed:  # withheld from this country: nothing of it stays
                for statement in sql.remove:
                    cursor.execute(statement, (case_id,))
            for tracking in trackings:
                if self._claims.held(tracking.application_name):
                    self._claims.write(cursor, tracking)  # compare-and-set: PartitionTaken
                else:
                    self._insert_tracking(cursor, tracking)
            cursor.execute(sql.count_change)
            counted = cursor.fetchone()
            serial = int(counted["serial"]) if counted else 0
        self._claims.committed(trackings)
        self.view_keys.destroy([*purged, *removed])
        self.changed([r.case_id for r in rows], [*purged, *removed], serial)

    @contextmanager
    def _writing(self, pipelined: bool) -> Iterator[Any]:
        """A transaction's cursor; pipelined, its statements go out together and the server
        answers them together (a fetch waits for the answers so far), BEGIN and COMMIT
        included: a few round trips for a live pass's write instead of one per statement.
        COPY cannot be pipelined: a large batch is written as before."""
        if not pipelined:
            with self.datastore.transaction(commit=True) as cursor:
                yield cursor
            return
        with self.datastore.get_connection() as connection, connection.pipeline(), connection.transaction():
            yield connection.cursor()

    def _rows(self, cursor: Any, batches: Mapping[str, Sequence[Sequence[Any]]], small: bool) -> None:
        """Each table's rows: a few directly (the caller's pipeline sends them together), more
        through COPY into per-transaction staging tables merged with one statement per table
        (a row costs a few µs this way, ten times less than one INSERT each)."""
        if not small:
            cursor.execute(self._sql.staging)
            self._stage(cursor, batches)
            return
        for name, values in batches.items():
            if values:
                cursor.executemany(self._sql.direct[name], values)

    def _stage(self, cursor: Any, batches: Mapping[str, Sequence[Sequence[Any]]]) -> None:
        """Each table's rows by COPY into its staging table, then one merge statement."""
        for table, values in batches.items():
            if values:
                copy_sql, merge_sql = self._sql.stage[table]
                with cursor.copy(copy_sql) as copy:
                    for value in values:
                        copy.write_row(value)
                cursor.execute(merge_sql)

    def all_chain_heads(self) -> dict[str, ChainHead]:
        found = self._query(self._sql.heads)
        return {str(r["aggregate_id"]): (int(r["version"]), bytes(r["hash"])) for r in found}

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        found = self._query(self._sql.timeline, aggregate_id, until or datetime.max.replace(tzinfo=UTC))
        return self._sealer.read_timeline(found)

    def timelines(self, aggregate_ids: Sequence[str]) -> dict[str, list[TimelineRow]]:
        wanted = [c for c in dict.fromkeys(aggregate_ids) if is_uuid(c)]
        found: dict[str, list[TimelineRow]] = {}
        if not wanted:
            return found
        for entry in self._sealer.read_timeline(self._query(self._sql.timelines, wanted)):
            found.setdefault(entry.aggregate_id, []).append(entry)
        return found

    def _reset(self, cursor: Any, keep: Sequence[TopicPartition]) -> None:
        cursor.execute(self._sql.truncate)
        cursor.execute(
            self._sql.forget_positions,
            # eventsourcing's row that marks the tracking table's format stays too: without
            # it, the next process to open these views would "migrate" the table.
            ([tracking_name(tp) for tp in keep] + [self.table_migration_identifier],),
        )
        cursor.execute(self._sql.count_change)
        self._stamp(cursor)

    def cases(self) -> list[CaseRow]:
        found = self._query(self._sql.cases + " ORDER BY reported_at DESC, case_id")
        return self._sealer.read_cases(found)

    def search_tokens(self) -> dict[str, bytes]:
        return {str(r["case_id"]): bytes(r["name_tokens"]) for r in self._query(self._sql.search_tokens)}

    def change_stamp(self) -> int:
        found = self._query(f"SELECT serial FROM {self.dialect.name('views_changes')}")
        return int(found[0]["serial"]) if found else 0

    def case_signatures(self) -> dict[str, tuple[int, bool, bool]]:
        return {
            str(r["case_id"]): (int(r["version"]), bool(r["restricted"]), bool(r["gone"]))
            for r in self._query(self._sql.signatures)
        }

    def rows(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        wanted = [c for c in dict.fromkeys(case_ids) if is_uuid(c)]
        if not wanted:
            return {}
        found = self._query(self._sql.rows, wanted)
        opened = self._sealer.read_cases(found)
        return {r.case_id: r for r in opened}

    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        newest = " ORDER BY recorded_at DESC, aggregate_id"
        if aggregate_type is None:
            found = self._query(self._sql.forensic + newest)
        else:
            found = self._query(self._sql.forensic + " WHERE aggregate_type = %s" + newest, aggregate_type)
        return self._sealer.read_forensic(found)

    def forensic_rows(self, aggregate_ids: Sequence[str]) -> dict[str, ForensicRow]:
        wanted = [c for c in dict.fromkeys(aggregate_ids) if is_uuid(c)]
        if not wanted:
            return {}
        found = self._query(self._sql.forensic + " WHERE aggregate_id = ANY(%s)", wanted)
        opened = self._sealer.read_forensic(found)
        return {f.aggregate_id: f for f in opened}

    def links(self, aggregate_ids: Sequence[str] | None = None) -> list[Link]:
        wanted = [c for c in dict.fromkeys(aggregate_ids or ()) if is_uuid(c)]
        if aggregate_ids is not None and not wanted:
            return []
        if aggregate_ids is None:
            found = self._query(self._sql.links)
        else:
            found = self._query(self._sql.links + " WHERE aggregate_id = ANY(%s::uuid[])", wanted)
        return self._sealer.open_links([(str(r["aggregate_id"]), bytes(r["sealed"])) for r in found])

    def claim(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        positions = self.positions(tps)
        self._claims.hold({tracking_name(tp): p for tp, p in positions.items()})
        return positions

    def release(self, tps: Sequence[TopicPartition]) -> None:
        self._claims.drop([tracking_name(tp) for tp in tps])

    def still_held(self, tps: Sequence[TopicPartition]) -> None:
        held = [tp for tp in tps if self._claims.held(tracking_name(tp))]
        if held:
            self._claims.check({tracking_name(tp): p for tp, p in self.positions(held).items()})

    def close(self) -> None:
        self.datastore.close()


def _psycopg_args(conninfo: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conninfo.items() if k in ("dbname", "host", "port", "user", "password") and v}


def _restored(entry: TimelineRow) -> tuple[Any, ...]:
    """A timeline entry shown again, as the restoring UPDATE takes it."""
    return (
        entry.shown,
        list(entry.withheld),
        entry.occurred_at,
        entry.recorded_at,
        entry.organisation,
        entry.role,
        entry.aggregate_id,
        entry.version,
    )
