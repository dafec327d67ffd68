"""Remains, samples and matches linked to a case answer to that case's rules (issue 12, item 3),
and lists answer to the rules' public tier with coarse instants (item 8), on an embedded node:
the API's lists and timelines, the CLI's `forensic` and `timeline`, and the views' links."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from projections.linked import refused_by_links
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.view_batch import ViewBatch
from projections.views import UNKNOWN_CASE, CaseRow, Link, tracking_at
from services.bootstrap import Node, build_node
from services.cli import main
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from topics.log import TopicPartition

PROSECUTOR = "mx-fiscalia-migrantes"
FORENSIC_INSTITUTE = "mx-semefo-chiapas"
MINOR = {
    "given_names": "Keyla",
    "first_surname": "Ramos",
    "sex": "female",
    "nationalities": ["HN"],
    "date_of_birth": "2012-01-01",
    "last_seen_date": "2026-05-05",
    "last_seen_country": "MX",
    "last_seen_place": "Tapachula",
    "consented_purposes": ["search"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}
REMAINS = {"recovered_on": "2026-06-01", "place": {"country": "MX", "place": "Huixtla"}, "context": "river"}


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
    token, _ = tokens.issue(organisation, role, None)
    return {"Authorization": f"Bearer {token}", "X-Purpose": purpose}


def is_month(instant: str) -> bool:
    """An instant given as the public tier gives it: the first of its month, at midnight UTC."""
    return re.fullmatch(r"\d{4}-\d\d-01T00:00:00(Z|\+00:00)", instant) is not None


def created(response: Any) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_remains_matched_to_a_minors_case_show_nothing_above_public_to_a_caller_refused_the_case(
    api: TestClient, tokens: TokenStore
) -> None:
    """A forensic institute that may not read a minor's case (the family consented to search,
    not to forensic identification) reads neither the case id, the match, nor the recovery
    place and date of the remains matched to it, in lists and timelines; the remains' details
    it read before the match go too, and come back when the family consents."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    minor = created(api.post("/cases", json=MINOR, headers=staff))
    expert = bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert", "forensic_identification")
    assert api.get(f"/cases/{minor}", headers=expert).status_code == 403, "the audited read refuses"
    remains = created(api.post("/remains", json=REMAINS, headers=expert))
    (before,) = api.get("/remains", headers=expert).json()
    assert before["state"]["place"]["place"] == "Huixtla", "unlinked remains follow their own rules"

    match = {"case_id": minor, "remains_id": remains, "basis": "dental", "score": 0.9}
    match_id = created(api.post("/matches", json=match, headers={**expert, "X-Purpose": "search"}))
    geneticist = bearer(tokens, "mx-lab-genetica", "geneticist")
    review = {"outcome": "confirmed", "notes": "dental records agree"}
    assert api.post(f"/matches/{match_id}/review", json=review, headers=geneticist).status_code == 200
    identifying = {**expert, "X-Purpose": "search"}
    identified = api.post(f"/cases/{minor}/identification", json={"match_id": match_id}, headers=identifying)
    assert identified.status_code == 200, identified.text  # RemainsIdentified names the case, common tier
    for read in ("/remains", "/matches", f"/timeline/{remains}", f"/timeline/{match_id}"):
        seen = api.get(read, headers=expert)
        assert seen.status_code == 200, read
        for secret in (minor, "Huixtla", "2026-06-01", "dental", "0.9"):
            assert secret not in seen.text, (read, secret)
    (listed,) = api.get("/remains", headers=expert).json()
    assert listed["state"] == {"context": "river", "place": {"country": "MX"}}
    assert {"common", "forensic"} <= set(listed["withheld"])
    assert is_month(listed["recorded_at"]), "a coarse instant: its month"
    entries = api.get(f"/timeline/{remains}", headers=expert).json()
    assert [e["event_type"] for e in entries] == ["RemainsRecovered", "RemainsIdentified"]
    assert all(is_month(e["occurred_at"]) and is_month(e["recorded_at"]) for e in entries)

    family = {
        "consent_purpose": "forensic_identification",
        "given_by": "Marta Ramos, madre",
        "explained_by": "Fiscalía: Ana Ruiz",
        "language": "es",
    }
    assert api.post(f"/cases/{minor}/consents", json=family, headers=staff).status_code == 200
    (again,) = api.get("/remains", headers=expert).json()
    assert again["state"]["place"]["place"] == "Huixtla", "the consent given shows them again"
    assert again["state"]["case_id"] == minor


