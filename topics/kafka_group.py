"""A Kafka consumer group that only assigns partitions (the Membership port of topics/log.py).

The members of a jurisdiction's projection group share the events partitions; each reads its
own through topics/reader.py from the positions it keeps in PostgreSQL with its rows, so this
consumer fetches nothing: every partition it is given is paused at once, at the position the
member read from its own store, and no offset is ever committed to the group. Rebalancing is
cooperative (KIP-429, kafka-python's CooperativeStickyAssignor): while partitions move, the
members keep projecting those they keep.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTP
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import KafkaError

from topics.log import GroupListener, LogUnavailable, Membership, TopicPartition

__all__ = ["KafkaMembership"]

log = logging.getLogger(__name__)
_RELIST_S = 30.0


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
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=group,
                client_id=f"{client_id}-group-{os.getpid()}",  # which process holds what, to an operator
                enable_auto_commit=False,  # positions live with the rows, never in the group
                isolation_level="read_committed",
                partition_assignment_strategy=(CooperativeStickyAssignor,),
                session_timeout_ms=int(session_s * 1000),
                heartbeat_interval_ms=max(500, int(session_s * 1000) // 6),
                **(client or {}),
            )
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
        return self._held

    def close(self) -> None:
        self._consumer.close()
