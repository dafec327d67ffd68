"""Where the relay's time goes, stage by stage: CPU per event of each step of a pass over N
stored reports (thread time of the relay's own thread; process time includes the Kafka
client's sender thread), with the node's key cache warm (the process that stored the events
relays them, as bench/relay.py does) or cold (--cold: another process stored them, or this
one restarted). Figures in CPU time hold up better than wall time on a shared machine.

    python3 bench/relay_stages.py [--events 2000] [--cold]
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import topics.grants as grants_module
import topics.relay as relay_module
import topics.stored_messages as stored_module
from bench.common import KAFKA, fresh_database
from ledger.case import MissingPersonCase
from services.bootstrap import build_node
from services.settings import Settings
from tests.factories import report as a_report
from topics.kafka_publisher import KafkaPublisher

SPENT: collections.Counter[str] = collections.Counter()


def timed(owner: Any, name: str, label: str | None = None) -> None:
    """Replace owner.name by a wrapper adding its thread time to SPENT[label or name]."""
    inner: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[label or name] += time.thread_time() - started

    setattr(owner, name, wrapper)


def instrument(node: Any) -> None:
    relay = node.relay
    timed(type(relay.recorder), "select_notifications", "read notifications")
    timed(relay_module.Relay, "_decoded", "decode states, prime keys")
    timed(relay_module.Relay, "_encode", "encode (stored message)")
    timed(stored_module, "framed", "  of which Avro and framing")
    timed(stored_module, "open_fixed", "  of which tier tag checks")
    timed(grants_module.Granting, "grants_for", "grants")
    timed(grants_module.Granting, "_message", "  of which signing")
    timed(grants_module, "wrap_for", "  of which wrapping keys")
    timed(grants_module.Granting, "readers_for", "  of which access rules")
    timed(relay_module, "sign_runs", "run signatures")
    timed(type(relay.chain), "put", "chain links stored")
    timed(grants_module.Granting, "granted", "grants recorded")
    timed(KafkaPublisher, "publish", "Kafka send and commit")


def stored_reports(node: Any, events: int, prefix: str) -> None:
    now, pending = node.ledger.clock(), []
    for i in range(events):
        command = a_report(command_id=f"stages-{prefix}{i}")
        pending.append(MissingPersonCase.report("MX", command.envelope(now), command.checked(now.date())))
        if len(pending) == 500 or i == events - 1:
            node.ledger.save(*pending)
            pending = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--cold", action="store_true", help="relay with nothing in the key cache")
    args = parser.parse_args()
    with fresh_database() as url:
        prefix = f"stages{uuid.uuid4().hex[:6]}."
        settings = Settings(
            node="MX",
            kafka_bootstrap=KAFKA,
            database_url=url,
            topic_prefix=prefix,
            data_dir=Path(f"/tmp/caseledger-bench-stages-{uuid.uuid4().hex[:6]}"),
        )
        node = build_node(settings)
        stored_reports(node, args.events, prefix)
        if args.cold:
            node.relay.keys.forget_all()
        node.relay.published_up_to()
        instrument(node)
        wall, cpu, relay_cpu = time.perf_counter(), time.process_time(), time.thread_time()
        published = 0
        while published < args.events:
            published += node.relay.run_once()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        relay_cpu = time.thread_time() - relay_cpu
        node.close()
    per = 1e6 / published
    print(f"relay stages: {published} reports, key cache {'cold' if args.cold else 'warm'}")
    print(f"  wall {wall * per:,.0f} us/event ({published / wall:,.0f} events/s)")
    print(f"  CPU: process {cpu * per:,.0f} us/event, relay thread {relay_cpu * per:,.0f}")
    for stage, seconds in SPENT.most_common():
        print(f"  {stage:32s} {seconds * per:7,.0f} us/event")


if __name__ == "__main__":
    main()
