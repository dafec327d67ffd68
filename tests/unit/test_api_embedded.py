"""The HTTP API on an embedded node (SQLite, no servers): authentication, purpose, idempotency,
optimistic concurrency, authorisation, errors that name the field, 413, family access."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from ledger.errors import NotFound
from projections.views import VIEWS_FORMAT
from services.acting import REFUSED
from services.bootstrap import Node, build_node
from services.command_bodies import ENVELOPE
from services.command_registry import LEDGER as ROUTES
from services.http.app import create_app
from services.photos import PhotoStore
from services.settings import Settings
from services.tokens import TokenStore

PROSECUTOR = "mx-fiscalia-migrantes"  # MX organisations in the sample policy
FORENSIC_INSTITUTE = "mx-semefo-chiapas"

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
    "family_contacts": [{"name": "Rosa Cruz", "relationship": "mother", "phone": "+504 5555 0199"}],
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
    return TestClient(create_app(node, tokens, max_body_bytes=20_000, catch_up=True))


def bearer(tokens: TokenStore, organisation: str, role: str, case_id: str | None = None) -> dict[str, str]:
    token, _ = tokens.issue(organisation, role, case_id)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}


def loc(response: Any) -> list[list[str]]:
    return [e["loc"] for e in response.json()["detail"]]


def test_openapi_lists_every_command_with_bodies_free_of_the_envelope(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    for route in ROUTES:
        operation = spec["paths"][route.path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        fields = set(spec["components"]["schemas"][body]["properties"])
        assert not fields & ENVELOPE and route.target not in fields
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert {"X-Purpose", "Idempotency-Key", "If-Match"} <= headers
    for read in ("/cases", "/cases/{case_id}", "/cases/{case_id}/history", "/timeline/{aggregate_id}"):
        assert "get" in spec["paths"][read]
    assert {"/remains", "/samples", "/matches", "/statistics"} <= set(spec["paths"])


def test_every_request_needs_a_valid_token_and_a_purpose(api: TestClient, tokens: TokenStore) -> None:
    assert api.get("/cases", headers={"X-Purpose": "search"}).status_code == 401
    forged = {"Authorization": "Bearer clt_not-a-token", "X-Purpose": "search"}
    unknown = api.get("/cases", headers=forged)
    assert unknown.status_code == 401 and unknown.headers["WWW-Authenticate"] == "Bearer"
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    missing = api.get("/cases", headers={"Authorization": headers["Authorization"]})
    assert missing.status_code == 422 and loc(missing) == [["header", "X-Purpose"]]
    wrong = api.get("/cases", headers={**headers, "X-Purpose": "curiosity"})
    assert wrong.status_code == 422 and loc(wrong) == [["header", "X-Purpose"]]
    stranger = bearer(tokens, "an-organisation-nobody-agreed-with", "caseworker")
    assert api.get("/cases", headers=stranger).status_code == 403
    assert "clt_" not in tokens.path.read_text(), "only hashes are kept"


def test_a_report_retried_with_its_idempotency_key_is_recorded_once(
    api: TestClient, tokens: TokenStore
) -> None:
    headers = {**bearer(tokens, PROSECUTOR, "caseworker"), "Idempotency-Key": "report-0001"}
    first = api.post("/cases", json=REPORT, headers=headers)
    assert first.status_code == 201, first.text
    case_id = first.json()["id"]
    assert first.headers["ETag"] == '"1"' and first.headers["Location"] == f"/cases/{case_id}"
    again = api.post("/cases", json=REPORT, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == case_id
    listed = api.get("/cases", headers=headers).json()
    assert [c["case_id"] for c in listed] == [case_id] and listed[0]["given_names"] == "Yesenia"
    other = {**bearer(tokens, FORENSIC_INSTITUTE, "caseworker"), "Idempotency-Key": "report-0001"}
    assert api.post("/cases", json=REPORT, headers=other).json()["id"] != case_id  # keys are per organisation
    too_long = api.post("/cases", json=REPORT, headers={**headers, "Idempotency-Key": "k" * 65})
    assert too_long.status_code == 422 and loc(too_long) == [["header", "Idempotency-Key"]]


def test_every_bad_field_is_named(api: TestClient, tokens: TokenStore) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    missing = api.post(
        "/cases", json={k: v for k, v in REPORT.items() if k != "given_names"}, headers=headers
    )
    assert missing.status_code == 422 and ["body", "given_names"] in loc(missing)
    unknown = api.post("/cases", json={**REPORT, "favourite_colour": "red"}, headers=headers)
    assert unknown.status_code == 422 and ["body", "favourite_colour"] in loc(unknown)
    future = api.post("/cases", json={**REPORT, "last_seen_date": "2099-01-01"}, headers=headers)
    assert future.status_code == 422 and loc(future) == [["body", "last_seen_date"]]
    assert "future" in future.json()["detail"][0]["msg"]
    assert api.get("/cases", headers=headers).json() == [], "nothing was recorded"
    unknown_case = api.post(
        "/cases/00000000-0000-4000-8000-000000000001/sightings",
        json={"seen_on": "2026-05-06", "place": {"country": "MX"}, "source": "survivor"},
        headers=headers,
    )
    # A case not kept here is refused as one the caller may not act on: the answer does not tell them apart.
    assert unknown_case.status_code == 403 and unknown_case.json()["detail"] == REFUSED


def test_a_stale_if_match_gets_409_and_the_current_version(api: TestClient, tokens: TokenStore) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = api.post("/cases", json=REPORT, headers=headers).json()["id"]
    sighting = {"seen_on": "2026-05-06", "place": {"country": "MX", "place": "Huixtla"}, "source": "survivor"}
    first = api.post(f"/cases/{case_id}/sightings", json=sighting, headers={**headers, "If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    stale = api.post(f"/cases/{case_id}/sightings", json=sighting, headers={**headers, "If-Match": '"1"'})
    assert (
        stale.status_code == 409 and stale.json()["current_version"] == 2 and stale.headers["ETag"] == '"2"'
    )
    garbled = api.post(f"/cases/{case_id}/sightings", json=sighting, headers={**headers, "If-Match": "soon"})
    assert garbled.status_code == 422 and loc(garbled) == [["header", "If-Match"]]
    read = api.get(f"/cases/{case_id}", headers=headers)
    assert read.status_code == 200 and read.headers["ETag"] == '"2"'


def test_oversized_bodies_get_413(api: TestClient, tokens: TokenStore) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    huge = api.post("/cases", json={**REPORT, "physical_description": "x" * 50_000}, headers=headers)
    assert huge.status_code == 413 and loc(huge) == [["body"]]


def test_roles_decide_who_records_what(api: TestClient, tokens: TokenStore) -> None:
    caseworker = bearer(tokens, PROSECUTOR, "caseworker")
    remains = {"recovered_on": "2026-06-01", "place": {"country": "MX"}, "context": "desert"}
    assert api.post("/remains", json=remains, headers=caseworker).status_code == 403
    expert = {**bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert"), "X-Purpose": "forensic_identification"}
    recorded = api.post("/remains", json=remains, headers=expert)
    assert recorded.status_code == 201, recorded.text
    listed = api.get("/remains", headers=expert).json()
    assert [r["status"] for r in listed] == ["recovered"] and listed[0]["state"]["context"] == "desert"


def test_a_family_member_consults_amends_and_withdraws_on_their_own_case_only(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = api.post("/cases", json=REPORT, headers=staff).json()["id"]
    other_id = api.post("/cases", json={**REPORT, "given_names": "Otra"}, headers=staff).json()["id"]
    family = {**bearer(tokens, "Rosa Cruz, madre", "family_member", case_id), "X-Purpose": "family_support"}
    dossier = api.get(f"/cases/{case_id}", headers=family)
    assert dossier.status_code == 200 and dossier.json()["case_id"] == case_id
    readers = [r["organisation"] for r in dossier.json()["reads"]]
    assert readers and all(r.startswith("family:") for r in readers), (
        "her read is recorded, under a pseudonym"
    )
    assert "Rosa" not in str(readers)
    assert api.get(f"/cases/{other_id}", headers=family).status_code == 403
    assert api.get("/cases", headers=family).status_code == 403
    amended = api.post(
        f"/cases/{case_id}/amendments",
        json={"changes": {"last_seen.place": "Tapachula, Chiapas"}, "reason": "more precise"},
        headers=family,
    )
    assert amended.status_code == 200, amended.text
    withdrawn = api.post(
        f"/cases/{case_id}/consent-withdrawals",
        json={"consent_purpose": "forensic_identification", "withdrawn_by": "Rosa Cruz, madre"},
        headers=family,
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["version"] == 3
    sighting = {"seen_on": "2026-05-06", "place": {"country": "MX"}, "source": "family"}
    assert api.post(f"/cases/{case_id}/sightings", json=sighting, headers=family).status_code == 403


def test_views_history_and_statistics_answer_for_the_callers_jurisdiction(
    api: TestClient, tokens: TokenStore
) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = api.post("/cases", json=REPORT, headers=headers).json()["id"]
    timeline = api.get(f"/timeline/{case_id}", headers=headers).json()
    assert [e["event_type"] for e in timeline] == ["CaseReported"]
    now = api.get(f"/cases/{case_id}/history", headers=headers).json()
    assert now["status"] == "missing" and now["version"] == 1
    early = api.get(f"/cases/{case_id}/history", params={"as_of": "2020-01-01T00:00:00Z"}, headers=headers)
    assert early.status_code == 404
    naive = api.get(f"/cases/{case_id}/history", params={"as_of": "2026-01-01T00:00:00"}, headers=headers)
    assert naive.status_code == 422 and loc(naive) == [["query", "as_of"]]
    changes = api.get(f"/cases/{case_id}/history", params={"since": "2020-01-01T00:00:00Z"}, headers=headers)
    assert changes.status_code == 200 and changes.json()["case_id"] == case_id
    cells = api.get("/statistics", headers=headers).json()
    assert cells and all(c["cases"] == "<5" for c in cells)
    assert {c["month"] for c in cells} == {REPORT["last_seen_date"][:7]}, "the month gone missing"
    reported = api.get("/statistics", params={"by": "reported"}, headers=headers).json()
    assert {c["month"] for c in reported} == {datetime.now(UTC).strftime("%Y-%m")}
    wrong = api.get("/statistics", params={"by": "typed"}, headers=headers)
    assert wrong.status_code == 422 and loc(wrong) == [["query", "by"]]


def test_an_unexpected_failure_is_a_500_without_details(
    node: Node, tokens: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(command: object) -> None:
        raise RuntimeError("Yesenia Cruz, Tapachula")  # personal data in an exception message

    node.ledger.report_missing_person = broken  # type: ignore[method-assign]
    api = TestClient(create_app(node, tokens, catch_up=True))  # nothing escapes to the server either
    failed = api.post("/cases", json=REPORT, headers=bearer(tokens, PROSECUTOR, "caseworker"))
    assert failed.status_code == 500 and "Yesenia" not in failed.text and "Traceback" not in failed.text
    assert "RuntimeError" in caplog.text and "Yesenia" not in caplog.text, "the log names the kind only"


def test_a_database_away_for_a_moment_is_a_503_with_retry_after(
    node: Node, tokens: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A restart of the node's PostgreSQL: the caller is told to resend, not given a 500."""
    import psycopg

    def away(command: object) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    node.ledger.report_missing_person = away  # type: ignore[method-assign]
    api = TestClient(create_app(node, tokens, catch_up=True))
    failed = api.post("/cases", json=REPORT, headers=bearer(tokens, PROSECUTOR, "caseworker"))
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "2", failed.text
    assert "Idempotency-Key" in failed.json()["detail"] and "Traceback" not in failed.text
    assert "OperationalError" in caplog.text


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # the signature and some bytes: enough for a store


