"""One factory per backend: where a node keeps its event store, data keys, hash-chain links
and views, and which log it publishes to. `embedded` keeps everything in SQLite files under
the data directory; `servers` keeps it in PostgreSQL. build_node asks `backend_for(settings)`
for each part instead of choosing adapter by adapter.

The log is its own setting: Kafka whenever a broker is named, else the embedded log, on
either backend (a node may keep its stores in PostgreSQL and use the embedded log)."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from ledger.crypto import MasterKey
from ledger.keystore import KeyStore
from ledger.private_files import private_dir
from projections.postgres_views import PostgresJurisdictionViews, ensure_schema
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.views import JurisdictionViews
from services.settings import Settings
from topics.chain import ChainStore, PostgresChainStore, SQLiteChainStore
from topics.commit_notices import CommitNotices
from topics.embedded import SQLiteEventLog, use_wal
from topics.kafka_log import KafkaEventLog
from topics.key_stores import PostgresKeyStore, SQLiteKeyStore
from topics.log import EventLog

__all__ = ["Backend", "Embedded", "Servers", "backend_for", "embedded", "ledger_schema", "servers"]


def ledger_schema(node: str) -> str:
    """The PostgreSQL schema holding one node's event store."""
    return f"ledger_{node.lower()}"


@dataclass(frozen=True)
class Backend(ABC):
    """Builds one node's stores; each call makes a new handle (the caller closes it)."""

    settings: Settings

    @property
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def ledger_env(self) -> dict[str, str]:
        """The eventsourcing library's environment for the node's event store."""

    @abstractmethod
    def key_store(self, master: MasterKey) -> KeyStore: ...

    @abstractmethod
    def chain_store(self) -> ChainStore: ...

    @abstractmethod
    def views(self, jurisdiction: str, keys: KeyStore) -> JurisdictionViews: ...

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held while a node is built: processes of one node that start together take turns
        creating its tables (the embedded backend needs no turn)."""
        yield

    def log(self) -> EventLog:
        settings = self.settings
        if settings.kafka_bootstrap:
            return KafkaEventLog(
                settings.kafka_bootstrap,
                client_id=f"caseledger-{settings.node.lower()}",
                group_session_s=settings.projection_group_session_s,
            )
        return SQLiteEventLog(settings.data_dir / "log.sqlite")

    def commit_notices(self, recorder: Any) -> CommitNotices | None:
        """What wakes a relay when another process commits events (None: it polls)."""
        return None

    def _cache(self) -> dict[str, str]:
        aggregates = self.settings.aggregate_cache
        return {"AGGREGATE_CACHE_MAXSIZE": str(aggregates)} if aggregates else {}


class Embedded(Backend):
    """SQLite files in the data directory (0700, files 0600)."""

    @property
    def name(self) -> str:
        return "embedded"

    def _file(self, stem: str) -> str:
        return f"{stem}-{self.settings.node.lower()}.sqlite"

    def ledger_env(self) -> dict[str, str]:
        private_dir(self.settings.data_dir)
        database = self.settings.data_dir / self._file("ledger")
        use_wal(database)
        return {**self._cache(), "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(database)}

    def key_store(self, master: MasterKey) -> KeyStore:
        private_dir(self.settings.data_dir)
        return SQLiteKeyStore(master, self.settings.data_dir / self._file("keys"))

    def chain_store(self) -> ChainStore:
        return SQLiteChainStore(self.settings.data_dir / self._file("ledger"))

    def views(self, jurisdiction: str, keys: KeyStore) -> JurisdictionViews:
        path = self.settings.data_dir / f"views-{jurisdiction.lower()}.sqlite"
        return SQLiteJurisdictionViews(path, jurisdiction, keys)


class Servers(Backend):
    """PostgreSQL: the node's event store, keys and links in schema ledger_<node>, each
    jurisdiction's views in a schema of its own."""

    @property
    def name(self) -> str:
        return "servers"

    @property
    def _schema(self) -> str:
        return ledger_schema(self.settings.node)

    def ledger_env(self) -> dict[str, str]:
        info = self.settings.postgres_conninfo()
        ensure_schema(info, self._schema)
        return {
            **self._cache(),
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": info["dbname"],
            "POSTGRES_HOST": info["host"],
            "POSTGRES_PORT": str(info["port"]),
            "POSTGRES_USER": info["user"],
            "POSTGRES_PASSWORD": info["password"],
            "POSTGRES_SCHEMA": self._schema,
        }

    def key_store(self, master: MasterKey) -> KeyStore:
        return PostgresKeyStore(master, self.settings.postgres_conninfo(), self._schema)

    def chain_store(self) -> ChainStore:
        return PostgresChainStore(self.settings.postgres_conninfo(), self._schema)

    def commit_notices(self, recorder: Any) -> CommitNotices | None:
        # The library's recorder notifies its channel in the transaction inserting events.
        channel = getattr(recorder, "channel_name", None)
        return CommitNotices(self.settings.postgres_conninfo(), channel) if channel else None

    def views(self, jurisdiction: str, keys: KeyStore) -> JurisdictionViews:
        return PostgresJurisdictionViews(self.settings.postgres_conninfo(), jurisdiction, keys)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        # PostgreSQL refuses concurrent CREATE OR REPLACE on one catalogue row ("tuple
        # concurrently updated"), so rebuild workers, serve and a CLI command take turns.
        conninfo = {k: v for k, v in self.settings.postgres_conninfo().items() if v}
        with psycopg.connect(**conninfo, autocommit=True) as connection:
            name = f"caseledger-build:{self.settings.node}"
            connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


def embedded(settings: Settings) -> Backend:
    return Embedded(settings)


def servers(settings: Settings) -> Backend:
    if settings.database_url is None:
        raise ValueError("CASELEDGER_DATABASE_URL is not set")
    return Servers(settings)


def backend_for(settings: Settings) -> Backend:
    """Servers when a database URL is set, else embedded."""
    return servers(settings) if settings.database_url else embedded(settings)
