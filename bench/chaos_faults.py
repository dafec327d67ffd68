"""The chaos run's fault injector. Each round, while the load goes on:

1. SIGKILL the broker leading the busiest partition of one origin's events topic;
2. SIGKILL the active controller (the KRaft quorum's leader);
3. SIGSTOP a broker for pause_s (30 s by default), then SIGCONT it;
4. SIGKILL one node's relay;
5. SIGKILL one node's views worker;
6. restart PostgreSQL (an immediate stop: every connection cut, crash recovery at start).

A killed broker is started again at once (`compose/services up`, as a supervisor would), and
the next broker fault waits until every replica of the events topics is back in sync (at most
in_sync_s), so that no fault takes a second copy of a partition while one is still missing:
with three replicas and min.insync.replicas 2, that is what the cluster is built to survive.
Killed node processes are started again by the network's supervisor (bench/chaos_network.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.chaos_network import COUNTRIES, Network
from tests.cluster import Cluster
from topics.catalogue import Catalogue
from topics.kafka_log import KafkaEventLog
from topics.log import LogUnavailable


@dataclass
class Fault:
    round: int
    what: str
    target: str
    at: float
    took_s: float = 0.0


@dataclass
class Faults:
    cluster: Cluster
    network: Network
    pause_s: float = 30.0  # how long a broker stays SIGSTOPped
    gap_s: float = 5.0  # load alone between two faults
    in_sync_s: float = 60.0
    say: Callable[[str], None] = print
    done: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.catalogue = Catalogue(self.network.prefix)
        self.topics = [self.catalogue.events(c).name for c in COUNTRIES]

    def round(self, n: int) -> None:
        origin = COUNTRIES[n % len(COUNTRIES)]
        self._broker_fault(n, "SIGKILL leader", *self._busiest(origin))
        self._broker_fault(n, "SIGKILL controller", self.cluster.controller(), "the quorum")
        self._stop_broker(n, 1 + n % Cluster.BROKERS)
        self._node_fault(n, "SIGKILL relay", COUNTRIES[n % 3], "relay")
        self._node_fault(n, "SIGKILL views", COUNTRIES[(n + 1) % 3], "views")
        self._restart_postgres(n)

    def _busiest(self, origin: str) -> tuple[int, str]:
        """The leader of the origin's events partition holding the most records (asked again,
        up to three times, while the cluster does not answer)."""
        topic = self.catalogue.events(origin).name
        for attempt in range(3):
            log = KafkaEventLog(self.cluster.bootstrap)
            try:
                ends = log.end_offsets(log.partitions(topic))
                break
            except LogUnavailable:
                if attempt == 2:
                    raise
                self._settle()
            finally:
                log.close()
        busiest = max(ends, key=lambda tp: ends[tp])
        return self.cluster.leader(topic, busiest.partition), f"{topic}[{busiest.partition}]"

    def _record(self, n: int, what: str, target: str, began: float, how: str = "") -> None:
        fault = Fault(n + 1, what, target, began, time.monotonic() - began)
        self.done.append(fault)
        self.say(f"  round {n + 1}: {what} {target}: back after {fault.took_s:.1f} s{how}")

    def _broker_fault(self, n: int, what: str, broker: int, of: str) -> None:
        began = time.monotonic()
        self.cluster.kill(broker)
        time.sleep(self.gap_s)  # the cluster without it: a new leader, a new controller
        self.cluster.up()
        restarted = time.monotonic() - began
        self._settle()
        self._record(n, what, f"broker {broker} ({of})", began, f" (running again after {restarted:.1f} s)")
        time.sleep(self.gap_s)

    def _stop_broker(self, n: int, broker: int) -> None:
        began = time.monotonic()
        self.cluster.stop(broker)
        try:
            time.sleep(self.pause_s)
        finally:
            self.cluster.resume(broker)
        self._settle()
        self._record(n, f"SIGSTOP {self.pause_s:.0f} s", f"broker {broker}", began)
        time.sleep(self.gap_s)

    def _node_fault(self, n: int, what: str, country: str, which: str) -> None:
        began = time.monotonic()
        process = getattr(self.network.nodes[country], which)
        self.network.kill(process)
        self._record(n, what, f"{country} (pid now {process.pid})", began)
        time.sleep(self.gap_s)

    def _restart_postgres(self, n: int) -> None:
        began = time.monotonic()
        self.cluster.restart_postgres()
        self._record(n, "restart", "PostgreSQL", began)
        time.sleep(self.gap_s)

    def _settle(self) -> None:
        """Until every replica of the events topics is in sync again (or in_sync_s passed)."""
        deadline = time.monotonic() + self.in_sync_s
        lagging = ["(not asked yet)"]
        while time.monotonic() < deadline:
            try:
                lagging = self.cluster.out_of_sync(self.topics)
                if not lagging:
                    return
            except Exception as error:  # the cluster may not answer metadata for a moment
                lagging = [type(error).__name__]
            time.sleep(1.0)
        self.say(f"  (not in sync after {self.in_sync_s:.0f} s, going on: {', '.join(lagging)})")
