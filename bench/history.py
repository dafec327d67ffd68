"""Point-in-time reconstruction: a case of 1,000 events, as one jurisdiction could see it at
an instant, folded from its PostgreSQL timeline view; beside a raw psycopg read of the same
timeline rows in the same run. Target (#6): median at most 15 ms.

    python3 bench/history.py [--events 1000] [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, add_sightings, fresh_database, scratch
from services.bootstrap import build_node
from services.history import case_as_of
from services.settings import Settings
from tests.factories import report as a_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    prefix = scratch("hist")
    with fresh_database() as url:
        settings = Settings(
            node="MX",
            kafka_bootstrap=KAFKA,
            database_url=url,
            topic_prefix=prefix,
            data_dir=Path(f"/tmp/caseledger-bench-history-{uuid.uuid4().hex[:6]}"),
        )
        node = build_node(settings)
        ledger = node.ledger
        case_id = ledger.report_missing_person(a_report())
        add_sightings(ledger, case_id, args.events - 1, place="Ixtepec")
        while node.relay.run_once():
            pass
        node.projector("MX").run_once(timeout_s=300)
        views = node.views("MX")
        as_of = datetime.now(UTC)
        ours, raw = [], []
        with psycopg.connect(url) as connection:
            for _ in range(args.runs):
                started = time.perf_counter()
                found = case_as_of(views, str(case_id), as_of)
                ours.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                rows = connection.execute(
                    "SELECT * FROM views_mx.timeline WHERE aggregate_id = %s AND recorded_at <= %s "
                    "ORDER BY version",
                    (case_id, as_of),
                ).fetchall()
                raw.append((time.perf_counter() - started) * 1000)
        assert found.version == args.events == len(rows) and found.sightings == args.events - 1
        node.close()
    mine, base = statistics.median(ours), statistics.median(raw)
    print(f"point in time: a case of {args.events} events as MX saw it, from its PostgreSQL timeline")
    print(f"  caseledger: median {mine:.1f} ms  (p90 {statistics.quantiles(ours, n=10)[-1]:.1f} ms)")
    print(f"  baseline:   median {base:.1f} ms  (raw psycopg read of the same {len(rows)} rows)")
    print(f"  ratio caseledger/baseline: {mine / base:.2f}; target: median <= 15 ms")


if __name__ == "__main__":
    main()
