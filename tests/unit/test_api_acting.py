"""Commands follow the agreements (issue 12, item 1): a command on an existing case, remains,
sample or match needs the caller's organisation to be able to read that record for the purpose
it states; a consulate acts on its own nationals' cases only. A refusal is one generic 403,
given before any rule of the ledger speaks, and it reads the same whatever the record holds
(item 8: whether the person is a minor included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.acting import REFUSED
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore

PROSECUTOR = "mx-fiscalia-migrantes"
FORENSIC_INSTITUTE = "mx-semefo-chiapas"
HN_CONSULATE = "hn-consulado-tapachula"

REPORT = {
    "given_names": "Yesenia",
    "first_surname": "Cruz",
    "sex": "female",
    "nationalities": ["HN"],
    "date_of_birth": "1994-10-10",
    "last_seen_date": "2026-05-05",
    "last_seen_country": "MX",
    "last_seen_place": "Tapachula",
    "consented_purposes": ["search", "forensic_identification", "family_support"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}
SALVADORAN = {**REPORT, "given_names": "Marisol", "nationalities": ["SV"]}
HONDURAN_MINOR = {**REPORT, "given_names": "Kevin", "date_of_birth": "2012-01-09"}
SIGHTING = {"seen_on": "2026-05-06", "place": {"country": "MX", "place": "Huixtla"}, "source": "survivor"}
LOCATED = {
    "located_on": "2026-06-01",
    "place": {"country": "MX", "place": "Tuxtla"},
    "whereabouts_may_be_shared": False,
}
REMAINS = {"recovered_on": "2026-06-01", "place": {"country": "MX", "place": "Huixtla"}, "context": "river"}
POST_MORTEM = {"sex": "female", "condition": "skeletonised"}


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


def bearer(tokens: TokenStore, organisation: str, role: str, purpose: str = "search") -> dict[str, str]:
    token, _ = tokens.issue(organisation, role)
    return {"Authorization": f"Bearer {token}", "X-Purpose": purpose}


def commands(case_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Amend, sight, locate alive, close: in that order, each allowed after the one before."""
    return [
        (f"/cases/{case_id}/amendments", {"changes": {"person.given_names": "Otra"}, "reason": "a test"}),
        (f"/cases/{case_id}/sightings", SIGHTING),
        (f"/cases/{case_id}/located-alive", LOCATED),
        (f"/cases/{case_id}/closure", {"reason": "located_alive"}),
    ]


def test_a_consulate_acts_on_its_own_nationals_cases_only(api: TestClient, tokens: TokenStore) -> None:
    """Refused a read of a Salvadoran's case, the Honduran consulate in Tapachula could amend
    its name, record sightings, mark it located alive and close it: now each is refused, with
    nothing recorded, while the same commands on a Honduran's case go through."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    salvadoran = api.post("/cases", json=SALVADORAN, headers=staff).json()["id"]
    honduran = api.post("/cases", json=REPORT, headers=staff).json()["id"]
    consulate = bearer(tokens, HN_CONSULATE, "consular_officer")
    assert api.get(f"/cases/{salvadoran}", headers=consulate).status_code == 403
    for path, body in commands(salvadoran):
        refused = api.post(path, json=body, headers=consulate)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["detail"] == REFUSED, path
    unchanged = api.get(f"/cases/{salvadoran}", headers=staff)
    assert unchanged.headers["ETag"] == '"1"' and "Otra" not in unchanged.text, "nothing was recorded"
    for path, body in commands(honduran):
        done = api.post(path, json=body, headers=consulate)
        assert done.status_code == 200, (path, done.text)
    assert api.get(f"/cases/{honduran}", headers=staff).headers["ETag"] == '"5"'


def test_a_located_adults_choice_is_not_told_to_an_outsider(api: TestClient, tokens: TokenStore) -> None:
    """That a located adult refused to share their whereabouts is reserved: the ledger's rule
    (409) speaks to those who may act on the case, the generic 403 to everyone else."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    salvadoran = api.post("/cases", json=SALVADORAN, headers=staff).json()["id"]
    assert api.post(f"/cases/{salvadoran}/located-alive", json=LOCATED, headers=staff).status_code == 200
    notified = {"means": "phone", "language": "es", "whereabouts_shared": True}
    consulate = bearer(tokens, HN_CONSULATE, "consular_officer")
    outsider = api.post(f"/cases/{salvadoran}/notifications", json=notified, headers=consulate)
    assert outsider.status_code == 403 and outsider.json()["detail"] == REFUSED
    assert "adult" not in outsider.text and "located" not in outsider.text.replace(REFUSED, "")
    insider = api.post(f"/cases/{salvadoran}/notifications", json=notified, headers=staff)
    assert insider.status_code == 409, insider.text


