"""Projecting one jurisdiction's views with several processes, a share of the partitions each.

Everything a view row depends on belongs to one aggregate, and an aggregate's events share
one partition: partitions can be projected independently. Each worker process commits its
partitions' rows with their offsets, as a single projector does, so a crash anywhere leaves
every partition exactly where its last committed batch put it. The key grants are read once,
by the calling process, before the workers start (Projector.prepare), so no event reaches a
worker before its grant. Only a node on PostgreSQL and Kafka projects in parallel: the
embedded default keeps one writer on its SQLite files.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait

from services.bootstrap import Node, build_node
from services.settings import Settings
from topics.log import TopicPartition

__all__ = ["project", "shares"]


def shares(pending: dict[TopicPartition, int], workers: int) -> list[list[TopicPartition]]:
    """The partitions split into at most `workers` shares of about equal work (records to
    read), the largest partitions placed first; no share is empty."""
    loads: list[tuple[int, list[TopicPartition]]] = [(0, []) for _ in range(max(1, workers))]
    for tp in sorted(pending, key=lambda t: (-pending[t], t)):
        index = min(range(len(loads)), key=lambda i: loads[i][0])
        load, share = loads[index]
        loads[index] = (load + pending[tp], [*share, tp])
    return [sorted(share) for _, share in loads if share]


def _project_share(
    settings: Settings,
    jurisdiction: str,
    share: list[TopicPartition],
    ends: dict[TopicPartition, int],
    timeout_s: float,
    worker: int,
) -> int:
    node = build_node(settings)
    try:
        projector = node.projector(jurisdiction)
        projector.worker = f"-w{worker}"  # its own dead-letter producer: one would fence the other
        return projector.consume_events(share, {tp: ends[tp] for tp in share}, timeout_s)
    finally:
        node.close()


def project(
    node: Node,
    jurisdiction: str,
    workers: int = 1,
    *,
    rebuild: bool = False,
    progress: Callable[[int], None] | None = None,
    timeout_s: float = 600.0,
) -> int:
    """Bring the jurisdiction's views up to the log's current end (from offset 0 when
    rebuilding) with up to `workers` processes; return the number of events consumed."""
    projector = node.projector(jurisdiction)
    if rebuild:
        projector.views.reset(keep=projector.key_partitions())
    tps, ends = projector.prepare(timeout_s)
    if not tps:
        return 0
    start = projector.views.positions(tps)
    pending = {tp: ends[tp] - start[tp] for tp in tps if start[tp] < ends[tp]}
    parallel = bool(node.settings.database_url and node.settings.kafka_bootstrap)
    if workers <= 1 or len(pending) < 2 or not parallel:
        return projector.consume_events(tps, ends, timeout_s, progress)
    groups = shares(pending, workers)
    reported = 0
    with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(
                _project_share,
                node.settings,
                jurisdiction,
                group,
                {tp: ends[tp] for tp in group},
                timeout_s,
                i,
            )
            for i, group in enumerate(groups)
        ]
        while True:
            finished, _ = wait(futures, timeout=0.5)
            if progress is not None:  # what the workers have committed, in offsets
                now = sum(projector.views.positions(tps).values()) - sum(start.values())
                progress(now - reported)
                reported = now
            if len(finished) == len(futures):
                break
        return sum(f.result() for f in futures)
