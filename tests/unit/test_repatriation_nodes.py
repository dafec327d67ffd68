"""The HN-to-MX repatriation on two nodes that share a log (#17, item 4): a Honduran case
identified with remains held in Mexico; Mexico records the burial, exhumation, release and
hand-over, Honduras the remains received and buried at home; a second identification of the
remains is refused at both nodes; each node's views follow the other's part. The same story
runs on Kafka and PostgreSQL (tests/integration/test_course_two_nodes.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.acting import ActRefused
from ledger.commands import Actor, ConfirmIdentification
from ledger.errors import RuleBroken
from ledger.forensic_commands import IdentifyRemains, ProposeMatch, RecordRemainsRecovered, ReviewMatch
from ledger.remains_commands import (
    BuryRemains,
    ExhumeRemains,
    HandOverRemains,
    ReceiveRemains,
    ReleaseRemains,
)
from ledger.values import Place
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import ctx, report
from tests.network import keyed

FI = "forensic_identification"
SEMEFO = Actor("mx-semefo-chiapas", "forensic_expert")
LAB = Actor("mx-lab-genetica", "geneticist")
COFAMIPRO = Actor("hn-cofamipro", "caseworker")
HN_FORENSIC = Actor("hn-medicina-forense", "forensic_expert")
TODAY = datetime.now(UTC).date()


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def settle(*nodes: Node) -> None:
    """Every node publishes, then every node's views catch up (twice: keys, then events)."""
    for _ in range(2):
        for node in nodes:
            node.relay.run_once()
        for node in nodes:
            node.projector(node.settings.node).run_once()


