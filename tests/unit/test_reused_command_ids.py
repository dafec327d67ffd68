"""A command id (Idempotency-Key, --command-id) sent again with a different request is
refused, naming the id; the same request sent again returns the first result."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from ledger.application import CaseLedger
from ledger.commands import RecordSighting
from ledger.errors import CommandIdReused
from ledger.values import Place
from services.bootstrap import build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import ctx, report
from tests.infrastructure import cli_env

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def test_a_second_person_reported_under_a_used_command_id_is_refused(ledger: CaseLedger) -> None:
    first = report(command_id="family-visit-7")
    case_id = ledger.report_missing_person(first)
    assert ledger.report_missing_person(first) == case_id  # a retry: the first result
    with pytest.raises(CommandIdReused) as refused:
        ledger.report_missing_person(dataclasses.replace(first, given_names="Otra Persona"))
    assert refused.value.field == "command_id" and "family-visit-7" in str(refused.value)
    assert ledger.get_case(case_id).person["given_names"] == "María José"


def test_a_command_on_a_case_reused_with_another_request_is_refused(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(report())
    envelope = {**ctx(), "command_id": "sighting-1"}
    sighting = RecordSighting(
        **envelope, case_id=case_id, seen_on="2026-05-01", place=Place("MX", "Arriaga"), source="witness"
    )
    version = ledger.record_sighting(sighting)
    assert ledger.record_sighting(sighting) == version
    elsewhere = dataclasses.replace(sighting, place=Place("MX", "Tapachula"))
    with pytest.raises(CommandIdReused):
        ledger.record_sighting(elsewhere)
    assert ledger.get_case(case_id).version == version, "nothing was written"


def test_the_digest_beside_a_public_command_id_reveals_nothing_without_the_node_key() -> None:
    one = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)
    two = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)
    command = report(command_id="same")
    ids = []
    for node in (one, two):
        case_id = node.report_missing_person(command)
        (created,) = node.events.get(case_id)
        ids.append(created.command_id)
    assert all(i.startswith("same#") for i in ids) and ids[0] != ids[1]


REPORT: dict[str, Any] = {
    "given_names": "Yesenia",
    "first_surname": "Cruz",
    "sex": "female",
    "nationalities": ["HN"],
    "date_of_birth": "1994-10-10",
    "last_seen_date": "2026-05-05",
    "last_seen_country": "MX",
    "consented_purposes": ["search"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}


def test_the_api_refuses_a_reused_idempotency_key_with_422_naming_it(tmp_path: Path) -> None:
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    tokens = TokenStore(tmp_path / "api-tokens.json")
    api = TestClient(create_app(node, tokens, catch_up=True))
    token, _ = tokens.issue("mx-fiscalia-migrantes", "caseworker")
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search", "Idempotency-Key": "k-1"}
    try:
        first = api.post("/cases", json=REPORT, headers=headers)
        assert first.status_code == 201, first.text
        assert api.post("/cases", json=REPORT, headers=headers).json()["id"] == first.json()["id"]
        other = api.post("/cases", json={**REPORT, "given_names": "Marvin"}, headers=headers)
        assert other.status_code == 422, other.text
        assert [e["loc"] for e in other.json()["detail"]] == [["header", "Idempotency-Key"]]
        listed = api.get("/cases", headers=headers).json()
        assert [c["given_names"] for c in listed] == ["Yesenia"]
        case = first.json()["id"]
        sighting = {"seen_on": "2026-05-06", "place": {"country": "MX"}, "source": "witness"}
        keyed = {**headers, "Idempotency-Key": "s-1"}
        done = api.post(f"/cases/{case}/sightings", json=sighting, headers=keyed)
        assert api.post(f"/cases/{case}/sightings", json=sighting, headers=keyed).json() == done.json()
        changed = api.post(f"/cases/{case}/sightings", json={**sighting, "source": "press"}, headers=keyed)
        assert changed.status_code == 422
        assert [e["loc"] for e in changed.json()["detail"]] == [["header", "Idempotency-Key"]]
    finally:
        node.close()


def test_the_cli_refuses_a_reused_command_id_naming_the_option(tmp_path: Path) -> None:
    env = {**cli_env(), "CASELEDGER_DATA_DIR": str(tmp_path / "data")}

    def caseledger_report(given_names: str) -> subprocess.CompletedProcess[str]:
        arguments = ["--given-names", given_names, "--first-surname", "Díaz", "--sex", "male"]
        arguments += ["--nationality", "SV", "--last-seen-date", "2026-01-20", "--last-seen-country", "GT"]
        arguments += ["--command-id", "visit-1"]
        return subprocess.run(
            [sys.executable, "-c", "from services.cli import run; run()", "report", *arguments],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = caseledger_report("Kevin")
    assert first.returncode == 0, first.stderr
    assert caseledger_report("Kevin").stdout == first.stdout
    other = caseledger_report("Otro")
    assert other.returncode != 0 and "--command-id" in other.stderr and "Traceback" not in other.stderr
