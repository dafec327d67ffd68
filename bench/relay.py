"""Relay throughput: stored events published to Kafka (decode, Avro, sign, chain, one
transaction per 500) beside a raw kafka-python produce of the same bytes, in the same run.

    python3 bench/relay.py [--events 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, report
from ledger.case import MissingPersonCase
from services.bootstrap import build_node
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import report as a_report


def relay_run(url: str, events: int, data_dir: Path) -> tuple[float, list[tuple[bytes, bytes]]]:
    prefix = f"relay{uuid.uuid4().hex[:6]}."
    node = build_node(
        Settings(node="MX", kafka_bootstrap=KAFKA, database_url=url, topic_prefix=prefix, data_dir=data_dir)
    )
    now = node.ledger.clock()
    pending = []
    for i in range(events):
        command = a_report(command_id=f"relay-{prefix}{i}")
        pending.append(MissingPersonCase.report("MX", command.envelope(now), command.checked(now.date())))
        if len(pending) == 500:
            node.ledger.save(*pending)
            pending = []
    if pending:
        node.ledger.save(*pending)
    node.relay.published_up_to()  # connect and recover before timing, as a running relay has
    started = time.perf_counter()
    published = 0
    while published < events:
        published += node.relay.run_once()
    elapsed = time.perf_counter() - started
    messages = [
        (r.key or b"", r.value or b"") for r in read_all(node.event_log, node.catalogue.events("MX").name)
    ]
    node.close()
    return published / elapsed, messages


def raw_produce(messages: list[tuple[bytes, bytes]]) -> float:
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True)
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=KAFKA,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
        transactional_id=f"raw-{topic}",
    )
    producer.init_transactions()
    started = time.perf_counter()
    for start in range(0, len(messages), 500):
        producer.begin_transaction()
        for key, value in messages[start : start + 500]:
            producer.send(topic, key=key, value=value)
        producer.commit_transaction()
    elapsed = time.perf_counter() - started
    producer.close()
    return len(messages) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ours, base = [], []
    for _ in range(args.runs):
        data_dir = Path(f"/tmp/caseledger-bench-relay-{uuid.uuid4().hex[:6]}")
        with fresh_database() as url:  # a node of its own each run: its store, keys and topic
            rate, messages = relay_run(url, args.events, data_dir)
        ours.append(rate)
        base.append(raw_produce(messages))
    report(
        f"relay: {args.events} events to Kafka, transactions of 500 (baseline: raw transactional produce "
        "of the same bytes)",
        ours,
        base,
        "events/s",
    )


if __name__ == "__main__":
    main()
