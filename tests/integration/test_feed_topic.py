"""A consulate's feed topic on real Kafka and PostgreSQL (#12, items 2 and 5): the name of a
case travels sealed on `ledger.feed.<organisation>`, a withdrawal publishes a retraction, and
after the erasure a raw read_uncommitted consumer and the topic's segment files find the name
nowhere, while the consulate's node read it through its grant before and SSE `/feed` follows."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import EraseData, RecordSighting, WithdrawConsent
from ledger.values import Place
from services.bootstrap import Node, build_node
from services.feed import ConsularFeed
from services.feed_topic import FeedPublisher, open_feed_message
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import FAMILY, ctx, report

pytestmark = pytest.mark.integration
CONSULATE = "hn-consulado-tapachula"
SERVICES = Path(os.environ.get("CASELEDGER_SERVICES_DIR", "/var/tmp/caseledger-services"))
KAFKA_DATA = SERVICES / "kafka" / "data"


def raw_records(bootstrap: str, topic: str) -> list[Any]:
    """Every record of the topic as a plain read_uncommitted consumer finds it (aborted ones too)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_uncommitted",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        found: list[Any] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(batch)
            assert time.monotonic() < deadline, f"{topic}: the broker did not deliver what it holds"
        return found
    finally:
        consumer.close()


def every_byte(record: Any) -> bytes:
    return (record.key or b"") + (record.value or b"") + b"".join(v or b"" for _, v in record.headers)


@pytest.fixture
def node(kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path) -> Iterator[Node]:
    if not KAFKA_DATA.is_dir():
        pytest.fail(f"this test reads Kafka's segment files in {KAFKA_DATA}: run `compose/services up`")
    settings = Settings(
        node="MX",
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"feed{unique}.",
        data_dir=tmp_path,
        access_rules=SAMPLE_POLICY,
    )
    built = build_node(settings)
    yield built
    built.close()


def test_an_erased_case_leaves_no_name_on_the_consulates_feed_topic(
    node: Node, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    name = f"Xochiquetzal{unique}"
    case_id = node.ledger.report_missing_person(report(given_names=name, nationalities=("HN",)))
    node.ledger.record_sighting(
        RecordSighting(**ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="survivor")
    )
    node.sync("MX")
    publisher = FeedPublisher(ConsularFeed(node, load_rules(SAMPLE_POLICY), CONSULATE))
    topic = node.catalogue.feed(CONSULATE).name
    tokens = TokenStore(tmp_path / "tokens.json")
    token, _ = tokens.issue(CONSULATE, "consular_officer")
    api = TestClient(create_app(node, tokens, catch_up=True))
    officer = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}

    def sse_names() -> str:
        response = api.get("/feed", params={"follow": "false"}, headers=officer)
        assert response.status_code == 200
        return response.content.decode("unicode_escape", errors="replace")

    def reported_name() -> Any:
        [reported] = [
            r for r in raw_records(kafka_bootstrap, topic) if dict(r.headers)["event_type"] == b"CaseReported"
        ]
        opened = open_feed_message(node.registry, node.data_keys, reported.value)
        return opened["fields"]["person"].get("given_names")

    try:
        assert publisher.run_once() == 2
        assert not any(name.encode() in every_byte(r) for r in raw_records(kafka_bootstrap, topic)), (
            "the name never travels in the clear"
        )
        assert reported_name() == name, "the consulate's node opens it with the key it holds"
        assert name in sse_names(), "control: SSE /feed decrypts on read"

        node.ledger.withdraw_consent(
            WithdrawConsent(**ctx(FAMILY), case_id=case_id, consent_purpose="search", withdrawn_by="su madre")
        )
        node.sync("MX")
        assert publisher.run_once() == 2
        last = json.loads(raw_records(kafka_bootstrap, topic)[-1].value)
        assert (last["event_type"], last["case_id"], last["fields"]["reason"]) == (
            "ItemsRetracted",
            str(case_id),
            "consent_withdrawn",
        )
        assert name not in sse_names(), "a replay after the withdrawal shows no name"

        node.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="Rosa Chávez, madre"))
        node.sync("MX")
        assert publisher.run_once() == 2
    finally:
        publisher.close()

    after = raw_records(kafka_bootstrap, topic)
    assert [json.loads(r.value)["event_type"] for r in after][-2:] == ["DataErased", "ItemsRetracted"]
    assert not any(name.encode() in every_byte(r) for r in after)
    assert reported_name() is None, "erased: the key is destroyed, the sealed name opens nowhere"
    folders = [p for p in KAFKA_DATA.iterdir() if p.is_dir() and p.name.startswith(topic)]
    assert folders, f"no partition folder for {topic} in {KAFKA_DATA}"
    segments = b"".join(f.read_bytes() for folder in folders for f in sorted(folder.glob("*.log")))
    assert b"ItemsRetracted" in segments and name.encode() not in segments
