"""What the benchmarks share: where the real servers are, a fresh database, and reporting."""

from __future__ import annotations

import atexit
import contextlib
import os
import statistics
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from ledger.crypto import MasterKey, new_data_key
from ledger.keystore import KeyStore
from services.settings import Settings
from tests.infrastructure import remove_topics
from topics.key_stores import PostgresKeyStore

KAFKA = os.environ.get("CASELEDGER_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
SERVER_URL = os.environ.get("CASELEDGER_DATABASE_URL", "postgresql://caseledger@127.0.0.1:15432/caseledger")


_TOKENS: set[str] = set()  # the tokens of this run's topic names: deleted at exit


def scratch(word: str, end: str = ".") -> str:
    """A topic name (or, ending in ".", a topic prefix) of this run's own: `word` and a fresh
    token. The topics named with it are deleted when the benchmark exits, so a broker that
    serves run after run does not grow."""
    token = uuid.uuid4().hex[:8]
    if not _TOKENS:
        atexit.register(lambda: remove_topics(KAFKA, _TOKENS))
    _TOKENS.add(token)
    return f"{word}{token}{end}"


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A database of its own for one benchmark run, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as connection:
        connection.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    parts = conninfo_to_dict(SERVER_URL)
    password = f":{parts['password']}" if parts.get("password") else ""
    user, host, port = parts.get("user", "caseledger"), parts.get("host"), parts.get("port")
    url = f"postgresql://{user}{password}@{host}:{port}/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as connection:
            connection.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))


def report(title: str, ours: list[float], baseline: list[float], unit: str) -> None:
    """Print the medians of repeated runs of ours and of the baseline, and their ratio."""
    mine, base = statistics.median(ours), statistics.median(baseline)
    print(f"{title}")
    print(f"  caseledger: median {mine:,.0f} {unit}  (runs: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(f"  baseline:   median {base:,.0f} {unit}  (runs: {', '.join(f'{x:,.0f}' for x in baseline)})")
    print(f"  ratio caseledger/baseline: {mine / base:.2f}")


_MASTER = MasterKey(new_data_key())  # this benchmark run's master key; nothing is kept


def node_keys(url: str, node: str = "MX") -> KeyStore:
    """The node's PostgreSQL key store, as a node has it: sealing pays its round trips."""
    return PostgresKeyStore(
        _MASTER, Settings(node=node, database_url=url).postgres_conninfo(), f"ledger_{node.lower()}"
    )


def add_sightings(ledger: Any, case_id: Any, count: int, place: str | None = None) -> None:
    """Grow a case by `count` sightings, saved 200 at a time (fast set-up for long cases)."""
    case = ledger.get_case(case_id)
    envelope = {
        "occurred_at": ledger.clock(),
        "recorded_by": {"organisation": "bench", "role": "caseworker"},
        "purpose": "search",
    }
    for n in range(count):
        case.record_sighting(
            {**envelope, "command_id": f"grow-{case_id}-{n}"},
            seen_on=date(2026, 1, 1),
            place={"country": "MX", "place": place, "coordinates": None},
            source="witness",
            source_reliability="low",
            description=None,
            witness=None,
        )
        if n % 200 == 199:
            ledger.save(case)
    ledger.save(case)
