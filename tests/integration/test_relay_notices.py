"""The relay wakes when another process commits events (PostgreSQL LISTEN/NOTIFY), and its
fallback poll covers a notification that never arrives (topics/commit_notices.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import report
from tests.infrastructure import cli_env
from topics.commit_notices import CommitNotices

pytestmark = pytest.mark.integration

# A relay in its own process that polls only once a minute: anything it publishes sooner was
# woken by a notification. "deaf": the same relay without its listener (the control).
RELAY = """
import signal, sys, threading
from services.bootstrap import build_node
from services.settings import Settings
node = build_node(Settings())
if sys.argv[1] == "deaf":
    node.relay.notices = None
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
print("ready", flush=True)
node.relay.run(stop, idle_s=60)
node.close()
"""


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path) -> Settings:
    return Settings(
        node="MX",
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"notices{unique}.",
        data_dir=tmp_path / "MX",
    )


@pytest.fixture
def node(settings: Settings) -> Iterator[Node]:
    built = build_node(settings)
    yield built
    built.close()


def published(node: Node) -> int:
    log_ = node.event_log
    return sum(log_.end_offsets(log_.partitions(node.relay.topic)).values())


def wait_for_more(node: Node, than: int, within_s: float) -> float | None:
    """Seconds until the events topic holds more than `than` offsets; None if not within_s."""
    began = time.monotonic()
    while time.monotonic() - began < within_s:
        if published(node) > than:
            return time.monotonic() - began
        time.sleep(0.02)
    return None


def relay_process(settings: Settings, mode: str) -> subprocess.Popen[str]:
    env = cli_env(
        CASELEDGER_NODE=settings.node,
        CASELEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
        CASELEDGER_DATABASE_URL=settings.database_url or "",
        CASELEDGER_TOPIC_PREFIX=settings.topic_prefix,
        CASELEDGER_DATA_DIR=str(settings.data_dir),
    )
    process = subprocess.Popen(
        [sys.executable, "-c", RELAY, mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def stopped(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def idle_relay(node: Node, settings: Settings, mode: str) -> subprocess.Popen[str]:
    """A relay process that has published what was there and is waiting."""
    node.ledger.report_missing_person(report())
    process = relay_process(settings, mode)
    assert wait_for_more(node, 0, 60) is not None, "the relay published nothing"
    time.sleep(1.5)  # its first passes are over: it waits now
    return process


def test_a_relay_in_another_process_wakes_on_a_commit(node: Node, settings: Settings) -> None:
    process = idle_relay(node, settings, "listening")
    try:
        before = published(node)
        node.ledger.report_missing_person(report())  # committed here, relayed there
        # Well inside its minute of polling: only the notification explains it.
        assert wait_for_more(node, before, 10) is not None, "not woken by the commit"
    finally:
        stopped(process)


def test_control_without_the_listener_the_same_relay_waits_for_its_poll(
    node: Node, settings: Settings
) -> None:
    process = idle_relay(node, settings, "deaf")
    try:
        before = published(node)
        node.ledger.report_missing_person(report())
        assert wait_for_more(node, before, 4) is None, "published unwoken: the test above proves nothing"
    finally:
        stopped(process)


def test_a_lost_notification_is_covered_by_the_fallback_poll(node: Node, settings: Settings) -> None:
    relay = node.relay
    # A listener on a channel nobody notifies: every notification of this commit is lost.
    relay.notices = CommitNotices(settings.postgres_conninfo(), "caseledger_nobody_notifies")
    relay.wakeup = threading.Event()  # and no wake from this process's own commits
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,), kwargs={"idle_s": 1.0}, daemon=True)
    worker.start()
    try:
        assert relay.notices.listening.wait(30)
        time.sleep(1.5)
        before = published(node)
        node.ledger.report_missing_person(report())
        took = wait_for_more(node, before, 15)
        assert took is not None, "a lost notification lost the event"
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()