def test_a_sample_from_remains_inherits_the_cases_the_remains_are_linked_to(
    api: TestClient, tokens: TokenStore
) -> None:
    """Its fields are forensic, which Mexico's views for search never hold; what is left is its
    exact instant, which the institute no longer reads once the remains are matched to a case it
    may not read."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    minor = created(api.post("/cases", json=MINOR, headers=staff))
    expert = bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert", "forensic_identification")
    remains = created(api.post("/remains", json=REMAINS, headers=expert))
    sample = {"taken_on": "2026-06-02", "sample_type": "bone", "holder": "SEMEFO", "remains_id": remains}
    sample_id = created(api.post("/samples", json=sample, headers=expert))
    (held,) = api.get("/samples", headers=expert).json()
    assert not is_month(held["recorded_at"])
    match = {"case_id": minor, "remains_id": remains, "basis": "dental", "score": 0.9}
    created(api.post("/matches", json=match, headers={**expert, "X-Purpose": "search"}))
    (narrowed,) = api.get("/samples", headers=expert).json()
    assert narrowed["aggregate_id"] == sample_id and is_month(narrowed["recorded_at"])
    assert narrowed["state"] == {} and "common" in narrowed["withheld"]


def test_the_cli_shows_a_jurisdiction_no_more_of_linked_records_than_of_their_case(
    node: Node, api: TestClient, tokens: TokenStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mexico's views hold no minor's case above public: `forensic` and `timeline` show the
    remains matched to one, and the match, at their public tier only."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    minor = created(api.post("/cases", json=MINOR, headers=staff))
    expert = bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert", "forensic_identification")
    remains = created(api.post("/remains", json=REMAINS, headers=expert))
    match = {"case_id": minor, "remains_id": remains, "basis": "dental", "score": 0.9}
    match_id = created(api.post("/matches", json=match, headers={**expert, "X-Purpose": "search"}))
    for variable in [v for v in os.environ if v.startswith("CASELEDGER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASELEDGER_NODE", "MX")
    monkeypatch.setenv("CASELEDGER_ACCESS_RULES", str(SAMPLE_POLICY))
    runner = CliRunner()
    for args in (
        ["forensic", "remains", "--as", "MX"],
        ["forensic", "matches", "--as", "MX"],
        ["timeline", remains, "--as", "MX"],
        ["timeline", match_id, "--as", "MX"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert remains in result.output or match_id in result.output
        for secret in (minor, "Huixtla", "2026-06-01"):
            assert secret not in result.output, (args, secret)


def test_lists_and_timelines_show_nothing_to_a_caller_the_rules_give_no_public_tier(
    api: TestClient, tokens: TokenStore
) -> None:
    """The regional observatory reads statistics only; the Guatemalan consulate has no agreement
    over a Honduran's case: neither gets anything from the lists or the timelines."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    adult = {**MINOR, "date_of_birth": "1990-01-01", "consented_purposes": ["search", "statistics"]}
    case_id = created(api.post("/cases", json=adult, headers=staff))
    expert = bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert", "forensic_identification")
    remains = created(api.post("/remains", json=REMAINS, headers=expert))
    assert [c["case_id"] for c in api.get("/cases", headers=staff).json()] == [case_id]
    observatory = bearer(tokens, "regional-observatory", "caseworker", "statistics")
    callers = {
        "observatory, statistics": observatory,
        "observatory, search": {**observatory, "X-Purpose": "search"},
        "gt consulate": bearer(tokens, "gt-consulado-tapachula", "consular_officer"),
    }
    for who, headers in callers.items():
        for read in ("/cases", "/remains", "/samples", "/matches"):
            seen = api.get(read, headers=headers)  # statistics: refused, /statistics gives counts
            nothing = seen.status_code == 403 if "statistics" in who else seen.json() == []
            assert nothing, (who, read, seen.text)
        for aggregate_id in (case_id, remains):
            seen = api.get(f"/timeline/{aggregate_id}", headers=headers)
            assert seen.status_code in (403, 404) and "Huixtla" not in seen.text, (who, seen.text)
        history = api.get(f"/cases/{case_id}/history", headers=headers)
        assert history.status_code in (403, 404) and "Keyla" not in history.text, who


