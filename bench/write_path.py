"""Write path: a ReportMissingPerson command to its PostgreSQL commit (the relay is off the
command path and does not run here), beside a raw psycopg loop that inserts the same stored
bytes one row per commit.

    python3 bench/write_path.py [--commands 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database, node_keys, report
from ledger.application import CaseLedger
from services.bootstrap import ledger_env
from services.settings import Settings
from tests.factories import report as a_report


def caseledger_run(url: str, commands: int) -> tuple[float, list[bytes]]:
    ledger = CaseLedger("MX", env=ledger_env(Settings(node="MX", database_url=url)), keys=node_keys(url))
    batch = [a_report(command_id=f"bench-{i}-{time.time_ns()}") for i in range(commands)]
    started = time.perf_counter()
    for command in batch:
        ledger.report_missing_person(command)
    elapsed = time.perf_counter() - started
    states = [n.state for n in ledger.recorder.select_notifications(start=1, limit=commands)]
    ledger.close()
    return commands / elapsed, states


def baseline_run(url: str, states: list[bytes]) -> float:
    with psycopg.connect(url) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (id bigserial PRIMARY KEY, originator uuid, "
            "version int, topic text, state bytea)"
        )
        connection.commit()
        started = time.perf_counter()
        for state in states:
            connection.execute(
                "INSERT INTO raw_events (originator, version, topic, state) "
                "VALUES (gen_random_uuid(), 1, %s, %s)",
                ("ledger.case:MissingPersonCase.CaseReported", state),
            )
            connection.commit()
        elapsed = time.perf_counter() - started
    return len(states) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ours, base = [], []
    with fresh_database() as url:
        for _ in range(args.runs):
            rate, states = caseledger_run(url, args.commands)
            ours.append(rate)
            base.append(baseline_run(url, states))
    size = sum(len(s) for s in states) / len(states)
    report(
        f"write path: {args.commands} reports per run, ~{size:.0f}-byte events, "
        "one PostgreSQL commit per command",
        ours,
        base,
        "commands/s",
    )


if __name__ == "__main__":
    main()
