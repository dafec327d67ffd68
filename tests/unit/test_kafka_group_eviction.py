"""A group member the coordinator no longer lists gives up what it held and joins again
(topics/kafka_group.py, KafkaMembership._rejoin_if_evicted).

kafka-python 3.0.12 can keep an evicted member's partitions when its rejoin meets
UNKNOWN_MEMBER_ID; the member then projects them beside their new owner. Against real brokers the
eviction depends on timing (tests/integration/test_projection_group.py meets it now and then);
here the consumer and the coordinator's answer are stand-ins, so each case happens every time.
Pure unit tests: no broker is reached."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from kafka.errors import KafkaTimeoutError

import topics.kafka_group as kafka_group
from topics.kafka_group import KafkaMembership
from topics.log import GroupListener, TopicPartition

TOPIC = "ledger.events.MX"
HELD = frozenset(TopicPartition(TOPIC, p) for p in range(3))


class Consumer:
    """A stand-in KafkaConsumer: one topic, no records, remembers what was asked of it."""

    made: ClassVar[list[Consumer]] = []

    def __init__(self, **config: Any) -> None:
        self.config, self.closed = config, False
        self.subscribed: list[list[str]] = []
        self.paused: list[Any] = []
        self.seeks: dict[Any, int] = {}
        Consumer.made.append(self)

    def topics(self) -> set[str]:
        return {TOPIC, "ledger.keys.MX"}  # only the first is of the prefix

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.subscribed.append(topics)
        self.listener = listener

    def unsubscribe(self) -> None:
        self.subscribed.append([])

    def pause(self, *tps: Any) -> None:
        self.paused.extend(tps)

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks[tp] = offset

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        return {}

    def close(self) -> None:
        self.closed = True


class Coordinator:
    """A stand-in admin client answering describe_groups as it is told to."""

    def __init__(self, state: str, client_ids: list[str] | None = None, failure: Exception | None = None):
        self.state, self.client_ids, self.failure, self.asked = state, client_ids or [], failure, 0

    def describe_groups(self, groups: list[str]) -> dict[str, Any]:
        self.asked += 1
        if self.failure is not None:
            raise self.failure
        members = [{"client_id": c, "member_id": f"{c}-1"} for c in self.client_ids]
        return {g: {"group_state": self.state, "members": members} for g in groups}

    def close(self) -> None:
        pass


class Member(GroupListener):
    def __init__(self) -> None:
        self.assigned_log: list[frozenset[TopicPartition]] = []
        self.revoked_log: list[frozenset[TopicPartition]] = []

    def assigned(self, tps: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        self.assigned_log.append(tps)
        return {tp: 10 * tp.partition for tp in tps}

    def revoked(self, tps: frozenset[TopicPartition]) -> None:
        self.revoked_log.append(tps)


@pytest.fixture
def membership(monkeypatch: pytest.MonkeyPatch) -> tuple[KafkaMembership, Member]:
    Consumer.made = []
    monkeypatch.setattr(kafka_group, "KafkaConsumer", Consumer)
    member = Member()
    group = KafkaMembership("127.0.0.1:1", "views.GT", "ledger.events.", member, client_id="test")
    group.given(HELD)  # what the coordinator's assignment does, through the listener
    assert group.owned() == HELD and member.assigned_log == [HELD]
    return group, member


def check(
    group: KafkaMembership, coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> frozenset[TopicPartition]:
    """One owned() after the check's interval has passed, the coordinator answering as told."""
    group._admin = coordinator
    monkeypatch.setattr(group, "_asked", group._asked - kafka_group._ASK_S - 1)
    return group.owned()


def test_an_evicted_member_gives_everything_up_and_joins_with_a_new_consumer(
    membership: tuple[KafkaMembership, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    group, member = membership
    first = Consumer.made[-1]
    coordinator = Coordinator("Stable", ["caseledger-group-999", "other-member"])
    assert check(group, coordinator, monkeypatch) == frozenset()
    assert coordinator.asked == 1
    assert member.revoked_log == [HELD], "the listener hears every partition it held is gone"
    assert first.closed, "the consumer whose state went wrong is closed"
    assert len(Consumer.made) == 2 and Consumer.made[-1] is group._consumer
    assert Consumer.made[-1].subscribed == [[TOPIC]], "the new consumer joins by the same topics"
    assert Consumer.made[-1].config == first.config, "same group, same client id: one per process"


def test_a_listed_member_keeps_what_it_holds(
    membership: tuple[KafkaMembership, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control: the same check, the coordinator listing this member: nothing changes."""
    group, member = membership
    coordinator = Coordinator("Stable", [group._client_id, "other-member"])
    assert check(group, coordinator, monkeypatch) == HELD
    assert coordinator.asked == 1 and member.revoked_log == [] and len(Consumer.made) == 1


@pytest.mark.parametrize(
    "coordinator",
    [
        Coordinator("PreparingRebalance"),  # a group mid-rebalance lists members in flux
        Coordinator("CompletingRebalance"),
        Coordinator("Stable", failure=KafkaTimeoutError("no answer")),  # asked again next time
    ],
    ids=["preparing", "completing", "coordinator-away"],
)
def test_an_unsettled_or_silent_coordinator_evicts_nobody(
    membership: tuple[KafkaMembership, Member], monkeypatch: pytest.MonkeyPatch, coordinator: Coordinator
) -> None:
    group, member = membership
    assert check(group, coordinator, monkeypatch) == HELD
    assert coordinator.asked == 1 and member.revoked_log == [] and len(Consumer.made) == 1


def test_the_coordinator_is_asked_only_every_few_seconds(
    membership: tuple[KafkaMembership, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    group, member = membership
    coordinator = Coordinator("Stable", [])
    group._admin = coordinator
    group._asked = time.monotonic()
    for _ in range(5):
        assert group.owned() == HELD
    assert coordinator.asked == 0 and member.revoked_log == []


def test_a_member_holding_nothing_does_not_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    Consumer.made = []
    monkeypatch.setattr(kafka_group, "KafkaConsumer", Consumer)
    group = KafkaMembership("127.0.0.1:1", "views.GT", "ledger.events.", Member(), client_id="test")
    coordinator = Coordinator("Stable", [])
    assert check(group, coordinator, monkeypatch) == frozenset()
    assert coordinator.asked == 0 and len(Consumer.made) == 1