def test_refusals_read_the_same_for_a_minor_and_an_adult(api: TestClient, tokens: TokenStore) -> None:
    """The Honduran consulate's agreement excludes minors and covers Hondurans only: refused a
    Honduran child's case and a Salvadoran adult's, it is told the same words for both, in a
    read and in a command."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    minor = api.post("/cases", json=HONDURAN_MINOR, headers=staff).json()["id"]
    adult = api.post("/cases", json=SALVADORAN, headers=staff).json()["id"]
    consulate = bearer(tokens, HN_CONSULATE, "consular_officer")
    for ask in (
        lambda case_id: api.get(f"/cases/{case_id}", headers=consulate),
        lambda case_id: api.get(f"/cases/{case_id}/photo", headers=consulate),
        lambda case_id: api.post(f"/cases/{case_id}/sightings", json=SIGHTING, headers=consulate),
    ):
        answers = [ask(case_id) for case_id in (minor, adult)]
        assert [a.status_code for a in answers] == [403, 403]
        first, second = (
            a.text.replace(case_id, "<case>") for a, case_id in zip(answers, (minor, adult), strict=True)
        )
        assert first == second
        assert "minor" not in first and "reserved" not in first and "Kevin" not in first


def test_forensic_commands_follow_the_rules_of_the_record(api: TestClient, tokens: TokenStore) -> None:
    """Remains, a sample from them and a match naming a case answer to the rules like a case:
    a caller who may not read them for its purpose (a consulate holding a forensic role, an
    institute stating statistics) is refused before anything is recorded; so is a match on a
    case this node does not keep."""
    expert = bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert", "forensic_identification")
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = api.post("/cases", json=SALVADORAN, headers=staff).json()["id"]
    remains = api.post("/remains", json=REMAINS, headers=expert).json()["id"]
    sample = api.post(
        "/samples",
        json={
            "taken_on": "2026-06-02",
            "sample_type": "bone",
            "holder": FORENSIC_INSTITUTE,
            "remains_id": remains,
        },
        headers=expert,
    )
    assert sample.status_code == 201, sample.text
    match = api.post(
        "/matches",
        json={"case_id": case_id, "remains_id": remains, "basis": "dental", "score": 0.9},
        headers=expert,
    )
    assert match.status_code == 201, match.text
    # A consulate cannot even hold a forensic role (ledger/roles.py): refused before any record.
    consulate = bearer(tokens, HN_CONSULATE, "forensic_expert", "forensic_identification")
    assert api.post(f"/remains/{remains}/post-mortem", json=POST_MORTEM, headers=consulate).status_code == 403
    outsiders = ({**expert, "X-Purpose": "statistics"},)
    attempts = (
        (f"/remains/{remains}/post-mortem", POST_MORTEM),
        (
            f"/samples/{sample.json()['id']}/transfers",
            {"from_holder": FORENSIC_INSTITUTE, "to_holder": "lab", "reason": "x"},
        ),
        (f"/matches/{match.json()['id']}/review", {"outcome": "rejected"}),
    )
    for headers in outsiders:
        for path, body in attempts:
            refused = api.post(path, json=body, headers=headers)
            assert refused.status_code == 403 and refused.json()["detail"] == REFUSED, (path, refused.text)
    elsewhere = {
        "case_id": "00000000-0000-4000-8000-000000000009",
        "remains_id": remains,
        "basis": "dental",
        "score": 0.5,
    }
    assert api.post("/matches", json=elsewhere, headers=expert).status_code == 403
    for path, body in attempts:
        assert api.post(path, json=body, headers=expert).status_code == 200, path
    (held,) = api.get("/remains", headers=expert).json()
    assert held["version"] == 2, "only the institute's post-mortem was recorded"
