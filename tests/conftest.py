"""Fixtures shared by every test: temporary embedded nodes, and the real servers."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from tests import infrastructure as infra


def _server(
    variable: str,
    what: str,
    answers: Callable[[str], bool],
    script_address: str,
    container: Callable[[], contextlib.AbstractContextManager[str]],
) -> Iterator[str]:
    """The documented order: the named variable; a container when Docker answers and the
    script's service does not; the script's service. Otherwise fail, saying how to start it."""
    named = os.environ.get(variable)
    if named:
        if not answers(named):
            pytest.fail(f"{variable} names a {what} that does not answer; {infra.HOW_TO_START}")
        yield named
    elif answers(script_address):
        yield script_address
    elif infra.docker_answers():
        with container() as address:
            yield address
    else:
        pytest.fail(f"no {what} answers at {script_address}; {infra.HOW_TO_START}")


# The suffixes `unique` handed out in this session: the topics named with them are this
# session's, and are deleted when it ends.
_TOKENS: set[str] = set()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka broker's bootstrap address (never a look-alike). When the session ends,
    the topics its tests created are deleted, so the broker does not grow run after run."""
    for address in _server(
        "CASELEDGER_KAFKA_BOOTSTRAP",
        "Kafka broker",
        infra.kafka_answers,
        infra.SCRIPT_KAFKA,
        infra.kafka_container,
    ):
        try:
            yield address
        finally:
            infra.remove_topics(address, _TOKENS)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A real PostgreSQL server's URL (the maintenance database)."""
    yield from _server(
        "CASELEDGER_DATABASE_URL",
        "PostgreSQL server",
        infra.postgres_answers,
        infra.SCRIPT_DATABASE,
        infra.postgres_container,
    )


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
    token = uuid.uuid4().hex[:8]
    _TOKENS.add(token)
    return token
