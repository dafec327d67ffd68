"""One of several processes, on one machine or several, keeping a jurisdiction's views together.

The jurisdiction's projection group (a Kafka consumer group with cooperative rebalancing,
topics/kafka_group.py) shares the events partitions among the processes, and only assigns.
A process claims what it is given by reading the positions from the views' tracking rows
(projections/claims.py), reads from there through the one verified reader, and commits rows
and positions in one PostgreSQL transaction per batch, as a lone projector does. It answers
the group between batches: a partition taken from it is given up once the batch in hand has
committed, and the rest of its pass is abandoned, so the next owner reads from the position
stored. The key grants, whose positions every process shares, are read by each process before
the events they unlock, from where the last reader committed; a process that finds them read
by another forgets the data keys it holds in memory, as a tombstone may have destroyed some.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from eventsourcing.persistence import IntegrityError

from projections.claims import PartitionTaken
from projections.projector import Projector
from projections.views import ViewsFromLaterRelease
from topics.catalogue import EVENTS
from topics.log import GroupListener, Membership, TopicPartition

__all__ = ["GroupWorker"]

log = logging.getLogger(__name__)
_GRANT_RACES = 5


class _GivenUp(Exception):
    """A partition of the pass in hand went to another process."""


class GroupWorker(GroupListener):
    """Projects the share of a jurisdiction's events partitions its projection group gives it."""

    def __init__(self, projector: Projector, *, group: str | None = None, idle_s: float = 0.2) -> None:
        """group: every worker of one jurisdiction's views joins the same one (by default
        named after the node and the jurisdiction)."""
        self.projector = projector
        prefix = projector.catalogue.prefix
        self.group = group or f"{prefix}caseledger-views-{projector.node}-{projector.jurisdiction}"
        self.idle_s = idle_s
        self.owned: frozenset[TopicPartition] = frozenset()
        self._grants: list[TopicPartition] = []  # the key grants' partitions
        self._grants_seen: dict[TopicPartition, int] | None = None  # their positions after this worker's read

    def assigned(self, tps: frozenset[TopicPartition]) -> Mapping[TopicPartition, int]:
        positions = self.projector.views.claim(sorted(tps))
        self.owned |= tps
        log.info("views %s, process %d: projecting %s", self.projector.jurisdiction, os.getpid(), _names(tps))
        return positions

    def revoked(self, tps: frozenset[TopicPartition]) -> None:
        self.owned -= tps
        self.projector.views.release(sorted(tps))
        log.info("views %s, process %d: gave up %s", self.projector.jurisdiction, os.getpid(), _names(tps))

    def run(self, stop: threading.Event) -> None:
        """Take part in the group and keep this worker's share current until stop is set; leave
        the group on the way out, so its partitions move at once."""
        membership = self._join()
        try:
            busy = False
            while not stop.is_set():
                try:
                    membership.owned(0.0 if busy else self.idle_s)  # joins, rebalances, waits
                    busy = self.run_once(membership) > 0
                except PartitionTaken as error:
                    # Another process committed a partition this one holds: the group moved it and
                    # this process is the last to know (it was stopped, or cut off). It writes
                    # nothing more until the group gives it partitions again, as a new member.
                    log.warning(
                        "views %s, process %d: %s; joining the group again",
                        self.projector.jurisdiction,
                        os.getpid(),
                        error,
                    )
                    membership.close()  # gives up what the group still thought was its
                    if self.owned:
                        self.revoked(self.owned)
                    membership = self._join()
                    busy = False
                except ViewsFromLaterRelease as error:
                    log.error("views worker stopped: %s", error)
                    return
                except Exception as error:  # outlive a broker or database restart
                    log.warning(
                        "views worker %s: %s: %s", self.projector.jurisdiction, type(error).__name__, error
                    )
                    busy = False
                    stop.wait(2.0)
        finally:
            membership.close()

    def _join(self) -> Membership:
        return self.projector.event_log.membership(
            self.group, f"{self.projector.catalogue.prefix}{EVENTS}", self
        )

    def _prepare(self) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
        """The projector's prepare(): the events partitions, their ends, and the key grants read
        up to a point after them. Workers read the grants at once and share their positions: when
        another commits a position first, what it read is in the key store, and this one reads
        on from there (no lock to wait on, which a stopped worker would hold for all)."""
        for _ in range(_GRANT_RACES):
            try:
                return self.projector.prepare()
            except IntegrityError:  # the position moved under this read: read on from it
                continue
        return self.projector.prepare()

    def run_once(self, membership: Membership) -> int:
        """One pass over this worker's partitions up to their ends now; the events consumed."""
        projector = self.projector
        if not self._grants:
            self._grants = projector.key_partitions()
        if projector.views.positions(self._grants) != self._grants_seen:
            # Another worker read grants since this one last did: a tombstone among them
            # destroyed keys this process may still hold in memory.
            projector.data_keys.forget_all()
        tps, ends = self._prepare()
        self._grants_seen = projector.views.positions(self._grants)
        mine = [tp for tp in tps if tp in self.owned]
        if not mine:
            return 0

        def between_batches(_: int) -> None:
            membership.owned(0.0)  # a rebalance lands here, with no batch in hand
            if not self.owned.issuperset(mine):
                raise _GivenUp

        try:
            return projector.consume_events(mine, ends, progress=between_batches)
        except _GivenUp:
            return 1  # pass again at once, over what is left


def _names(tps: frozenset[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)) or "nothing"
