"""Searching the case list (`GET /cases` with q, filters and pages) on an embedded node: names as
people write them, only what the caller may read, every bad parameter named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from ledger.errors import InvalidField
from services.bootstrap import Node, build_node
from services.case_search import parse
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore

PROSECUTOR = "mx-fiscalia-migrantes"
CONSULATE = "hn-consulado-tapachula"  # reads its own (Honduran) nationals' names only
CONSENTS = ["search", "forensic_identification", "family_support"]


def person(given: str, first: str, second: str | None, nationality: str, **more: Any) -> dict[str, Any]:
    return {
        "given_names": given,
        "first_surname": first,
        "second_surname": second,
        "sex": "male",
        "nationalities": [nationality],
        "date_of_birth": "1990-03-04",
        "last_seen_date": "2026-05-05",
        "last_seen_country": "MX",
        "consented_purposes": CONSENTS,
        "consent_explained_by": "Fiscalía: Ana Ruiz",
        "consent_language": "es",
        **more,
    }


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


def bearer(tokens: TokenStore, organisation: str, role: str) -> dict[str, str]:
    token, _ = tokens.issue(organisation, role, None)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}


@pytest.fixture
def staff(tokens: TokenStore) -> dict[str, str]:
    return bearer(tokens, PROSECUTOR, "caseworker")


@pytest.fixture
def reported(api: TestClient, staff: dict[str, str]) -> dict[str, str]:
    people = {
        "jose": person("José Ángel", "Hernández", "Núñez", "HN"),
        "maria": person("María José", "Pérez", "Gutiérrez", "GT", sex="female", last_seen_date="2026-02-01"),
        "francisco": person("Francisco", "de la Cruz", "Vásquez", "SV", last_seen_date="2026-03-10"),
        "juan": person(
            "Juan",
            "López",
            None,
            "HN",
            last_seen_date="2026-04-01",
            family_contacts=[{"name": "Rosa López", "relationship": "mother", "phone": "+504 5555 0101"}],
        ),
        "minor": person("Jesús", "Hernández", "Núñez", "HN", date_of_birth="2014-01-01"),
    }
    ids = {}
    for key, body in people.items():
        answer = api.post("/cases", json=body, headers=staff)
        assert answer.status_code == 201, answer.text
        ids[key] = answer.json()["id"]
    return ids


def found(api: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = api.get("/cases", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, Any]] = answer.json()
    assert int(answer.headers["X-Total-Count"]) >= len(listed)
    return listed


def refused(api: TestClient, headers: dict[str, str], **params: str) -> list[str]:
    answer = api.get("/cases", params=params, headers=headers)
    assert answer.status_code == 422, answer.text
    assert "Traceback" not in answer.text
    (problem,) = answer.json()["detail"]
    assert problem["loc"][0] == "query" and problem["msg"]
    return list(problem["loc"])


@pytest.mark.parametrize(
    ("sought", "who"),
    [
        ("Chepe Hernández", "jose"),  # a hypocoristic
        ("HERNANDES NUNEZ JOSE", "jose"),  # case, accents, surnames first, s for z
        ("jose angel hernadez", "jose"),  # a typing slip
        ("Ma. José Pérez", "maria"),  # an abbreviation, a surname missing
        ("Gutierrez Perez Maria Jose", "maria"),  # surnames first and in the other order
        ("Pancho Cruz Basquez", "francisco"),  # a hypocoristic, the particle, b for v
        ("J. López", "juan"),  # an initial
    ],
)
def test_a_name_written_another_way_finds_the_case_first(
    api: TestClient, staff: dict[str, str], reported: dict[str, str], sought: str, who: str
) -> None:
    listed = found(api, staff, q=sought)
    assert listed and listed[0]["case_id"] == reported[who], [c["given_names"] for c in listed]
    scores = [c["score"] for c in listed]
    assert scores == sorted(scores, reverse=True) and 0.8 <= scores[0] <= 1.0


def test_a_search_ranks_by_score_and_leaves_out_names_that_do_not_answer(
    api: TestClient, staff: dict[str, str], reported: dict[str, str]
) -> None:
    listed = found(api, staff, q="Hernández Núñez")
    assert [c["case_id"] for c in listed] == [reported["jose"]], "the minor's name is not in any list"
    assert found(api, staff, q="Xicará") == []


def test_unknown_parameters_are_refused_by_name_not_ignored(
    api: TestClient, staff: dict[str, str], reported: dict[str, str]
) -> None:
    assert refused(api, staff, query="Juan") == ["query", "query"]
    assert refused(api, staff, name="Juan", q="Juan") == ["query", "name"]
    answer = api.get("/cases?q=Juan&q=José", headers=staff)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "q"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "e30"}, "cursor"),  # base64 of "{}"
        ({"last_seen_from": "2026-05-01", "last_seen_to": "2026-04-01"}, "last_seen_to"),
        ({"reported_from": "2026-05-01", "reported_to": "2025-04-01"}, "reported_to"),
        ({"reported_from": "01/05/2026"}, "reported_from"),
        ({"status": "dead"}, "status"),
        ({"sex": "m"}, "sex"),
        ({"age_band": "20-30"}, "age_band"),
        ({"nationality": "XX"}, "nationality"),
        ({"last_seen_country": "Mexico"}, "last_seen_country"),
        ({"origin": "ZZ"}, "origin"),
        ({"q": "de la"}, "q"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_bad_search_parameters_are_422_naming_the_parameter(
    api: TestClient, staff: dict[str, str], params: dict[str, str], named: str
) -> None:
    assert refused(api, staff, **params) == ["query", named]


def test_filters_answer_on_what_the_caller_reads(
    api: TestClient, staff: dict[str, str], reported: dict[str, str]
) -> None:
    def ids(**params: str) -> set[str]:
        return {c["case_id"] for c in found(api, staff, **params)}

    everyone = set(reported.values())
    assert ids() == everyone
    assert ids(nationality="HN") == {reported["jose"], reported["juan"], reported["minor"]}
    assert ids(sex="female") == {reported["maria"]}
    assert ids(last_seen_from="2026-03-01", last_seen_to="2026-04-30") == {
        reported["francisco"],
        reported["juan"],
    }
    assert ids(age_band="30-44") == everyone - {reported["minor"]}, "a minor's age band is not in the views"
    assert ids(status="missing", origin="MX", last_seen_country="MX") == everyone
    assert ids(status="closed") == set()
    assert ids(q="Hernández", nationality="GT") == set()


def test_pages_follow_the_cursor_through_every_case_once(
    api: TestClient, staff: dict[str, str], reported: dict[str, str]
) -> None:
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    for _ in range(5):
        answer = api.get("/cases", params=params, headers=staff)
        assert answer.status_code == 200 and answer.headers["X-Total-Count"] == "5"
        seen += [c["case_id"] for c in answer.json()]
        if "X-Next-Cursor" not in answer.headers:
            break
        params = {"limit": "2", "cursor": answer.headers["X-Next-Cursor"]}
    assert len(seen) == 5 and set(seen) == set(reported.values())
    whole = [c["case_id"] for c in found(api, staff)]
    assert seen == whole, "pages in the list's own order: newest report first"
    first = api.get("/cases", params={"limit": "1", "nationality": "HN"}, headers=staff)
    cursor = first.headers["X-Next-Cursor"]
    assert refused(api, staff, limit="1", nationality="GT", cursor=cursor) == ["query", "cursor"]


def test_a_consulate_never_finds_another_countrys_national_by_name(
    api: TestClient, tokens: TokenStore, staff: dict[str, str], reported: dict[str, str]
) -> None:
    """Honduras's consulate reads its own nationals' names only: searching a Guatemalan's name
    answers exactly as searching a name no case has (same body, same total, no cursor)."""
    consulate = bearer(tokens, CONSULATE, "consular_officer")
    assert found(api, staff, q="María José Pérez Gutiérrez")[0]["case_id"] == reported["maria"]
    assert [c["case_id"] for c in found(api, consulate, q="Chepe Hernández")] == [reported["jose"]]

    other = api.get("/cases", params={"q": "María José Pérez Gutiérrez"}, headers=consulate)
    nobody = api.get("/cases", params={"q": "Rigoberta Xicará Tum"}, headers=consulate)
    assert other.status_code == nobody.status_code == 200
    assert other.json() == nobody.json() == []
    assert other.headers["X-Total-Count"] == nobody.headers["X-Total-Count"] == "0"
    assert "X-Next-Cursor" not in other.headers and "X-Next-Cursor" not in nobody.headers
    # With no agreement over a Guatemalan's case, the consulate is given no tier of it, not even
    # the public one: the case is not listed at all (issue 12, item 8), so not found by name.
    listed = {c["case_id"]: c for c in found(api, consulate)}
    assert reported["jose"] in listed and reported["maria"] not in listed
    assert found(api, consulate, q="Pérez", nationality="GT") == []
    # Nor by the fields above public that it may not read.
    assert reported["maria"] not in {c["case_id"] for c in found(api, consulate, last_seen_from="2026-01-01")}


def test_a_purpose_the_family_did_not_consent_to_finds_no_name(
    api: TestClient, staff: dict[str, str], reported: dict[str, str]
) -> None:
    assert found(api, {**staff, "X-Purpose": "accountability"}, q="Chepe Hernández") == []


def test_an_erased_case_is_found_by_its_name_no_more(
    api: TestClient, staff: dict[str, str], reported: dict[str, str]
) -> None:
    assert found(api, staff, q="Juan López")[0]["case_id"] == reported["juan"]
    erased = api.post(
        f"/cases/{reported['juan']}/erasure", json={"requested_by": "Rosa López"}, headers=staff
    )
    assert erased.status_code == 200, erased.text
    assert all(c["case_id"] != reported["juan"] for c in found(api, staff, q="Juan López"))
    assert all(c["case_id"] != reported["juan"] for c in found(api, staff, q="López"))


@pytest.mark.parametrize(
    ("given", "named"),
    [
        # Each parameter in its turn, the dates' order before limit: the first fault is named.
        ({"sex": "x", "last_seen_country": "Mexico"}, "sex"),
        ({"last_seen_from": "2026-05-01", "last_seen_to": "2026-04-01", "limit": "0"}, "last_seen_to"),
        ({"last_seen_from": "2026-04-01", "last_seen_to": "2026-05-01", "limit": "0"}, "limit"),  # control
    ],
)
def test_of_several_faults_the_first_in_checking_order_is_named(given: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidField) as refused:
        parse(given)
    assert refused.value.field == named
