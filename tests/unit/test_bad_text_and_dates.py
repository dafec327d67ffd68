"""Bad input the ledger, the API and the CLI refuse with the field named and nothing written:
dates far off, text that cannot be stored or shows nothing, sightings that contradict the
case, recorders and credentials the network's rules do not know."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger import validation as v
from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.application import CaseLedger
from ledger.commands import (
    ConfirmIdentification,
    RecordPersonLocatedAlive,
    RecordSighting,
    ReportMissingPerson,
)
from ledger.errors import InvalidField, RuleBroken
from ledger.values import Place
from services.bootstrap import Node, build_node
from services.command_bodies import body_model
from services.command_registry import COMMANDS as ROUTES
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import FORENSIC, ctx, report
from tests.infrastructure import cli_env
from tests.unit.test_case_rules import confirmed_match, new_case

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
INVISIBLE = [
    "\u200b",
    "\u200b\u200c\u200d",
    "\u200e\u200f",
    "\u202e\u202c",
    "\u2066\u2069",
    "\ufeff",
    " \u200b ",
]


# Any code point, surrogates included, with the troublesome ones drawn often.
ANY_CHARACTER = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.sampled_from(["\ud800", "\udfff", "\u200b", "\u200f", "\u202e", "\ufeff", "\x1b", "a", " "]),
)


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


# ---------------------------------------------------------------- text


@pytest.mark.parametrize("name", INVISIBLE)
def test_a_name_made_only_of_zero_width_or_bidi_controls_is_refused(ledger: CaseLedger, name: str) -> None:
    for field in ("given_names", "first_surname", "second_surname"):
        with pytest.raises(InvalidField) as refused:
            ledger.report_missing_person(report(**{field: name}))
        assert refused.value.field == field and "empty" in refused.value.problem
    assert ledger.recorder.max_notification_id() is None


@pytest.mark.parametrize(
    ("text", "problem"), [("Ana\ud800", "surrogate"), ("\udc80", "surrogate"), ("A\x07", "control")]
)
def test_text_that_cannot_be_stored_or_holds_controls_is_refused(
    ledger: CaseLedger, text: str, problem: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(circumstances=text))
    assert refused.value.field == "circumstances" and problem in refused.value.problem
    assert ledger.recorder.max_notification_id() is None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(ANY_CHARACTER, max_size=12))
def test_any_text_the_ledger_accepts_survives_encoding_and_shows_something(text: str) -> None:
    try:
        kept = v.optional_text("place", text)
    except InvalidField:
        return
    if kept is None:
        assert not text.strip()
        return
    assert kept.encode("utf-8").decode("utf-8") == text and v.visible(text)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(ANY_CHARACTER, min_size=1, max_size=8))
@example("\udc80")
def test_any_name_the_ledger_records_reads_back_as_entered(name: str) -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)
    try:
        case_id = ledger.report_missing_person(report(given_names=name))
    except InvalidField as refused:
        assert refused.field == "given_names"
        assert ledger.recorder.max_notification_id() is None
        return
    assert ledger.get_case(case_id).person["given_names"] == name


# ---------------------------------------------------------------- dates and the case's story


def sighting(case_id: Any, seen_on: str) -> RecordSighting:
    return RecordSighting(**ctx(), case_id=case_id, seen_on=seen_on, place=Place("MX"), source="witness")


def test_a_sighting_or_a_location_before_the_persons_birth_is_refused(ledger: CaseLedger) -> None:
    case_id = new_case(ledger, date_of_birth="1999-07-30")
    with pytest.raises(InvalidField) as refused:
        ledger.record_sighting(sighting(case_id, "1999-07-29"))
    assert refused.value.field == "seen_on" and "date of birth" in refused.value.problem
    with pytest.raises(InvalidField) as refused:
        ledger.record_person_located_alive(
            RecordPersonLocatedAlive(
                **ctx(),
                case_id=case_id,
                located_on="1990-01-01",
                place=Place("MX"),
                whereabouts_may_be_shared=False,
            )
        )
    assert refused.value.field == "located_on"
    assert ledger.get_case(case_id).version == 1, "nothing was written"
    ledger.record_sighting(sighting(case_id, "1999-07-30"))


def test_a_sighting_after_an_identification_needs_it_reopened(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    match, _ = confirmed_match(ledger, case_id)
    ledger.confirm_identification(
        ConfirmIdentification(**ctx(FORENSIC, "forensic_identification"), case_id=case_id, match_id=match)
    )
    version = ledger.get_case(case_id).version
    with pytest.raises(RuleBroken, match="identified as deceased"):
        ledger.record_sighting(sighting(case_id, "2026-05-01"))
    assert ledger.get_case(case_id).version == version


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        "1899-12-31T23:00:00Z",
    ],
)
def test_instants_far_off_are_refused_naming_the_field(moment: str) -> None:
    with pytest.raises(InvalidField) as refused:
        v.instant("as_of", datetime.fromisoformat(moment))
    assert refused.value.field == "as_of"


# ---------------------------------------------------------------- the API


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "api-tokens.json")


def headers(tokens: TokenStore, organisation: str, role: str) -> dict[str, str]:
    token, _ = tokens.issue(organisation, role)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}


BODY = (
    '{"given_names": "%s", "first_surname": "Cruz", "sex": "female", "nationalities": ["HN"], '
    '"date_of_birth": "2000-01-01", "last_seen_date": "2026-05-05", "last_seen_country": "MX", '
    '"consented_purposes": ["search"], "consent_explained_by": "Fiscal\u00eda: Ana Ruiz", '
    '"consent_language": "es"}'
)


def test_the_api_refuses_bad_text_and_far_instants_without_a_server_error(
    node: Node, tokens: TokenStore
) -> None:
    api = TestClient(create_app(node, tokens, catch_up=True), raise_server_exceptions=False)
    staff = {**headers(tokens, "mx-fiscalia-migrantes", "caseworker"), "Content-Type": "application/json"}
    for name in ("\\ud800", "\\u200b\\u200f", "\\u202e"):
        refused = api.post("/cases", content=BODY % name, headers=staff)
        assert refused.status_code == 422, refused.text
        assert [e["loc"] for e in refused.json()["detail"]] == [["body", "given_names"]]
    invisible = api.post("/cases", content=BODY % "\\u200b", headers=staff).json()["detail"][0]["msg"]
    assert invisible == "must hold at least one visible character"
    assert api.get("/cases", headers=staff).json() == [], "nothing was recorded"
    case_id = api.post("/cases", content=BODY % "Ana", headers=staff).json()["id"]
    early = {"seen_on": "1999-12-31", "place": {"country": "MX"}, "source": "witness"}
    before_birth = api.post(f"/cases/{case_id}/sightings", json=early, headers=staff)
    assert before_birth.status_code == 422 and before_birth.json()["detail"][0]["loc"] == ["body", "seen_on"]
    for name, moment in (("as_of", "0001-01-01T00:00:00+05:00"), ("since", "9999-12-31T23:59:59-05:00")):
        far = api.get(f"/cases/{case_id}/history", params={name: moment}, headers=staff)
        assert far.status_code == 422, far.text
        assert far.json()["detail"][0]["loc"] == ["query", name]


def test_a_credential_in_a_role_its_organisations_kind_cannot_hold_is_refused(
    node: Node, tokens: TokenStore
) -> None:
    api = TestClient(create_app(node, tokens, catch_up=True))
    consulate_geneticist = headers(tokens, "hn-consulado-tapachula", "geneticist")  # issued without rules
    refused = api.get("/cases", headers=consulate_geneticist)
    assert refused.status_code == 403 and "cannot hold" in refused.text


def test_tokens_under_the_rules_name_a_known_organisation_in_a_role_its_kind_holds(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    organisations = load_rules(SAMPLE_POLICY).organisations
    with pytest.raises(InvalidField) as unknown:
        tokens.issue("an-organisation-nobody-knows", "caseworker", organisations=organisations)
    assert unknown.value.field == "organisation"
    with pytest.raises(InvalidField) as role:
        tokens.issue("hn-consulado-tapachula", "forensic_expert", organisations=organisations)
    assert role.value.field == "role" and "consulate" in role.value.problem
    with pytest.raises(InvalidField) as invisible:
        tokens.issue("\u200b", "caseworker")
    assert invisible.value.field == "organisation"
    assert tokens.list() == [], "nothing was issued"
    tokens.issue("hn-consulado-tapachula", "consular_officer", organisations=organisations)


# ---------------------------------------------------------------- the CLI


def caseledger(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(CASELEDGER_DATA_DIR=str(tmp_path / "data"), CASELEDGER_ACCESS_RULES=str(SAMPLE_POLICY))
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_names_the_field_of_an_unknown_recorder_a_wrong_role_and_a_far_instant(
    tmp_path: Path,
) -> None:
    report_args = ["report", "--given-names", "Kevin", "--first-surname", "Díaz", "--sex", "male"]
    report_args += ["--nationality", "SV", "--last-seen-date", "2026-01-20", "--last-seen-country", "GT"]
    stranger = caseledger(tmp_path, *report_args, "--organisation", "nobody-knows-us")
    assert (
        stranger.returncode != 0
        and "--organisation" in stranger.stderr
        and "Traceback" not in stranger.stderr
    )
    wrong_role = caseledger(
        tmp_path, *report_args, "--organisation", "mx-casa-migrante-tapachula", "--role", "geneticist"
    )
    assert wrong_role.returncode != 0 and "--role" in wrong_role.stderr
    token = caseledger(tmp_path, "token", "issue", "hn-consulado-tapachula", "--role", "geneticist")
    assert token.returncode != 0 and "role" in token.stderr and "clt_" not in token.stdout
    done = caseledger(tmp_path, *report_args, "--organisation", "mx-casa-migrante-tapachula")
    assert done.returncode == 0, done.stderr
    case_id = done.stdout.split()[1]
    far = caseledger(tmp_path, "history", case_id, "--as", "MX", "--as-of", "0001-01-01T00:00+05:00")
    assert far.returncode != 0 and "--as-of" in far.stderr and "Traceback" not in far.stderr


# ---------------------------------------------------------------- the schema states the domain's limits


def report_body_schema() -> dict[str, Any]:
    route = next(r for r in ROUTES if r.command is ReportMissingPerson)
    schema: dict[str, Any] = body_model(route).model_json_schema()
    return schema


def text_schema(schema: dict[str, Any], name: str) -> dict[str, Any]:
    field: dict[str, Any] = schema["properties"][name]
    return next((s for s in field.get("anyOf", [field]) if s.get("type") == "string"), field)


@pytest.mark.parametrize(
    "name",
    [
        "given_names",
        "first_surname",
        "second_surname",
        "physical_description",
        "last_seen_place",
        "circumstances",
    ],
)
def test_the_schemas_text_lengths_are_the_domains(ledger: CaseLedger, name: str) -> None:
    longest = text_schema(report_body_schema(), name)["maxLength"]
    ledger.report_missing_person(report(**{name: "x" * longest}))
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(**{name: "x" * (longest + 1)}))
    assert refused.value.field == name


def test_the_schema_states_dates_required_text_and_scores() -> None:
    schema = report_body_schema()
    given = text_schema(schema, "given_names")
    assert given["minLength"] == 1 and re.search(given["pattern"], "Ana")
    assert not any(re.search(given["pattern"], name) for name in INVISIBLE)
    day = text_schema(schema, "last_seen_date")["pattern"]
    assert re.match(day, "2026-05-05") and not re.match(day, "0001-01-01") and not re.match(day, "1899-12-31")
    match_route = next(r for r in ROUTES if r.command.__name__ == "ProposeMatch")
    score = body_model(match_route).model_json_schema()["properties"]["score"]
    assert (score["minimum"], score["maximum"]) == (0.0, 1.0)


def test_a_command_sent_as_of_year_one_is_refused_not_overflowed(ledger: CaseLedger) -> None:
    far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(occurred_at=far))
    assert refused.value.field == "occurred_at"
    assert ledger.recorder.max_notification_id() is None


def test_a_lone_surrogate_echoed_by_an_error_does_not_fail_the_response(
    node: Node, tokens: TokenStore
) -> None:
    api = TestClient(create_app(node, tokens, catch_up=True), raise_server_exceptions=False)
    staff = {**headers(tokens, "mx-fiscalia-migrantes", "caseworker"), "Content-Type": "application/json"}
    case_id = api.post("/cases", content=BODY % "Ana", headers=staff).json()["id"]
    amendment = '{"changes": {"\\ud800": "x"}, "reason": "r"}'
    refused = api.post(f"/cases/{case_id}/amendments", content=amendment, headers=staff)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "changes", "\ufffd"]
    assert node.ledger.get_case(UUID(case_id)).version == 1


def strings(value: Any) -> set[str]:
    """Every text in a JSON document."""
    if isinstance(value, dict):
        return set().union(*(strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(strings(v) for v in value))
    return {value} if isinstance(value, str) else set()


def test_any_name_the_api_accepts_reads_back_as_sent_and_none_gives_a_server_error(tmp_path: Path) -> None:
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    tokens = TokenStore(tmp_path / "tokens.json")
    api = TestClient(create_app(node, tokens, catch_up=True), raise_server_exceptions=False)
    staff = {**headers(tokens, "mx-fiscalia-migrantes", "caseworker"), "Content-Type": "application/json"}

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.text(ANY_CHARACTER, min_size=1, max_size=6))
    @example("Ana\ud800")
    @example("\u200b\u202e")
    def sent(name: str) -> None:
        body = json.dumps({**json.loads(BODY % "x"), "given_names": name})  # ASCII: any surrogate escaped
        answer = api.post("/cases", content=body, headers=staff)
        assert answer.status_code in (201, 422), answer.text
        if answer.status_code == 201:
            case = api.get(f"/cases/{answer.json()['id']}", headers=staff)
            assert case.status_code == 200 and name in strings(case.json())

    try:
        sent()
    finally:
        node.close()
