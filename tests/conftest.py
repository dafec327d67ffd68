"""Fixtures shared by every test: temporary embedded nodes, and the real servers."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Identifier

from tests import infrastructure as infra


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka broker's bootstrap address (never a look-alike)."""
    named = os.environ.get("CASELEDGER_KAFKA_BOOTSTRAP")
    if named:
        if not infra.kafka_answers(named):
            pytest.fail(f"CASELEDGER_KAFKA_BOOTSTRAP={named} does not answer; {infra.HOW_TO_START}")
        yield named
        return
    if not infra.kafka_answers(infra.SCRIPT_KAFKA) and infra.docker_answers():
        with infra.kafka_container() as bootstrap:
            yield bootstrap
        return
    if infra.kafka_answers(infra.SCRIPT_KAFKA):
        yield infra.SCRIPT_KAFKA
        return
    pytest.fail(f"no Kafka broker answers at {infra.SCRIPT_KAFKA}; {infra.HOW_TO_START}")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A real PostgreSQL server's URL (the maintenance database)."""
    named = os.environ.get("CASELEDGER_DATABASE_URL")
    if named:
        if not infra.postgres_answers(named):
            pytest.fail(f"CASELEDGER_DATABASE_URL does not answer; {infra.HOW_TO_START}")
        yield named
        return
    if not infra.postgres_answers(infra.SCRIPT_DATABASE) and infra.docker_answers():
        with infra.postgres_container() as url:
            yield url
        return
    if infra.postgres_answers(infra.SCRIPT_DATABASE):
        yield infra.SCRIPT_DATABASE
        return
    pytest.fail(f"no PostgreSQL answers at {infra.SCRIPT_DATABASE}; {infra.HOW_TO_START}")


@pytest.fixture
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database of its own for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        connection.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    parts = conninfo_to_dict(postgres_server_url)
    parts["dbname"] = name
    url = "postgresql://{user}{pw}@{host}:{port}/{dbname}".format(
        user=parts.get("user", "caseledger"),
        pw=f":{parts['password']}" if parts.get("password") else "",
        host=parts.get("host", "127.0.0.1"),
        port=parts.get("port", 5432),
        dbname=name,
    )
    yield url
    with contextlib.suppress(psycopg.Error), psycopg.connect(postgres_server_url, autocommit=True) as c:
        c.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names, transactional ids and the like."""
    return uuid.uuid4().hex[:8]


__all__ = ["make_conninfo"]
