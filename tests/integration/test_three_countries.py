"""Three country nodes on one real broker: each records cases and reads the others'. The
Mexican relay is killed with SIGKILL mid-stream and restarted; the broker is stopped and
started again while the nodes keep accepting commands. Every event ends up on its topic
exactly once (counted by id with a plain read_committed consumer), in order per aggregate."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.commands import RecordSighting
from ledger.values import Place
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests import infrastructure as infra
from tests.contracts.test_event_log_contract import read_all
from tests.factories import ctx, report
from tests.infrastructure import cli_env
from tests.integration.test_end_to_end import raw_records
from topics.signing import NodeKey

pytestmark = pytest.mark.integration
COUNTRIES = ("MX", "GT", "HN")
SCRIPT = Path(__file__).resolve().parents[2] / "compose" / "services"


@pytest.fixture
def network(kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path) -> dict[str, Settings]:
    """Settings of three nodes that know each other's public keys, on one broker and server."""
    keys = {c: tmp_path / f"{c}.key" for c in COUNTRIES}
    registry = tmp_path / "nodes.json"
    registry.write_text(json.dumps({c: NodeKey.load_or_create(k).public_b64 for c, k in keys.items()}))
    return {
        c: Settings(
            node=c,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"net{unique}.",
            node_key=keys[c],
            key_registry=registry,
            data_dir=tmp_path / c,
            relay_batch_size=10,
        )
        for c in COUNTRIES
    }


@pytest.fixture
def nodes(network: dict[str, Settings]) -> Iterator[dict[str, Node]]:
    built = {c: build_node(s) for c, s in network.items()}
    yield built
    for node in built.values():
        node.close()


def record_cases(node: Node, cases: int, sightings: int, tag: str) -> int:
    """Cases with sightings, so that each aggregate has several events in order."""
    for n in range(cases):
        case_id = node.ledger.report_missing_person(report(command_id=f"{tag}-{n}", given_names=f"{tag} {n}"))
        for day in range(1, sightings + 1):
            node.ledger.record_sighting(
                RecordSighting(
                    **ctx(),
                    case_id=case_id,
                    seen_on=f"2026-03-{day:02d}",
                    place=Place(node.settings.node),
                    source="witness",
                )
            )
    return cases * (1 + sightings)


def committed_count(node: Node) -> int:
    """Records committed on the node's events topic (transaction markers aside)."""
    return len(read_all(node.event_log, node.catalogue.events(node.settings.node).name))


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def assert_exactly_once_in_order(node: Node) -> None:
    topic = node.catalogue.events(node.settings.node).name
    expected = node.ledger.recorder.max_notification_id() or 0
    messages = raw_records(node.settings.kafka_bootstrap or "", topic, expected=expected)
    ids = [dict(m.headers)["event_id"] for m in messages]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) == expected, (
        f"{len(ids)} records, {len(set(ids))} ids, {expected} events"
    )
    versions: dict[bytes, list[tuple[int, int]]] = {}
    for m in messages:
        versions.setdefault(m.key, []).append((m.offset, int(dict(m.headers)["aggregate_version"])))  # type: ignore[attr-defined]
    for key, seen in versions.items():
        in_offset_order = [v for _, v in sorted(seen)]
        assert in_offset_order == list(range(1, len(seen) + 1)), f"aggregate {key!r} out of order"


def relay_process(settings: Settings) -> subprocess.Popen[str]:
    env = cli_env(
        CASELEDGER_NODE=settings.node,
        CASELEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
        CASELEDGER_DATABASE_URL=settings.database_url or "",
        CASELEDGER_TOPIC_PREFIX=settings.topic_prefix,
        CASELEDGER_NODE_KEY=str(settings.node_key),
        CASELEDGER_KEY_REGISTRY=str(settings.key_registry),
        CASELEDGER_DATA_DIR=str(settings.data_dir),
        CASELEDGER_RELAY_BATCH_SIZE=str(settings.relay_batch_size),
    )
    return subprocess.Popen(
        [sys.executable, "-c", "from services.cli import run; run()", "relay", "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_relay_killed_mid_stream_publishes_every_event_exactly_once(
    nodes: dict[str, Node], network: dict[str, Settings]
) -> None:
    mx = nodes["MX"]
    total = record_cases(mx, cases=300, sightings=9, tag="MX")
    for country in ("GT", "HN"):
        record_cases(nodes[country], cases=15, sightings=2, tag=country)
        nodes[country].relay.run_once()

    first = relay_process(network["MX"])
    try:
        # Kill as soon as the first transactions are visible (end offsets are cheap to poll).
        tps = mx.event_log.partitions(mx.catalogue.events("MX").name)
        deadline = time.monotonic() + 120
        while sum(mx.event_log.end_offsets(tps).values()) < 50:
            assert time.monotonic() < deadline, "the relay never started publishing"
            time.sleep(0.02)
    finally:
        first.kill()  # SIGKILL: no clean shutdown, possibly inside a transaction
        first.wait(timeout=30)
    at_kill = committed_count(mx)
    assert 0 < at_kill < total, f"the kill must land mid-stream ({at_kill} of {total} published)"

    second = relay_process(network["MX"])
    try:
        wait_for(lambda: committed_count(mx) >= total, 180, "the restarted relay to finish")
        time.sleep(1.0)  # anything published twice would show up now
    finally:
        second.kill()
        second.wait(timeout=30)
    assert_exactly_once_in_order(mx)

    for country, node in nodes.items():
        node.projector(country).run_once()
        rows = node.views(country).cases()
        assert len(rows) == 330, f"{country} sees {len(rows)} of 330 cases"
        own = [r for r in rows if r.origin == country]
        assert own and all(not r.restricted for r in own)
        assert all(r.restricted for r in rows if r.origin != country)
        letters = read_all(node.event_log, node.catalogue.deadletter(country).name)
        assert letters == [], f"{country} dead-lettered {len(letters)} messages"


def test_nodes_keep_accepting_commands_while_the_broker_restarts(nodes: dict[str, Node]) -> None:
    if nodes["MX"].settings.kafka_bootstrap != infra.SCRIPT_KAFKA:
        pytest.fail("this test stops and restarts the broker: run it against `compose/services up`")
    mx, gt = nodes["MX"], nodes["GT"]
    stop = threading.Event()
    workers = [
        threading.Thread(target=mx.relay.run, args=(stop,), kwargs={"retry_s": 1.0}, daemon=True),
        threading.Thread(target=gt.relay.run, args=(stop,), kwargs={"retry_s": 1.0}, daemon=True),
        threading.Thread(target=gt.projector("GT").run, args=(stop,), daemon=True),
    ]
    for worker in workers:
        worker.start()
    try:
        expected = record_cases(mx, 10, 2, "before-MX") + record_cases(gt, 10, 2, "before-GT")
        wait_for(
            lambda: committed_count(mx) + committed_count(gt) >= expected, 60, "publishing before the outage"
        )
        down = subprocess.run([str(SCRIPT), "down", "kafka"], capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        assert not infra.kafka_answers(infra.SCRIPT_KAFKA)
        during = record_cases(mx, 10, 2, "during-MX") + record_cases(gt, 10, 2, "during-GT")
        assert mx.ledger.recorder.max_notification_id() == 60, (
            "commands are accepted while the broker is down"
        )
        up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        wait_for(
            lambda: committed_count(mx) + committed_count(gt) >= expected + during,
            180,
            "publishing after the outage",
        )
        wait_for(lambda: len(gt.views("GT").cases()) == 40, 120, "GT's views to catch up")
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert_exactly_once_in_order(mx)
    assert_exactly_once_in_order(gt)
