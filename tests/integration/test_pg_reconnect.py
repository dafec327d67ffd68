"""The PostgreSQL key store and chain store outlive a cut connection, as a server restart
leaves them (found by the chaos run, bench/chaos.py: after PostgreSQL restarted, the API, the
relay, the views and the feeds stayed up but failed every statement, "the connection is
closed", until restarted by hand). The statement in hand fails; the next one reconnects."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from ledger.crypto import MasterKey, new_data_key
from projections.postgres_views import ensure_schema
from services.backends import ledger_schema, servers
from services.settings import Settings
from topics.chain import PostgresChainStore
from topics.key_stores import PostgresKeyStore

pytestmark = pytest.mark.integration


def cut(connection: psycopg.Connection[object], database_url: str) -> None:
    """What a restart does to a client: the server ends its backend."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))


def test_the_key_store_reconnects_after_its_connection_is_cut(database_url: str, tmp_path: Path) -> None:
    store = servers(Settings(node="MX", data_dir=tmp_path, database_url=database_url)).key_store(
        MasterKey(new_data_key())
    )
    assert isinstance(store, PostgresKeyStore)
    try:
        case = str(uuid.uuid4())
        key_id, _ = store.current(case, "restricted")
        cut(store._connection, database_url)
        with pytest.raises(psycopg.OperationalError):  # the statement in hand: the cut is real
            store.known(str(uuid.uuid4()))
        assert store.known(case) == [key_id]
        assert store.current(str(uuid.uuid4()), "restricted")[0] != key_id  # and writes again
    finally:
        store.close()


def test_the_chain_store_reconnects_after_its_connection_is_cut(database_url: str, tmp_path: Path) -> None:
    backend = servers(Settings(node="MX", data_dir=tmp_path, database_url=database_url))
    ensure_schema(backend.settings.postgres_conninfo(), ledger_schema("MX"))  # as the ledger does first
    chain = backend.chain_store()
    assert isinstance(chain, PostgresChainStore)
    try:
        aggregate = str(uuid.uuid4())
        chain.put([(aggregate, 1, b"one")])
        cut(chain._connection, database_url)
        with pytest.raises(psycopg.OperationalError):
            chain.get(aggregate, 1)
        assert chain.get(aggregate, 1) == b"one"
        chain.put([(aggregate, 2, b"two")])
        assert chain.get(aggregate, 2) == b"two"
    finally:
        chain.close()
