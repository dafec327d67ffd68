"""A Kafka consumer group that only assigns partitions (the Membership port of topics/log.py).

The members of a jurisdiction's projection group share the events partitions; each reads its
own through topics/reader.py from the positions it keeps in PostgreSQL with its rows, so this
consumer fetches nothing: every partition it is given is paused at once, at the position the
member read from its own store, and no offset is ever committed to the group. Rebalancing is
cooperative (KIP-429, kafka-python's CooperativeStickyAssignor): while partitions move, the
members keep projecting those they keep.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KafkaTP
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import KafkaError

from topics.log import GroupListener, LogUnavailable, Membership, TopicPartition

__all__ = ["KafkaMembership"]

log = logging.getLogger(__name__)
_RELIST_S = 30.0
_ASK_S = 5.0  # how often a member holding partitions checks the coordinator still lists it


def _ours(tps: Any) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(tp.topic, tp.partition) for tp in tps)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """kafka-python calls this on its I/O thread, but only while the member's owned() waits in
    poll(): never while the member writes a batch."""

    def __init__(self, membership: KafkaMembership) -> None:
        self.membership = membership

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.membership.given_up(_ours(revoked))

    def on_partitions_lost(self, lost: Any) -> None:  # evicted: nothing more may be written
        self.membership.given_up(_ours(lost))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.membership.given(_ours(assigned))


class KafkaMembership(Membership):
    """One member of `group` over every topic whose name starts with prefix.

    session_s: how long a member may be silent (killed, stopped) before the group gives its
    partitions to the others; Kafka's brokers accept 6 s at the least by default."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        prefix: str,
        listener: GroupListener,
        *,
        client_id: str = "caseledger",
        session_s: float = 10.0,
        client: dict[str, Any] | None = None,
    ) -> None:
        self.group = group
        self.listener = listener
        self._held: frozenset[TopicPartition] = frozenset()
        self._unclaimed: frozenset[TopicPartition] = frozenset()  # assigned, positions not read yet
        self._client_id = f"{client_id}-group-{os.getpid()}"  # which process holds what, to an operator
        self._config = {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "client_id": self._client_id,
            "enable_auto_commit": False,  # positions live with the rows, never in the group
            "isolation_level": "read_committed",
            "partition_assignment_strategy": (CooperativeStickyAssignor,),
            "session_timeout_ms": int(session_s * 1000),
            "heartbeat_interval_ms": max(500, int(session_s * 1000) // 6),
            **(client or {}),
        }
        self._admin: Any = None
        self._asked = time.monotonic()  # when the coordinator was last asked if it lists this member
        try:
            self._consumer = KafkaConsumer(**self._config)
            self._prefix, self._topics, self._listed = prefix, [""], 0.0
            self._subscribe()
        except KafkaError as error:
            raise LogUnavailable(f"kafka at {bootstrap}: {type(error).__name__}") from error

    def _subscribe(self) -> None:
        """Subscribe to the topics of the prefix by name, listed again every 30 s (a new
        origin's topic joins the group then). Not by pattern: a pattern member waits for
        metadata of every topic of the cluster before each rejoin, and within the short waits
        between batches (owned(0)) a large cluster's metadata never arrives, so it never rejoins."""
        self._listed = time.monotonic()
        topics = sorted(t for t in self._consumer.topics() if t.startswith(self._prefix))
        if topics != self._topics:
            self._topics = topics
            if topics:
                self._consumer.subscribe(topics=topics, listener=_Rebalance(self))
            else:
                self._consumer.unsubscribe()

    def given(self, tps: frozenset[TopicPartition]) -> None:
        """Partitions assigned: stop the consumer from ever fetching them, then claim them."""
        self._consumer.pause(*(KafkaTP(tp.topic, tp.partition) for tp in tps))
        self._unclaimed |= tps
        self._claim()

    def given_up(self, tps: frozenset[TopicPartition]) -> None:
        self._held -= tps
        self._unclaimed -= tps
        self.listener.revoked(tps)

    def _claim(self) -> None:
        """Ask the member for the positions of what it was given; a claim that fails (its store
        is away) is tried again at the next owned()."""
        if not self._unclaimed:
            return
        tps = self._unclaimed
        try:
            positions = self.listener.assigned(tps)
        except Exception as error:  # the member's store: retried, never lost
            log.warning("group %s: claiming %d partitions failed: %s", self.group, len(tps), error)
            return
        for tp, offset in positions.items():
            # The paused consumer's position: what the member stores, not a committed offset.
            self._consumer.seek(KafkaTP(tp.topic, tp.partition), offset)
        self._held |= tps
        self._unclaimed -= tps

    def owned(self, wait_s: float = 0.0) -> frozenset[TopicPartition]:
        try:
            if time.monotonic() - self._listed > (_RELIST_S if self._topics else 1.0):
                self._subscribe()
            if not self._topics:  # nothing to share yet
                time.sleep(wait_s)
                return self._held
            self._consumer.poll(timeout_ms=int(wait_s * 1000), max_records=1)  # all paused: no records
        except KafkaError as error:
            raise LogUnavailable(f"group {self.group}: {type(error).__name__}") from error
        self._claim()
        if self._held and time.monotonic() - self._asked > _ASK_S:
            self._rejoin_if_evicted()
        return self._held

    def _rejoin_if_evicted(self) -> None:
        """A member the coordinator evicted (its session lapsed while it was busy) can miss
        hearing it: kafka-python 3.0.12 keeps its partitions when its rejoin meets
        UNKNOWN_MEMBER_ID, and it projects them beside their new owner, idle until refused.
        So every _ASK_S a member holding partitions asks the coordinator whether a stable group
        still lists it (by client id: one per process); if not, it gives them all up and joins
        again with a new consumer."""
        self._asked = time.monotonic()
        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self._config["bootstrap_servers"], client_id=f"{self._client_id}-check"
                )
            described = self._admin.describe_groups([self.group])[self.group]
        except (KafkaError, KeyError, OSError):  # asked again at the next check
            return
        if described["group_state"] != "Stable":
            return
        if any(m["client_id"] == self._client_id for m in described["members"]):
            return
        log.warning("group %s: the coordinator no longer lists this member; joining again", self.group)
        with contextlib.suppress(KafkaError):  # replaced: its own state is what went wrong
            self._consumer.close()  # its listener may hear the loss here
        if self._held or self._unclaimed:
            self.given_up(self._held | self._unclaimed)
        self._consumer = KafkaConsumer(**self._config)
        self._topics, self._listed = [""], 0.0
        self._subscribe()

    def close(self) -> None:
        self._consumer.close()
        if self._admin is not None:
            self._admin.close()
