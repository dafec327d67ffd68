"""Apache Kafka behind the EventLog port: transactional publishing, read_committed reading."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KafkaTP
from kafka.errors import (
    KafkaError,
    TopicAlreadyExistsError,
)

from topics.catalogue import TopicDefinition
from topics.kafka_group import KafkaMembership
from topics.kafka_publisher import CLIENT as _CLIENT
from topics.kafka_publisher import KafkaPublisher
from topics.log import (
    EventLog,
    GroupListener,
    LogRecord,
    LogUnavailable,
    Membership,
    Publisher,
    Reader,
    TopicPartition,
)

__all__ = ["KafkaEventLog", "replication"]


def _ktp(tp: TopicPartition) -> KafkaTP:
    return KafkaTP(tp.topic, tp.partition)


def replication(brokers: int) -> int:
    """Copies of each partition: three where the cluster has three brokers or more (with
    min.insync.replicas 2, an acknowledged write survives one broker's loss), else one per
    broker; a single broker keeps one."""
    return max(1, min(3, brokers))


class KafkaEventLog(EventLog):
    """Topics on a Kafka cluster reached at bootstrap (host:port[,host:port...])."""

    def __init__(
        self,
        bootstrap: str,
        replication_factor: int | None = None,
        client_id: str = "caseledger",
        group_session_s: float = 10.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.group_session_s = group_session_s  # a silent group member loses its partitions after it
        self.replication_factor = replication_factor  # None: as the cluster allows (replication())
        self.client_id = client_id
        self._consumer: Any = None
        self._uncommitted: Any = None  # high watermarks (written_offsets)
        self._lock = threading.RLock()  # a KafkaConsumer is not thread-safe; relay and views share it
        # Readers closed after a clean read wait here for the next one: a new KafkaConsumer
        # connects and learns the cluster's metadata again, which cost a live views pass most
        # of its time (two readers a pass). One thread uses a reader at a time.
        self._idle_readers: list[_KafkaReader] = []
        self._pool_lock = threading.Lock()
        # Listing a cluster's topics parses every topic's metadata (3,600 topics here: 0.4-0.8 s):
        # a client of its own, so a listing never holds the metadata lock the others wait on.
        self._lister: Any = None
        self._list_lock = threading.Lock()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """One thread at a time on the metadata consumers; broker trouble becomes LogUnavailable.
        A consumer that met it is closed and dropped: the next call connects afresh, as a
        restarted process would, instead of trusting a client whose connections and metadata
        the fault may have left in any state."""
        with self._lock:
            try:
                yield
            except KafkaError as error:
                self._drop_metadata_consumers()
                raise LogUnavailable(f"kafka at {self.bootstrap}: {type(error).__name__}") from error

    def _drop_metadata_consumers(self) -> None:
        consumers, self._consumer, self._uncommitted = (self._consumer, self._uncommitted), None, None
        _close_all(consumers)

    def _metadata(self) -> Any:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=f"{self.client_id}-metadata",
                isolation_level="read_committed",
                enable_auto_commit=False,
                **_CLIENT,
            )
        return self._consumer

    def create_topics(self, definitions: Sequence[TopicDefinition]) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-admin")
        try:
            existing = set(admin.list_topics())
            factor = self.replication_factor or replication(len(admin.describe_cluster()["brokers"]))
            durable = {"min.insync.replicas": "2"} if factor >= 3 else {}
            wanted = {
                d.name: {
                    "num_partitions": d.partitions,
                    "replication_factor": factor,
                    "configs": {**durable, **dict(d.config)},
                }
                for d in definitions
                if d.name not in existing
            }
            if wanted:
                # Another node may create one between list and create: that is fine.
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(wanted, wait_for_metadata=True)
        finally:
            admin.close()

    def list_topics(self) -> set[str]:
        with self._list_lock:
            try:
                if self._lister is None:
                    self._lister = KafkaConsumer(
                        bootstrap_servers=self.bootstrap,
                        client_id=f"{self.client_id}-lister",
                        enable_auto_commit=False,
                        **_CLIENT,
                    )
                return set(self._lister.topics())
            except KafkaError as error:
                lister, self._lister = self._lister, None  # the next listing connects afresh
                _close_all([lister])
                raise LogUnavailable(f"kafka at {self.bootstrap}: {type(error).__name__}") from error

    def partitions(self, topic: str) -> list[TopicPartition]:
        with self._guard():
            consumer = self._metadata()
            deadline = time.monotonic() + 10
            while True:
                found = consumer.partitions_for_topic(topic)
                if found:
                    return [TopicPartition(topic, p) for p in sorted(found)]
                if time.monotonic() > deadline:
                    raise KeyError(f"topic {topic!r} does not exist")
                if topic in consumer.topics():  # a metadata request; the topic may be new
                    continue
                time.sleep(0.2)

    def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        with self._guard():
            found = self._metadata().end_offsets([_ktp(tp) for tp in tps])
            return {TopicPartition(k.topic, k.partition): int(v) for k, v in found.items()}

    def written_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        with self._guard():
            if self._uncommitted is None:
                self._uncommitted = KafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    client_id=f"{self.client_id}-written",
                    isolation_level="read_uncommitted",
                    enable_auto_commit=False,
                    **_CLIENT,
                )
            found = self._uncommitted.end_offsets([_ktp(tp) for tp in tps])
            return {TopicPartition(k.topic, k.partition): int(v) for k, v in found.items()}

    def beginning_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        with self._guard():
            found = self._metadata().beginning_offsets([_ktp(tp) for tp in tps])
            return {TopicPartition(k.topic, k.partition): int(v) for k, v in found.items()}

    def offsets_for_time(self, tps: Sequence[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        with self._guard():
            found = self._metadata().offsets_for_times({_ktp(tp): timestamp_ms for tp in tps})
            ends = self.end_offsets(tps)
            result = {}
            for tp in tps:
                hit = found.get(_ktp(tp))
                result[tp] = ends[tp] if hit is None else int(hit.offset)
            return result

    def publisher(self, transactional_id: str) -> Publisher:
        return KafkaPublisher(self.bootstrap, transactional_id, self.client_id)

    def reader(self) -> Reader:
        with self._pool_lock:
            idle = self._idle_readers.pop() if self._idle_readers else None
        return _PooledReader(idle or _KafkaReader(self.bootstrap, self.client_id), self._give_back)

    def watcher(self) -> Reader:
        # Its own consumer, not the pool's: the broker holds its fetches up to half a second,
        # and a pooled reader lent on with such a fetch outstanding could fetch nothing more
        # from that broker until it returned.
        return _KafkaReader(self.bootstrap, self.client_id, fetch_max_wait_ms=500)

    def _give_back(self, reader: _KafkaReader) -> None:
        with self._pool_lock:
            if len(self._idle_readers) < _IDLE_READERS:
                self._idle_readers.append(reader)
                return
        reader.close()

    def membership(self, group: str, prefix: str, listener: GroupListener) -> Membership:
        return KafkaMembership(
            self.bootstrap,
            group,
            prefix,
            listener,
            client_id=self.client_id,
            session_s=self.group_session_s,
            client=_CLIENT,
        )

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        with self._list_lock:
            if self._lister is not None:
                self._lister.close()
                self._lister = None
        if self._uncommitted is not None:
            self._uncommitted.close()
            self._uncommitted = None
        with self._pool_lock:
            idle, self._idle_readers = self._idle_readers, []
        for reader in idle:
            reader.close()


_IDLE_READERS = 4
# How long the broker holds a reader's fetch at a partition's end (kafka-python: 500 ms). A
# consumer has one fetch per broker in flight: the fetch sent after a read's last records
# (kafka-python pipelines one) stays at the broker until data comes or this time passes, and
# the reader's next read, lent from the pool, waited for it: up to half a second per pass.
READ_FETCH_WAIT_MS = 10


class _PooledReader(Reader):
    """A reader lent by the pool: closed after a clean read it goes back, unassigned; after a
    failed one it is closed for good (a consumer that met a broker error starts afresh)."""

    def __init__(self, inner: _KafkaReader, give_back: Any) -> None:
        self._inner, self._give_back, self._broken = inner, give_back, False
        self._closed = False

    def assign(self, positions: Mapping[TopicPartition, int]) -> None:
        try:
            self._inner.assign(positions)
        except BaseException:
            self._broken = True
            raise

    def position(self, tp: TopicPartition) -> int:
        try:
            return self._inner.position(tp)
        except BaseException:
            self._broken = True
            raise

    def poll(self, timeout_s: float, max_records: int = 500) -> list[LogRecord]:
        try:
            return self._inner.poll(timeout_s, max_records)
        except BaseException:
            self._broken = True
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._broken:
            self._inner.close()
            return
        try:
            self._inner.unassign()
        except Exception:  # a reader that cannot even unassign is not kept
            self._inner.close()
            return
        self._give_back(self._inner)


class _KafkaReader(Reader):
    """A read_committed consumer on explicitly assigned partitions; no group, no auto-commit."""

    def __init__(self, bootstrap: str, client_id: str, fetch_max_wait_ms: int = READ_FETCH_WAIT_MS) -> None:
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
            **_CLIENT,
        )

    def assign(self, positions: Mapping[TopicPartition, int]) -> None:
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


def _close_all(consumers: Sequence[Any]) -> None:
    for consumer in consumers:
        if consumer is not None:
            with contextlib.suppress(Exception):  # closing a broken client must not hide why
                consumer.close()
