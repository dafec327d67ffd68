"""The course of a case where others read it: the consular feed gives a consulate what its
agreement allows (who was asked and by when, the focal point, never the question, the answer
or the language), and the timelines show every course event, its reserved fields withheld."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from ledger.course_commands import AnswerInquiry, FlagProtectionRisk, SendInquiry, SetUpdateCadence
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import ctx, report
from tests.unit.test_feed_embedded import events, headers

TODAY = datetime.now(UTC).date()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


def course_of_a_case(node: Node) -> str:
    ledger = node.ledger
    case_id = ledger.report_missing_person(
        report(
            given_names="Hondureño", nationalities=("HN",), consented_purposes=("search", "family_support")
        )
    )
    ledger.send_inquiry(
        SendInquiry(
            **ctx(),
            case_id=case_id,
            addressee="mx-estacion-migratoria-tapachula",
            addressee_kind="detention_centre",
            question="¿Está detenido? Pregunta secreta",
            due_on=TODAY + timedelta(days=10),
        )
    )
    ledger.answer_inquiry(
        AnswerInquiry(
            **ctx(),
            case_id=case_id,
            inquiry=1,
            outcome="found",
            answered_on=TODAY,
            learned="detenido en la estación, celda 4",
        )
    )
    ledger.set_update_cadence(
        SetUpdateCadence(
            **ctx(purpose="family_support"),
            case_id=case_id,
            every_days=15,
            focal_point="hn-consulado-tapachula",
        )
    )
    ledger.flag_protection_risk(
        FlagProtectionRisk(**ctx(), case_id=case_id, risks=("trafficking",), note="red de trata en Tapachula")
    )
    return str(case_id)


def test_the_consulate_s_feed_carries_the_course_as_its_agreement_allows(node: Node, tmp_path: Path) -> None:
    case_id = course_of_a_case(node)
    api = TestClient(create_app(node, TokenStore(tmp_path / "t.json"), catch_up=True))
    consulate = {
        **headers(TokenStore(tmp_path / "t.json"), "hn-consulado-tapachula"),
        "X-Purpose": "family_support",
    }
    response = api.get("/feed", params={"follow": "false"}, headers=consulate)
    assert response.status_code == 200, response.text
    feed = {e["event"]: e["data"] for e in events(response.text) if e["data"]["case_id"] == case_id}
    assert set(feed) >= {"InquirySent", "InquiryAnswered", "UpdateCadenceSet", "ProtectionRiskFlagged"}
    sent = feed["InquirySent"]["fields"]
    assert sent["addressee"] == "mx-estacion-migratoria-tapachula" and "question" not in sent
    assert (
        "outcome" not in feed["InquiryAnswered"]["fields"]
        and "reserved" in feed["InquiryAnswered"]["withheld"]
    )
    assert feed["UpdateCadenceSet"]["fields"]["focal_point"] == "hn-consulado-tapachula"
    assert feed["ProtectionRiskFlagged"]["fields"]["handle_with_care"] is True
    for secret in ("Pregunta secreta", "celda 4", "red de trata", "trafficking"):
        assert secret not in response.text
    # The control: a consulate of another country has no agreement for these nationals.
    other = {
        **headers(TokenStore(tmp_path / "t.json"), "gt-consulado-tapachula"),
        "X-Purpose": "family_support",
    }
    assert case_id not in api.get("/feed", params={"follow": "false"}, headers=other).text


def test_the_timeline_shows_every_course_event_with_its_reserved_fields_withheld(
    node: Node, tmp_path: Path
) -> None:
    case_id = course_of_a_case(node)
    tokens = TokenStore(tmp_path / "t.json")
    api = TestClient(create_app(node, tokens, catch_up=True))
    token, _ = tokens.issue("mx-mecanismo-externo", "commissioner")
    timeline = api.get(
        f"/timeline/{case_id}", headers={"Authorization": f"Bearer {token}", "X-Purpose": "search"}
    )
    assert timeline.status_code == 200, timeline.text
    entries = {e["event_type"]: e for e in timeline.json()}
    assert list(entries)[1:] == [
        "InquirySent",
        "InquiryAnswered",
        "UpdateCadenceSet",
        "ProtectionRiskFlagged",
    ]
    assert entries["InquirySent"]["fields"]["addressee_kind"] == "detention_centre"
    assert "reserved" in entries["InquiryAnswered"]["withheld"]
    assert entries["ProtectionRiskFlagged"]["fields"]["handle_with_care"] is True
    assert "celda 4" not in json.dumps(timeline.json()) and uuid.UUID(case_id)
