"""A three-broker Kafka cluster (and, on demand, a PostgreSQL server) of its own, started by
`compose/services` in a state directory and on ports apart from the suite's single broker and
shared server, so that a test or a benchmark may kill, stop and restart them at will.

    cluster = Cluster(Path(tempfile.mkdtemp()), base=29192)
    cluster.up()                 # three KRaft brokers, each one of a three-voter quorum
    cluster.kill(cluster.controller())
    cluster.up()                 # the killed broker back (the script is idempotent)
    url = cluster.postgres()     # PostgreSQL on base + 20, state beside the brokers'
    cluster.restart_postgres()
    cluster.down()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "compose" / "services"
HEAP = "-Xms128m -Xmx384m"  # three JVMs on a 2-core machine: modest heaps
PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Cluster:
    """Brokers 1..3 on 127.0.0.1:base, base+2, base+4 (their controllers on the odd ports)."""

    BROKERS = 3

    def __init__(self, state: Path, base: int) -> None:
        self.state, self.base = state, base
        self.pg_port = base + 20
        self.env = {  # the jars are shared by every state directory: no second download
            **{k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")},
            "CASELEDGER_SERVICES_DIR": str(state),
            "CASELEDGER_KAFKA_PORT": str(base),
            "CASELEDGER_KAFKA_CONTROLLER_PORT": str(base + 1),
            "CASELEDGER_KAFKA_HEAP": HEAP,
            "CASELEDGER_PG_PORT": str(self.pg_port),
        }
        self.bootstrap = ",".join(f"127.0.0.1:{base + 2 * n}" for n in range(self.BROKERS))
        self.stopped: set[int] = set()  # brokers this process SIGSTOPped and has not resumed

    # ------------------------------------------------------------ the script
    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def up(self) -> None:
        """Start the brokers that are not running (all three the first time) and wait until the
        cluster answers with three brokers."""
        self.resume_all()
        started = self.run("up", "--brokers", str(self.BROKERS), "kafka")
        if started.returncode != 0:
            raise RuntimeError(f"compose/services up --brokers 3 kafka failed:\n{started.stderr[-3000:]}")

    def down(self) -> None:
        self.resume_all()
        self.run("down", "kafka", timeout=120)
        if (self.state / "pg" / "data" / "PG_VERSION").exists():
            self.run("down", "postgres", timeout=120)

    # ------------------------------------------------------------ the brokers
    def pid(self, broker: int) -> int:
        return int((self.state / f"kafka-{broker}.pid").read_text())

    def alive(self, broker: int) -> bool:
        try:
            os.kill(self.pid(broker), 0)
        except (OSError, ValueError):
            return False
        return True

    def kill(self, broker: int) -> None:
        """SIGKILL: no clean shutdown, no leadership handed over."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid(broker), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.alive(broker) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self, broker: int) -> None:
        """SIGSTOP: the broker is alive, holds its sockets and answers nothing."""
        os.kill(self.pid(broker), signal.SIGSTOP)
        self.stopped.add(broker)

    def resume(self, broker: int) -> None:
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.kill(self.pid(broker), signal.SIGCONT)
        self.stopped.discard(broker)

    def resume_all(self) -> None:
        for broker in range(1, self.BROKERS + 1):
            if broker in self.stopped:
                self.resume(broker)

    def _admin(self) -> KafkaAdminClient:
        live = [
            f"127.0.0.1:{self.base + 2 * (n - 1)}"
            for n in range(1, self.BROKERS + 1)
            if n not in self.stopped and self.alive(n)
        ]
        return KafkaAdminClient(bootstrap_servers=",".join(live) or self.bootstrap, request_timeout_ms=10000)

    def _ask(self, question: Callable[[KafkaAdminClient], T], timeout_s: float = 60) -> T:
        """An admin request, asked again while a broker just restarted does not answer yet."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                admin = self._admin()
                try:
                    return question(admin)
                finally:
                    admin.close()
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def controller(self) -> int:
        """The active controller: the leader of the KRaft quorum (__cluster_metadata)."""
        quorum = self._ask(lambda admin: admin.describe_metadata_quorum())
        [partition] = quorum["topics"][0]["partitions"]
        return int(partition["leader_id"])

    def leader(self, topic: str, partition: int) -> int:
        """The broker leading one partition (one with a leader: -1 is none yet)."""
        deadline = time.monotonic() + 60
        while True:
            (described,) = self._ask(lambda admin: admin.describe_topics([topic]))
            found = next(p["leader_id"] for p in described["partitions"] if p["partition_index"] == partition)
            if found >= 0 or time.monotonic() > deadline:
                return int(found)
            time.sleep(1.0)

    def settle(self, timeout_s: float = 180) -> list[str]:
        """Wait until every partition of the cluster (its internal topics too: the groups'
        offsets, the transactions' state) has a leader and all its replicas in sync; what still
        lags when timeout_s runs out (a test after a fault-heavy one starts on a healed cluster)."""
        deadline = time.monotonic() + timeout_s
        lagging = ["(not asked yet)"]
        while time.monotonic() < deadline:
            try:
                lagging = self.out_of_sync(self.topics(""))
            except KafkaError as error:  # a broker just started may not answer metadata yet
                lagging = [type(error).__name__]
            if not lagging:
                return []
            time.sleep(1.0)
        return lagging

    def topics(self, prefix: str) -> list[str]:
        """The cluster's topics whose names begin with prefix."""
        return sorted(t for t in self._ask(lambda admin: admin.list_topics()) if t.startswith(prefix))

    def out_of_sync(self, topics: list[str]) -> list[str]:
        """The partitions of these topics without a leader or with fewer replicas in sync than
        they have, as `topic[partition] leader L isr [..]`."""
        admin = self._admin()
        try:
            described = admin.describe_topics(topics)
        finally:
            admin.close()
        return [
            f"{t['name']}[{p['partition_index']}] leader {p['leader_id']} isr {sorted(p['isr_nodes'])}"
            for t in described
            for p in t["partitions"]
            if len(p["isr_nodes"]) < len(p["replica_nodes"]) or p["leader_id"] < 0
        ]

    # ------------------------------------------------------------ PostgreSQL
    @property
    def pg_data(self) -> Path:
        return self.state / "pg" / "data"

    def postgres(self) -> str:
        """Start this cluster's own PostgreSQL (port base + 20) if it is not running; its URL."""
        started = self.run("up", "postgres")
        if started.returncode != 0:
            raise RuntimeError(f"compose/services up postgres failed:\n{started.stderr[-3000:]}")
        return f"postgresql://caseledger@127.0.0.1:{self.pg_port}/caseledger"

    def restart_postgres(self) -> None:
        """Stop PostgreSQL at once (every connection cut, crash recovery at start) and start it."""
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data)]
        if os.getuid() == 0:
            pg_ctl = ["runuser", "-u", "postgres", "--", *pg_ctl]
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        self.postgres()
