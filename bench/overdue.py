"""The overdue lists (ledger/course_ledger.py) on a PostgreSQL event store: cases with sightings,
a tenth of them with an inquiry overdue. Ours selects only the course events from the
notification log (by topic) and loads the cases that hold one; the baseline, in the same run,
loads every case of the node and asks each for its overdue inquiries.

    python3 bench/overdue.py [--cases 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database, report
from ledger.commands import RecordSighting
from ledger.course_commands import SendInquiry
from ledger.values import Place
from services.bootstrap import build_node
from services.settings import Settings
from tests.factories import ctx
from tests.factories import report as a_report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with fresh_database() as url:
        node = build_node(
            Settings(node="MX", database_url=url, data_dir=Path(f"/tmp/bench-overdue-{now:%H%M%S}"))
        )
        try:
            ids: list[UUID] = []
            for n in range(args.cases):
                case_id = node.ledger.report_missing_person(a_report(given_names=f"Persona {n}"))
                ids.append(case_id)
                for day in (1, 2):
                    node.ledger.record_sighting(
                        RecordSighting(
                            **ctx(),
                            case_id=case_id,
                            seen_on=f"2026-03-0{day}",
                            place=Place("MX"),
                            source="hotline",
                        )
                    )
                if n % 10 == 0:
                    node.ledger.send_inquiry(
                        SendInquiry(
                            **ctx(occurred_at=now - timedelta(days=30)),
                            case_id=case_id,
                            addressee="mx-inm",
                            addressee_kind="migration_authority",
                            question="¿Fue deportado?",
                            due_on=(now - timedelta(days=2)).date(),
                        )
                    )
            ours, baseline = [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                found = node.ledger.overdue_inquiries()
                ours.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                naive = [i for c in ids for i in node.ledger.get_case(c).overdue_inquiries(now.date())]
                baseline.append((time.perf_counter() - started) * 1000)
                assert len(found) == len(naive) == (args.cases + 9) // 10
            report(
                f"overdue inquiries, {args.cases} cases ({len(found)} overdue), PostgreSQL event store",
                ours,
                baseline,
                "ms",
            )
        finally:
            node.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