def repatriation_story(hn: Node, mx: Node, tag: str = "") -> tuple[UUID, UUID]:
    """The whole story; returns the case (at HN) and the remains (at MX)."""
    hn.ledger.foreign_matches = mx.ledger.match_facts  # the match is Mexico's: Honduras reads its facts
    purposes = ("search", FI, "family_support")
    case_id = hn.ledger.report_missing_person(
        report(
            recorded_by=COFAMIPRO,
            given_names=f"Wilmer{tag}",
            nationalities=("HN",),
            consented_purposes=purposes,
        )
    )
    other = hn.ledger.report_missing_person(
        report(
            recorded_by=COFAMIPRO,
            given_names=f"Otro{tag}",
            nationalities=("HN",),
            consented_purposes=purposes,
        )
    )
    remains = mx.ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(SEMEFO, FI), recovered_on=days_ago(90), place=Place("MX"), context="river"
        )
    )
    bury = BuryRemains(
        **ctx(SEMEFO, FI),
        remains_id=remains,
        cemetery="Panteón municipal de Tapachula",
        grave="fosa 112",
        country="MX",
        buried_on=days_ago(80),
    )
    mx.ledger.bury_remains(bury)  # unidentified, in a municipal grave
    settle(hn, mx)  # Mexico's node acts only on a case it has heard of
    match = mx.ledger.propose_match(
        ProposeMatch(**ctx(LAB, FI), case_id=case_id, remains_id=remains, basis="dna", score=0.9999)
    )
    mx.ledger.review_match(ReviewMatch(**ctx(SEMEFO, FI), match_id=match, outcome="confirmed"))
    mx.ledger.identify_remains(IdentifyRemains(**ctx(SEMEFO, FI), remains_id=remains, match_id=match))
    settle(hn, mx)  # Honduras's node learns of Mexico's match before its forensic service confirms it
    hn.ledger.confirm_identification(
        ConfirmIdentification(**ctx(HN_FORENSIC, FI), case_id=case_id, match_id=match)
    )
    # A second identification of the same remains is refused at both nodes.
    second = mx.ledger.propose_match(
        ProposeMatch(**ctx(LAB, FI), case_id=other, remains_id=remains, basis="dna", score=0.99)
    )
    mx.ledger.review_match(ReviewMatch(**ctx(SEMEFO, FI), match_id=second, outcome="confirmed"))
    with pytest.raises(RuleBroken, match="already identified"):
        mx.ledger.identify_remains(IdentifyRemains(**ctx(SEMEFO, FI), remains_id=remains, match_id=second))
    settle(hn, mx)
    with pytest.raises(RuleBroken, match=r"^match_id: the remains are identified already, as another person"):
        hn.ledger.confirm_identification(
            ConfirmIdentification(**ctx(HN_FORENSIC, FI), case_id=other, match_id=second)
        )

    release = ReleaseRemains(
        **ctx(SEMEFO, FI),
        remains_id=remains,
        released_to="consulate",
        recipient="hn-consulado-tapachula",
        released_on=days_ago(5),
    )
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains are buried: record their exhumation"):
        mx.ledger.release_remains(release)
    hand_over = HandOverRemains(
        **ctx(SEMEFO, FI), remains_id=remains, from_country="MX", to_country="HN", completed_on=days_ago(3)
    )
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains were not released"):
        mx.ledger.hand_over_remains(hand_over)
    mx.ledger.exhume_remains(
        ExhumeRemains(
            **ctx(SEMEFO, FI), remains_id=remains, exhumed_on=days_ago(6), reason="release to the family"
        )
    )
    mx.ledger.release_remains(release)
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains were released to the consulate"):
        mx.ledger.bury_remains(dataclasses.replace(bury, command_id=str(uuid4())))  # not a retry
    mx.ledger.hand_over_remains(dataclasses.replace(hand_over, command_id=str(uuid4())))
    home = {"from_country": "MX", "to_country": "HN"}
    support = ctx(HN_FORENSIC, FI)  # Honduras's forensic service receives them at the border
    with pytest.raises(ActRefused):  # Honduras does not hold the remains: it records its own part only
        hn.ledger.bury_remains(
            BuryRemains(
                **support,
                remains_id=remains,
                cemetery="El Progreso",
                grave="1",
                country="HN",
                buried_on=days_ago(1),
            )
        )
    with pytest.raises(RuleBroken, match=r"^part: the remains are received before they are buried at home"):
        hn.ledger.receive_remains(
            ReceiveRemains(
                **support,
                case_id=case_id,
                remains_id=remains,
                part="buried_at_home",
                completed_on=days_ago(1),
                **home,
            )
        )
    hn.ledger.receive_remains(
        ReceiveRemains(
            **ctx(HN_FORENSIC, FI),
            case_id=case_id,
            remains_id=remains,
            part="received",
            completed_on=days_ago(2),
            **home,
        )
    )
    hn.ledger.receive_remains(
        ReceiveRemains(
            **ctx(HN_FORENSIC, FI),
            case_id=case_id,
            remains_id=remains,
            part="buried_at_home",
            completed_on=days_ago(1),
            place="Cementerio general de El Progreso, Yoro",
            **home,
        )
    )
    settle(hn, mx)
    # Each node's views hold the other's part: the remains' status at HN, the case's parts at MX.
    held = {row.aggregate_id: row for row in hn.views("HN").forensic("UnidentifiedRemains")}
    assert held[str(remains)].status == "handed_over"
    parts = [
        json.loads(e.public)["part"]
        for e in mx.views("MX").timeline(str(case_id))
        if e.event_type == "RepatriationCompleted"
    ]
    assert parts == ["received", "buried_at_home"]
    return case_id, remains


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[dict[str, Node]]:
    base = {c: Settings(node=c, data_dir=tmp_path, access_rules=SAMPLE_POLICY) for c in ("HN", "MX")}
    nodes = {c: build_node(s) for c, s in keyed(base, tmp_path / "keys").items()}
    yield nodes
    for node in nodes.values():
        node.close()


def test_remains_identified_in_mexico_are_repatriated_to_honduras_on_the_embedded_default(
    embedded: dict[str, Node],
) -> None:
    repatriation_story(embedded["HN"], embedded["MX"])
