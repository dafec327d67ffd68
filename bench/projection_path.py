"""Projection path: CaseReported events on a real ledger.events.<origin> topic consumed into
one jurisdiction's PostgreSQL views (batch signatures and hash chains checked, sealed tiers
opened, access rules, rows and offsets in one transaction per batch), beside a raw
kafka-python read_committed consume of the same topic. Two figures: the replay (a rebuild
from offset 0, the node's keys held) and the first pass (two key grants per case verified
and unwrapped as well).

    python3 bench/projection_path.py [--events 20000] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, report
from ledger.case import MissingPersonCase
from services.bootstrap import build_node
from services.parallel import project
from services.settings import Settings
from tests.factories import report as a_report

DATA = Path("/tmp/caseledger-bench-projection")  # the node's keys, kept apart from the database


def fill_topic(url: str, prefix: str, events: int) -> str:
    """Record and relay `events` reports at an MX node; return the topic name."""
    node = build_node(
        Settings(node="MX", kafka_bootstrap=KAFKA, database_url=url, topic_prefix=prefix, data_dir=DATA)
    )
    ledger = node.ledger
    pending = []
    for i in range(events):
        command = a_report(command_id=f"fill-{i}")
        now = ledger.clock()
        pending.append(MissingPersonCase.report("MX", command.envelope(now), command.checked(now.date())))
        if len(pending) == 500:
            ledger.save(*pending)
            pending = []
    if pending:
        ledger.save(*pending)
    while node.relay.run_once():
        pass
    topic = node.catalogue.events("MX").name
    node.close()
    return topic


def project_once(url: str, prefix: str, workers: int, rebuild: bool = True) -> float:
    """Events/s into MX's views of MX's cases (the common tier opened for each): a rebuild from
    offset 0 with the node's keys held, or (rebuild False) a first pass that reads, verifies
    and unwraps every key grant too."""
    node = build_node(
        Settings(node="MX", kafka_bootstrap=KAFKA, database_url=url, topic_prefix=prefix, data_dir=DATA)
    )
    views = node.views("MX")
    if not rebuild:
        views.reset()  # every position forgotten, the keys topic's too
    started = time.perf_counter()
    consumed = project(node, "MX", workers, rebuild=rebuild)
    elapsed = time.perf_counter() - started
    rows = views.cases()
    assert len(rows) == consumed, "every event became a row"
    assert all(r.given_names for r in rows), "the sealed common tier was opened for every row"
    node.close()
    return consumed / elapsed


def raw_consume(topic: str, events: int) -> float:
    consumer = KafkaConsumer(
        bootstrap_servers=KAFKA,
        isolation_level="read_committed",
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    seen = 0
    started = time.perf_counter()
    while seen < events:
        for batch in consumer.poll(timeout_ms=1000, max_records=1000).values():
            seen += len(batch)
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    replay, parallel, first, base = [], [], [], []
    with fresh_database() as url:
        topic = fill_topic(url, prefix, args.events)
        for _ in range(args.runs):
            base.append(raw_consume(topic, args.events))
            first.append(project_once(url, prefix, 1, rebuild=False))
            base.append(raw_consume(topic, args.events))
            replay.append(project_once(url, prefix, 1))
            base.append(raw_consume(topic, args.events))
            parallel.append(project_once(url, prefix, args.workers))
    title = f"rebuild of one jurisdiction's PostgreSQL views from offset 0, {args.events} CaseReported events"
    report(f"projection replay, one process: {title}", replay, base, "events/s")
    report(f"projection replay, {args.workers} worker processes: {title}", parallel, base, "events/s")
    report("projection first pass: every key grant verified and unwrapped too", first, base, "events/s")


if __name__ == "__main__":
    main()