def test_a_photo_is_kept_sealed_referenced_by_its_case_and_erased_with_it(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    uploaded = api.post("/photos", content=PNG, headers={**staff, "Content-Type": "image/png"})
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()
    assert photo["reference"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    stored = next((node.settings.data_dir / "photos").iterdir())
    assert PNG[16:200] not in stored.read_bytes() and stored.stat().st_mode & 0o777 == 0o600, (
        "sealed, owner-only"
    )
    case_id = api.post("/cases", json={**REPORT, "photo": photo["reference"]}, headers=staff).json()["id"]
    shown = api.get(f"/cases/{case_id}/photo", headers=staff)
    assert shown.status_code == 200 and shown.content == PNG and shown.headers["content-type"] == "image/png"
    elsewhere = bearer(tokens, "hn-cofamipro", "caseworker")  # an organisation of Honduras: no agreement
    refused = api.get(f"/cases/{case_id}/photo", headers=elsewhere)
    assert refused.status_code == 403 and "refused and recorded" in refused.text
    statistics = api.get(f"/cases/{case_id}/photo", headers={**staff, "X-Purpose": "statistics"})
    assert statistics.status_code == 403

    erased = api.post(
        f"/cases/{case_id}/erasure", json={"requested_by": "Rosa Cruz, her mother"}, headers=staff
    )
    assert erased.status_code == 200, erased.text
    assert api.get(f"/cases/{case_id}/photo", headers=staff).status_code in (403, 404)
    with pytest.raises(NotFound):  # the photo's key went with the case's
        PhotoStore(node.settings.data_dir / "photos", node.data_keys, "MX").get(photo["photo_id"])


def test_oversized_or_foreign_photos_are_refused_and_named(api: TestClient, tokens: TokenStore) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    huge = api.post("/photos", content=PNG + bytes(5_000_000), headers={**staff, "Content-Type": "image/png"})
    assert huge.status_code == 413 and loc(huge) == [["body"]]
    gif = api.post("/photos", content=b"GIF89a" + bytes(10), headers={**staff, "Content-Type": "image/gif"})
    assert gif.status_code == 415 and loc(gif) == [["header", "Content-Type"]]
    fake = api.post("/photos", content=b"not an image at all", headers={**staff, "Content-Type": "image/png"})
    assert fake.status_code == 422 and loc(fake) == [["body"]]


def test_only_the_nodes_own_organisations_act_and_consent_is_the_familys(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = api.post("/cases", json=REPORT, headers=staff).json()["id"]
    consulate = bearer(tokens, "hn-consulado-tapachula", "consular_officer")
    grant = {"consent_purpose": "accountability", "given_by": "the family"}
    assert api.post(f"/cases/{case_id}/consents", json=grant, headers=consulate).status_code == 403
    honduran = bearer(tokens, "hn-cofamipro", "caseworker")  # an organisation of another jurisdiction
    closure = api.post(f"/cases/{case_id}/closure", json={"reason": "reported_in_error"}, headers=honduran)
    assert closure.status_code == 403 and "does not belong to node MX" in closure.text
    assert api.get("/cases", headers={**staff, "X-Purpose": "statistics"}).status_code == 403
    assert api.get("/statistics", headers={**staff, "X-Purpose": "statistics"}).status_code == 200

    family = {**bearer(tokens, "Rosa Cruz, madre", "family_member", case_id), "X-Purpose": "family_support"}
    withdrawn = {"consent_purpose": "forensic_identification", "withdrawn_by": "somebody else"}
    assert (
        api.post(f"/cases/{case_id}/consent-withdrawals", json=withdrawn, headers=family).status_code == 200
    )
    timeline = api.get(f"/timeline/{case_id}", headers=staff).json()
    recorded = [e["organisation"] for e in timeline]
    assert recorded[-1].startswith("family:") and "Rosa" not in str(timeline), (
        "no family name in the envelope"
    )


def test_views_of_a_later_release_answer_503_saying_what_to_do(
    node: Node, tokens: TokenStore, tmp_path: Path
) -> None:
    api = TestClient(create_app(node, tokens, catch_up=True))
    headers = bearer(tokens, PROSECUTOR, "investigator")
    assert api.get("/cases", headers=headers).status_code == 200
    with sqlite3.connect(tmp_path / "views-mx.sqlite") as connection:
        connection.execute("UPDATE views_format SET format = ?", (VIEWS_FORMAT + 1,))
    fresh = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))  # a new process
    try:
        answer = TestClient(create_app(fresh, tokens, catch_up=True)).get("/cases", headers=headers)
    finally:
        fresh.close()
    assert answer.status_code == 503 and loc(answer) == [["server"]]
    assert "caseledger rebuild --as MX" in answer.json()["detail"][0]["msg"]


def test_each_organisation_sees_in_lists_only_what_its_own_rules_and_the_familys_consent_allow(
    api: TestClient, tokens: TokenStore
) -> None:
    """The views are projected for Mexico's node; a consulate sitting in Mexico reads from them
    only its own nationals' names, as its agreement says, and no caller reads personal data
    for a purpose the family did not consent to. The audited read of the case agrees."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    honduran = api.post("/cases", json=REPORT, headers=staff).json()["id"]
    guatemalan = api.post(
        "/cases", json={**REPORT, "given_names": "Ixchel", "nationalities": ["GT"]}, headers=staff
    ).json()["id"]
    consulate = bearer(tokens, "hn-consulado-tapachula", "consular_officer")

    def names(headers: dict[str, str]) -> dict[str, str | None]:
        listed = api.get("/cases", headers=headers)
        assert listed.status_code == 200, listed.text
        return {c["case_id"]: c["given_names"] for c in listed.json()}

    assert names(staff) == {honduran: "Yesenia", guatemalan: "Ixchel"}
    assert names(consulate) == {honduran: "Yesenia"}, "no agreement: not even the public tier"
    assert api.get(f"/cases/{guatemalan}", headers=consulate).status_code == 403
    # Consent was given to search, forensic identification and family support, not accountability.
    assert names({**staff, "X-Purpose": "accountability"}) == {honduran: None, guatemalan: None}

    def common_fields(case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        entries = api.get(f"/timeline/{case_id}", headers=headers).json()
        return [e for e in entries if "common" not in e["withheld"]]

    assert common_fields(guatemalan, staff) and common_fields(honduran, consulate)
    assert "Ixchel" in api.get(f"/timeline/{guatemalan}", headers=staff).text
    for read in (f"/timeline/{guatemalan}", f"/cases/{guatemalan}/history"):
        seen = api.get(read, headers=consulate)
        assert seen.status_code == 404 and "Ixchel" not in seen.text, read
    assert "Yesenia" in api.get(f"/cases/{honduran}/history", headers=consulate).text

    expert = {**bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert"), "X-Purpose": "forensic_identification"}
    remains = {
        "recovered_on": "2026-06-01",
        "place": {"country": "MX", "place": "Huixtla"},
        "context": "river",
    }
    assert api.post("/remains", json=remains, headers=expert).status_code == 201
    (held,) = api.get("/remains", headers=expert).json()
    assert (
        held["state"]["place"] == {"country": "MX", "place": "Huixtla"} and "common" not in held["withheld"]
    )
    assert api.get("/remains", headers=consulate).json() == [], "no agreement gives it MX remains"


def test_a_date_of_birth_corrected_to_a_minors_takes_the_name_out_of_every_list(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    """The views hold no minor's name: a family's correction that makes the person a minor (or
    of unknown age) leaves the public tier in the list, the timeline and the history, for the
    consulate whose agreement excludes minors and for Mexico's own organisations alike."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = api.post("/cases", json=REPORT, headers=staff).json()["id"]
    older = api.post("/cases", json={**REPORT, "given_names": "Dunia"}, headers=staff).json()["id"]
    consulate = bearer(tokens, "hn-consulado-tapachula", "consular_officer")

    def listed(headers: dict[str, str]) -> dict[str, dict[str, Any]]:
        return {c["case_id"]: c for c in api.get("/cases", headers=headers).json()}

    assert listed(consulate)[case_id]["given_names"] == "Yesenia"
    for target, born in ((case_id, "2012-01-01"), (older, "1960-03-03")):
        family = {
            **bearer(tokens, "Rosa Cruz, madre", "family_member", target),
            "X-Purpose": "family_support",
        }
        corrected = {"changes": {"person.date_of_birth": born}, "reason": "the certificate says so"}
        assert api.post(f"/cases/{target}/amendments", json=corrected, headers=family).status_code == 200
    assert api.get(f"/cases/{case_id}", headers=consulate).status_code == 403, "the audited read refuses"
    for headers in (consulate, staff):
        row = listed(headers)[case_id]
        assert row["restricted"] and row["given_names"] is None and row["age_band"] is None
        for read in (f"/timeline/{case_id}", f"/cases/{case_id}/history"):
            seen = api.get(read, headers=headers)
            assert seen.status_code == 200 and "Yesenia" not in seen.text and "2012-01-01" not in seen.text
    assert listed(staff)[older]["age_band"] == "60+" and listed(staff)[older]["given_names"] == "Dunia"
    node.projector("MX").rebuild()
    assert listed(staff)[case_id]["given_names"] is None and listed(staff)[older]["age_band"] == "60+"
