"""The ledger itself checks who records a command (issue 12, items 1 and 9; ledger/acting.py),
whatever adapter sends it: an organisation the rules do not know, a role its kind cannot hold,
or a record the recorder may not read for its purpose is refused before anything is decided."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.access_rules import SAMPLE_POLICY, load
from ledger.acting import ActRefused
from ledger.commands import Actor, RecordSighting
from ledger.errors import InvalidField
from ledger.values import Place
from services.acting import Acting
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import ctx, report

SHELTER = Actor("mx-casa-migrante-tapachula", "caseworker")
CONSULATE = Actor("hn-consulado-tapachula", "consular_officer")
CONSENTED = {"consented_purposes": ("search",), "consent_explained_by": "Ana", "consent_language": "es"}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    built.ledger.acting = Acting(built, load(SAMPLE_POLICY))
    yield built
    built.close()


def sighting(actor: Actor, case_id: object) -> RecordSighting:
    return RecordSighting(
        **ctx(actor), case_id=case_id, seen_on="2026-05-01", place=Place("MX", "Arriaga"), source="witness"
    )


def test_an_unknown_recorder_or_a_role_its_kind_cannot_hold_is_refused(node: Node) -> None:
    with pytest.raises(InvalidField) as unknown:
        node.ledger.report_missing_person(report(recorded_by=Actor("Nadie S.A.", "caseworker"), **CONSENTED))
    assert unknown.value.field == "recorded_by.organisation"
    with pytest.raises(InvalidField) as role:
        node.ledger.report_missing_person(
            report(recorded_by=Actor("hn-consulado-tapachula", "forensic_expert"))
        )
    assert role.value.field == "recorded_by.role"
    assert node.ledger.report_missing_person(report(recorded_by=SHELTER, **CONSENTED)), "the control"


def test_a_consulate_records_nothing_on_a_case_it_may_not_read(node: Node) -> None:
    salvadoran = node.ledger.report_missing_person(
        report(recorded_by=SHELTER, nationalities=("SV",), **CONSENTED)
    )
    honduran = node.ledger.report_missing_person(
        report(recorded_by=SHELTER, nationalities=("HN",), **CONSENTED)
    )
    with pytest.raises(ActRefused):
        node.ledger.record_sighting(sighting(CONSULATE, salvadoran))
    assert node.ledger.get_case(salvadoran).version == 1, "nothing was recorded"
    assert node.ledger.record_sighting(sighting(CONSULATE, honduran)) == 2, "the control: its national"
    # A family member acting on their own case holds no organisation: their credential is
    # checked where it is presented.
    assert node.ledger.record_sighting(sighting(Actor("family:0a1b2c", "family_member"), salvadoran)) == 2


def test_without_the_rule_the_ledger_records_what_any_recorder_says(tmp_path: Path) -> None:
    """Control: the same commands on a node whose ledger is not given the rule go through."""
    bare = build_node(Settings(node="MX", data_dir=tmp_path / "bare"))
    try:
        case = bare.ledger.report_missing_person(report(recorded_by=Actor("Nadie S.A.", "caseworker")))
        assert bare.ledger.record_sighting(sighting(CONSULATE, case)) == 2
    finally:
        bare.close()


def test_the_nodes_own_process_acts_only_on_records_it_keeps(tmp_path: Path) -> None:
    """The node itself (its jurisdiction code, node_operator) records for its linkage process on
    its own cases; on a case another node reported it is refused, and so is another country's
    code (controls)."""
    from tests.network import keyed

    network = keyed(
        {c: Settings(node=c, data_dir=tmp_path, access_rules=SAMPLE_POLICY) for c in ("MX", "GT")},
        tmp_path / "keys",
    )
    mx, gt = build_node(network["MX"]), build_node(network["GT"])
    try:
        own = mx.ledger.report_missing_person(report(recorded_by=SHELTER, **CONSENTED))
        theirs = gt.ledger.report_missing_person(
            report(recorded_by=Actor("gt-famidegua", "caseworker"), **CONSENTED)
        )
        gt.relay.run_once()
        mx.sync("MX")
        assert str(theirs) in {r.case_id for r in mx.views("MX").cases()}, "the setting: MX sees it"
        mx.ledger.record_sighting(sighting(Actor("MX", "node_operator"), own))
        with pytest.raises(ActRefused):
            mx.ledger.record_sighting(sighting(Actor("MX", "node_operator"), theirs))
        with pytest.raises(InvalidField):  # another country's code is no organisation here
            mx.ledger.record_sighting(sighting(Actor("GT", "node_operator"), own))
        with pytest.raises(InvalidField):  # the node's code with another role is not its process
            mx.ledger.record_sighting(sighting(Actor("MX", "caseworker"), own))
    finally:
        gt.close()
        mx.close()
