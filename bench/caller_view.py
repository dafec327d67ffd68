"""What narrowing the views to one caller costs (services/caller_view.py): the case list and the
remains list of Mexico's PostgreSQL views, read whole by the views (the baseline, in the same
run, beside a raw psycopg SELECT of the same table) and as the Honduran consulate in Tapachula
may read them (its agreement covers its nationals' cases, and no remains).

    python3 bench/caller_view.py [--cases 5000] [--remains 300] [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, scratch
from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.case import MissingPersonCase
from ledger.forensic_commands import RecordRemainsRecovered
from ledger.values import Place
from services.bootstrap import build_node
from services.caller_view import CallerView
from services.settings import Settings
from tests.factories import FORENSIC, ctx
from tests.factories import report as a_report

CONSULATE = "hn-consulado-tapachula"


def median_ms(read: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--remains", type=int, default=300)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with fresh_database() as url:
        settings = Settings(
            node="MX",
            kafka_bootstrap=KAFKA,
            database_url=url,
            topic_prefix=scratch("callers"),
            data_dir=Path(f"/tmp/caseledger-bench-callers-{uuid.uuid4().hex[:6]}"),
            access_rules=SAMPLE_POLICY,
        )
        node = build_node(settings)
        now = node.ledger.clock()
        cases = []
        for n in range(args.cases):
            command = a_report(
                given_names=f"Persona {n}",
                nationalities=(("HN", "GT", "SV")[n % 3],),
                consented_purposes=("search", "family_support"),
            )
            cases.append(MissingPersonCase.report("MX", command.envelope(now), command.checked(now.date())))
        for start in range(0, len(cases), 500):
            node.ledger.save(*cases[start : start + 500])
        for n in range(args.remains):
            node.ledger.record_remains_recovered(
                RecordRemainsRecovered(
                    **ctx(FORENSIC, "forensic_identification"),
                    recovered_on="2026-04-02",
                    place=Place("MX", f"Altar, Sonora {n}"),
                    context="desert",
                )
            )
        while node.relay.run_once():
            pass
        node.projector("MX").run_once(timeout_s=600)
        views = node.views("MX")
        seen = CallerView(views, load_rules(SAMPLE_POLICY), CONSULATE, "search")

        whole, rows = median_ms(views.cases, args.runs)
        narrowed, shown = median_ms(seen.cases, args.runs)
        with psycopg.connect(url) as connection:
            raw, _ = median_ms(
                lambda: connection.execute("SELECT * FROM views_mx.cases").fetchall(), args.runs
            )
        named = sum(1 for r in shown if r.given_names)
        print(f"case list, {len(rows)} cases ({named} named for the consulate), median of {args.runs}:")
        print(f"  views.cases()            {whole:8.1f} ms")
        print(f"  as the consulate         {narrowed:8.1f} ms   ratio {narrowed / whole:.2f}")
        print(f"  raw psycopg SELECT       {raw:8.1f} ms")

        runs = max(3, args.runs // 3)
        whole, remains = median_ms(lambda: views.forensic("UnidentifiedRemains"), runs)
        narrowed, _ = median_ms(lambda: seen.forensic("UnidentifiedRemains"), runs)
        print(
            f"remains list, {len(remains)} records (each folded again for the consulate), median of {runs}:"
        )
        print(f"  views.forensic()         {whole:8.1f} ms")
        print(f"  as the consulate         {narrowed:8.1f} ms   ratio {narrowed / whole:.2f}")
        node.close()


if __name__ == "__main__":
    main()
