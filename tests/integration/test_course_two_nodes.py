"""The course of a case across two nodes on real Kafka and PostgreSQL: a Honduran family
association records inquiries, support, updates and a protection risk at the HN node; the
Mexican node's views follow them as the network's rules allow (who was asked and by when, the
flag to handle with care; never the question, the answer or the risk), and the HN node's
overdue lists read its PostgreSQL event store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.commands import Actor
from ledger.course_commands import (
    AnswerInquiry,
    FlagProtectionRisk,
    GiveFamilyUpdate,
    SendInquiry,
    SetUpdateCadence,
)
from ledger.errors import InvalidField
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import ctx, report
from tests.network import keyed

pytestmark = pytest.mark.integration
COFAMIPRO = Actor("hn-cofamipro", "caseworker")
NOW = datetime.now(UTC)


@pytest.fixture
def network(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> Iterator[dict[str, Node]]:
    base = {
        c: Settings(
            node=c,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"course{unique}.",
            data_dir=tmp_path / c,
            access_rules=SAMPLE_POLICY,
        )
        for c in ("HN", "MX")
    }
    nodes = {c: build_node(s) for c, s in keyed(base, tmp_path / "keys").items()}
    yield nodes
    for node in nodes.values():
        node.close()


def test_the_course_recorded_in_honduras_is_followed_in_mexico_as_the_rules_allow(
    network: dict[str, Node], unique: str
) -> None:
    hn, mx = network["HN"], network["MX"]
    secret = f"Pregunta{unique}"
    case_id = hn.ledger.report_missing_person(
        report(
            recorded_by=COFAMIPRO,
            given_names=f"Wilmer{unique}",
            nationalities=("HN",),
            consented_purposes=("search", "family_support"),
        )
    )
    hn.ledger.send_inquiry(
        SendInquiry(
            **ctx(COFAMIPRO, occurred_at=NOW - timedelta(days=20)),
            case_id=case_id,
            addressee="mx-estacion-migratoria-tapachula",
            addressee_kind="detention_centre",
            question=f"{secret}: ¿está detenido?",
            due_on=(NOW - timedelta(days=6)).date(),
        )
    )
    hn.ledger.send_inquiry(
        SendInquiry(
            **ctx(COFAMIPRO),
            case_id=case_id,
            addressee="mx-hospital-general-tapachula",
            addressee_kind="hospital",
            question="¿Fue atendido?",
            due_on=(NOW + timedelta(days=6)).date(),
        )
    )
    support = ctx(COFAMIPRO, purpose="family_support", occurred_at=NOW - timedelta(days=40))
    hn.ledger.set_update_cadence(
        SetUpdateCadence(**support, case_id=case_id, every_days=30, focal_point="hn-consulado-tapachula")
    )
    hn.ledger.flag_protection_risk(
        FlagProtectionRisk(**ctx(COFAMIPRO), case_id=case_id, risks=("threats",), note=f"Nota{unique}")
    )
    with pytest.raises(InvalidField, match=r"^inquiry: no inquiry 9 was sent"):
        hn.ledger.answer_inquiry(
            AnswerInquiry(
                **ctx(COFAMIPRO), case_id=case_id, inquiry=9, outcome="found", answered_on=NOW.date()
            )
        )

    # The overdue lists read the course events from HN's PostgreSQL store.
    overdue = hn.ledger.overdue_inquiries()
    mine = [i for i in overdue if i["case_id"] == str(case_id)]
    assert [(i["inquiry"], i["addressee"], i["days_overdue"]) for i in mine] == [
        (1, "mx-estacion-migratoria-tapachula", 6)
    ]
    assert mine[0]["handle_with_care"] is True
    late = [u for u in hn.ledger.overdue_updates() if u["case_id"] == str(case_id)]
    assert [(u["focal_point"], u["days_overdue"]) for u in late] == [("hn-consulado-tapachula", 10)]
    hn.ledger.give_family_update(
        GiveFamilyUpdate(
            **ctx(COFAMIPRO, purpose="family_support"),
            case_id=case_id,
            given_on=NOW.date(),
            given_by="Cónsul Marta Reyes",
            means="phone",
            language="es",
        )
    )
    assert not [u for u in hn.ledger.overdue_updates() if u["case_id"] == str(case_id)]

    # Mexico follows the case through Kafka, at the tiers its agreement with Honduras gives it.
    hn.sync("HN")
    for _ in range(3):
        mx.projector("MX").run_once()
    timeline = mx.views("MX").timeline(str(case_id))
    kinds = [e.event_type for e in timeline]
    assert kinds == [
        "CaseReported",
        "InquirySent",
        "InquirySent",
        "UpdateCadenceSet",
        "ProtectionRiskFlagged",
        "FamilyUpdateGiven",
    ], kinds
    first = timeline[1]
    assert json.loads(first.shown)["addressee"] == "mx-estacion-migratoria-tapachula"
    assert json.loads(first.public)["addressee_kind"] == "detention_centre"
    assert "reserved" in first.withheld
    flag = timeline[4]
    assert json.loads(flag.public)["handle_with_care"] is True and "reserved" in flag.withheld
    everything = json.dumps([vars(e) for e in timeline], default=str)
    assert secret not in everything and f"Nota{unique}" not in everything and "threats" not in everything


def test_remains_identified_in_mexico_are_repatriated_to_honduras_on_kafka_and_postgresql(
    network: dict[str, Node], unique: str
) -> None:
    from tests.unit.test_repatriation_nodes import repatriation_story

    case_id, remains = repatriation_story(network["HN"], network["MX"], unique)
    assert network["HN"].ledger.get_case(case_id).status.value == "identified_deceased"
    assert network["MX"].ledger.repository.get(remains).identified_as == str(case_id)
