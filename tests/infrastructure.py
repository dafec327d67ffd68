"""Finds the real Kafka and PostgreSQL the integration tests use, in the documented order:
the CASELEDGER_* variables; testcontainers when a Docker engine answers; the services that
compose/services starts. If none answers, the test fails and says how to start them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Collection, Iterator

HOW_TO_START = (
    "start them with `compose/services up` (Kafka and PostgreSQL without Docker), or point "
    "CASELEDGER_KAFKA_BOOTSTRAP / CASELEDGER_DATABASE_URL at running servers"
)
SCRIPT_KAFKA = "127.0.0.1:" + os.environ.get("CASELEDGER_KAFKA_PORT", "19092")
SCRIPT_DATABASE = (
    "postgresql://caseledger@127.0.0.1:" + os.environ.get("CASELEDGER_PG_PORT", "15432") + "/caseledger"
)
KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:15"


def port_answers(address: str, timeout: float = 1.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    return True


def kafka_answers(bootstrap: str) -> bool:
    first = bootstrap.split(",")[0]
    if not port_answers(first):
        return False
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        admin.list_topics()
        admin.close()
    except Exception:
        return False
    return True


def remove_topics(bootstrap: str, tokens: Collection[str], batch: int = 200) -> list[str]:
    """Deletes the topics whose names carry one of `tokens` (the suffixes one test session
    handed out), and returns their names. Without it a broker that serves many runs gathers
    thousands of partitions, and restarting it over them takes minutes. Topics of other
    sessions, and every other topic, stay. Best effort: a broker that is gone is no failure."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    if not tokens or not port_answers(bootstrap.split(",")[0]):
        return []
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    except KafkaError:
        return []
    try:
        ours = sorted(t for t in admin.list_topics() if any(token in t for token in tokens))
        for start in range(0, len(ours), batch):
            with contextlib.suppress(KafkaError):
                admin.delete_topics(ours[start : start + batch], timeout_ms=30000)
    except KafkaError:
        return []
    finally:
        admin.close()
    return ours


def postgres_answers(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def kafka_container() -> Iterator[str]:
    """Apache Kafka (KRaft, one node) in Docker, advertised on a free loopback port."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def postgres_container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer(
        POSTGRES_IMAGE, username="caseledger", password="caseledger", dbname="caseledger", driver=None
    ) as container:
        yield container.get_connection_url()


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def interruptible() -> None:
    """For Popen(preexec_fn=...) of a child a test interrupts with SIGINT (Ctrl-C): the child
    hears it even when the suite runs where SIGINT is ignored (a background job of a shell
    without job control): an ignored signal stays ignored across exec, and Python then
    installs no KeyboardInterrupt handler, so the child would run on as if never interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(**variables: str) -> dict[str, str]:
    """The environment for running the CLI of this checkout in a subprocess: no stray
    CASELEDGER_* settings, and this checkout's code first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(variables)
    return env
