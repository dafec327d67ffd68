"""The Kafka log's reader pool (topics/kafka_readers.py) on a real broker: reads that alternate
between topics (the views read their grants, then their events, every pass) each get back the
consumer that already knows their topics, and every read still returns what it asked for."""

from __future__ import annotations

import time

from topics.catalogue import TopicDefinition
from topics.kafka_log import KafkaEventLog
from topics.kafka_publisher import CLIENT
from topics.kafka_readers import KafkaReader, ReaderPool
from topics.log import EventLog, LogRecord, OutgoingRecord, TopicPartition


def read(log: EventLog, topic: str) -> tuple[list[LogRecord], object]:
    """Everything on the topic, and the consumer object that read it."""
    tps = log.partitions(topic)
    ends = log.end_offsets(tps)
    reader = log.reader()
    try:
        reader.assign(dict.fromkeys(tps, 0))
        found: list[LogRecord] = []
        deadline = time.monotonic() + 30
        while any(reader.position(tp) < ends[tp] for tp in tps):
            found.extend(reader.poll(0.5))
            assert time.monotonic() < deadline, "the log did not deliver what it holds"
        return found, reader._inner  # type: ignore[attr-defined]
    finally:
        reader.close()


def test_alternating_reads_get_back_the_reader_that_knows_their_topics(
    kafka_bootstrap: str, unique: str
) -> None:
    log = KafkaEventLog(kafka_bootstrap)
    keys, events = f"pool.{unique}.keys", f"pool.{unique}.events"
    try:
        log.create_topics([TopicDefinition(keys, 2), TopicDefinition(events, 3)])
        publisher = log.publisher(f"pool-{unique}")
        publisher.publish(
            [OutgoingRecord(keys, b"k", b"grant", (), 1_767_225_600_000)]
            + [
                OutgoingRecord(events, f"e{n}".encode(), f"event-{n}".encode(), (), 1_767_225_600_000)
                for n in range(5)
            ]
        )
        publisher.close()
        first_keys, keys_reader = read(log, keys)
        first_events, events_reader = read(log, events)
        assert keys_reader is not events_reader  # the events read did not take the keys' reader
        for _ in range(3):
            again_keys, reader = read(log, keys)
            assert reader is keys_reader and [r.value for r in again_keys] == [b"grant"]
            again_events, reader = read(log, events)
            assert reader is events_reader
            assert sorted(r.value for r in again_events) == sorted(r.value for r in first_events)
        assert [r.value for r in first_keys] == [b"grant"] and len(first_events) == 5
    finally:
        log.close()


def test_the_pool_keeps_a_few_readers_and_closes_the_one_idle_longest(kafka_bootstrap: str) -> None:
    pool = ReaderPool(kafka_bootstrap, "pool-test", CLIENT, size=2)
    lent = [pool.lend(frozenset({f"topic-{n}"})) for n in range(3)]
    for n, reader in enumerate(lent):
        reader.known = frozenset({f"topic-{n}"})
        pool.give_back(reader)
    again = [pool.lend(frozenset({f"topic-{n}"})) for n in (2, 1, 0)]
    try:
        assert again[0] is lent[2] and again[1] is lent[1]
        assert again[2] is not lent[0]  # closed when a third came back: it waited longest
    finally:
        for reader in again:
            reader.close()


def test_a_full_pool_lends_the_reader_idle_longest_rather_than_grow(kafka_bootstrap: str) -> None:
    pool = ReaderPool(kafka_bootstrap, "pool-test", CLIENT, size=1)
    reader = pool.lend(frozenset({"topic-a"}))
    reader.known = frozenset({"topic-a"})
    pool.give_back(reader)
    try:
        assert pool.lend(frozenset({"topic-b"})) is reader
    finally:
        reader.close()


def test_a_reader_knows_the_topics_of_its_widest_assignment_since_a_new_topic(
    kafka_bootstrap: str, unique: str
) -> None:
    log = KafkaEventLog(kafka_bootstrap)
    a, b, c = (f"pool.{unique}.{n}" for n in "abc")
    log.create_topics([TopicDefinition(t, 1) for t in (a, b, c)])
    reader = KafkaReader(kafka_bootstrap, "pool-test", CLIENT)
    try:
        reader.assign({TopicPartition(a, 0): 0, TopicPartition(b, 0): 0})
        assert reader.known == {a, b}
        reader.assign({TopicPartition(a, 0): 0})  # within what it knows: kafka-python keeps both
        assert reader.known == {a, b}
        reader.assign({TopicPartition(c, 0): 0})  # a new topic: kafka-python keeps only it
        assert reader.known == {c}
    finally:
        reader.close()
        log.close()
