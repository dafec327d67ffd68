"""One contract for every EventLog: the embedded SQLite log and Apache Kafka pass the same cases."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from topics.catalogue import TopicDefinition
from topics.embedded import SQLiteEventLog
from topics.kafka_log import KafkaEventLog
from topics.log import (
    EventLog,
    GroupListener,
    LogRecord,
    Membership,
    OutgoingRecord,
    RecordRejected,
    TopicPartition,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z in milliseconds


def record(topic: str, key: str, n: int, ts: int | None = None) -> OutgoingRecord:
    return OutgoingRecord(
        topic,
        key.encode(),
        f"value-{key}-{n}".encode(),
        (("n", str(n).encode()), ("key", key.encode())),
        T0 + n * 1000 if ts is None else ts,
    )


def read_all(log: EventLog, topic: str, starts: dict[TopicPartition, int] | None = None) -> list[LogRecord]:
    tps = log.partitions(topic)
    ends = log.end_offsets(tps)
    positions = starts or dict.fromkeys(tps, 0)
    reader = log.reader()
    try:
        reader.assign(positions)
        found: list[LogRecord] = []
        deadline = time.monotonic() + 30
        while any(reader.position(tp) < ends[tp] for tp in positions):
            found.extend(reader.poll(0.5))
            assert time.monotonic() < deadline, "the log did not deliver what it holds"
        return found
    finally:
        reader.close()


class Positions(GroupListener):
    """A group member's own record of positions: what it is given starts at 2."""

    def __init__(self) -> None:
        self.held: set[TopicPartition] = set()
        self.given: list[frozenset[TopicPartition]] = []

    def assigned(self, tps: frozenset[TopicPartition]) -> dict[TopicPartition, int]:
        self.held |= tps
        self.given.append(tps)
        return dict.fromkeys(tps, 2)

    def revoked(self, tps: frozenset[TopicPartition]) -> None:
        self.held -= tps


def owned_when(
    member: Membership, wanted: Callable[[frozenset[TopicPartition]], bool]
) -> frozenset[TopicPartition]:
    deadline = time.monotonic() + 60
    while not wanted(owned := member.owned(0.2)):
        assert time.monotonic() < deadline, f"the group did not settle; this member holds {sorted(owned)}"
    return owned


