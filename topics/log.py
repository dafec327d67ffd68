"""Ports of an event log: what the relay and the projections need from Kafka or its stand-in.

Positions are Kafka's: per topic partition, the offset of the next record to read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kafka.partitioner.default import murmur2

from topics.catalogue import TopicDefinition

__all__ = [
    "MAX_RECORD_BYTES",
    "EventLog",
    "GroupListener",
    "Headers",
    "LogRecord",
    "LogUnavailable",
    "Membership",
    "OutgoingRecord",
    "Publisher",
    "Reader",
    "RecordRejected",
    "TopicPartition",
    "partition_for",
]

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, order=True)
class TopicPartition:
    """One partition of one topic."""

    topic: str
    partition: int


@dataclass(frozen=True)
class OutgoingRecord:
    """A record to publish; the log chooses the partition from the key."""

    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone on a compacted topic
    headers: Headers
    timestamp_ms: int
    partition: int | None = None  # None: the log picks it from the key, as Kafka's default partitioner does


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for this key (murmur2)."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


@dataclass(frozen=True)
class LogRecord:
    """A record as read back, with its position."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int

    def header(self, name: str) -> bytes | None:
        """The first header of that name, if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


MAX_RECORD_BYTES = 1_000_000
"""Kafka's default limit on one record (message.max.bytes, less batch overhead)."""


class LogUnavailable(Exception):
    """The log could not be reached; nothing was published. Safe to retry."""


class RecordRejected(Exception):
    """The log refused a record (too large, unknown topic); its whole batch was not published."""


class Publisher(ABC):
    """Publishes batches atomically: every record of a batch is visible, or none is."""

    @abstractmethod
    def publish(self, records: Sequence[OutgoingRecord]) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class Reader(ABC):
    """Reads committed records from explicitly assigned positions (no group offsets)."""

    @abstractmethod
    def assign(self, positions: Mapping[TopicPartition, int]) -> None: ...

    @abstractmethod
    def poll(self, timeout_s: float, max_records: int = 500) -> list[LogRecord]: ...

    @abstractmethod
    def position(self, tp: TopicPartition) -> int: ...

    @abstractmethod
    def close(self) -> None: ...


class GroupListener(ABC):
    """What a member of a group does when the group moves partitions to or from it."""

    @abstractmethod
    def assigned(self, tps: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        """These partitions are this member's now; return the position of each, read from
        where the member keeps its positions (never from the group's committed offsets)."""

    @abstractmethod
    def revoked(self, tps: frozenset[TopicPartition]) -> None:
        """These partitions are no longer this member's (given up, or lost with the member's
        place in the group): write nothing more of them."""


class Membership(ABC):
    """A place in a group of processes that share the partitions of some topics. The group only
    assigns: the member reads its partitions through topics/reader.py from its own positions
    and commits nothing to the group."""

    @abstractmethod
    def owned(self, wait_s: float = 0.0) -> frozenset[TopicPartition]:
        """Take part in the group for up to wait_s (join, rebalance; the listener is called from
        here, in the caller's thread of control), then the partitions this member holds."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group; what this member held goes to the others."""


class EventLog(ABC):
    """A log of topics with partitions, as Kafka has them."""

    @abstractmethod
    def create_topics(self, definitions: Sequence[TopicDefinition]) -> None:
        """Create the topics that do not exist yet; leave existing ones alone."""

    @abstractmethod
    def list_topics(self) -> set[str]: ...

    @abstractmethod
    def partitions(self, topic: str) -> list[TopicPartition]: ...

    @abstractmethod
    def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset after the last committed record of each partition."""

    def written_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset after the last record written to each partition, committed or not yet
        decided (Kafka's high watermark); where a commit is atomic, the end offsets."""
        return self.end_offsets(tps)

    @abstractmethod
    def beginning_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]: ...

    @abstractmethod
    def offsets_for_time(self, tps: Sequence[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        """The first offset whose record timestamp is at or after timestamp_ms (else the end)."""

    @abstractmethod
    def publisher(self, transactional_id: str) -> Publisher:
        """A publisher; a new one with the same id fences off any older one."""

    @abstractmethod
    def reader(self) -> Reader: ...

    def watcher(self) -> Reader:
        """A reader for waiting long at the partitions' ends (topics/watch.py)."""
        return self.reader()

    @abstractmethod
    def membership(self, group: str, prefix: str, listener: GroupListener) -> Membership:
        """A place in `group`, which shares the partitions of every topic whose name starts
        with prefix (topics created later included) among its members."""

    @abstractmethod
    def close(self) -> None: ...
