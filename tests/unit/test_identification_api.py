"""The identification rules over HTTP: the proposer's confirmation is refused naming the field,
another organisation confirms, and the match's revision route reopens the case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.unit.test_api_embedded import REPORT

LAB = "mx-lab-genetica"  # MX organisations in the sample policy
SEMEFO = "mx-semefo-chiapas"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


@pytest.fixture
def api(node: Node, tmp_path: Path) -> TestClient:
    return TestClient(create_app(node, TokenStore(tmp_path / "tokens.json"), catch_up=True))


def headers(tmp_path: Path, organisation: str, role: str) -> dict[str, str]:
    token, _ = TokenStore(tmp_path / "tokens.json").issue(organisation, role, None)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "forensic_identification"}


def test_two_organisations_decide_an_identification_and_a_revision_reopens_it(
    api: TestClient, node: Node, tmp_path: Path
) -> None:
    lab, semefo = headers(tmp_path, LAB, "geneticist"), headers(tmp_path, SEMEFO, "forensic_expert")
    case_id = api.post("/cases", json=REPORT, headers=semefo).json()["id"]
    remains = api.post(
        "/remains",
        json={"recovered_on": "2026-05-20", "place": {"country": "MX"}, "context": "railway"},
        headers=semefo,
    ).json()["id"]
    match = api.post(
        "/matches",
        json={"case_id": case_id, "remains_id": remains, "basis": "dna", "score": 0.999},
        headers=lab,
    ).json()["id"]
    own = api.post(f"/matches/{match}/review", json={"outcome": "confirmed"}, headers=lab)
    assert own.status_code == 409 and "recorded_by.organisation" in own.json()["detail"][0]["msg"]
    assert (
        api.post(f"/matches/{match}/review", json={"outcome": "confirmed"}, headers=semefo).status_code == 200
    )
    assert (
        api.post(f"/cases/{case_id}/identification", json={"match_id": match}, headers=semefo).status_code
        == 200
    )
    revised = api.post(f"/matches/{match}/revision", json={"reason": "a sample mix-up"}, headers=semefo)
    assert revised.status_code == 200
    assert node.ledger.get_case(UUID(case_id)).status == "missing"
    spec = api.get("/openapi.json").json()
    assert {
        "/matches/{match_id}/revision",
        "/remains/{remains_id}/identification",
        "/cases/{case_id}/identification-reopening",
        "/samples/{sample_id}/donor-consent-withdrawal",
    } <= set(spec["paths"])
