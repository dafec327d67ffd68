"""Commands on a case that already holds 1,000 events, on PostgreSQL: with snapshots (every
100 events) and the aggregate cache, beside the same with both turned off, in the same run.

    python3 bench/long_case.py [--events 1000] [--commands 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_sightings, fresh_database, node_keys, report
from ledger.application import CaseLedger
from ledger.commands import RecordSighting
from ledger.values import Place
from services.bootstrap import ledger_env
from services.settings import Settings
from tests.factories import ctx
from tests.factories import report as a_report
from topics.avro import SchemaRegistry
from topics.wire_tiers import WireTiers


def grow_case(url: str, events: int) -> object:
    """A case with `events` events, written in large transactions to set up quickly."""
    ledger = CaseLedger(
        "MX",
        env=ledger_env(Settings(node="MX", database_url=url, aggregate_cache=0)),
        snapshot_interval=100,
        keys=node_keys(url),
        codec=WireTiers(SchemaRegistry()),  # tiers stored as the log carries them, as build_node does
    )
    case_id = ledger.report_missing_person(a_report())
    add_sightings(ledger, case_id, events - 1)
    ledger.close()
    return case_id


def commands_per_second(url: str, case_id: object, commands: int, fast: bool) -> float:
    settings = Settings(node="MX", database_url=url, aggregate_cache=1000 if fast else 0)
    ledger = CaseLedger(
        "MX",
        env=ledger_env(settings),
        snapshot_interval=100 if fast else 0,
        keys=node_keys(url),
        codec=WireTiers(SchemaRegistry()),
    )
    started = time.perf_counter()
    for _ in range(commands):
        ledger.record_sighting(
            RecordSighting(
                **ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="shelter"
            )
        )
    elapsed = time.perf_counter() - started
    ledger.close()
    return commands / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fast, slow = [], []
    with fresh_database() as url:
        for _ in range(args.runs):
            case_id = grow_case(url, args.events)
            fast.append(commands_per_second(url, case_id, args.commands, fast=True))
            case_id = grow_case(url, args.events)
            slow.append(commands_per_second(url, case_id, args.commands // 4 or 1, fast=False))
    report(
        f"commands on a case of {args.events} events (PostgreSQL): snapshots every 100 + aggregate cache",
        fast,
        slow,
        "commands/s",
    )
    print("  (baseline = the same commands with snapshots and cache off)")


if __name__ == "__main__":
    main()