def test_a_case_listed_at_its_public_tier_shows_the_month_it_was_reported_not_the_instant(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = created(api.post("/cases", json={**MINOR, "date_of_birth": "1990-01-01"}, headers=staff))
    (exact,) = api.get("/cases", headers=staff).json()
    (coarse,) = api.get("/cases", headers={**staff, "X-Purpose": "accountability"}).json()  # no consent
    assert exact["case_id"] == coarse["case_id"] == case_id and exact["given_names"] == "Keyla"
    assert coarse["given_names"] is None and is_month(coarse["reported_at"])
    assert "minor" not in exact and "minor" not in coarse, "a list never says who is a minor"
    assert exact["reported_at"][:7] == coarse["reported_at"][:7] and exact != coarse
    entries = api.get(f"/timeline/{case_id}", headers={**staff, "X-Purpose": "accountability"}).json()
    assert entries and all(is_month(e["recorded_at"]) for e in entries)


def test_a_link_whose_views_key_is_gone_refuses_every_tier_above_public(tmp_path: Path) -> None:
    """The views keep links sealed under the record's views key; one that no longer opens names
    no case the views hold, so the record shows its public tier only (never more)."""
    case = CaseRow(
        case_id="00000000-0000-4000-8000-000000000001",
        origin="MX",
        version=1,
        status="missing",
        reported_at=datetime(2026, 5, 5, tzinfo=UTC),
        sex="female",
        age_band="30-44",
        nationalities=("MX",),
        last_seen_country="MX",
        last_seen_month="2026-05",
        route=None,
        restricted=False,
        given_names="Rosa",
        consents=("search",),
        minor=False,
    )
    remains = "00000000-0000-4000-9000-000000000001"
    views = SQLiteJurisdictionViews(tmp_path / "views.sqlite", "MX")
    try:
        views.apply(ViewBatch([case], [tracking_at(TopicPartition("ledger.events", 0), 1)]))
        views.apply(
            ViewBatch(
                [],
                [tracking_at(TopicPartition("ledger.events", 0), 2)],
                links=[Link(remains, case.case_id, "case")],
            ),
        )
        assert views.rows([case.case_id])[case.case_id].minor is False, "an adult's flag opens"
        assert refused_by_links(views, [remains], "search", lambda *_: True) == {}
        views.view_keys.destroy([remains])
        assert views.linked_cases([remains]) == {remains: {UNKNOWN_CASE}}
        assert refused_by_links(views, [remains], "search", lambda *_: True) == {
            remains: {"common", "reserved", "forensic"}
        }
        views.view_keys.destroy([case.case_id])
        assert views.rows([case.case_id])[case.case_id].minor is True, "unreadable: possibly a minor"
    finally:
        views.close()


def test_a_public_tier_list_pages_through_every_case_and_no_cursor_or_filter_gives_the_instant(
    api: TestClient, tokens: TokenStore
) -> None:
    """Listed at the public tier (no consent for the purpose), cases show the month they were
    reported: the list still pages through every one of them, its cursors carry no more than the
    month, and a filter on the report's date reads the month as the caller does."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    adult = {**MINOR, "date_of_birth": "1990-01-01"}
    made = {created(api.post("/cases", json={**adult, "given_names": n}, headers=staff)) for n in "ABC"}
    public = {**staff, "X-Purpose": "accountability"}  # the family consented to search only
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(4):
        page = api.get(
            "/cases", params={"limit": 1, **({"cursor": cursor} if cursor else {})}, headers=public
        )
        assert page.status_code == 200, page.text
        seen += [c["case_id"] for c in page.json()]
        assert all(is_month(c["reported_at"]) for c in page.json())
        cursor = page.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        opened = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        reported = datetime.fromtimestamp(-json.loads(opened)[1], UTC)
        assert is_month(reported.isoformat()), "the cursor gives the month only"
    assert sorted(seen) == sorted(made)
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    # The month is all a report says (Envelope v2): any day of it finds the month's cases, and
    # no day tells the instant apart.
    for day in {first, today}:
        asked = {"reported_from": day.isoformat(), "reported_to": day.isoformat()}
        listed = api.get("/cases", params=asked, headers=public)
        assert listed.status_code == 200, listed.text
        assert sorted(c["case_id"] for c in listed.json()) == sorted(made), "the instant is not filtered on"
    before = (first - timedelta(days=1)).isoformat()
    assert api.get("/cases", params={"reported_to": before}, headers=public).json() == []
    assert len(api.get("/cases", params={"reported_from": today.isoformat()}, headers=staff).json()) == 3
