"""One catalogue of topic definitions: names, partitions and configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

EVENTS_PREFIX = "ledger.events."
KEYS_TOPIC = "ledger.keys"
DEADLETTER_PREFIX = "ledger.deadletter."

_EVENTS_CONFIG = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "message.timestamp.type": "CreateTime",
}
_KEYS_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
_DEADLETTER_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1"}


@dataclass(frozen=True)
class TopicDefinition:
    """A topic as caseledger needs it to exist."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def events_topic(origin: str, partitions: int = 3) -> TopicDefinition:
    """All events born in one jurisdiction; key = aggregate id; kept forever, never compacted."""
    return TopicDefinition(f"{EVENTS_PREFIX}{origin}", partitions, MappingProxyType(_EVENTS_CONFIG))


def keys_topic(partitions: int = 3) -> TopicDefinition:
    """Compacted key grants and their tombstones."""
    return TopicDefinition(KEYS_TOPIC, partitions, MappingProxyType(_KEYS_CONFIG))


def deadletter_topic(node: str) -> TopicDefinition:
    """What a node could not decode, verify or apply, with the reason."""
    return TopicDefinition(f"{DEADLETTER_PREFIX}{node}", 1, MappingProxyType(_DEADLETTER_CONFIG))


def node_topics(node: str, partitions: int = 3) -> list[TopicDefinition]:
    """Every topic one node writes to."""
    return [events_topic(node, partitions), keys_topic(partitions), deadletter_topic(node)]


def origin_of(topic: str) -> str | None:
    """The origin jurisdiction an events topic belongs to, or None for other topics."""
    if topic.startswith(EVENTS_PREFIX):
        return topic[len(EVENTS_PREFIX):]
    return None
