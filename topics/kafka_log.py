"""Apache Kafka behind the EventLog port: transactional publishing, read_committed reading."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
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
from topics.kafka_readers import KafkaReader, ReaderPool
from topics.log import (
    EventLog,
    GroupListener,
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
        self._readers = ReaderPool(bootstrap, client_id, _CLIENT)  # one read at a time each
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
        return self._readers.reader()

    def watcher(self) -> Reader:
        # Its own consumer, not the pool's: the broker holds its fetches up to half a second,
        # and a pooled reader lent on with such a fetch outstanding could fetch nothing more
        # from that broker until it returned.
        return KafkaReader(self.bootstrap, self.client_id, _CLIENT, fetch_max_wait_ms=500)

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
        self._readers.close()


def _close_all(consumers: Sequence[Any]) -> None:
    for consumer in consumers:
        if consumer is not None:
            with contextlib.suppress(Exception):  # closing a broken client must not hide why
                consumer.close()
