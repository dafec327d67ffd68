"""Restore throughput (#18): a node's events read back from its topic (verify, decode, open,
rebuild, re-encode to check, seal for the store, one insert) after its database was dropped,
beside the relay publishing the same events in the same run (the way they went out).

    python3 bench/restore.py [--events 5000] [--runs 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg
from psycopg.sql import SQL, Identifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, report, scratch
from ledger.case import MissingPersonCase
from services.backends import ledger_schema
from services.bootstrap import build_node
from services.restore import restore_node
from services.settings import Settings
from tests.factories import report as a_report


def one_run(url: str, events: int, data_dir: Path) -> tuple[float, float]:
    """(restored events/s, relayed events/s) for the same events."""
    settings = Settings(
        node="MX",
        kafka_bootstrap=KAFKA,
        database_url=url,
        topic_prefix=scratch("restore"),
        data_dir=data_dir,
    )
    node = build_node(settings)
    now = node.ledger.clock()
    pending = []
    for i in range(events):
        command = a_report(command_id=f"restore-{i}")
        pending.append(MissingPersonCase.report("MX", command.envelope(now), command.checked(now.date())))
        if len(pending) == 500:
            node.ledger.save(*pending)
            pending = []
    if pending:
        node.ledger.save(*pending)
    node.relay.published_up_to()
    started = time.perf_counter()
    published = 0
    while published < events:
        published += node.relay.run_once()
    relayed = published / (time.perf_counter() - started)
    node.close()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(ledger_schema("MX"))))
    started = time.perf_counter()
    done = restore_node(settings)
    restored = done.events / (time.perf_counter() - started)
    assert done.events == events and done.keys_lost == 0, done
    return restored, relayed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    ours, baseline = [], []
    for _ in range(args.runs):
        with fresh_database() as url, TemporaryDirectory() as directory:
            restored, relayed = one_run(url, args.events, Path(directory))
        ours.append(restored)
        baseline.append(relayed)
    report(
        f"restore of {args.events} events from the node's topic (without a key backup: its own grants)",
        ours,
        baseline,
        "events/s (baseline: the relay publishing them)",
    )


if __name__ == "__main__":
    main()
