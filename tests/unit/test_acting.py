"""Who may act on remains, samples and matches (services/acting.py): a record answers to its
origin's rules and to those of the case it is linked to, even when that case was reported in
another country and this node knows it from its views only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ledger.access_rules import SAMPLE_POLICY, load
from ledger.commands import Actor
from ledger.forensic_commands import ProposeMatch, RecordRemainsRecovered, TakeSample
from ledger.values import Place
from services.acting import Acting
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import ctx, report
from tests.network import keyed

INSTITUTE = "mx-semefo-chiapas"
EXPERT = Actor(INSTITUTE, "forensic_expert")


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """Mexico's and Guatemala's nodes, sharing one embedded log."""
    network = keyed(
        {c: Settings(node=c, data_dir=tmp_path, access_rules=SAMPLE_POLICY) for c in ("MX", "GT")},
        tmp_path / "keys",
    )
    mx, gt = build_node(network["MX"]), build_node(network["GT"])
    # These tests ask the rule directly about records the ledger's own check would refuse to
    # record (a match on a child's case by a forensic institute): the setup records them unchecked.
    mx.ledger.acting = gt.ledger.acting = None
    yield mx, gt
    gt.close()
    mx.close()


def test_a_match_answers_to_the_rules_of_the_case_it_names(nodes: tuple[Node, Node]) -> None:
    """Mexico's forensic institute reads Guatemala's cases to search (the network's agreement
    extends to it), not for forensic identification, and never a child's: it acts on Mexican
    remains for either purpose, on a match naming a Guatemalan adult's case only to search,
    on one naming a Guatemalan child's case not at all."""
    mx, gt = nodes
    purposes = ("search", "forensic_identification")
    adult = gt.ledger.report_missing_person(report(given_names="Berta", consented_purposes=purposes))
    child = gt.ledger.report_missing_person(
        report(given_names="Heidy", date_of_birth="2012-04-04", consented_purposes=purposes)
    )
    gt.relay.run_once()
    mx.sync("MX")
    assert {str(adult), str(child)} <= {r.case_id for r in mx.views("MX").cases()}
    remains = mx.ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(EXPERT, "forensic_identification"),
            recovered_on="2026-06-01",
            place=Place(country="MX"),
            context="desert",
        )
    )

    def match(case_id: uuid.UUID) -> str:
        return str(
            mx.ledger.propose_match(
                ProposeMatch(
                    **ctx(EXPERT, "search"), case_id=case_id, remains_id=remains, basis="dental", score=0.8
                )
            )
        )

    acting = Acting(mx, load(SAMPLE_POLICY), today=lambda: date(2026, 11, 1))
    on_adult, on_child = match(adult), match(child)
    for purpose in purposes:
        assert acting.may_act(INSTITUTE, purpose, [("remains", str(remains))])
    assert acting.may_act(INSTITUTE, "search", [("match", on_adult)])
    assert not acting.may_act(INSTITUTE, "forensic_identification", [("match", on_adult)])
    assert not acting.may_act(INSTITUTE, "search", [("match", on_child)])
    # A sample from a relative answers to the relative's case in the same way.
    reference = mx.ledger.take_sample(
        TakeSample(
            **ctx(EXPERT, "search"),
            taken_on="2026-06-02",
            sample_type="buccal_swab",
            holder=INSTITUTE,
            case_id=child,
            donor_relationship="mother",
            donor_consent_given_by="the donor herself",
        )
    )
    assert not acting.may_act(INSTITUTE, "search", [("sample", str(reference))])
    # Nothing this node keeps or knows of: refused, as a record the caller may not read.
    assert not acting.may_act(INSTITUTE, "search", [("remains", str(uuid.uuid4()))])
    assert not acting.may_act(INSTITUTE, "search", [("case", str(uuid.uuid4()))])
    assert not acting.may_act(INSTITUTE, "search", [("sample", str(remains))]), "remains are not a sample"
