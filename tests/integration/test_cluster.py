"""A replicated cluster on one machine: `compose/services up --brokers 3 kafka` starts three
KRaft brokers (each one of a three-voter controller quorum) on loopback; the topic catalogue
replicates three times with min.insync.replicas 2, so an acknowledged write survives a broker's
loss. The cluster (tests/cluster.py, started once per session by tests/integration/conftest.py)
has its own state directory and ports, beside the suite's one broker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from tests.cluster import Cluster
from topics.catalogue import Catalogue
from topics.kafka_log import KafkaEventLog, replication
from topics.log import LogUnavailable, OutgoingRecord, TopicPartition

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_replication_follows_the_cluster_size() -> None:
    assert [replication(n) for n in (1, 2, 3, 5)] == [1, 2, 3, 3]


def test_status_and_env_name_three_brokers(cluster: Cluster) -> None:
    status = cluster.run("status", timeout=60)
    assert "kafka: running, 3 brokers" in status.stdout, status.stdout + status.stderr
    env = cluster.run("env", timeout=30).stdout
    assert f"CASELEDGER_KAFKA_BOOTSTRAP={cluster.bootstrap}" in env


def test_the_catalogue_replicates_three_times_with_two_in_sync(cluster: Cluster, unique: str) -> None:
    log = KafkaEventLog(cluster.bootstrap)
    catalogue = Catalogue(prefix=f"t{unique}.")
    log.create_topics(catalogue.node_topics("MX"))
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        names = [t.name for t in catalogue.node_topics("MX")]
        for topic in admin.describe_topics(names):
            assert topic["error_code"] == 0, topic
            assert all(len(p["replica_nodes"]) == 3 for p in topic["partitions"]), topic
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        configs = admin.describe_configs(resources)["topic"]
        assert {configs[name]["min.insync.replicas"]["value"] for name in names} == {"2"}
    finally:
        admin.close()
        log.close()


def test_a_write_acknowledged_survives_the_leaders_death(cluster: Cluster, unique: str) -> None:
    """SIGKILL the broker that leads the partition: the next batch is still acknowledged by the
    two left in sync, and a reader finds every acknowledged record exactly once."""
    log = KafkaEventLog(cluster.bootstrap)
    topic = Catalogue(prefix=f"t{unique}.").events("MX")
    log.create_topics([topic])
    tp = TopicPartition(topic.name, 0)

    def batch(n: int) -> list[OutgoingRecord]:
        return [
            OutgoingRecord(topic.name, b"case", f"{n}-{i}".encode(), (), int(time.time() * 1000), 0)
            for i in range(20)
        ]

    publisher = log.publisher(f"t{unique}-relay")
    publisher.publish(batch(1))
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    (described,) = admin.describe_topics([topic.name])
    admin.close()
    leader = next(p["leader_id"] for p in described["partitions"] if p["partition_index"] == 0)
    victim = cluster.pid(leader)
    os.kill(victim, signal.SIGKILL)
    try:
        deadline = time.monotonic() + 90
        while True:  # the producer learns the new leader; a batch fails whole or lands whole
            try:
                publisher.publish(batch(2))
                break
            except LogUnavailable:
                assert time.monotonic() < deadline, "no new leader took the partition within 90 s"
                publisher.close()
                publisher = log.publisher(f"t{unique}-relay")
        publisher.close()
        reader = log.reader()
        reader.assign({tp: 0})
        seen: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(seen) < 40 and time.monotonic() < deadline:
            seen += [r.value or b"" for r in reader.poll(1.0)]
        reader.close()
        assert sorted(seen) == sorted(
            [f"1-{i}".encode() for i in range(20)] + [f"2-{i}".encode() for i in range(20)]
        )
    finally:
        log.close()
        cluster.up()  # the killed broker back, for what follows


def test_the_docker_compose_cluster_matches_the_scripts_layout() -> None:
    """Docker users get the same cluster: three voters that name each other, replication three
    with two in sync, and the external ports the script uses (no Docker engine here to run it)."""
    import yaml

    services = yaml.safe_load((ROOT / "compose" / "docker-compose.cluster.yml").read_text())["services"]
    brokers = [services[name]["environment"] for name in ("kafka", "kafka-2", "kafka-3")]
    assert sorted(b["KAFKA_NODE_ID"] for b in brokers) == ["1", "2", "3"]
    voters = {b["KAFKA_CONTROLLER_QUORUM_VOTERS"] for b in brokers}
    assert voters == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {b["CLUSTER_ID"] for b in brokers} == {brokers[0]["CLUSTER_ID"]}
    for b in brokers:
        assert (b["KAFKA_DEFAULT_REPLICATION_FACTOR"], b["KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
        assert b["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    ports = sorted(services[n]["ports"][0].split(":")[1] for n in ("kafka", "kafka-2", "kafka-3"))
    assert ports == ["19092", "19094", "19096"]
