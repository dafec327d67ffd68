"""Possible duplicate reports over the API on an embedded node (#14, items 4 and 8): listed at
report time and on demand to those who may read both cases' names, explained, recorded as
reads, never proposed again once judged distinct."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.candidates import Candidates
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore

PROSECUTOR = "mx-fiscalia-migrantes"
SHELTER = "mx-casa-migrante-tapachula"
HN_CONSULATE = "hn-consulado-tapachula"
GT_CONSULATE = "gt-consulado-tapachula"
KEYS = ["kind", "left", "right", "left_ref", "right_ref", "score", "explanation"]

MARIA = {
    "given_names": "María José",
    "first_surname": "Pérez",
    "second_surname": "Gutiérrez",
    "sex": "female",
    "nationalities": ["HN"],
    "date_of_birth": "1990-04-02",
    "last_seen_date": "2026-02-03",
    "last_seen_country": "MX",
    "last_seen_place": "Tapachula",
    "consented_purposes": ["search", "family_support"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}
UNACCENTED = {**MARIA, "given_names": "Maria Jose", "first_surname": "Perez", "second_surname": "Gutierrez"}
ABBREVIATED = {
    **MARIA,
    "given_names": "Ma. José",
    "date_of_birth": None,
    "age_range": {"minimum": 33, "maximum": 38},  # an adult: a possible minor's name is in no list
    "last_seen_date": "2026-02-10",
}
HER_AUNT = {**MARIA, "given_names": "Rosa", "date_of_birth": "1966-11-30"}  # the control: not her


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "api-tokens.json")


@pytest.fixture
def api(node: Node, tokens: TokenStore) -> TestClient:
    return TestClient(create_app(node, tokens, catch_up=True))


def bearer(tokens: TokenStore, organisation: str, role: str = "caseworker") -> dict[str, str]:
    token, _ = tokens.issue(organisation, role, None)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}


def report(api: TestClient, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    made = api.post("/cases", json=body, headers=headers)
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


def others(answer: dict[str, Any]) -> set[str]:
    """The cases a report's response lists as its possible duplicates."""
    me = answer["id"]
    return {c["right"] if c["left"] == me else c["left"] for c in answer["possible_duplicates"]}


def pairs(listed: list[dict[str, Any]]) -> set[frozenset[str]]:
    return {frozenset((c["left"], c["right"])) for c in listed}


def test_maria_jose_reported_three_times_lists_the_earlier_reports_and_not_her_aunt(
    api: TestClient, tokens: TokenStore
) -> None:
    aunt = report(api, HER_AUNT, bearer(tokens, PROSECUTOR))
    assert aunt["possible_duplicates"] == []
    first = report(api, MARIA, bearer(tokens, PROSECUTOR))
    assert others(first) == set()  # her aunt shares her surnames, not her name
    second = report(api, UNACCENTED, bearer(tokens, SHELTER))
    assert others(second) == {first["id"]}
    third = report(api, ABBREVIATED, bearer(tokens, HN_CONSULATE, "consular_officer"))
    assert others(third) == {first["id"], second["id"]}
    for candidate in third["possible_duplicates"]:
        assert list(candidate) == KEYS and candidate["kind"] == "duplicate"
        assert 0.5 <= candidate["score"] <= 1 and candidate["left_ref"] is None
        fields = {e["field"]: e for e in candidate["explanation"]}
        assert {"given_names", "surnames", "sex"} <= set(fields)
        assert fields["surnames"]["weight"] > 0 and isinstance(fields["given_names"]["comparison"], str)


