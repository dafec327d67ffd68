"""What the chaos run reads to check itself: every record of a topic as a plain read_committed
consumer finds it, each events record opened with its origin's keys (for the command id its
envelope seals), each node's views as rows and as a digest, and the consulates' feeds."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import psycopg
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTP
from psycopg.sql import SQL, Identifier

from bench.chaos_checks import Event, FeedItem, OnTopic
from projections.postgres_views import views_schema
from services.bootstrap import Node
from topics.avro import Decoded
from topics.log import LogRecord
from topics.mapping import open_record
from topics.reader import decode_batch


def read_topic(bootstrap: str, topic: str, timeout_s: float = 120) -> list[LogRecord]:
    """Every committed record of the topic, from its start to its end as it is now."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                return []
            time.sleep(0.2)
        tps = [KafkaTP(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        found: list[LogRecord] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: the cluster did not deliver what it holds in {timeout_s:.0f} s")
            for ktp, batch in consumer.poll(timeout_ms=500).items():
                found += [
                    LogRecord(
                        ktp.topic,
                        ktp.partition,
                        m.offset,
                        m.key,
                        m.value,
                        tuple((k, bytes(v)) for k, v in m.headers or []),
                        m.timestamp,
                    )
                    for m in batch
                ]
        return found
    finally:
        consumer.close()


def _header(record: LogRecord, name: str) -> str:
    return (record.header(name) or b"").decode()


def events_on_topic(node: Node, records: Iterable[LogRecord]) -> list[OnTopic]:
    """The origin's events as the checks see them, each envelope opened with the origin's keys."""
    listed = [r for r in records if r.header("aggregate_version")]
    found = []
    for record, decoded in zip(listed, decode_batch(node.registry, node.data_keys, listed), strict=True):
        command_id = None
        if isinstance(decoded, Decoded):
            meta = open_record(node.registry, node.data_keys, decoded).plain["meta"]
            command_id = str(meta.get("command_id") or "") or None
        found.append(
            OnTopic(
                (record.key or b"").decode(),
                int(_header(record, "aggregate_version")),
                record.partition,
                record.offset,
                _header(record, "event_type"),
                command_id,
            )
        )
    return found


def published(bootstrap: str, topics: Iterable[str]) -> Counter[Event]:
    """How many times each (case, version) is on the events topics."""
    counts: Counter[Event] = Counter()
    for topic in topics:
        for record in read_topic(bootstrap, topic):
            version = record.header("aggregate_version")
            if version:
                counts[((record.key or b"").decode(), int(version))] += 1
    return counts


def view_versions(database_url: str, countries: Iterable[str]) -> dict[str, dict[str, int]]:
    """Each node's views: the version of every case row, by node."""
    found: dict[str, dict[str, int]] = {}
    with psycopg.connect(database_url, connect_timeout=5) as connection:
        for country in countries:
            query = SQL("SELECT case_id::text, version FROM {}.cases").format(
                Identifier(views_schema(country))
            )
            try:
                found[country] = dict(connection.execute(query).fetchall())
            except psycopg.errors.UndefinedTable:
                connection.rollback()
                found[country] = {}
    return found


def projected(versions: dict[str, dict[str, int]], events: Iterable[Event]) -> set[Event]:
    """The events every node's views reflect: each holds the case at that version or later."""
    return {(case, v) for case, v in events if all(rows.get(case, 0) >= v for rows in versions.values())}


def feed_items(bootstrap: str, topic: str) -> list[FeedItem]:
    items = []
    for record in read_topic(bootstrap, topic):
        item: dict[str, Any] = json.loads(record.value or b"{}")
        items.append(FeedItem(str(item["case_id"]), int(item["version"]), str(item["event_type"])))
    return items


def dead_letters(bootstrap: str, topic: str) -> Counter[str]:
    """The dead-letter topic's records by their reason (a reason names a check, never a value)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        held = sum(consumer.end_offsets([KafkaTP(topic, p) for p in partitions]).values())
    finally:
        consumer.close()
    if not held:
        return Counter()
    return Counter(_header(record, "reason") for record in read_topic(bootstrap, topic, timeout_s=60))