class EventLogContract:
    """Subclasses provide `open_log` (a factory; calling it again reopens the same log) and `names`."""

    @pytest.fixture
    def open_log(self) -> Callable[[], EventLog]:
        raise NotImplementedError

    @pytest.fixture
    def log(self, open_log: Callable[[], EventLog]) -> Iterator[EventLog]:
        opened = open_log()
        yield opened
        opened.close()

    @pytest.fixture
    def topic(self, log: EventLog, unique: str) -> str:
        name = f"contract.{unique}"
        log.create_topics([TopicDefinition(name, 3, {"retention.ms": "-1"})])
        return name

    def test_creating_topics_is_idempotent(self, log: EventLog, topic: str) -> None:
        log.create_topics([TopicDefinition(topic, 3)])
        assert topic in log.list_topics()
        assert log.partitions(topic) == [TopicPartition(topic, p) for p in range(3)]

    def test_records_of_one_key_stay_in_one_partition_in_order(self, log: EventLog, topic: str) -> None:
        publisher = log.publisher(f"{topic}-tx")
        for batch in range(3):
            publisher.publish(
                [
                    record(topic, key, batch * 10 + i)
                    for key in ("case-a", "case-b", "case-c", "case-d")
                    for i in range(3)
                ]
            )
        publisher.close()
        by_key: dict[bytes, list[LogRecord]] = {}
        for r in read_all(log, topic):
            by_key.setdefault(r.key or b"", []).append(r)
        assert sorted(by_key) == [b"case-a", b"case-b", b"case-c", b"case-d"]
        for key, records in by_key.items():
            assert len({r.partition for r in records}) == 1, key
            ordered = sorted(records, key=lambda r: r.offset)
            assert [int(r.header("n") or b"-1") for r in ordered] == [0, 1, 2, 10, 11, 12, 20, 21, 22]

    def test_offsets_increase_and_records_come_back_whole(self, log: EventLog, topic: str) -> None:
        publisher = log.publisher(f"{topic}-tx")
        publisher.publish([record(topic, "k", n) for n in range(5)])
        publisher.close()
        records = read_all(log, topic)
        offsets = [r.offset for r in records]
        assert offsets == sorted(offsets) and len(set(offsets)) == 5
        assert records[0].value == b"value-k-0"
        assert records[0].headers == (("n", b"0"), ("key", b"k"))
        assert [r.timestamp_ms for r in records] == [T0 + n * 1000 for n in range(5)]
        tp = TopicPartition(topic, records[0].partition)
        assert log.end_offsets([tp])[tp] > offsets[-1]

    def test_replay_from_any_position(self, log: EventLog, topic: str) -> None:
        publisher = log.publisher(f"{topic}-tx")
        publisher.publish([record(topic, "k", n) for n in range(6)])
        publisher.close()
        everything = read_all(log, topic)
        tp = TopicPartition(topic, everything[0].partition)
        for start in range(len(everything)):
            suffix = read_all(log, topic, {tp: everything[start].offset})
            assert [r.value for r in suffix] == [r.value for r in everything[start:]]

    def test_a_rejected_batch_publishes_nothing(self, log: EventLog, topic: str) -> None:
        publisher = log.publisher(f"{topic}-tx")
        too_large = OutgoingRecord(topic, b"k", b"x" * 2_000_000, (), T0)
        with pytest.raises(RecordRejected):
            publisher.publish([record(topic, "k", 0), record(topic, "j", 1), too_large])
        publisher.publish([record(topic, "k", 2)])
        publisher.close()
        assert [r.value for r in read_all(log, topic)] == [b"value-k-2"]

    def test_offsets_for_time_finds_the_first_record_at_or_after(self, log: EventLog, topic: str) -> None:
        publisher = log.publisher(f"{topic}-tx")
        publisher.publish([record(topic, "k", n) for n in range(10)])
        publisher.close()
        records = read_all(log, topic)
        tp = TopicPartition(topic, records[0].partition)
        assert log.offsets_for_time([tp], T0 + 4500)[tp] == records[5].offset
        assert log.offsets_for_time([tp], T0)[tp] == records[0].offset
        # After the last record: nothing is left to read from there (Kafka may point at a
        # transaction marker, which carries no record).
        after = log.offsets_for_time([tp], T0 + 60_000)[tp]
        assert records[-1].offset < after <= log.end_offsets([tp])[tp]
        assert read_all(log, topic, {tp: after}) == []

    def test_records_survive_reopening_the_log(
        self, log: EventLog, topic: str, open_log: Callable[[], EventLog]
    ) -> None:
        publisher = log.publisher(f"{topic}-tx")
        publisher.publish([record(topic, "k", n) for n in range(3)])
        publisher.close()
        log.close()
        reopened = open_log()
        try:
            assert [r.value for r in read_all(reopened, topic)] == [b"value-k-0", b"value-k-1", b"value-k-2"]
        finally:
            reopened.close()

    def test_a_reader_sees_records_published_while_it_waits(self, log: EventLog, topic: str) -> None:
        tps = log.partitions(topic)
        reader = log.reader()
        reader.assign(dict.fromkeys(tps, 0))
        assert reader.poll(0.2) == []
        publisher = log.publisher(f"{topic}-tx")
        publisher.publish([record(topic, "k", 7)])
        publisher.close()
        deadline = time.monotonic() + 20
        seen: list[LogRecord] = []
        while not seen and time.monotonic() < deadline:
            seen = reader.poll(0.5)
        reader.close()
        assert [r.value for r in seen] == [b"value-k-7"]

    def test_a_lone_member_of_a_group_holds_every_partition_of_its_topics(
        self, log: EventLog, unique: str
    ) -> None:
        prefix = f"group.{unique}."
        log.create_topics([TopicDefinition(f"{prefix}{origin}", 3) for origin in ("MX", "GT")])
        log.create_topics([TopicDefinition(f"other.{unique}.MX", 2)])
        every = frozenset(tp for t in (f"{prefix}MX", f"{prefix}GT") for tp in log.partitions(t))
        listener = Positions()
        member = log.membership(f"group-{unique}", prefix, listener)
        try:
            assert owned_when(member, lambda owned: owned == every) == every
            assert listener.held == every  # the listener heard each partition given
        finally:
            member.close()
        assert not listener.held, "leaving the group gives every partition up"


class TestEmbeddedLog(EventLogContract):
    @pytest.fixture
    def open_log(self, tmp_path: Path) -> Callable[[], EventLog]:
        return lambda: SQLiteEventLog(tmp_path / "log.sqlite")


@pytest.mark.integration
class TestKafkaLog(EventLogContract):
    @pytest.fixture
    def open_log(self, kafka_bootstrap: str) -> Callable[[], EventLog]:
        return lambda: KafkaEventLog(kafka_bootstrap)

    def test_a_group_shares_partitions_and_moves_only_those_that_change_hands(
        self, log: EventLog, unique: str
    ) -> None:
        prefix = f"group.{unique}."
        log.create_topics([TopicDefinition(f"{prefix}MX", 6)])
        every = frozenset(log.partitions(f"{prefix}MX"))
        first, second = Positions(), Positions()
        members = [log.membership(f"group-{unique}", prefix, first)]
        try:
            assert owned_when(members[0], lambda owned: owned == every) == every
            members.append(log.membership(f"group-{unique}", prefix, second))
            shares = settled(members, every)
            assert all(len(share) == 3 for share in shares)
            # Cooperative: the first member gave three partitions up and kept the others
            # throughout; nothing was taken from it and given back.
            assert first.given == [every] and first.held == shares[0]
            assert second.held == shares[1]
            members.pop().close()
            assert settled(members, every) == [every]
        finally:
            for member in members:
                member.close()


def settled(members: list[Membership], every: frozenset[TopicPartition]) -> list[frozenset[TopicPartition]]:
    """Each member's share once the shares are disjoint, none is empty and together they are every
    partition (the members answer the group in turn, as separate processes would at once)."""
    deadline = time.monotonic() + 60
    while True:
        shares = [member.owned(0.1) for member in members]
        union = frozenset().union(*shares)
        if union == every and sum(map(len, shares)) == len(every) and all(shares):
            return shares
        assert time.monotonic() < deadline, f"the group did not settle: {shares}"
