"""A node's figures for its operators: how far its own views are behind the log per partition,
how many events it has relayed, how many messages it put on its dead-letter topic, and the
requests its API answered by status, in Prometheus's text format. None of it is personal data.
services/http/operations.py serves them (/ready, /metrics)."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass

from services.bootstrap import Node
from topics.log import TopicPartition

__all__ = ["READY_LAG", "Figures", "Tally", "metrics_text"]

READY_LAG = 100
"""The views answer as /ready while fewer than this many events wait for them in all."""


class Tally:
    """Responses by method and status, shared by the middleware that counts and /metrics."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()
        self.lock = threading.Lock()

    def add(self, method: str, status: int) -> None:
        with self.lock:
            self.counts[(method, status)] += 1

    def snapshot(self) -> list[tuple[tuple[str, int], int]]:
        with self.lock:
            return sorted(self.counts.items())


def _lag(node: Node) -> dict[TopicPartition, int]:
    return dict(sorted(node.projector(node.settings.node).lag().items()))


def _relayed_and_dead(node: Node) -> tuple[int, int]:
    log_ = node.event_log
    existing = log_.list_topics()
    totals = []
    for topic in (
        node.catalogue.events(node.settings.node).name,
        node.catalogue.deadletter(node.settings.node).name,
    ):
        tps = log_.partitions(topic) if topic in existing else []
        totals.append(sum(log_.end_offsets(tps).values()) if tps else 0)
    return totals[0], totals[1]


def metrics_text(node: Node, tally: Tally) -> str:
    """The node's figures in Prometheus's text exposition format (version 0.0.4)."""
    node_label = node.settings.node
    lines = [
        "# HELP caseledger_views_lag_events Events on the log the node's own views have not applied.",
        "# TYPE caseledger_views_lag_events gauge",
    ]
    for tp, behind in _lag(node).items():
        where = f'node="{node_label}",topic="{tp.topic}",partition="{tp.partition}"'
        lines.append(f"caseledger_views_lag_events{{{where}}} {behind}")
    relayed, dead = _relayed_and_dead(node)
    lines += [
        "# HELP caseledger_events_relayed_total Events this node's relay has put on its events topic.",
        "# TYPE caseledger_events_relayed_total counter",
        f'caseledger_events_relayed_total{{node="{node_label}"}} {relayed}',
        "# HELP caseledger_dead_letters_total Messages this node could not decode, verify or apply.",
        "# TYPE caseledger_dead_letters_total counter",
        f'caseledger_dead_letters_total{{node="{node_label}"}} {dead}',
        "# HELP caseledger_http_requests_total Requests the API answered, by method and status.",
        "# TYPE caseledger_http_requests_total counter",
    ]
    for (method, status), count in tally.snapshot():
        lines.append(f'caseledger_http_requests_total{{method="{method}",status="{status}"}} {count}')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Figures:
    """What /health, /ready and /metrics read of one node, each under the node's lock."""

    node: Node
    lock: AbstractContextManager[object]
    tally: Tally
    ready_lag: int = READY_LAG

    @property
    def name(self) -> str:
        return self.node.settings.node

    def behind(self) -> int:
        """How many events wait for the node's own views, in all."""
        with self.lock:
            return sum(_lag(self.node).values())

    def metrics(self) -> str:
        with self.lock:
            return metrics_text(self.node, self.tally)
