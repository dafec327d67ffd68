"""Projection path: CaseReported events on a real ledger.events.<origin> topic consumed into
one jurisdiction's PostgreSQL views (batch signatures and hash chains checked, sealed tiers
opened, access rules, rows and offsets in one transaction per batch), beside a raw
kafka-python read_committed consume of the same topic. Two figures: the replay (a rebuild
from offset 0, the node's keys held) and the first pass (two key grants per case verified
and unwrapped as well).

    python3 bench/projection_path.py [--events 20000] [--runs 3] [--workers 2]

It also prints what each stage of the replay costs per event (µs), measured on the same
records in the same process, beside the raw consume's cost per event.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, report, scratch
from ledger.case import MissingPersonCase
from projections.checks import Unapplicable, check_envelope
from services.bootstrap import build_node
from services.parallel import project
from services.settings import Settings
from tests.factories import report as a_report
from topics.avro import Decoded
from topics.mapping import open_record
from topics.reader import LogReader, decode_batch

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


def stage_costs(url: str, prefix: str) -> dict[str, float]:
    """µs per event of each stage of the replay, each measured alone on the topic's records."""
    node = build_node(
        Settings(node="MX", kafka_bootstrap=KAFKA, database_url=url, topic_prefix=prefix, data_dir=DATA)
    )
    projector = node.projector("MX")
    tps = projector.partitions()
    begins = node.event_log.beginning_offsets(tps)
    costs: dict[str, float] = {}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = work()
        costs[name] = time.perf_counter() - started
        return result

    def read(verify: Any) -> list[Any]:
        reader = LogReader(node.event_log, verify, node.catalogue.origin_of, max_records=1000)
        return [
            item
            for batch in reader.batches(dict(begins))
            for item in (batch.checked if verify else batch.records)
        ]

    read(None)  # connected and the topic's segments cached, as in a running replay
    records = timed("poll and parse records (LogReader, no checks)", lambda: read(None))
    checked = timed("run signatures (read with them, less read without)", lambda: read(node.keys.verify))
    costs["run signatures (read with them, less read without)"] -= costs[
        "poll and parse records (LogReader, no checks)"
    ]
    decoded = timed(
        "Avro envelope decode (and the batch's key query)",
        lambda: decode_batch(node.registry, node.data_keys, (c.record for c in checked)),
    )

    def chain() -> None:
        heads: dict[str, Any] = {}
        for item, d in zip(checked, decoded, strict=True):
            try:
                link = check_envelope(node.catalogue, item.record, d.record["meta"], heads, item.problem)
            except Unapplicable:
                continue
            if link is not None:
                heads[link[0]] = link[1]

    timed("envelope and hash-chain checks", chain)
    opened = timed(
        "open the sealed tiers and envelope",
        lambda: [open_record(node.registry, node.data_keys, d) for d in decoded],
    )

    def rows() -> None:
        maker = projector.row_maker
        for d, o in zip(decoded, opened, strict=True):
            row = maker.to_row(Decoded(d.name, d.writer_version, o.plain), None, o.closed)
            maker.timeline_entry(d.name, o, row)

    timed("rows and timeline entries", rows)
    node.close()
    return {name: 1e6 * cost / max(1, len(records)) for name, cost in costs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    prefix = scratch("bench")
    replay, parallel, first, base = [], [], [], []
    stages: list[dict[str, float]] = []
    with fresh_database() as url:
        topic = fill_topic(url, prefix, args.events)
        project_once(url, prefix, 1, rebuild=False)  # the node's keys, for the stages
        for _ in range(args.runs):
            stages.append(stage_costs(url, prefix))
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
    raw = 1e6 / statistics.median(base)
    whole = 1e6 / statistics.median(replay)
    print("replay stages, µs per event (medians), beside the raw consume's cost per event:")
    print(f"  {'raw kafka-python consume (baseline)':<52} {raw:8.1f}")
    measured = 0.0
    for name in stages[0]:
        cost = statistics.median(s[name] for s in stages)
        measured += 0 if name.startswith("  ") else cost
        print(f"  {name:<52} {cost:8.1f}  ({cost / raw:.1f}x raw)")
    rest = (
        whole
        - measured
        - sum(statistics.median(s[n] for s in stages) for n in stages[0] if n.startswith("  "))
    )
    print(f"  {'views write (COPY, merge, offsets) and the rest':<52} {rest:8.1f}  ({rest / raw:.1f}x raw)")
    print(f"  {'whole replay':<52} {whole:8.1f}  ({whole / raw:.1f}x raw)")


if __name__ == "__main__":
    main()
