"""Where a `serve` process spends each hop of bench/e2e.py: wall time per call of the steps
of the API's command path, the relay's pass, the views' pass and the feed's pass.

bench/e2e.py --trace DIR starts each node's `serve` through install(): the steps below are
wrapped (nothing else changes) and each call's thread, step and duration goes to
DIR/<node>.trace, one line each, flushed once a second. summarise() prints per thread and
step: calls, median, p90 and total, so a pass's time splits into what it waited for.
"""

from __future__ import annotations

import atexit
import collections
import functools
import importlib
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["STEPS", "install", "summarise"]

# module: (attribute path, ...) of the callables timed.
STEPS = {
    "ledger.group_commit": ("GroupCommit.record", "GroupCommit._commit"),
    "services.node_lock": ("NodeLock.acquire",),
    "services.http.commands": ("handle", "record"),
    "services.candidates": ("Candidates.at_report",),
    "ledger.base": ("LedgerApplication.get_case",),
    "topics.relay": (
        "Relay.run_once",
        "Relay._signed_and_chained",
        "Relay.published_up_to",
    ),
    "topics.grants": ("Granting.grants_for", "Granting.granted", "Granting.key_for"),
    "topics.chain": ("PostgresChainStore.put",),
    "topics.kafka_publisher": ("KafkaPublisher.publish", "KafkaPublisher._await_visible", "bounded"),
    "topics.kafka_log": (
        "KafkaEventLog.end_offsets",
        "KafkaEventLog.written_offsets",
        "KafkaEventLog.partitions",
        "KafkaEventLog.list_topics",
    ),
    "topics.watch": ("LogWatch.wait", "grants_decided"),
    "topics.reader": ("LogReader.batches",),
    "topics.kafka_readers": ("KafkaReader.poll", "KafkaReader.assign", "ReaderPool.lend"),
    "projections.projector": (
        "Projector.run_once",
        "Projector.prepare",
        "Projector._consume",
        "Projector.apply",
        "grants_decided",
    ),
    "projections.postgres_views": (
        "PostgresJurisdictionViews.positions",
        "PostgresJurisdictionViews.apply",
        "PostgresJurisdictionViews.chain_heads",
    ),
    "services.feed_topic": ("FeedPublisher.run_once",),
    "services.feed": ("ConsularFeed.read", "ConsularFeed._record_reads"),
    "eventsourcing.postgres": ("PostgresApplicationRecorder.select_notifications",),
}

_lines: list[str] = []
_lock = threading.Lock()


def _timed(name: str, function: Any) -> Any:
    if getattr(function, "__e2e_traced__", False):
        return function

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            ended = time.perf_counter()
            line = f"{threading.current_thread().name}\t{name}\t{started:.6f}\t{ended - started:.6f}\n"
            with _lock:
                _lines.append(line)

    timed.__e2e_traced__ = True  # type: ignore[attr-defined]
    return timed


def _wrap(module_name: str, path: str) -> None:
    module = importlib.import_module(module_name)
    owner: Any = module
    *outer, last = path.split(".")
    for part in outer:
        owner = getattr(owner, part)
    function = owner.__dict__[last] if isinstance(owner, type) else getattr(owner, last)
    setattr(owner, last, _timed(path.split(".")[-1] if not outer else path, function))


def _flush(target: Path) -> None:
    with _lock:
        lines, _lines[:] = list(_lines), []
    if lines:
        with target.open("a") as out:
            out.writelines(lines)


def install(target: str) -> None:
    """Wrap STEPS; append their calls to target once a second and at exit."""
    path = Path(target)
    import os

    if os.environ.get("E2E_SWITCH"):
        sys.setswitchinterval(float(os.environ["E2E_SWITCH"]))
    for module_name, paths in STEPS.items():
        for each in paths:
            _wrap(module_name, each)

    def flushing() -> None:
        while True:
            time.sleep(1.0)
            _flush(path)

    threading.Thread(target=flushing, name="e2e-trace", daemon=True).start()
    atexit.register(_flush, path)


def summarise(target: Path, skip_s: float = 0.0) -> None:
    """Per thread and step: calls, median, p90 and total milliseconds (calls from skip_s after
    the first)."""
    rows: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    first = None
    for line in target.read_text().splitlines():
        thread, name, started, took = line.split("\t")
        first = float(started) if first is None else min(first, float(started))
        if float(started) - first >= skip_s:
            kind = "AnyIO worker" if thread.startswith("AnyIO") else thread
            rows[(kind, name)].append(float(took) * 1000)
    print(f"{target.name}:")
    for (thread, name), took in sorted(rows.items()):
        cut = statistics.quantiles(took, n=10)[8] if len(took) > 1 else took[0]
        print(
            f"  {thread[:28]:<28} {name:<44} n={len(took):<6} p50 {statistics.median(took):7.1f}"
            f"  p90 {cut:7.1f}  total {sum(took):8.0f} ms"
        )


if __name__ == "__main__":
    for each in sys.argv[1:]:
        summarise(Path(each))
