"""Bulk import with worker processes (services/import_workers.py) gives what the import in
one process gives: every contract of tests/contracts/test_import_contract.py again with
workers (the CLI's killed-and-run-again test included), the same rows' results, command ids,
events and notification order as the plain path for the same file under the same master key,
and first keys a killed run left behind used, not replaced."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from ledger.case import MissingPersonCase
from ledger.events import DIGEST_LENGTH
from ledger.tier_split import tiers_of
from services.bootstrap import Node, build_node
from services.import_files import import_file
from services.import_mapping import ImportMapping
from services.importing import RowResult
from services.settings import Settings
from tests.contracts.test_import_contract import (
    CASEWORKER,
    TestEmbeddedImport,
    TestPostgresImport,
    row,
    write_csv,
)

WORKERS = 2


class WithWorkers:
    CLI_OPTIONS: tuple[str, ...] = ("--workers", str(WORKERS))

    def run(
        self, node: Node, path: Path, mapping: ImportMapping, **kwargs: Any
    ) -> tuple[Any, list[RowResult]]:
        rows: list[RowResult] = []
        summary = import_file(
            node.ledger, path, mapping, recorded_by=CASEWORKER, on_row=rows.append, workers=WORKERS, **kwargs
        )
        return summary, rows


class TestEmbeddedImportWithWorkers(WithWorkers, TestEmbeddedImport):
    pass


@pytest.mark.integration
class TestPostgresImportWithWorkers(WithWorkers, TestPostgresImport):
    pass


# ---------------------------------------------------------------- the same as the plain path


@contextlib.contextmanager
def another_database(server_url: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    parts = conninfo_to_dict(server_url)
    password = f":{parts['password']}" if parts.get("password") else ""
    try:
        user, host, port = parts.get("user", "caseledger"), parts.get("host"), parts.get("port")
        yield f"postgresql://{user}{password}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))


MIXED = [
    *(row(f"B-{n}", f"Nombre{n}") for n in range(23)),
    row("B-bad-date", Fecha="31/02/2020"),
    row("B-bad-sex", Sexo="X"),
    row("B-no-name", Nombres=""),
    row("B-twice"),
    row("B-twice", "Pedro"),
    *(row(f"C-{n}", f"Otro{n}") for n in range(11)),
]


def stored_events(node: Node) -> list[tuple[Any, str, dict[str, Any]]]:
    """(aggregate id, topic, the event's attributes opened) in notification order, less the
    times it was made at."""
    found = []
    for notification in node.ledger.recorder.select_notifications(1, 10_000):
        event = node.ledger.mapper.to_domain_event(notification)
        attributes = {k: v for k, v in vars(event).items() if k not in ("timestamp", "occurred_at")}
        found.append((notification.originator_id, notification.topic, attributes))
    return found


@pytest.mark.integration
class TestWorkersGiveThePlainPathsResults:
    """Two nodes under the same master key, one importing in one process, one with workers."""

    settings = TestPostgresImport.settings
    node = TestPostgresImport.node
    mapping = TestPostgresImport.mapping

    def run(
        self, node: Node, path: Path, mapping: ImportMapping, **kwargs: Any
    ) -> tuple[Any, list[RowResult]]:
        rows: list[RowResult] = []
        summary = import_file(
            node.ledger, path, mapping, recorded_by=CASEWORKER, on_row=rows.append, **kwargs
        )
        return summary, rows

    def test_the_same_results_events_ids_and_order(
        self, settings: Settings, mapping: ImportMapping, tmp_path: Path, postgres_server_url: str
    ) -> None:
        path = write_csv(tmp_path / "casos.csv", MIXED)
        changed = write_csv(tmp_path / "v2.csv", [row("B-3", "Nombre3 Ángel", Lugar="Palenque"), *MIXED[4:]])
        with another_database(postgres_server_url) as url:
            outcomes = []
            for database, workers in ((settings.database_url, 0), (url, WORKERS)):
                node = build_node(settings.model_copy(update={"database_url": database}))
                try:
                    first = self.run(node, path, mapping, batch_size=7, workers=workers)
                    again = self.run(node, path, mapping, batch_size=7, workers=workers)
                    amended = self.run(node, changed, mapping, batch_size=7, workers=workers)
                    outcomes.append((first, again, amended, stored_events(node)))
                finally:
                    node.close()
        (plain, plain_again, plain_amended, plain_events), (fast, fast_again, fast_amended, fast_events) = (
            outcomes
        )
        assert fast[1] == plain[1]  # every row's result: outcome, record id, column, problem
        assert plain[0].counts == {"recorded": 34, "refused": 5}
        assert fast_again[1] == plain_again[1] and plain_again[0].counts == {"unchanged": 34, "refused": 5}
        assert fast_amended[1] == plain_amended[1] and plain_amended[0].counts["amended"] == 1
        assert len(plain_events) == 35 and fast_events == plain_events  # command ids (digests) included
        assert all("#" in attributes["command_id"] for _, _, attributes in plain_events)

    def test_new_keys_go_in_with_their_events(
        self, node: Node, mapping: ImportMapping, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The keys sealed ahead are copied in the events' transaction, not inserted apart."""
        apart = _counting_add_first_keys(node, monkeypatch)
        path = write_csv(tmp_path / "casos.csv", [row(f"N-{n}", f"Nombre{n}") for n in range(12)])
        summary, rows = self.run(node, path, mapping, workers=WORKERS)
        assert summary.counts == {"recorded": 12}
        assert apart == []
        tiers = sorted(tiers_of("CaseReported"))
        for result in rows:
            case_id = result.record_id
            assert case_id is not None
            assert all(node.ledger.keys.current(case_id, tier)[0].endswith("/1") for tier in tiers)
            case = node.ledger.get_case(uuid.UUID(case_id))
            assert case.person["given_names"] == f"Nombre{result.external_ref[2:]}"  # it opens

    @pytest.mark.parametrize("workers", [0, WORKERS])
    def test_a_command_id_another_request_holds_refuses_its_row(
        self, node: Node, mapping: ImportMapping, tmp_path: Path, workers: int
    ) -> None:
        """The claims read in the round trip that finds existing records still refuse a row."""
        from ledger.imports import import_command_id

        path = write_csv(tmp_path / "casos.csv", [row(f"H-{n}", f"Nombre{n}") for n in range(6)])
        held = import_command_id("reports", mapping.source, "H-2")
        claims = node.ledger.claims
        with claims.datastore.transaction(commit=True) as cursor:
            statement = f"INSERT INTO {claims.table} (command_id, digest) VALUES (%s, %s)"
            cursor.execute(statement, (held, "0" * DIGEST_LENGTH))
        summary, rows = self.run(node, path, mapping, workers=workers)
        assert summary.counts == {"recorded": 5, "refused": 1}
        [refused] = [r for r in rows if r.outcome == "refused"]
        assert refused.external_ref == "H-2" and held in str(refused.problem)
        recorded = {r.external_ref for r in rows if r.outcome == "recorded"}
        assert recorded == {f"H-{n}" for n in range(6)} - {"H-2"}

    def test_first_keys_left_by_a_killed_run_are_used(
        self, node: Node, mapping: ImportMapping, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = write_csv(tmp_path / "casos.csv", [row(f"K-{n}", f"Nombre{n}") for n in range(12)])
        # A run killed after its keys went in and before its events did: the keys of rows K-0..K-4.
        ids = _case_ids(node, mapping, [f"K-{n}" for n in range(5)])
        tiers = sorted(tiers_of("CaseReported"))
        node.ledger.keys.make_first_keys({str(i): tiers for i in ids})
        left = {str(i): node.ledger.keys.current(str(i), tiers[0])[0] for i in ids}
        node.ledger.keys.forget_cached({str(i): tiers for i in ids})
        apart = _counting_add_first_keys(node, monkeypatch)
        summary, rows = self.run(node, path, mapping, workers=WORKERS)
        assert summary.counts == {"recorded": 12}
        assert len(apart) == 1  # the chunk's copy met a key there already: the keys went in apart
        for result in rows:
            case = node.ledger.get_case(uuid.UUID(result.record_id))
            assert case.person["given_names"] == f"Nombre{result.external_ref[2:]}"  # it opens
        for case_id, key_id in left.items():
            assert node.ledger.keys.current(case_id, tiers[0])[0] == key_id
            [reported] = [
                e
                for e in node.ledger.events.get(uuid.UUID(case_id))
                if isinstance(e, MissingPersonCase.CaseReported)
            ]
            assert reported.person["given_names"] is not None


def _counting_add_first_keys(node: Node, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many keys each call of the key store's add_first_keys (keys inserted apart from
    their events) was given, as the import runs."""
    calls: list[int] = []
    keys: Any = node.ledger.keys
    original = keys.add_first_keys

    def counted(rows: list[Any]) -> set[str]:
        calls.append(len(rows))
        return set(original(rows))

    monkeypatch.setattr(keys, "add_first_keys", counted)
    return calls


def _case_ids(node: Node, mapping: ImportMapping, refs: list[str]) -> list[uuid.UUID]:
    from ledger.case import case_id_for
    from ledger.imports import import_command_id

    return [
        case_id_for(node.ledger.origin, import_command_id("reports", mapping.source, ref)) for ref in refs
    ]
