"""A jurisdiction's views in PostgreSQL: one schema per jurisdiction, tracking included."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Identifier, Literal

from projections.views import (
    CASE_COLUMNS,
    FORENSIC_COLUMNS,
    PURGED_COLUMNS,
    TIMELINE_COLUMNS,
    CaseRow,
    ChainHead,
    ForensicRow,
    JurisdictionViews,
    TimelineRow,
    create_tables,
    tracking_name,
)
from topics.log import TopicPartition

_COLUMNS = CASE_COLUMNS


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

    def __init__(self, conninfo: dict[str, Any], jurisdiction: str) -> None:
        self.jurisdiction = jurisdiction
        schema = views_schema(jurisdiction)
        self._schema = Identifier(schema)
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
        self.sql_create_statements.insert(
            0, SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(Literal(f"caseledger-views:{schema}"))
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
                "consents text[] NOT NULL DEFAULT '{{}}')"
            ).format(Identifier(schema))
        )
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
                SQL(
                    "CREATE OR REPLACE VIEW {0}.{1} AS SELECT aggregate_id AS {2}, origin, version, status, "
                    "recorded_at, state, withheld FROM {0}.forensic WHERE aggregate_type = {3}"
                ).format(Identifier(schema), Identifier(name), Identifier(key), Literal(kind))
            )
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE VIEW {0}.custody AS SELECT aggregate_id AS sample_id, version, "
                "event_type, occurred_at, recorded_at, organisation, role, purpose, public, shown, withheld "
                "FROM {0}.timeline WHERE aggregate_type = 'Sample'"
            ).format(Identifier(schema))
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
                    SQL(", ").join(SQL("{} = NULL").format(Identifier(c)) for c in PURGED_COLUMNS),
                )
                .as_string(connection)
            )
            self._timeline_purge = (
                SQL("UPDATE {0}.timeline SET shown = '{{}}' WHERE aggregate_id = %s")
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
            columns = SQL(", ").join(Identifier(c) for c in _COLUMNS)
            self._staging_sql = (
                SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {1} (LIKE {0}.timeline) ON COMMIT DELETE ROWS; "
                    "CREATE TEMP TABLE IF NOT EXISTS {2} (LIKE {0}.chain_heads) ON COMMIT DELETE ROWS; "
                    "CREATE TEMP TABLE IF NOT EXISTS {3} (LIKE {0}.cases) ON COMMIT DELETE ROWS; "
                    "CREATE TEMP TABLE IF NOT EXISTS {4} (LIKE {0}.forensic) ON COMMIT DELETE ROWS"
                )
                .format(
                    Identifier(schema),
                    Identifier(f"stage_{schema}_timeline"),
                    Identifier(f"stage_{schema}_heads"),
                    Identifier(f"stage_{schema}_cases"),
                    Identifier(f"stage_{schema}_forensic"),
                )
                .as_string(connection)
            )
            self._timeline_copy = (
                SQL("COPY {} FROM STDIN").format(Identifier(f"stage_{schema}_timeline")).as_string(connection)
            )
            self._timeline_merge = (
                SQL("INSERT INTO {0}.timeline SELECT * FROM {1} ON CONFLICT DO NOTHING")
                .format(Identifier(schema), Identifier(f"stage_{schema}_timeline"))
                .as_string(connection)
            )
            self._heads_copy = (
                SQL("COPY {} FROM STDIN").format(Identifier(f"stage_{schema}_heads")).as_string(connection)
            )
            self._heads_merge = (
                SQL(
                    "INSERT INTO {0}.chain_heads SELECT * FROM {1} ON CONFLICT (aggregate_id) DO UPDATE "
                    "SET version = excluded.version, hash = excluded.hash"
                )
                .format(Identifier(schema), Identifier(f"stage_{schema}_heads"))
                .as_string(connection)
            )
            self._cases_copy = (
                SQL("COPY {0} ({1}) FROM STDIN")
                .format(Identifier(f"stage_{schema}_cases"), columns)
                .as_string(connection)
            )
            self._cases_merge = (
                SQL(
                    "INSERT INTO {0}.cases ({1}) SELECT {1} FROM {2} ON CONFLICT (case_id) DO UPDATE SET {3} "
                    "WHERE excluded.version > {0}.cases.version"
                )
                .format(
                    Identifier(schema),
                    columns,
                    Identifier(f"stage_{schema}_cases"),
                    SQL(", ").join(SQL("{0} = excluded.{0}").format(Identifier(c)) for c in _COLUMNS[1:]),
                )
                .as_string(connection)
            )
            self._forensic_copy = (
                SQL("COPY {} FROM STDIN").format(Identifier(f"stage_{schema}_forensic")).as_string(connection)
            )
            self._forensic_merge = (
                SQL(
                    "INSERT INTO {0}.forensic SELECT * FROM {1} ON CONFLICT (aggregate_id) DO UPDATE SET {2} "
                    "WHERE excluded.version > {0}.forensic.version"
                )
                .format(
                    Identifier(schema),
                    Identifier(f"stage_{schema}_forensic"),
                    SQL(", ").join(
                        SQL("{0} = excluded.{0}").format(Identifier(c)) for c in FORENSIC_COLUMNS[3:]
                    ),
                )
                .as_string(connection)
            )
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
            self._heads_select = (
                SQL("SELECT aggregate_id, version, hash FROM {0}.chain_heads WHERE aggregate_id = ANY(%s)")
                .format(Identifier(schema))
                .as_string(connection)
            )
        create_tables(self)

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
    ) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            # A batch's rows go through COPY into per-transaction staging tables and are merged
            # with one statement per table: a row costs a few µs this way, ten times less than
            # one INSERT each.
            cursor.execute(self._staging_sql)
            if timeline:
                with cursor.copy(self._timeline_copy) as copy:
                    for e in timeline:
                        copy.write_row((*(getattr(e, c) for c in TIMELINE_COLUMNS[:-1]), list(e.withheld)))
                cursor.execute(self._timeline_merge)
            if heads:
                with cursor.copy(self._heads_copy) as copy:
                    for aggregate_id, (version, digest) in heads.items():
                        copy.write_row((aggregate_id, version, digest))
                cursor.execute(self._heads_merge)
            if rows:
                with cursor.copy(self._cases_copy) as copy:
                    for row in rows:
                        copy.write_row(
                            (
                                row.case_id,
                                row.origin,
                                row.version,
                                row.status,
                                row.reported_at,
                                row.sex,
                                row.age_band,
                                list(row.nationalities),
                                row.last_seen_country,
                                row.last_seen_month,
                                row.route,
                                row.restricted,
                                row.given_names,
                                row.first_surname,
                                row.second_surname,
                                row.last_seen_date,
                                row.last_seen_place,
                                list(row.consents),
                            )
                        )
                cursor.execute(self._cases_merge)
            if forensic:
                with cursor.copy(self._forensic_copy) as copy:
                    for f in forensic:
                        copy.write_row(
                            (
                                f.aggregate_id,
                                f.aggregate_type,
                                f.origin,
                                f.version,
                                f.status,
                                f.recorded_at,
                                f.state,
                                list(f.withheld),
                            )
                        )
                cursor.execute(self._forensic_merge)
            if purged:
                cursor.executemany(self._purge_sql, [(c,) for c in purged])
            if purged or restricted:
                cursor.executemany(self._timeline_purge, [(c,) for c in (*purged, *restricted)])
            for tracking in trackings:
                self._insert_tracking(cursor, tracking)

    def all_chain_heads(self) -> dict[str, ChainHead]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(SQL("SELECT aggregate_id, version, hash FROM {}.chain_heads").format(self._schema))
            return {str(r["aggregate_id"]): (int(r["version"]), bytes(r["hash"])) for r in cursor.fetchall()}

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        until = until or datetime.max.replace(tzinfo=UTC)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._timeline_select, (aggregate_id, until))
            found = cursor.fetchall()
        return [
            TimelineRow(str(r["aggregate_id"]), *(r[c] for c in TIMELINE_COLUMNS[1:-1]), tuple(r["withheld"]))
            for r in found
        ]

    def reset(self, keep: Sequence[TopicPartition] = ()) -> None:
        tables = SQL("{0}.cases, {0}.chain_heads, {0}.timeline, {0}.forensic").format(self._schema)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL("TRUNCATE {}").format(tables))
            cursor.execute(
                SQL("DELETE FROM {}.tracking WHERE NOT (application_name = ANY(%s))").format(self._schema),
                # eventsourcing's row that marks the tracking table's format stays too: without
                # it, the next process to open these views would "migrate" the table.
                ([tracking_name(tp) for tp in keep] + [self.table_migration_identifier],),
            )

    def cases(self) -> list[CaseRow]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._select)
            return [_case_row(r) for r in cursor.fetchall()]

    def rows(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        wanted = [c for c in dict.fromkeys(case_ids) if _is_uuid(c)]
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._rows_select, (wanted,))
            return {str(r["case_id"]): _case_row(r) for r in cursor.fetchall()}

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
            return [_forensic_row(r) for r in cursor.fetchall()]

    def forensic_rows(self, aggregate_ids: Sequence[str]) -> dict[str, ForensicRow]:
        wanted = [c for c in dict.fromkeys(aggregate_ids) if _is_uuid(c)]
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._forensic_select + " WHERE aggregate_id = ANY(%s)", (wanted,))
            return {str(r["aggregate_id"]): _forensic_row(r) for r in cursor.fetchall()}

    def close(self) -> None:
        self.datastore.close()


def _psycopg_args(conninfo: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conninfo.items() if k in ("dbname", "host", "port", "user", "password") and v}


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def _case_row(r: Mapping[str, Any]) -> CaseRow:
    return CaseRow(
        **{
            **r,
            "case_id": str(r["case_id"]),
            "nationalities": tuple(r["nationalities"]),
            "consents": tuple(r["consents"]),
        }
    )


def _forensic_row(r: Mapping[str, Any]) -> ForensicRow:
    return ForensicRow(
        **{
            **r,
            "aggregate_id": str(r["aggregate_id"]),
            "version": int(r["version"]),
            "withheld": tuple(r["withheld"]),
        }
    )
