"""Relay throughput: stored events published to Kafka (decode, Avro, sign, chain, one
transaction per 500) beside a raw kafka-python produce of the same bytes, in the same run.
Then the relay's encoding stage alone (stored event to message, in memory, no broker): events
stored with their tiers in wire form and copied (ledger/tier_codec.py) beside the same events
stored in the older form, opened and sealed again (#13 item 7).

    python3 bench/relay.py [--events 10000] [--runs 3] [--stage-events 2000]
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
from ledger.application import CaseLedger
from ledger.case import MissingPersonCase
from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from ledger.sealed_store import SealingMapper
from services.bootstrap import build_node
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import report as a_report
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.mapping import to_outgoing
from topics.stored_messages import stored_outgoing
from topics.wire_tiers import WireTiers


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
    # The same traffic for the baseline: each event and the key grants published with it.
    messages = [
        (r.key or b"", r.value or b"") for r in read_all(node.event_log, node.catalogue.events("MX").name)
    ]
    grants = [(r.key or b"", r.value or b"") for r in read_all(node.event_log, node.catalogue.keys().name)]
    node.close()
    per_event = len(grants) // max(1, len(messages))
    interleaved = []
    for i, message in enumerate(messages):
        interleaved.extend(grants[i * per_event : (i + 1) * per_event])
        interleaved.append(message)
    interleaved.extend(grants[len(messages) * per_event :])
    return published / elapsed, interleaved


def raw_produce(messages: list[tuple[bytes, bytes]], events: int) -> float:
    """Events per second when the same messages (events and their grants) are produced raw."""
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
    chunk = 500 * len(messages) // max(1, events)  # as many messages per transaction as the relay's
    for start in range(0, len(messages), chunk):
        producer.begin_transaction()
        for key, value in messages[start : start + chunk]:
            producer.send(topic, key=key, value=value)
        producer.commit_transaction()
    elapsed = time.perf_counter() - started
    producer.close()
    return events / elapsed


def encode_stage(events: int, runs: int) -> tuple[list[float], list[float]]:
    """Events per second through the relay's encoding, wire form vs the older form: each run
    times both on the same reports, alternately; the grants' look at the report (its person)
    is paid in both, as the relay's grants ask it."""
    keys = MemoryKeyStore(MasterKey(new_data_key()))
    registry, catalogue = SchemaRegistry(), Catalogue()
    wire = CaseLedger("MX", keys=keys, codec=WireTiers(registry))
    older = CaseLedger("MX", keys=keys)
    for ledger in (wire, older):
        now = ledger.clock()
        for start in range(0, events, 500):
            commands = [a_report(command_id=f"stage-{i}") for i in range(start, min(events, start + 500))]
            ledger.save(
                *(MissingPersonCase.report("MX", c.envelope(now), c.checked(now.date())) for c in commands)
            )
    stored = {
        name: ledger.recorder.select_notifications(start=1, limit=events)
        for name, ledger in (("wire", wire), ("older", older))
    }

    def copied() -> None:
        mapper = wire.mapper
        assert isinstance(mapper, SealingMapper)
        for n in stored["wire"]:
            state = mapper.transcoder.decode(n.state)
            found = stored_outgoing(registry, catalogue, n, state, "MX", keys)
            assert found is not None
            mapper.domain_event_of(n.topic, state, n.originator_id, n.originator_version)

    def sealed_again() -> None:
        for n in stored["older"]:
            event = older.mapper.to_domain_event(n)
            to_outgoing(registry, catalogue, event, n.topic, "MX", n.id, keys)

    ours, base = [], []
    for _ in range(runs):
        for timed, rates in ((copied, ours), (sealed_again, base)):
            started = time.perf_counter()
            timed()
            rates.append(events / (time.perf_counter() - started))
    return ours, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stage-only", action="store_true", help="the encoding stage alone")
    parser.add_argument("--stage-events", type=int, default=2000)
    args = parser.parse_args()
    ours, base = [], []
    for _ in range(0 if args.stage_only else args.runs):
        data_dir = Path(f"/tmp/caseledger-bench-relay-{uuid.uuid4().hex[:6]}")
        with fresh_database() as url:  # a node of its own each run: its store, keys and topic
            rate, messages = relay_run(url, args.events, data_dir)
        ours.append(rate)
        base.append(raw_produce(messages, args.events))
    if ours:
        report(
            f"relay: {args.events} events (with their key grants) to Kafka, transactions of 500 events "
            "(baseline: raw transactional produce of the same messages)",
            ours,
            base,
            "events/s",
        )
    stage, older = encode_stage(args.stage_events, max(args.runs, 5))
    report(
        f"relay encoding stage: {args.stage_events} stored reports to messages, in memory "
        "(baseline: the same reports stored in the older form, opened and sealed again)",
        stage,
        older,
        "events/s",
    )


if __name__ == "__main__":
    main()
