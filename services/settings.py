"""One typed settings object, read once at start-up from CASELEDGER_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger import validation

__all__ = ["Settings"]


class Settings(BaseSettings):
    """A node's configuration. With no Kafka and no database URL it runs embedded (SQLite)."""

    model_config = SettingsConfigDict(env_prefix="CASELEDGER_", extra="ignore")

    node: str = "MX"
    """ISO 3166-1 alpha-2 code of the jurisdiction this node records for."""
    data_dir: Path = Path(".caseledger")
    """Where the embedded default keeps its SQLite files."""
    kafka_bootstrap: str | None = None
    """host:port of a Kafka broker; unset means the embedded log."""
    database_url: str | None = None
    """postgresql://user[:password]@host:port/dbname; unset means SQLite."""
    partitions: int = 3
    """Partitions of a new ledger.events.<origin> topic."""
    snapshot_interval: int = 100
    """A snapshot every N events of an aggregate (0: never), so long cases stay fast."""
    aggregate_cache: int = 1000
    """Aggregates kept in memory between commands (0: none)."""
    node_key: Path | None = None
    """The node's Ed25519 signing key (PEM), created at first start; default <data_dir>/node-<node>.key."""
    recipient_key: Path | None = None
    """The node's X25519 key that data keys are wrapped for, created at first start; default
    <data_dir>/node-<node>.x25519."""
    master_key: SecretStr | None = None
    """Base64 of 32 random bytes: wraps every data key this node keeps. Set it from a secret
    store in production; unset, the node makes one in <data_dir>/master-<node>.key (0600),
    apart from the database, so a database dump alone opens nothing."""
    key_registry: Path | None = None
    """JSON {origin: {"signing": base64 Ed25519 public key, "encryption": base64 X25519 public
    key}} of the nodes whose events this node accepts and for which it wraps key grants
    (`caseledger network init` writes it)."""
    relay_batch_size: int = 500
    """Events per relay transaction."""
    projection_batch_size: int = 1000
    """Records per views transaction (rows and offsets commit together)."""
    projection_group_session_s: Annotated[float, Field(ge=1.0)] = 10.0
    """How long a `views-worker` may be silent (killed, stopped) before its projection group
    gives its partitions to the other workers (Kafka's brokers refuse less than 6 s by default)."""
    access_rules: Path | None = None
    """The network's access rules (TOML, ledger/access_rules.py); unset: each jurisdiction sees
    the public tier of others' cases and all of its own."""
    topic_prefix: str = ""
    """Goes before every topic name: one cluster can carry several networks (or test runs)."""
    api_docs: bool = False
    """Serve /docs, a plain page listing the API's operations (no script, nothing from a CDN);
    /openapi.json is always served."""
    login_attempts: int = 5
    """Failed sign-ins (a page's form or an API token) from one address, or naming one token,
    before further attempts get 429 for login_lockout_s."""
    login_lockout_s: int = 900
    """How long failed sign-ins count, and how long a throttled client waits."""
    linkage_secret: SecretStr | None = None
    """Base64 of at least 32 random bytes the network's nodes share for privacy-preserving
    linkage only (ledger/linkage.py); from a secret store, never the repository. Unset: this
    node publishes no linkage encodings and compares none."""
    match_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.9
    """Ante-mortem / post-mortem candidates scoring at least this (0 to 1) are proposed as
    matches (MatchProposed by_matcher) for two people to review; below it they are listed only."""
    api_max_commands: Annotated[int, Field(ge=1)] = 32
    """Commands the API holds in flight (running or waiting) before it answers further ones 503
    with Retry-After (services/http/admission.py): a bounded queue instead of timeouts."""
    api_retry_after_s: Annotated[int, Field(ge=1)] = 1
    """The Retry-After, in seconds, of a command refused because too many are in flight."""
    api_max_wait_s: Annotated[float, Field(gt=0)] = 5.0
    """A command is refused (503) when, at the pace the node has been answering, it would wait
    longer than this for its answer: well under clients' timeouts."""

    @field_validator("node")
    @classmethod
    def _node_is_a_country(cls, value: str) -> str:
        return validation.country("CASELEDGER_NODE", value)

    @property
    def embedded(self) -> bool:
        return self.kafka_bootstrap is None and self.database_url is None

    def postgres_conninfo(self) -> dict[str, Any]:
        """The database URL as psycopg connection arguments (defaults filled in)."""
        if self.database_url is None:
            raise ValueError("CASELEDGER_DATABASE_URL is not set")
        parts = conninfo_to_dict(self.database_url)
        return {
            "dbname": parts.get("dbname", "caseledger"),
            "host": parts.get("host", "127.0.0.1"),
            "port": int(str(parts.get("port") or 5432)),
            "user": parts.get("user", "caseledger"),
            "password": parts.get("password", ""),
        }

    def describe(self) -> str:
        """Where this node keeps things, without credentials."""
        kafka = self.kafka_bootstrap or f"embedded log in {self.data_dir}"
        if self.database_url:
            info = self.postgres_conninfo()
            database = f"postgresql {info['host']}:{info['port']}/{info['dbname']}"
        else:
            database = f"sqlite in {self.data_dir}"
        return f"node {self.node}; events: {database}; log: {kafka}"
