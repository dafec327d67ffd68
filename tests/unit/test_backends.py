"""One factory per backend (services/backends.py): a node built from settings gets every
store from the one backend they name, in the places it always kept them."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import services.backends
import services.bootstrap
from ledger.crypto import MasterKey, new_data_key
from projections.postgres_views import PostgresJurisdictionViews
from projections.sqlite_views import SQLiteJurisdictionViews
from services.backends import Embedded, Servers, backend_for, embedded, servers
from services.bootstrap import build_node
from services.settings import Settings
from topics.chain import PostgresChainStore, SQLiteChainStore
from topics.embedded import SQLiteEventLog
from topics.kafka_log import KafkaEventLog
from topics.key_stores import PostgresKeyStore, SQLiteKeyStore


def test_the_settings_name_the_backend(tmp_path: Path) -> None:
    assert isinstance(backend_for(Settings(data_dir=tmp_path)), Embedded)
    assert backend_for(Settings(data_dir=tmp_path)).name == "embedded"
    url = "postgresql://caseledger@127.0.0.1:15432/caseledger"
    assert isinstance(backend_for(Settings(data_dir=tmp_path, database_url=url)), Servers)
    # Control: the servers backend refuses settings that name no server.
    with pytest.raises(ValueError, match="CASELEDGER_DATABASE_URL"):
        servers(Settings(data_dir=tmp_path))


def test_an_embedded_node_keeps_every_store_where_it_always_did(tmp_path: Path) -> None:
    node = build_node(Settings(node="GT", data_dir=tmp_path))
    try:
        assert node.backend.name == "embedded"
        assert isinstance(node.data_keys, SQLiteKeyStore)
        assert isinstance(node.relay.chain, SQLiteChainStore)
        assert isinstance(node.event_log, SQLiteEventLog)
        assert isinstance(node.views("GT"), SQLiteJurisdictionViews)
        assert node.ledger.env["SQLITE_DBNAME"] == str(tmp_path / "ledger-gt.sqlite")
        files = {p.name for p in tmp_path.glob("*.sqlite")}
        assert {"ledger-gt.sqlite", "keys-gt.sqlite", "log.sqlite", "views-gt.sqlite"} <= files
    finally:
        node.close()


def test_each_embedded_part_opens_the_same_files_again(tmp_path: Path) -> None:
    backend, master = embedded(Settings(node="GT", data_dir=tmp_path)), MasterKey(new_data_key())
    keys, chain = backend.key_store(master), backend.chain_store()
    key_id, key = keys.current("a", "restricted")
    chain.put([("a", 1, b"h" * 32)])
    keys.close()
    chain.close()
    again, chain_again = backend.key_store(master), backend.chain_store()
    try:
        assert again.get(key_id) == key and chain_again.get("a", 1) == b"h" * 32
        # Control: another node's backend in the same folder keeps its own keys.
        other = embedded(Settings(node="MX", data_dir=tmp_path)).key_store(master)
        assert other.get(key_id) is None
        other.close()
    finally:
        again.close()
        chain_again.close()


def test_the_backend_choice_lives_in_one_module() -> None:
    """bootstrap asks the backend; it no longer branches on the database setting itself."""
    assert "database_url" not in inspect.getsource(services.bootstrap)
    # Control: the check finds the setting where the choice is made.
    assert "database_url" in inspect.getsource(services.backends)


@pytest.mark.integration
def test_a_servers_node_gets_every_store_from_postgresql_and_kafka(
    tmp_path: Path, database_url: str, kafka_bootstrap: str, unique: str
) -> None:
    settings = Settings(
        node="GT",
        data_dir=tmp_path,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"backends-{unique}.",
        partitions=1,
    )
    node = build_node(settings)
    try:
        assert node.backend.name == "servers"
        assert isinstance(node.data_keys, PostgresKeyStore)
        assert isinstance(node.relay.chain, PostgresChainStore)
        assert isinstance(node.event_log, KafkaEventLog)
        assert isinstance(node.views("GT"), PostgresJurisdictionViews)
        assert node.ledger.env["POSTGRES_SCHEMA"] == "ledger_gt"
        assert not list(tmp_path.glob("*.sqlite"))  # nothing kept in files
    finally:
        node.close()


@pytest.mark.integration
def test_the_stores_may_be_on_servers_with_the_embedded_log(tmp_path: Path, database_url: str) -> None:
    node = build_node(Settings(node="GT", data_dir=tmp_path, database_url=database_url))
    try:
        assert isinstance(node.data_keys, PostgresKeyStore) and isinstance(node.event_log, SQLiteEventLog)
    finally:
        node.close()
