"""One case end to end on a real Kafka broker and a real PostgreSQL server, checked from the
outside: raw bytes on the topic, raw rows in the database, and the CLI a caseworker uses."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from fastavro import schemaless_reader
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ledger.crypto import open_fixed
from services.bootstrap import build_node
from services.settings import Settings
from tests.factories import report
from tests.infrastructure import cli_env
from topics.avro import SchemaRegistry
from topics.mapping import message_context

pytestmark = pytest.mark.integration


def raw_records(bootstrap: str, topic: str, expected: int) -> list[object]:
    """What a plain read_committed kafka-python consumer finds on the topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    found: list[object] = []
    deadline = time.monotonic() + 30
    while len(found) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            found.extend(batch)
    time.sleep(0.5)
    for batch in consumer.poll(timeout_ms=500).values():
        found.extend(batch)
    consumer.close()
    return found


def test_case_reported_is_on_the_topic_as_avro_and_in_the_view(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> None:
    settings = Settings(
        node="MX",
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"e2e{unique}.",
        data_dir=tmp_path,
    )
    node = build_node(settings)
    try:
        case_id = node.ledger.report_missing_person(
            report(given_names="Óscar Iván", first_surname="Ramírez", nationalities=("SV",))
        )
        node.sync("MX")
        topic = node.catalogue.events("MX").name
        common_key = node.data_keys.get(f"{case_id}/common/1")
        opened = node.views("MX").rows([str(case_id)])[str(case_id)]
    finally:
        node.close()

    [message] = raw_records(kafka_bootstrap, topic, expected=1)
    value: bytes = message.value  # type: ignore[attr-defined]
    headers = dict(message.headers)  # type: ignore[attr-defined]
    assert message.key == str(case_id).encode()  # type: ignore[attr-defined]
    assert value[:2] == b"\xc3\x01"
    registry = SchemaRegistry()
    writer = registry.by_fingerprint(value[2:10])
    assert writer is not None and writer == registry.latest("CaseReported")
    assert headers["schema_fingerprint"] == value[2:10].hex().encode()
    assert headers["event_type"] == b"CaseReported" and headers["origin"] == b"MX"
    assert headers["notification_id"] == b"1"
    body = io.BytesIO(value[10:])
    record = schemaless_reader(body, writer.schema, writer.schema)
    assert body.tell() == len(value) - 10
    assert str(record["meta"]["aggregate_id"]) == str(case_id)  # type: ignore[index]
    assert str(record["meta"]["event_id"]) == headers["event_id"].decode()  # type: ignore[index]
    # The name is not on the log in the clear: it is in the sealed common tier, which opens
    # with the case's common data key (granted to MX's own node) to the name.
    assert "Óscar".encode() not in value and "Ramírez".encode() not in value
    assert "given_names" not in record["person"]  # type: ignore[index]
    [common] = [s for s in record["sealed"] if s["tier"] == "common"]  # type: ignore[index]
    assert common["key_id"] == f"{case_id}/common/1" and common_key is not None
    inner = registry.decode(
        open_fixed(common_key, common["ciphertext"], message_context(str(case_id), 1, "common"))
    )
    assert inner.name == "CaseReported_common" and inner.record["person"]["given_names"] == "Óscar Iván"

    with psycopg.connect(database_url) as connection:
        [(state,)] = connection.execute("SELECT state FROM ledger_mx.caseledger_events").fetchall()
        [(wrapped,)] = connection.execute(
            "SELECT wrapped FROM ledger_mx.data_keys WHERE key_id = %s", (f"{case_id}/common/1",)
        ).fetchall()
        stored = connection.execute("SELECT count(*) FROM ledger_mx.caseledger_events").fetchone()
        view = connection.execute(
            "SELECT given_names, first_surname, nationalities, status, sealed IS NOT NULL "
            "FROM views_mx.cases WHERE case_id = %s",
            (case_id,),
        ).fetchone()
        tracking = connection.execute(
            "SELECT notification_id FROM views_mx.tracking WHERE application_name = %s",
            (f"{topic}:{message.partition}",),
        ).fetchone()  # type: ignore[attr-defined]
    assert stored == (1,)
    # The event store holds ciphertext for the tiers above public (in wire form, ledger/tier_codec.py);
    # the key store, wrapped keys.
    assert "Óscar".encode() not in bytes(state) and b"__wire__" in bytes(state)
    assert common_key not in bytes(wrapped)
    # The views hold the name sealed under MX's views key, and open it when read.
    assert view == (None, None, ["SV"], "missing", True)
    assert (opened.given_names, opened.first_surname) == ("Óscar Iván", "Ramírez")
    assert tracking is not None and tracking[0] > message.offset  # type: ignore[attr-defined]


def test_an_aborted_transaction_is_never_seen_by_the_views(
    kafka_bootstrap: str, database_url: str, unique: str
) -> None:
    settings = Settings(
        node="GT", kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_prefix=f"abort{unique}."
    )
    node = build_node(settings)
    try:
        topic = node.catalogue.events("GT").name
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"intruder-{unique}")
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic, key=b"k", value=b"\xc3\x01never-committed")
        producer.flush()
        producer.abort_transaction()
        producer.close()
        node.ledger.report_missing_person(report())
        node.sync("GT")
        assert len(node.views("GT").cases()) == 1
        assert sum(node.projector("GT").lag().values()) == 0
    finally:
        node.close()


def test_the_cli_lists_the_case_for_a_jurisdiction(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> None:
    env = cli_env(
        CASELEDGER_KAFKA_BOOTSTRAP=kafka_bootstrap,
        CASELEDGER_DATABASE_URL=database_url,
        CASELEDGER_TOPIC_PREFIX=f"cli{unique}.",
        CASELEDGER_NODE="MX",
        CASELEDGER_DATA_DIR=str(tmp_path),
    )
    cli = [sys.executable, "-c", "from services.cli import run; run()"]
    reported = subprocess.run(
        [
            *cli,
            "report",
            "--consent",
            "search",
            "--consent-explained-by",
            "Casa del Migrante",
            "--consent-language",
            "es",
            "--given-names",
            "Wendy",
            "--first-surname",
            "Hernández",
            "--sex",
            "female",
            "--nationality",
            "HN",
            "--last-seen-date",
            "2026-04-02",
            "--last-seen-country",
            "MX",
            "--date-of-birth",
            "2001-08-19",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reported.returncode == 0, reported.stderr
    listed = subprocess.run(
        [*cli, "cases", "--as", "MX"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert "Wendy Hernández" in listed.stdout and "Cases visible to MX (1)" in listed.stdout
    other = subprocess.run(
        [*cli, "cases", "--as", "HN"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert "(restricted)" in other.stdout and "Wendy" not in other.stdout
