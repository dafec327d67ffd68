"""Projection workers on several machines (#18, deliverable 3): three `views-worker` processes
share one jurisdiction's events partitions through a Kafka consumer group with cooperative
rebalancing; one is killed with SIGKILL while its partitions have records to go, another joins,
and once they have caught up the views equal, by digest, a rebuild from zero. Positions stay in
PostgreSQL with the rows: the group only assigns."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from psycopg.sql import SQL

from ledger.case import MissingPersonCase
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import report
from tests.infrastructure import cli_env
from topics.log import TopicPartition

pytestmark = pytest.mark.integration
PARTITIONS = 6
STEP = 500  # cases recorded and relayed at a time: one event each


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path) -> Settings:
    return Settings(
        node="MX",
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"group{unique}.",
        data_dir=tmp_path / "MX",
        partitions=PARTITIONS,
        projection_batch_size=25,
        relay_batch_size=50,  # small signed runs: the views commit in many small steps
    )


@pytest.fixture
def node(settings: Settings) -> Iterator[Node]:
    built = build_node(settings)
    yield built
    built.close()


def worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = cli_env(
        CASELEDGER_NODE=settings.node,
        CASELEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
        CASELEDGER_DATABASE_URL=settings.database_url or "",
        CASELEDGER_TOPIC_PREFIX=settings.topic_prefix,
        CASELEDGER_DATA_DIR=str(settings.data_dir),
        CASELEDGER_PROJECTION_BATCH_SIZE=str(settings.projection_batch_size),
        CASELEDGER_PROJECTION_GROUP_SESSION_S="6",  # the brokers' least: a killed worker's share moves in 6 s
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from services.cli import run; run()", "views-worker", "--as", "MX"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Group:
    """What the broker says of the projection group: each worker process's share."""

    def __init__(self, bootstrap: str, name: str) -> None:
        self.name = name
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.protocol = ""

    def shares(self) -> dict[int, frozenset[TopicPartition]] | None:
        """Each member's partitions by process id, once the group is stable; else None."""
        described = self.admin.describe_groups([self.name])[self.name]
        if described["group_state"] != "Stable":
            return None
        self.protocol = described["protocol_data"]
        return {
            int(member["client_id"].rsplit("-", 1)[1]): frozenset(
                TopicPartition(a["topic"], p)
                for a in member["member_assignment"]["assigned_partitions"]
                for p in a["partitions"]
            )
            for member in described["members"]
        }

    def settled(
        self, pids: set[int], every: frozenset[TopicPartition], alive: Callable[[], None]
    ) -> dict[int, frozenset[TopicPartition]]:
        """Wait until exactly these processes share every partition, each holding some."""
        deadline = time.monotonic() + 90
        shares = None
        while time.monotonic() < deadline:
            alive()
            shares = self.shares()
            if (
                shares is not None
                and set(shares) == pids
                and all(shares.values())
                and sum(map(len, shares.values())) == len(every)
                and frozenset().union(*shares.values()) == every
            ):
                return shares
            time.sleep(0.2)
        raise AssertionError(f"the group did not settle on processes {sorted(pids)}: {shares}")

    def close(self) -> None:
        self.admin.close()


def test_three_workers_one_killed_and_one_added_end_with_the_views_of_a_rebuild(
    node: Node, settings: Settings, tmp_path: Path
) -> None:
    now = node.ledger.clock()
    recorded = 0

    def record(cases: int) -> None:
        nonlocal recorded
        made = []
        for n in range(recorded, recorded + cases):
            command = report(command_id=f"group-{n}", given_names=f"Persona {n}")
            made.append(MissingPersonCase.report("MX", command.envelope(now), command.checked(now.date())))
        for start in range(0, len(made), 250):
            node.ledger.save(*made[start : start + 250])
        while node.relay.run_once():
            pass
        recorded += cases

    record(STEP)
    projector = node.projector("MX")
    every = frozenset(projector.partitions())
    assert len(every) == PARTITIONS
    views = node.views("MX")
    group = Group(settings.kafka_bootstrap or "", f"{settings.topic_prefix}caseledger-views-MX-MX")
    log = tmp_path / "workers.log"
    workers = [worker(settings, log) for _ in range(3)]

    def alive() -> None:
        dead = [w.pid for w in workers if w.poll() is not None]
        assert not dead, f"workers {dead} exited; their output:\n{log.read_text()[-4000:]}"

    try:
        shares = group.settled({w.pid for w in workers}, every, alive)
        assert group.protocol == "cooperative-sticky"

        # Kill a worker while its own partitions have records to go (the stream goes on).
        victim = workers[0]
        while True:
            record(STEP)
            lag = projector.lag()
            pending = sum(lag[tp] for tp in shares[victim.pid])
            if pending:
                break
        victim.send_signal(signal.SIGKILL)  # no clean shutdown, possibly mid-batch
        victim.wait(timeout=30)
        workers.remove(victim)
        at_kill = len(views.cases())
        assert 0 < at_kill < recorded, f"the kill must land mid-stream ({at_kill} of {recorded} rows)"

        record(STEP)
        # The killed worker's share goes to the two others once its session lapses...
        group.settled({w.pid for w in workers}, every, alive)
        record(STEP)
        workers.append(worker(settings, log))  # ...and a new worker takes a share from them.
        group.settled({w.pid for w in workers}, every, alive)
        record(STEP)

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (
            len(views.cases()) < recorded or sum(projector.lag().values()) > 0
        ):
            alive()
            time.sleep(0.2)
        assert sum(projector.lag().values()) == 0, "the workers caught up"
    finally:
        for process in workers:
            process.terminate()  # SIGTERM: leave the group cleanly
        for process in workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        group.close()

    rows = views.cases()
    assert len(rows) == recorded and len({r.case_id for r in rows}) == recorded
    deadletters = node.catalogue.deadletter(node.settings.node).name
    assert deadletters not in node.event_log.list_topics() or not sum(
        node.event_log.end_offsets(node.event_log.partitions(deadletters)).values()
    ), "no record was refused as a repeat or a gap"
    shared = views.digest()

    projector.rebuild()  # the same views, projected from zero by one process without interruption
    assert views.digest() == shared

    # The control: the comparison sees a single changed row.
    with views.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute(
            SQL("UPDATE {}.cases SET status = 'located_alive' WHERE case_id = %s").format(
                views._schema  # type: ignore[attr-defined]
            ),
            (rows[0].case_id,),
        )
    assert views.digest() != shared
