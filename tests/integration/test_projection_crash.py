"""Exactly-once projection (#6, deliverable 2): a views process killed with SIGKILL in the
middle of its work and started again ends with views identical, by digest of every view
table, to a projection that ran from zero without interruption. Rows and offsets commit in
one PostgreSQL transaction per batch, so a kill loses or repeats nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.case import MissingPersonCase
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import report
from tests.infrastructure import cli_env

pytestmark = pytest.mark.integration
CASES = 1500


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path) -> Settings:
    return Settings(
        node="MX",
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"crash{unique}.",
        data_dir=tmp_path / "MX",
        projection_batch_size=20,
        relay_batch_size=50,  # small signed runs: the views commit in many small steps
    )


@pytest.fixture
def node(settings: Settings) -> Iterator[Node]:
    built = build_node(settings)
    yield built
    built.close()


def views_process(settings: Settings) -> subprocess.Popen[str]:
    env = cli_env(
        CASELEDGER_NODE=settings.node,
        CASELEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
        CASELEDGER_DATABASE_URL=settings.database_url or "",
        CASELEDGER_TOPIC_PREFIX=settings.topic_prefix,
        CASELEDGER_DATA_DIR=str(settings.data_dir),
        CASELEDGER_PROJECTION_BATCH_SIZE=str(settings.projection_batch_size),
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from services.cli import run; run()", "serve", "--as", "MX"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_views_process_killed_mid_batch_ends_identical_to_an_uninterrupted_run(
    node: Node, settings: Settings
) -> None:
    now = node.ledger.clock()
    cases = []
    for n in range(CASES):
        command = report(command_id=f"crash-{n}", given_names=f"Persona {n}")
        cases.append(MissingPersonCase.report("MX", command.envelope(now), command.checked(now.date())))
    half = CASES // 2

    def save(part: list[MissingPersonCase]) -> None:
        for start in range(0, len(part), 250):
            node.ledger.save(*part[start : start + 250])

    # Half the events are in the log when the process starts; the rest are recorded after
    # the kill and relayed by the restarted process (whose relay fences this node's), so the
    # kill always leaves work undone however fast this machine projects.
    save(cases[:half])
    while node.relay.run_once():
        pass
    views = node.views("MX")

    first = views_process(settings)
    deadline = time.monotonic() + 120
    while not views.cases() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    first.kill()  # SIGKILL: no clean shutdown, possibly between a batch's rows and its commit
    first.wait(timeout=30)
    at_kill = len(views.cases())
    assert 0 < at_kill <= half, f"the kill must land mid-stream ({at_kill} of {CASES} rows)"
    save(cases[half:])

    second = views_process(settings)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (
            len(views.cases()) < CASES or sum(node.projector("MX").lag().values())
        ):
            time.sleep(0.2)
        assert sum(node.projector("MX").lag().values()) == 0, "the restarted process caught up"
    finally:
        second.kill()
        second.wait(timeout=30)
    rows = views.cases()
    assert len(rows) == CASES and len({r.case_id for r in rows}) == CASES
    after_crash = views.digest()

    node.projector("MX").rebuild()  # the same views, projected from zero without interruption
    assert views.digest() == after_crash
