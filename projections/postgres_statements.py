"""The statements PostgreSQL views run, rendered once per schema from the declaration
(projections/view_tables.py): composing SQL again for every row costs more than the insert."""

from __future__ import annotations

from psycopg.sql import Identifier

from projections.view_ddl import PostgresDialect
from projections.view_tables import CASES, CHAIN_HEADS, FORENSIC, TIMELINE, VIEW_TABLES, table
from projections.views import PURGED_COLUMNS

__all__ = ["Statements"]


class Statements:
    """Every query and write of one jurisdiction's views schema, as text."""

    def __init__(self, schema: str, dialect: PostgresDialect) -> None:
        name, columns = dialect.name, dialect.columns
        self.lock = f"SELECT pg_advisory_xact_lock(hashtext('caseledger-views:{schema}'))"
        changes = name("views_changes")
        self.count_change = (
            f"INSERT INTO {changes} VALUES (true, 1) ON CONFLICT (one) "
            f"DO UPDATE SET serial = {changes}.serial + 1 RETURNING serial"
        )
        self.cases = f"SELECT {columns('cases')} FROM {name('cases')}"
        self.rows = f"{self.cases} WHERE case_id = ANY(%s)"
        self.purge = (
            f"UPDATE {name('cases')} SET status = 'erased', restricted = true, "
            + ", ".join(f"{c} = NULL" for c in (*PURGED_COLUMNS, "sealed", "name_tokens"))
            + " WHERE case_id = %s"
        )
        self.remove = (
            f"DELETE FROM {name('cases')} WHERE case_id = %s",
            f"DELETE FROM {name('timeline')} WHERE aggregate_id = %s",
        )
        self.search_tokens = f"SELECT case_id, name_tokens FROM {name('cases')} WHERE name_tokens IS NOT NULL"
        self.signatures = f"SELECT case_id, version, restricted, sealed IS NULL AS gone FROM {name('cases')}"
        self.timeline_forget = (
            f"UPDATE {name('timeline')} SET shown = '{{}}', withheld = CASE WHEN shown = '{{}}' "
            "THEN withheld ELSE array_prepend('common', withheld) END WHERE aggregate_id = %s"
        )
        self.timeline_restore = (
            f"UPDATE {name('timeline')} SET shown = %s, withheld = %s, occurred_at = %s, "
            "recorded_at = %s, organisation = %s, role = %s WHERE aggregate_id = %s AND version = %s"
        )
        timeline = f"SELECT {columns('timeline')} FROM {name('timeline')}"
        self.timeline = f"{timeline} WHERE aggregate_id = %s AND recorded_at <= %s ORDER BY version"
        self.timelines = f"{timeline} WHERE aggregate_id = ANY(%s::uuid[]) ORDER BY aggregate_id, version"
        self.forensic = f"SELECT {columns('forensic')} FROM {name('forensic')}"
        self.links_insert = f"INSERT INTO {name('case_links')} VALUES (%s, %s)"
        self.links = f"SELECT aggregate_id, sealed FROM {name('case_links')}"
        self.heads = f"SELECT aggregate_id, version, hash FROM {name('chain_heads')}"
        self.heads_of = f"{self.heads} WHERE aggregate_id = ANY(%s)"
        self.positions = (
            f"SELECT application_name, max(notification_id) AS next FROM {name('tracking')} "
            "WHERE application_name = ANY(%s) GROUP BY application_name"
        )
        self.format = f"SELECT format FROM {name('views_format')}"
        self.built = f"SELECT 1 FROM {name('tracking')} WHERE strpos(application_name, ':') > 0 LIMIT 1"
        self.truncate = f"TRUNCATE {', '.join(name(t.name) for t in VIEW_TABLES)}"
        self.forget_positions = f"DELETE FROM {name('tracking')} WHERE NOT (application_name = ANY(%s))"
        self._staging(schema, dialect)

    def _staging(self, schema: str, dialect: PostgresDialect) -> None:
        """A batch's way into each view table: a staging table for the transaction, COPY into
        it, and one INSERT ... SELECT that merges it."""
        conflicts = {
            TIMELINE.name: "ON CONFLICT DO NOTHING",
            CHAIN_HEADS.name: (
                "ON CONFLICT (aggregate_id) DO UPDATE SET version = excluded.version, hash = excluded.hash"
            ),
            CASES.name: dialect.newer_wins(CASES.name, CASES.names[1:]),
            FORENSIC.name: dialect.newer_wins(FORENSIC.name, FORENSIC.names[3:]),
        }
        creates = []
        self.stage: dict[str, tuple[str, str]] = {}
        # A few rows (a live pass) go in directly, row by row, sent in one pipeline: staging
        # them cost a live pass a dozen round trips (a statement and a COPY each).
        self.direct: dict[str, str] = {}
        for target, conflict in conflicts.items():
            stage = Identifier(f"stage_{schema}_{target}").as_string(None)
            names = ", ".join(table(target).names)
            creates.append(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {dialect.name(target)}) ON COMMIT DELETE ROWS"
            )
            self.stage[target] = (
                f"COPY {stage} ({names}) FROM STDIN",
                f"INSERT INTO {dialect.name(target)} ({names}) SELECT {names} FROM {stage} {conflict}",
            )
            places = ", ".join("%s" for _ in table(target).names)
            self.direct[target] = f"INSERT INTO {dialect.name(target)} ({names}) VALUES ({places}) {conflict}"
        self.staging = "; ".join(creates)
