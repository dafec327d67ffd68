"""The Kafka log's readers: read_committed consumers on assigned partitions, and the pool that
lends them to one read at a time (topics/kafka_log.py, KafkaEventLog.reader)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTP

from topics.log import LogRecord, Reader, TopicPartition

__all__ = ["READ_FETCH_WAIT_MS", "KafkaReader", "ReaderPool"]

# How long the broker holds a reader's fetch at a partition's end (kafka-python: 500 ms). A
# consumer has one fetch per broker in flight: the fetch sent after a read's last records
# (kafka-python pipelines one) stays at the broker until data comes or this time passes, and
# the reader's next read, lent from the pool, waited for it: up to half a second per pass.
READ_FETCH_WAIT_MS = 10


def _ktp(tp: TopicPartition) -> KafkaTP:
    return KafkaTP(tp.topic, tp.partition)


class KafkaReader(Reader):
    """A read_committed consumer on explicitly assigned partitions; no group, no auto-commit."""

    def __init__(
        self,
        bootstrap: str,
        client_id: str,
        client: Mapping[str, Any],
        fetch_max_wait_ms: int = READ_FETCH_WAIT_MS,
    ) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=f"{client_id}-reader",
            isolation_level="read_committed",
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # Until a new reader knows its partitions' leaders, kafka-python sleeps this long
            # per poll (100 ms by default): two such sleeps were most of a live pass's latency.
            retry_backoff_ms=10,
            fetch_max_wait_ms=fetch_max_wait_ms,
            **client,
        )
        # The topics whose metadata the consumer holds: kafka-python asks the broker again
        # when an assignment names a topic outside them, and then keeps only the new ones.
        self.known: frozenset[str] = frozenset()

    def assign(self, positions: Mapping[TopicPartition, int]) -> None:
        topics = frozenset(tp.topic for tp in positions)
        if not topics <= self.known:
            self.known = topics
        self._consumer.assign([_ktp(tp) for tp in positions])
        for tp, offset in positions.items():
            self._consumer.seek(_ktp(tp), offset)

    def position(self, tp: TopicPartition) -> int:
        return int(self._consumer.position(_ktp(tp)))

    def unassign(self) -> None:
        self._consumer.assign([])

    def poll(self, timeout_s: float, max_records: int = 500) -> list[LogRecord]:
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        records = []
        for ktp, messages in batches.items():
            for m in messages:
                records.append(
                    LogRecord(
                        ktp.topic,
                        ktp.partition,
                        m.offset,
                        m.key,
                        m.value,
                        tuple((k, bytes(v)) for k, v in (m.headers or [])),
                        m.timestamp,
                    )
                )
        records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return records

    def close(self) -> None:
        self._consumer.close()


class ReaderPool:
    """Readers closed after a clean read wait here for the next one: a new KafkaConsumer
    connects and learns the cluster's metadata again, which cost a live views pass most of its
    time (two readers a pass). A read is lent a reader that knows its topics already: one lent
    the views' grants after their events (or the other way about) asked the broker for the
    metadata of its new topics first, and its first poll went by without a leader to fetch
    from: 20-130 ms of each pass's 30-200 here. A read no idle reader knows the topics of gets
    a new one, or, when `size` wait already, the one idle longest."""

    def __init__(self, bootstrap: str, client_id: str, client: Mapping[str, Any], size: int = 4) -> None:
        self.bootstrap, self.client_id, self.client, self.size = bootstrap, client_id, dict(client), size
        self._idle: list[KafkaReader] = []
        self._lock = threading.Lock()

    def reader(self) -> Reader:
        return _PooledReader(self)

    def lend(self, topics: frozenset[str]) -> KafkaReader:
        with self._lock:
            fitting = [r for r in self._idle if topics <= r.known]
            if fitting:
                self._idle.remove(fitting[-1])
                return fitting[-1]
            if len(self._idle) >= self.size:  # as many kinds of read as readers: reuse, not grow
                return self._idle.pop(0)
        return KafkaReader(self.bootstrap, self.client_id, self.client)

    def give_back(self, reader: KafkaReader) -> None:
        """Kept; the reader idle longest is closed when more than `size` wait."""
        with self._lock:
            self._idle.append(reader)
            evicted = self._idle.pop(0) if len(self._idle) > self.size else None
        if evicted is not None:
            evicted.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for reader in idle:
            reader.close()


class _PooledReader(Reader):
    """A reader lent by the pool at its first assignment: closed after a clean read it goes
    back, unassigned; after a failed one it is closed for good (a consumer that met a broker
    error starts afresh)."""

    def __init__(self, pool: ReaderPool) -> None:
        self._pool = pool
        self._inner: KafkaReader | None = None
        self._broken = self._closed = False

    def _lent(self) -> KafkaReader:
        if self._inner is None:
            raise RuntimeError("a pooled reader reads only once assigned")
        return self._inner

    def assign(self, positions: Mapping[TopicPartition, int]) -> None:
        if self._inner is None:
            self._inner = self._pool.lend(frozenset(tp.topic for tp in positions))
        try:
            self._inner.assign(positions)
        except BaseException:
            self._broken = True
            raise

    def position(self, tp: TopicPartition) -> int:
        try:
            return self._lent().position(tp)
        except BaseException:
            self._broken = True
            raise

    def poll(self, timeout_s: float, max_records: int = 500) -> list[LogRecord]:
        try:
            return self._lent().poll(timeout_s, max_records)
        except BaseException:
            self._broken = True
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        inner = self._inner
        if inner is None:
            return
        if self._broken:
            inner.close()
            return
        try:
            inner.unassign()
        except Exception:  # a reader that cannot even unassign is not kept
            inner.close()
            return
        self._pool.give_back(inner)
