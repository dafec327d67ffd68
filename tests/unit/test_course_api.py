"""The course of a case over HTTP and on the command line (one registry for both): inquiries
and the overdue list per organisation, support under family_support, the updates a focal point
owes, a notification in a language the contact does not speak, a protection risk that keeps a
contact from every reader but the organisation that flagged it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.command_bodies import ENVELOPE
from services.command_registry import COURSE as COURSE_ROUTES
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.infrastructure import cli_env
from tests.unit.test_api_embedded import REPORT

PROSECUTOR = "mx-fiscalia-migrantes"
SHELTER = "mx-casa-migrante-tapachula"
CONSULATE = "hn-consulado-tapachula"
MECHANISM = "mx-mecanismo-externo"
NOW = datetime.now(UTC)


def ago(days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def day(days: int) -> str:
    return (NOW + timedelta(days=days)).date().isoformat()


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


def reported(api: TestClient, headers: dict[str, str]) -> str:
    answer = api.post("/cases", json=REPORT, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def problem_fields(response: Any) -> list[str]:
    return [str(e["loc"][-1]) for e in response.json()["detail"]]


def test_every_course_command_is_a_route_with_its_own_fields(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    for route in COURSE_ROUTES:
        operation = spec["paths"][route.path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        assert not set(spec["components"]["schemas"][body]["properties"]) & ENVELOPE
    assert {"/inquiries/overdue", "/family-updates/overdue"} <= set(spec["paths"])


def test_an_overdue_inquiry_is_listed_to_its_sender_its_addressee_and_overseers(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = reported(api, staff)
    sent = api.post(
        f"/cases/{case_id}/inquiries",
        json={
            "addressee": "mx-estacion-migratoria-tapachula",
            "addressee_kind": "detention_centre",
            "question": "¿Está detenida Yesenia Cruz, nacida el 10 de octubre de 1994?",
            "due_on": day(-3),
            "occurred_at": ago(20),
        },
        headers=staff,
    )
    assert sent.status_code == 200, sent.text
    listed = api.get("/inquiries/overdue", headers=staff).json()
    assert [(i["case_id"], i["inquiry"], i["days_overdue"]) for i in listed] == [(case_id, 1, 3)]
    assert "question" not in listed[0] and "purpose" not in listed[0]
    centre = bearer(tokens, "mx-estacion-migratoria-tapachula", "caseworker")
    assert len(api.get("/inquiries/overdue", headers=centre).json()) == 1  # addressed to it
    other = bearer(tokens, SHELTER, "caseworker")
    assert api.get("/inquiries/overdue", headers=other).json() == []  # neither sent nor asked
    overseer = bearer(tokens, MECHANISM, "commissioner")
    assert len(api.get("/inquiries/overdue", headers=overseer).json()) == 1
    assert api.get("/inquiries/overdue?addressee=mx-inm", headers=overseer).json() == []
    # An answer to an inquiry never sent is refused naming the field; the real one clears the list.
    never = {"inquiry": 7, "outcome": "found", "answered_on": day(0)}
    refused = api.post(f"/cases/{case_id}/inquiry-answers", json=never, headers=staff)
    assert refused.status_code == 422 and "inquiry" in refused.text
    answered = api.post(
        f"/cases/{case_id}/inquiry-answers",
        json={**never, "inquiry": 1, "outcome": "not_found"},
        headers=staff,
    )
    assert answered.status_code == 200, answered.text
    assert api.get("/inquiries/overdue", headers=staff).json() == []


def test_support_and_updates_are_family_support_and_the_focal_point_sees_what_it_owes(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = reported(api, staff)
    wrong = api.post(
        f"/cases/{case_id}/support-referrals",
        json={"kind": "psychosocial", "provider": "Cruz Roja"},
        headers=staff,
    )
    assert wrong.status_code == 422 and "purpose" in wrong.text
    support = bearer(tokens, PROSECUTOR, "caseworker", "family_support")
    referred = api.post(
        f"/cases/{case_id}/support-referrals",
        json={"kind": "psychosocial", "provider": "Cruz Roja"},
        headers=support,
    )
    assert referred.status_code == 200, referred.text
    bad_kind = api.post(
        f"/cases/{case_id}/support-referrals", json={"kind": "genetic", "provider": "X"}, headers=support
    )
    assert bad_kind.status_code == 422 and problem_fields(bad_kind) == ["kind"]
    consul = bearer(tokens, CONSULATE, "consular_officer", "family_support")
    cadence = api.post(
        f"/cases/{case_id}/update-cadence",
        json={"every_days": 30, "focal_point": CONSULATE, "occurred_at": ago(40)},
        headers=consul,
    )
    assert cadence.status_code == 200, cadence.text
    owed = api.get("/family-updates/overdue", headers=consul).json()
    assert [(u["case_id"], u["days_overdue"]) for u in owed] == [(case_id, 10)]
    assert api.get("/family-updates/overdue", headers=staff).json() == []  # not its promise
    given = api.post(
        f"/cases/{case_id}/family-updates",
        json={"given_on": day(0), "given_by": "Cónsul Marta Reyes", "means": "phone", "language": "es"},
        headers=consul,
    )
    assert given.status_code == 200, given.text
    assert api.get("/family-updates/overdue", headers=consul).json() == []


def located(api: TestClient, case_id: str, headers: dict[str, str]) -> None:
    done = api.post(
        f"/cases/{case_id}/located-alive",
        json={"located_on": day(-1), "place": {"country": "US"}, "whereabouts_may_be_shared": True},
        headers=headers,
    )
    assert done.status_code == 200, done.text


def test_a_notification_in_a_language_the_contact_does_not_speak_is_refused_naming_the_field(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker", "family_support")
    case_id = reported(api, staff)
    located(api, case_id, staff)
    spoken = api.post(
        f"/cases/{case_id}/contact-details",
        json={"contact": "Rosa Cruz", "languages": ["mam"]},
        headers=staff,
    )
    assert spoken.status_code == 200, spoken.text
    told = {"means": "phone", "language": "es"}
    refused = api.post(f"/cases/{case_id}/notifications", json=told, headers=staff)
    assert refused.status_code == 422 and "interpreter" in refused.text, refused.text
    with_interpreter = {**told, "contact": "Rosa Cruz", "interpreter": "Juan Tomás"}
    assert (
        api.post(f"/cases/{case_id}/notifications", json=with_interpreter, headers=staff).status_code == 200
    )


def test_a_contact_at_risk_is_kept_from_every_reader_but_the_one_that_flagged_it(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = reported(api, staff)
    before = api.get(f"/cases/{case_id}", headers=bearer(tokens, MECHANISM, "commissioner")).json()
    assert before["handle_with_care"] is False
    flagged = api.post(
        f"/cases/{case_id}/protection-risks",
        json={"contact": "Rosa Cruz", "risks": ["threats"]},
        headers=staff,
    )
    assert flagged.status_code == 200, flagged.text
    own = api.get(f"/cases/{case_id}", headers=staff).json()
    assert own["handle_with_care"] is True
    assert own["entries"][0]["fields"]["family_contacts"][0]["name"] == "Rosa Cruz"  # the control
    other = api.get(f"/cases/{case_id}", headers=bearer(tokens, MECHANISM, "commissioner"))
    assert other.status_code == 200, other.text
    read = other.json()
    assert read["handle_with_care"] is True
    assert read["entries"][0]["fields"]["family_contacts"] == []
    assert "family_contacts" in read["entries"][0]["protected"]
    assert "Rosa" not in other.text


def caseledger(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    env["CASELEDGER_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_takes_the_same_commands_and_lists_what_is_overdue(tmp_path: Path) -> None:
    done = caseledger(
        tmp_path,
        "report",
        *("--given-names", "Kevin Josué", "--first-surname", "Díaz", "--sex", "male"),
        *("--nationality", "SV", "--last-seen-date", "2026-01-20", "--last-seen-country", "MX"),
        *("--consent", "search", "--consent-explained-by", "Casa", "--consent-language", "es"),
        *("--family-contact-name", "Ana Díaz", "--family-contact-phone", "+503 5555 0101"),
    )
    assert done.returncode == 0, done.stderr
    case_id = done.stdout.split()[1]
    inquire = caseledger(
        tmp_path,
        *("course", "inquire", case_id, "--as", "Casa del Migrante"),
        *("--addressee", "mx-inm", "--addressee-kind", "migration_authority"),
        *("--question", "¿Fue deportado?", "--due-on", day(-2), "--occurred-at", ago(10)),
    )
    assert inquire.returncode == 0, inquire.stderr
    listed = caseledger(tmp_path, "course", "overdue", "inquiries", "--as", "Casa del Migrante")
    assert "mx-inm:" in listed.stdout and "2 days overdue" in listed.stdout, listed.stdout
    as_json = json.loads(
        caseledger(tmp_path, "course", "overdue", "inquiries", "--as", "Casa del Migrante", "--json").stdout
    )
    assert as_json[0]["case_id"] == case_id and as_json[0]["addressee_kind"] == "migration_authority"
    never = caseledger(
        tmp_path,
        *("course", "answer", case_id, "--as", "Casa del Migrante", "--inquiry", "3"),
        *("--outcome", "found", "--answered-on", day(0)),
    )
    assert never.returncode == 2 and "error: inquiry: no inquiry 3 was sent" in never.stderr
    assert "Traceback" not in never.stderr
    bad = caseledger(
        tmp_path,
        *("course", "plan", case_id, "--as", "Casa del Migrante", "--planned-on", day(1)),
        *("--team", "no role here", "--contact", "Ana Díaz", "--language", "es", "--place", "Casa"),
        *("--report-copy-handed-over", "true"),
    )
    assert bad.returncode == 2 and "--team" in bad.stderr


def test_the_family_page_says_who_was_asked_and_when_the_family_hears_next(
    api: TestClient, tokens: TokenStore
) -> None:
    from tests.unit.test_web_hardening import SAME, form_token

    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = reported(api, staff)
    sent = {
        "addressee": "Hospital General de Tapachula",
        "addressee_kind": "hospital",
        "question": "¿Ingresó una mujer de 31 años sin documentos en mayo?",
        "due_on": day(10),
    }
    assert api.post(f"/cases/{case_id}/inquiries", json=sent, headers=staff).status_code == 200
    support = bearer(tokens, PROSECUTOR, "caseworker", "family_support")
    cadence = {"every_days": 14, "focal_point": "Comité de Familiares", "occurred_at": ago(20)}
    assert api.post(f"/cases/{case_id}/update-cadence", json=cadence, headers=support).status_code == 200
    family_token, _ = tokens.issue("Rosa Cruz, madre", "family_member", case_id)
    for lang, asked, late in (
        ("es", "A Hospital General de Tapachula (hospital): respuesta esperada el", "no han llegado"),
        ("en", "Hospital General de Tapachula (hospital): answer expected by", "has not come"),
    ):
        csrf = form_token(api, f"/family/login?lang={lang}")
        page = api.post(
            f"/family/login?lang={lang}",
            data={"token": family_token, "csrf": csrf},
            headers=SAME,
            follow_redirects=True,
        )
        assert page.status_code == 200, page.text
        assert asked in page.text and late in page.text and "Comité de Familiares" in page.text
        assert "handle-with-care" not in page.text


def test_remains_are_buried_and_released_through_the_api_and_the_command_line(
    api: TestClient, tokens: TokenStore, tmp_path: Path
) -> None:
    forensic = bearer(tokens, "mx-semefo-chiapas", "forensic_expert", "forensic_identification")
    recovered = api.post(
        "/remains",
        json={"recovered_on": day(-30), "place": {"country": "MX", "place": "Huixtla"}, "context": "river"},
        headers=forensic,
    )
    assert recovered.status_code == 201, recovered.text
    remains = recovered.json()["id"]
    burial = {"cemetery": "Panteón de Huixtla", "grave": "fosa 7", "country": "MX", "buried_on": day(-20)}
    assert api.post(f"/remains/{remains}/burial", json=burial, headers=forensic).status_code == 200
    again = api.post(f"/remains/{remains}/burial", json=burial, headers=forensic)
    assert again.status_code == 409 or again.status_code == 422, again.text
    assert "remains_id" in again.text
    release = {"released_to": "family", "recipient": "Rosa Cruz", "released_on": day(-1)}
    refused = api.post(f"/remains/{remains}/release", json=release, headers=forensic)
    assert refused.status_code in (409, 422) and "only identified remains are released" in refused.text
    done = caseledger(
        tmp_path,
        *("course", "bury", "not-a-uuid", "--as", "mx-semefo-chiapas", "--role", "forensic_expert"),
        *(
            "--cemetery",
            "X",
            "--grave",
            "1",
            "--country",
            "MX",
            "--buried-on",
            day(-1),
            "--coordinates",
            "north",
        ),
    )
    assert done.returncode == 2 and "--coordinates: 'north' is not LATITUDE,LONGITUDE" in done.stderr, (
        done.stderr
    )
    unknown = caseledger(
        tmp_path,
        *("course", "bury", "not-a-uuid", "--as", "mx-semefo-chiapas", "--role", "forensic_expert"),
        *(
            "--cemetery",
            "X",
            "--grave",
            "1",
            "--country",
            "MX",
            "--buried-on",
            day(-1),
            "--coordinates",
            "14.9,-92.2",
        ),
    )
    assert unknown.returncode == 2 and "remains: 'not-a-uuid' is not an id" in unknown.stderr, unknown.stderr
