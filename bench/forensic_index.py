"""Listing remains, samples or matches of one kind (GET /remains, /samples, /matches and the
`caseledger forensic` command): views of format 6 (forensic_by_kind, migration 6) against the
same views at format 5 (the index dropped), on SQLite and on the real PostgreSQL.

The figure is the query each listing runs, SELECT ... WHERE aggregate_type = ? ORDER BY
recorded_at DESC, aggregate_id, over forensic rows of three kinds in the proportions a node
holds them (several samples per remains, few matches); opening the sealed states afterwards
costs the same with or without the index and is left out.

    python3 -m bench.forensic_index [remains]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.common import fresh_database, report
from projections.postgres_views import PostgresJurisdictionViews, views_schema
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.view_tables import FORENSIC_BY_KIND
from services.settings import Settings

# Rows of each kind per remains.
KINDS = {"UnidentifiedRemains": 1.0, "Sample": 3.0, "Match": 0.1}
RUNS = 7


def rows(remains: int) -> list[tuple[Any, ...]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    found: list[tuple[Any, ...]] = []
    for kind, share in KINDS.items():
        for n in range(int(remains * share)):
            at = start + timedelta(minutes=n)
            found.append((f"00000000-0000-4000-9000-{len(found):012d}", kind, "GT", 1, "recorded", at))
    return found


def timed(query: Callable[[], int]) -> float:
    began = time.perf_counter()
    found = query()
    assert found > 0
    return (time.perf_counter() - began) * 1000


def sqlite_runs(per_kind: int, kind: str) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "views-mx.sqlite"
        SQLiteJurisdictionViews(path, "MX").close()
        db = sqlite3.connect(path)
        db.executemany(
            "INSERT INTO forensic VALUES (?, ?, ?, ?, ?, ?, 'sealed:x', '')",
            [(*r[:5], r[5].isoformat()) for r in rows(per_kind)],
        )
        db.commit()
        db.execute("ANALYZE")
        query = (
            "SELECT aggregate_id, aggregate_type, origin, version, status, recorded_at, state, withheld "
            "FROM forensic WHERE aggregate_type = ? ORDER BY recorded_at DESC, aggregate_id"
        )

        def listing() -> int:
            return len(db.execute(query, (kind,)).fetchall())

        with_index = [timed(listing) for _ in range(RUNS)]
        db.execute(f"DROP INDEX {FORENSIC_BY_KIND.name}")  # format 5
        without = [timed(listing) for _ in range(RUNS)]
        db.close()
    return with_index, without


def postgres_runs(per_kind: int, kind: str) -> tuple[list[float], list[float]]:
    with fresh_database() as url:
        PostgresJurisdictionViews(Settings(database_url=url).postgres_conninfo(), "MX").close()
        schema = views_schema("MX")
        with psycopg.connect(url) as db:
            with db.cursor().copy(f'COPY "{schema}".forensic FROM STDIN') as copy:
                for r in rows(per_kind):
                    copy.write_row((*r, "sealed:x", []))
            db.commit()
            db.execute(f'ANALYZE "{schema}".forensic')
            query = (
                f"SELECT aggregate_id, aggregate_type, origin, version, status, recorded_at, state, withheld "
                f'FROM "{schema}".forensic WHERE aggregate_type = %s ORDER BY recorded_at DESC, aggregate_id'
            )

            def listing() -> int:
                return len(db.execute(query, (kind,)).fetchall())

            with_index = [timed(listing) for _ in range(RUNS)]
            db.execute(f'DROP INDEX "{schema}".{FORENSIC_BY_KIND.name}')  # format 5
            without = [timed(listing) for _ in range(RUNS)]
    return with_index, without


def main() -> None:
    remains = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    total = len(rows(remains))
    for name, runs in (("SQLite", sqlite_runs), ("PostgreSQL", postgres_runs)):
        for kind in ("Match", "UnidentifiedRemains"):
            ours, baseline = runs(remains, kind)
            report(
                f"{name}: list the {int(remains * KINDS[kind]):,} rows of {kind} among {total:,} forensic "
                "rows, format 6 (index) against format 5 (no index)",
                ours,
                baseline,
                "ms",
            )


if __name__ == "__main__":
    main()