def test_a_consulate_never_sees_a_case_it_may_not_read_as_a_candidate(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    honduran = report(api, MARIA, bearer(tokens, PROSECUTOR))["id"]
    gt_consulate = bearer(tokens, GT_CONSULATE, "consular_officer")
    # The same name, of a Guatemalan national: the Honduran woman's case is not the GT consulate's.
    guatemalan = report(api, {**MARIA, "nationalities": ["GT"]}, gt_consulate)
    assert guatemalan["possible_duplicates"] == []
    assert api.get(f"/cases/{guatemalan['id']}/candidates", headers=gt_consulate).json() == []
    assert api.get("/candidates", headers=gt_consulate).json() == []
    refused = api.get(f"/cases/{honduran}/candidates", headers=gt_consulate)
    assert refused.status_code == 403 and "María" not in refused.text
    (read,) = [r for r in node.ledger.reads_of(uuid.UUID(honduran)) if r.outcome == "refused"]
    assert read.recorded_by["organisation"] == GT_CONSULATE and read.interface == "http"
    # The control: Mexico's prosecutor may read both names, and sees the pair.
    staff = bearer(tokens, PROSECUTOR)
    listed = api.get(f"/cases/{guatemalan['id']}/candidates", headers=staff)
    assert listed.status_code == 200 and pairs(listed.json()) == {frozenset((honduran, guatemalan["id"]))}


def test_a_pair_judged_distinct_is_not_proposed_again(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    staff = bearer(tokens, PROSECUTOR)
    first = report(api, MARIA, staff)["id"]
    second = report(api, UNACCENTED, staff)["id"]
    third = report(api, ABBREVIATED, staff)["id"]
    before = api.get(f"/cases/{first}/candidates", headers=staff).json()
    assert pairs(before) == {frozenset((first, second)), frozenset((first, third))}  # the control
    judged = api.post(
        f"/cases/{first}/distinct",
        json={"other_case_id": third, "reason": "the family confirmed two sisters"},
        headers=staff,
    )
    assert judged.status_code == 200, judged.text
    after = api.get(f"/cases/{first}/candidates", headers=staff).json()
    assert pairs(after) == {frozenset((first, second))}
    assert frozenset((first, third)) not in pairs(api.get(f"/cases/{third}/candidates", headers=staff).json())
    assert frozenset((first, third)) not in pairs(api.get("/candidates", headers=staff).json())
    assert node.ledger.get_case(uuid.UUID(third)).distinct_cases == {first}  # recorded on both sides


def test_the_batch_run_lists_every_pair_the_caller_may_read(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    staff = bearer(tokens, PROSECUTOR)
    ids = [report(api, body, staff)["id"] for body in (MARIA, UNACCENTED, ABBREVIATED)]
    aunt = report(api, HER_AUNT, staff)["id"]
    loner = report(
        api, {**MARIA, "given_names": "Wendy", "first_surname": "Tzul", "second_surname": None}, staff
    )
    listed = api.get("/candidates", headers=staff)
    assert listed.status_code == 200, listed.text
    found = pairs(listed.json())
    assert found == {frozenset((a, b)) for a in ids for b in ids if a < b}
    assert not any(aunt in pair or loner["id"] in pair for pair in found)  # the controls
    assert all(list(c) == KEYS for c in listed.json())
    granted = [r for r in node.ledger.reads_of(uuid.UUID(ids[0])) if r.reason.startswith("listed in a batch")]
    assert granted and granted[-1].tiers == ["common"]
    # A purpose the family did not consent to shows no names, so no candidates.
    assert api.get("/candidates", headers={**staff, "X-Purpose": "accountability"}).json() == []


def test_candidate_reads_are_recorded_and_bad_asks_get_clear_errors(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    staff = bearer(tokens, PROSECUTOR)
    first = report(api, MARIA, staff)["id"]
    second = report(api, UNACCENTED, staff)["id"]
    assert api.get(f"/cases/{first}/candidates", headers=staff).status_code == 200
    reasons = [r.reason for r in node.ledger.reads_of(uuid.UUID(second)) if r.outcome == "granted"]
    assert f"listed as a possible duplicate of {first}" in reasons

    too_high = api.get(f"/cases/{first}/candidates?min_score=1.5", headers=staff)
    assert too_high.status_code == 422 and too_high.json()["detail"][0]["loc"] == ["query", "min_score"]
    missing = api.get(f"/cases/{uuid.uuid4()}/candidates", headers=staff)
    assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["path", "case_id"]
    geneticist = api.get(
        f"/cases/{first}/candidates", headers=bearer(tokens, "mx-lab-genetica", "geneticist")
    )
    assert geneticist.status_code == 403
    am_pm = api.get(f"/cases/{first}/candidates?kind=am_pm", headers=staff)  # forensic roles only
    assert am_pm.status_code == 403 and "forensic roles only" in am_pm.json()["detail"]
    refusals = [r for r in node.ledger.reads_of(uuid.UUID(first)) if r.outcome == "refused"]
    assert refusals[-1].recorded_by["organisation"] == PROSECUTOR, "the refusal is recorded"
    assert "sees no matches" in refusals[-1].reason
    expert = {
        **bearer(tokens, "mx-semefo-chiapas", "forensic_expert"),
        "X-Purpose": "forensic_identification",
    }
    unknown = api.get(f"/remains/{uuid.uuid4()}/candidates", headers=expert)
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["loc"] == ["path", "remains_id"]
    assert api.get(f"/remains/{uuid.uuid4()}/candidates", headers=staff).status_code == 403
    remains = {
        "recovered_on": "2026-06-01",
        "place": {"country": "MX", "place": "Huixtla"},
        "context": "river",
    }
    held = api.post("/remains", json=remains, headers=expert).json()["id"]
    # No case the institute may read for forensic identification: listed, nothing.
    assert api.get(f"/remains/{held}/candidates", headers=expert).json() == []
    too_low = api.get(f"/remains/{held}/candidates?min_score=-0.1", headers=expert)
    assert too_low.status_code == 422 and too_low.json()["detail"][0]["loc"] == ["query", "min_score"]
    assert api.get(f"/cases/{first}/candidates?min_score=1", headers=staff).json() == []


def test_a_report_stands_when_its_duplicate_check_fails(
    api: TestClient, tokens: TokenStore, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("María José")  # the log names only its kind

    monkeypatch.setattr(Candidates, "at_report", broken)
    answer = report(api, MARIA, bearer(tokens, PROSECUTOR))
    assert answer["possible_duplicates"] is None  # not checked, which is not "none found"
    assert node.ledger.get_case(uuid.UUID(answer["id"])).person["given_names"] == "María José"
