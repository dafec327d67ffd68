"""One catalogue of topic definitions: names, partitions and configs.

A catalogue may carry a prefix (a network or test namespace, e.g. `staging.`) that goes
before every name, so several networks or test runs can share one cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DEADLETTER", "EVENTS", "FEED", "KEYS", "LINKAGE", "Catalogue", "TopicDefinition"]

EVENTS = "ledger.events."
KEYS = "ledger.keys"
DEADLETTER = "ledger.deadletter."
FEED = "ledger.feed."
LINKAGE = "ledger.linkage."

_EVENTS_CONFIG = MappingProxyType(
    {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "message.timestamp.type": "CreateTime",
    }
)
# Grants are compacted away soon after their tombstone: a segment rolls every 10 minutes and
# a superseded record is cleaned within 15, so an erased key's wrapped copies leave the disk.
_KEYS_CONFIG = MappingProxyType(
    {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": "900000",
        "segment.ms": "600000",
        "min.cleanable.dirty.ratio": "0.01",
    }
)
_DEADLETTER_CONFIG = MappingProxyType({"cleanup.policy": "delete", "retention.ms": "-1"})


@dataclass(frozen=True)
class TopicDefinition:
    """A topic as caseledger needs it to exist."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Catalogue:
    """Every topic caseledger uses, under an optional name prefix."""

    prefix: str = ""
    partitions: int = 3

    def events(self, origin: str) -> TopicDefinition:
        """All events born in one jurisdiction; key = aggregate id; kept forever, never compacted."""
        return TopicDefinition(f"{self.prefix}{EVENTS}{origin}", self.partitions, _EVENTS_CONFIG)

    def keys(self) -> TopicDefinition:
        """Compacted key grants and their tombstones."""
        return TopicDefinition(f"{self.prefix}{KEYS}", self.partitions, _KEYS_CONFIG)

    def deadletter(self, node: str) -> TopicDefinition:
        """What a node could not decode, verify or apply, with the reason."""
        return TopicDefinition(f"{self.prefix}{DEADLETTER}{node}", 1, _DEADLETTER_CONFIG)

    def feed(self, organisation: str) -> TopicDefinition:
        """One consulate's feed: the events about its nationals its agreements allow, in the
        order they were read, as JSON (one partition: one order for its consumers); the tiers
        above public travel sealed under the case's data keys, which its erasure destroys."""
        return TopicDefinition(f"{self.prefix}{FEED}{organisation}", 1, _DEADLETTER_CONFIG)

    def linkage(self, origin: str) -> TopicDefinition:
        """One origin's linkage encodings (ledger/linkage.py), key = case id, the latest per
        case kept: a case withdrawn or erased leaves a tombstone, and compaction drops its
        encodings from the disk."""
        return TopicDefinition(f"{self.prefix}{LINKAGE}{origin}", self.partitions, _KEYS_CONFIG)

    def linkage_origin(self, topic: str) -> str | None:
        """The origin of a linkage topic, or None for any other topic."""
        head = f"{self.prefix}{LINKAGE}"
        return topic[len(head) :] if topic.startswith(head) else None

    def node_topics(self, node: str) -> list[TopicDefinition]:
        """Every topic one node writes to."""
        return [self.events(node), self.keys(), self.deadletter(node), self.linkage(node)]

    def origin_of(self, topic: str) -> str | None:
        """The origin jurisdiction of an events topic, or None for any other topic."""
        head = f"{self.prefix}{EVENTS}"
        return topic[len(head) :] if topic.startswith(head) else None

    def events_topics(self, names: set[str]) -> list[str]:
        """The events topics among names, sorted."""
        return sorted(n for n in names if self.origin_of(n))
