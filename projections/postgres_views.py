"""A jurisdiction's views in PostgreSQL: one schema per jurisdiction, tracking included."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from ledger.keystore import KeyStore
from projections.claims import Claims
from projections.sealed_rows import STORED_CASE_COLUMNS, RowSealer
from projections.view_keys import ViewKeys
from projections.views import (
    FORENSIC_COLUMNS,
    PURGED_COLUMNS,
    TIMELINE_COLUMNS,
    VIEWS_FORMAT,
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

__all__ = ["PostgresJurisdictionViews", "ensure_schema", "views_schema"]

_COLUMNS = STORED_CASE_COLUMNS


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
        self._sealer = RowSealer(self.view_keys)
        schema = views_schema(jurisdiction)
        self._schema = Identifier(schema)
        self._claims = Claims(self._schema)
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
        # its CLI): their DDL (CREATE OR REPLACE VIEW above all) would collide in the catalogue.
        # One transaction-scoped advisory lock per schema makes them take turns.
        self._lock_sql = SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
            Literal(f"caseledger-views:{schema}")
        )
        self.sql_create_statements.insert(0, self._lock_sql)
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0}.views_format (format integer NOT NULL)").format(
                Identifier(schema)
            )
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.cases ("
                "case_id uuid PRIMARY KEY, origin text NOT NULL, version bigint NOT NULL, "
                "status text NOT NULL, reported_at timestamptz NOT NULL, sex text NOT NULL, "
                "age_band text, nationalities text[] NOT NULL, last_seen_country text NOT NULL, "
                "last_seen_month text, route text, restricted boolean NOT NULL, "
                "given_names text, first_surname text, "
                "second_surname text, last_seen_date date, last_seen_place text, "
                "consents text[] NOT NULL DEFAULT '{{}}', sealed bytea, name_tokens bytea)"
            ).format(Identifier(schema))
        )
        # A record's links to cases, sealed under its views key (projections/sealed_rows.py).
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.case_links ("
                "aggregate_id uuid NOT NULL, sealed bytea NOT NULL)"
            ).format(Identifier(schema))
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS case_links_by_aggregate ON {0}.case_links (aggregate_id)").format(
                Identifier(schema)
            )
        )
        # Views of an earlier release lack the sealed columns; their rows go at the rebuild.
        self.sql_create_statements.append(
            _unless_later(
                schema,
                SQL(
                    "ALTER TABLE {0}.cases ADD COLUMN IF NOT EXISTS sealed bytea, "
                    "ADD COLUMN IF NOT EXISTS name_tokens bytea"
                ).format(Identifier(schema)),
            )
        )
        # One row counting the views' writes (projections/search_index.py): every apply() and
        # reset adds one, in its own transaction.
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.views_changes ("
                "one boolean PRIMARY KEY DEFAULT true CHECK (one), serial bigint NOT NULL)"
            ).format(Identifier(schema))
        )
        self._count_change = SQL(
            "INSERT INTO {0}.views_changes VALUES (true, 1) ON CONFLICT (one) "
            "DO UPDATE SET serial = {0}.views_changes.serial + 1 RETURNING serial"
        ).format(Identifier(schema))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.chain_heads ("
                "aggregate_id uuid PRIMARY KEY, version bigint NOT NULL, hash bytea NOT NULL)"
            ).format(Identifier(schema))
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.timeline ("
                "aggregate_id uuid NOT NULL, version bigint NOT NULL, aggregate_type text NOT NULL, "
                "event_type text NOT NULL, origin text NOT NULL, occurred_at timestamptz NOT NULL, "
                "recorded_at timestamptz NOT NULL, organisation text NOT NULL, role text NOT NULL, "
                "purpose text NOT NULL, public text NOT NULL, shown text NOT NULL, "
                "withheld text[] NOT NULL, "
                "PRIMARY KEY (aggregate_id, version))"
            ).format(Identifier(schema))
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.forensic ("
                "aggregate_id uuid PRIMARY KEY, aggregate_type text NOT NULL, origin text NOT NULL, "
                "version bigint NOT NULL, status text NOT NULL, recorded_at timestamptz NOT NULL, "
                "state text NOT NULL, withheld text[] NOT NULL)"
            ).format(Identifier(schema))
        )
        # Remains, samples and matches each as a view of their own; a sample's custody chain is
        # its timeline: who held it, who recorded each step, when and why.
        for name, key, kind in (
            ("remains", "remains_id", "UnidentifiedRemains"),
            ("samples", "sample_id", "Sample"),
            ("matches", "match_id", "Match"),
        ):
            self.sql_create_statements.append(
                _sql_view(
                    schema,
                    name,
                    SQL(
                        "SELECT aggregate_id AS {1}, origin, version, status, recorded_at, state, withheld "
                        "FROM {0}.forensic WHERE aggregate_type = {2}"
                    ).format(Identifier(schema), Identifier(key), Literal(kind)),
                )
            )
        self.sql_create_statements.append(
            _sql_view(
                schema,
                "custody",
                SQL(
                    "SELECT aggregate_id AS sample_id, version, event_type, occurred_at, recorded_at, "
                    "organisation, role, purpose, public, shown, withheld FROM {0}.timeline "
                    "WHERE aggregate_type = 'Sample'"
                ).format(Identifier(schema)),
            )
        )
        self._select = SQL("SELECT {1} FROM {0}.cases ORDER BY reported_at DESC, case_id").format(
            Identifier(schema), SQL(", ").join(Identifier(c) for c in _COLUMNS)
        )
        # Composed SQL is rendered once: composing it again for every row costs more than the insert.
        with psycopg.connect(**_psycopg_args(conninfo)) as connection:
            self._purge_sql = (
                SQL("UPDATE {0}.cases SET status = 'erased', restricted = true, {1} WHERE case_id = %s")
                .format(
                    Identifier(schema),
                    SQL(", ").join(
                        SQL("{} = NULL").format(Identifier(c))
                        for c in (*PURGED_COLUMNS, "sealed", "name_tokens")
                    ),
                )
                .as_string(connection)
            )
            self._timeline_purge = (
                SQL(
                    "UPDATE {0}.timeline SET shown = '{{}}', withheld = CASE WHEN shown = '{{}}' "
                    "THEN withheld ELSE array_prepend('common', withheld) END WHERE aggregate_id = %s"
                )
                .format(Identifier(schema))
                .as_string(connection)
            )
            self._timeline_restore = (
                SQL(
                    "UPDATE {0}.timeline SET shown = %s, withheld = %s, occurred_at = %s, "
                    "recorded_at = %s, organisation = %s, role = %s WHERE aggregate_id = %s AND version = %s"
                )
                .format(Identifier(schema))
                .as_string(connection)
            )
            self._timeline_select = (
                SQL(
                    "SELECT {1} FROM {0}.timeline "
                    "WHERE aggregate_id = %s AND recorded_at <= %s ORDER BY version"
                )
                .format(Identifier(schema), SQL(", ").join(Identifier(c) for c in TIMELINE_COLUMNS))
                .as_string(connection)
            )
            self._timelines_select = (
                SQL(
                    "SELECT {1} FROM {0}.timeline WHERE aggregate_id = ANY(%s::uuid[]) "
                    "ORDER BY aggregate_id, version"
                )
                .format(Identifier(schema), SQL(", ").join(Identifier(c) for c in TIMELINE_COLUMNS))
                .as_string(connection)
            )
            conflicts = {
                "timeline": SQL("ON CONFLICT DO NOTHING"),
                "chain_heads": SQL(
                    "ON CONFLICT (aggregate_id) DO UPDATE "
                    "SET version = excluded.version, hash = excluded.hash"
                ),
                "cases": _newer_wins(schema, "cases", "case_id", _COLUMNS[1:]),
                "forensic": _newer_wins(schema, "forensic", "aggregate_id", FORENSIC_COLUMNS[3:]),
            }
            staged = {
                table: _staged(schema, table, _STAGED[table], conflict)
                for table, conflict in conflicts.items()
            }
            self._staging_sql = "; ".join(create.as_string(connection) for create, _, _ in staged.values())
            self._stage = {
                table: (copy.as_string(connection), merge.as_string(connection))
                for table, (_, copy, merge) in staged.items()
            }
            self._forensic_select = (
                SQL("SELECT {1} FROM {0}.forensic")
                .format(Identifier(schema), SQL(", ").join(Identifier(c) for c in FORENSIC_COLUMNS))
                .as_string(connection)
            )
            self._rows_select = (
                SQL("SELECT {1} FROM {0}.cases WHERE case_id = ANY(%s)")
                .format(Identifier(schema), SQL(", ").join(Identifier(c) for c in _COLUMNS))
                .as_string(connection)
            )
            self._links_insert = (
                SQL("INSERT INTO {0}.case_links VALUES (%s, %s)")
                .format(Identifier(schema))
                .as_string(connection)
            )
            self._links_select = (
                SQL("SELECT aggregate_id, sealed FROM {0}.case_links")
                .format(Identifier(schema))
                .as_string(connection)
            )
            self._heads_select = (
                SQL("SELECT aggregate_id, version, hash FROM {0}.chain_heads WHERE aggregate_id = ANY(%s)")
                .format(Identifier(schema))
                .as_string(connection)
            )
            self._positions_select = (
                SQL(
                    "SELECT application_name, max(notification_id) AS next FROM {0}.tracking "
                    "WHERE application_name = ANY(%s) GROUP BY application_name"
                )
                .format(Identifier(schema))
                .as_string(connection)
            )
        create_tables(self)

    def positions(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offset to read in each partition, in one query (a query per partition was
        a sixth of a live pass)."""
        if not tps:
            return {}
        names = {tracking_name(tp): tp for tp in tps}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._positions_select, (list(names),))
            found = {str(r["application_name"]): r["next"] for r in cursor.fetchall()}
        return {tp: int(found.get(name) or 0) for name, tp in names.items()}

    def chain_heads(self, aggregate_ids: Sequence[str]) -> dict[str, ChainHead]:
        if not aggregate_ids:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._heads_select, (list(aggregate_ids),))
            found = cursor.fetchall()
        return {str(r["aggregate_id"]): (int(r["version"]), bytes(r["hash"])) for r in found}

    def apply(
        self,
        rows: Sequence[CaseRow],
        trackings: Sequence[Tracking],
        heads: Mapping[str, ChainHead] | None = None,
        purged: Sequence[str] = (),
        timeline: Sequence[TimelineRow] = (),
        restricted: Sequence[str] = (),
        forensic: Sequence[ForensicRow] = (),
        restored: Sequence[TimelineRow] = (),
        links: Sequence[Link] = (),
        removed: Sequence[str] = (),
    ) -> None:
        forensic = self._sealer.forensic(forensic)
        timeline = self._sealer.timeline(timeline)
        restored = self._sealer.timeline(restored)
        cases = self._sealer.case_values(rows)
        sealed_links = self._sealer.links(links)
        with self.datastore.transaction(commit=True) as cursor:
            if self._claims:  # a group member: a stopped one must not stall the others
                cursor.execute(self._claims.bounded)
            if sealed_links:  # a few per match or identification: no staging needed
                cursor.executemany(self._links_insert, sealed_links)
            # A batch's rows go through COPY into per-transaction staging tables and are merged
            # with one statement per table: a row costs a few µs this way, ten times less than
            # one INSERT each.
            cursor.execute(self._staging_sql)
            batches = {
                "timeline": [_row_values(e, TIMELINE_COLUMNS) for e in timeline],
                "chain_heads": [(a, v, h) for a, (v, h) in (heads or {}).items()],
                "cases": [tuple(list(v) if isinstance(v, tuple) else v for v in c) for c in cases],
                "forensic": [_row_values(f, FORENSIC_COLUMNS) for f in forensic],
            }
            for table, values in batches.items():
                if values:
                    copy_sql, merge_sql = self._stage[table]
                    with cursor.copy(copy_sql) as copy:
                        for value in values:
                            copy.write_row(value)
                    cursor.execute(merge_sql)
            if restored:
                cursor.executemany(
                    self._timeline_restore,
                    [
                        (
                            e.shown,
                            list(e.withheld),
                            e.occurred_at,
                            e.recorded_at,
                            e.organisation,
                            e.role,
                            e.aggregate_id,
                            e.version,
                        )
                        for e in restored
                    ],
                )
            if purged:
                cursor.executemany(self._purge_sql, [(c,) for c in purged])
            if purged or restricted:
                cursor.executemany(self._timeline_purge, [(c,) for c in (*purged, *restricted)])
            for case_id in removed:  # withheld from this country: nothing of it stays
                cursor.execute(
                    SQL("DELETE FROM {}.cases WHERE case_id = %s").format(self._schema), (case_id,)
                )
                cursor.execute(
                    SQL("DELETE FROM {}.timeline WHERE aggregate_id = %s").format(self._schema), (case_id,)
                )
            for tracking in trackings:
                if self._claims.held(tracking.application_name):
                    self._claims.write(cursor, tracking)  # compare-and-set: PartitionTaken
                else:
                    self._insert_tracking(cursor, tracking)
            cursor.execute(self._count_change)
            counted = cursor.fetchone()
            serial = int(counted["serial"]) if counted else 0
        self._claims.committed(trackings)
        self.view_keys.destroy([*purged, *removed])
        self.changed([r.case_id for r in rows], [*purged, *removed], serial)

    def all_chain_heads(self) -> dict[str, ChainHead]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(SQL("SELECT aggregate_id, version, hash FROM {}.chain_heads").format(self._schema))
            return {str(r["aggregate_id"]): (int(r["version"]), bytes(r["hash"])) for r in cursor.fetchall()}

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        until = until or datetime.max.replace(tzinfo=UTC)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._timeline_select, (aggregate_id, until))
            found = cursor.fetchall()
        return self._sealer.open_timeline(_timeline_row(r) for r in found)

    def timelines(self, aggregate_ids: Sequence[str]) -> dict[str, list[TimelineRow]]:
        wanted = [c for c in dict.fromkeys(aggregate_ids) if is_uuid(c)]
        found: dict[str, list[TimelineRow]] = {}
        if not wanted:
            return found
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._timelines_select, (wanted,))
            rows = cursor.fetchall()
        for entry in self._sealer.open_timeline(_timeline_row(r) for r in rows):
            found.setdefault(entry.aggregate_id, []).append(entry)
        return found

    def reset(self, keep: Sequence[TopicPartition] = ()) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            self._reset(cursor, keep)

    def upgrade(self, keep: Sequence[TopicPartition] = ()) -> int | None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self._lock_sql)  # processes opening the views together take turns
            cursor.execute(SQL("SELECT format FROM {}.views_format").format(self._schema))
            found = cursor.fetchone()
            cursor.execute(
                SQL("SELECT 1 FROM {}.tracking WHERE application_name LIKE '%%:%%' LIMIT 1").format(
                    self._schema
                )
            )
            built = cursor.fetchone() is not None
            return self._settle_format(cursor, int(found["format"]) if found else None, built, keep)

    def _reset(self, cursor: Any, keep: Sequence[TopicPartition]) -> None:
        tables = SQL("{0}.cases, {0}.chain_heads, {0}.timeline, {0}.forensic, {0}.case_links").format(
            self._schema
        )
        cursor.execute(SQL("TRUNCATE {}").format(tables))
        cursor.execute(
            SQL("DELETE FROM {}.tracking WHERE NOT (application_name = ANY(%s))").format(self._schema),
            # eventsourcing's row that marks the tracking table's format stays too: without
            # it, the next process to open these views would "migrate" the table.
            ([tracking_name(tp) for tp in keep] + [self.table_migration_identifier],),
        )
        cursor.execute(self._count_change)
        self._stamp(cursor)

    def _stamp(self, cursor: Any) -> None:
        cursor.execute(SQL("DELETE FROM {}.views_format").format(self._schema))
        cursor.execute(SQL("INSERT INTO {}.views_format VALUES (%s)").format(self._schema), (VIEWS_FORMAT,))

    def cases(self) -> list[CaseRow]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._select)
            found = cursor.fetchall()
        return self._sealer.open_cases([_case_row(r) for r in found])

    def search_tokens(self) -> dict[str, bytes]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL("SELECT case_id, name_tokens FROM {}.cases WHERE name_tokens IS NOT NULL").format(
                    self._schema
                )
            )
            return {str(r["case_id"]): bytes(r["name_tokens"]) for r in cursor.fetchall()}

    def change_stamp(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(SQL("SELECT serial FROM {}.views_changes").format(self._schema))
            found = cursor.fetchone()
            return int(found["serial"]) if found else 0

    def case_signatures(self) -> dict[str, tuple[int, bool, bool]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL("SELECT case_id, version, restricted, sealed IS NULL AS gone FROM {}.cases").format(
                    self._schema
                )
            )
            return {
                str(r["case_id"]): (int(r["version"]), bool(r["restricted"]), bool(r["gone"]))
                for r in cursor.fetchall()
            }

    def rows(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        wanted = [c for c in dict.fromkeys(case_ids) if is_uuid(c)]
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._rows_select, (wanted,))
            found = cursor.fetchall()
        return {r.case_id: r for r in self._sealer.open_cases([_case_row(r) for r in found])}

    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        with self.datastore.transaction(commit=False) as cursor:
            if aggregate_type is None:
                cursor.execute(self._forensic_select + " ORDER BY recorded_at DESC, aggregate_id")
            else:
                cursor.execute(
                    self._forensic_select
                    + " WHERE aggregate_type = %s ORDER BY recorded_at DESC, aggregate_id",
                    (aggregate_type,),
                )
            found = cursor.fetchall()
        return self._sealer.open_forensic(_forensic_row(r) for r in found)

    def forensic_rows(self, aggregate_ids: Sequence[str]) -> dict[str, ForensicRow]:
        wanted = [c for c in dict.fromkeys(aggregate_ids) if is_uuid(c)]
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._forensic_select + " WHERE aggregate_id = ANY(%s)", (wanted,))
            found = cursor.fetchall()
        return {f.aggregate_id: f for f in self._sealer.open_forensic(_forensic_row(r) for r in found)}

    def links(self, aggregate_ids: Sequence[str] | None = None) -> list[Link]:
        wanted = [c for c in dict.fromkeys(aggregate_ids or ()) if is_uuid(c)]
        if aggregate_ids is not None and not wanted:
            return []
        with self.datastore.transaction(commit=False) as cursor:
            if aggregate_ids is None:
                cursor.execute(self._links_select)
            else:
                cursor.execute(self._links_select + " WHERE aggregate_id = ANY(%s::uuid[])", (wanted,))
            found = [(str(r["aggregate_id"]), bytes(r["sealed"])) for r in cursor.fetchall()]
        return self._sealer.open_links(found)

    def claim(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        positions = self.positions(tps)
        self._claims.hold({tracking_name(tp): p for tp, p in positions.items()})
        return positions

    def release(self, tps: Sequence[TopicPartition]) -> None:
        self._claims.drop([tracking_name(tp) for tp in tps])

    def close(self) -> None:
        self.datastore.close()


def _sql_view(schema: str, name: str, select: Composed) -> Composed:
    """Create or replace one SQL view, unless the views are of a later release's format:
    replacing a later release's view with this release's would alter views this release must
    refuse (upgrade() then raises ViewsFromLaterRelease, nothing altered). A definition whose
    columns changed cannot be replaced in place, so it is dropped and created (its grants go)."""
    view = SQL("{}.{}").format(Identifier(schema), Identifier(name))
    return SQL(
        "DO $caseledger$ BEGIN IF NOT EXISTS (SELECT FROM {0}.views_format WHERE format > {1}) THEN "
        "BEGIN CREATE OR REPLACE VIEW {2} AS {3}; "
        "EXCEPTION WHEN invalid_table_definition THEN DROP VIEW {2}; CREATE VIEW {2} AS {3}; END; "
        "END IF; END $caseledger$"
    ).format(Identifier(schema), Literal(VIEWS_FORMAT), view, select)


def _unless_later(schema: str, statement: Composed) -> Composed:
    """A DDL statement run only while the views are not of a later release's format."""
    return SQL(
        "DO $caseledger$ BEGIN IF NOT EXISTS (SELECT FROM {0}.views_format WHERE format > {1}) THEN "
        "{2}; END IF; END $caseledger$"
    ).format(Identifier(schema), Literal(VIEWS_FORMAT), statement)


def _psycopg_args(conninfo: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conninfo.items() if k in ("dbname", "host", "port", "user", "password") and v}


_STAGED = {
    "timeline": TIMELINE_COLUMNS,
    "chain_heads": ("aggregate_id", "version", "hash"),
    "cases": _COLUMNS,
    "forensic": FORENSIC_COLUMNS,
}


def _staged(schema: str, table: str, columns: Sequence[str], conflict: Composable) -> tuple[Composed, ...]:
    """A batch's way into one view table: a staging table for the transaction, COPY into it,
    and one INSERT ... SELECT that merges it."""
    stage, target = (
        Identifier(f"stage_{schema}_{table}"),
        SQL("{}.{}").format(Identifier(schema), Identifier(table)),
    )
    names = SQL(", ").join(Identifier(c) for c in columns)
    return (
        SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(stage, target),
        SQL("COPY {} ({}) FROM STDIN").format(stage, names),
        SQL("INSERT INTO {0} ({1}) SELECT {1} FROM {2} {3}").format(target, names, stage, conflict),
    )


def _newer_wins(schema: str, table: str, key: str, columns: Sequence[str]) -> Composed:
    return SQL("ON CONFLICT ({}) DO UPDATE SET {} WHERE excluded.version > {}.{}.version").format(
        Identifier(key),
        SQL(", ").join(SQL("{0} = excluded.{0}").format(Identifier(c)) for c in columns),
        Identifier(schema),
        Identifier(table),
    )


def _row_values(row: object, columns: Sequence[str]) -> tuple[Any, ...]:
    """A view row as COPY takes it: its columns in order, tuples as arrays."""
    return tuple(list(v) if isinstance(v, tuple) else v for v in (getattr(row, c) for c in columns))


def _case_row(r: Mapping[str, Any]) -> tuple[CaseRow, bytes | None]:
    """A stored case row and its sealed value."""
    plain = {k: v for k, v in r.items() if k not in ("sealed", "name_tokens")}
    row = CaseRow(
        **{
            **plain,
            "case_id": str(r["case_id"]),
            "nationalities": tuple(r["nationalities"]),
            "consents": tuple(r["consents"]),
        }
    )
    return row, None if r["sealed"] is None else bytes(r["sealed"])


def _timeline_row(r: Mapping[str, Any]) -> TimelineRow:
    return TimelineRow(**{**r, "aggregate_id": str(r["aggregate_id"]), "withheld": tuple(r["withheld"])})


def _forensic_row(r: Mapping[str, Any]) -> ForensicRow:
    return ForensicRow(
        **{
            **r,
            "aggregate_id": str(r["aggregate_id"]),
            "version": int(r["version"]),
            "withheld": tuple(r["withheld"]),
        }
    )
