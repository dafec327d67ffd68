"""Custody of remains is continuous, as for samples (#17, item 4): each transfer passes the
remains from their current holder to the next, a release makes its recipient the holder, and
the chain is shown in order in the remains' timeline, through the API and the command line."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidField, RuleBroken
from ledger.forensic_commands import IdentifyRemains
from ledger.remains_commands import ExhumeRemains, ReleaseRemains, TransferRemains
from ledger.remains_course import custody_of
from services.bootstrap import Node
from services.tokens import TokenStore
from tests.factories import FORENSIC, ctx
from tests.unit.test_course_api import api, bearer, caseledger, day, node, tokens  # noqa: F401
from tests.unit.test_identification_rules import FI, identify, names, new_case, new_remains, propose, review
from tests.unit.test_identification_rules import node as ledger_node
from tests.unit.test_remains_course import bury, hand_over, release

SEMEFO = "SEMEFO Tapachula"
CEMETERY = "Panteón municipal de Tapachula"
LAB = "Laboratorio de Genética Forense"


def transfer(ledger: object, remains: UUID, from_holder: str, to_holder: str) -> int:
    return ledger.transfer_remains(  # type: ignore[attr-defined, no-any-return]
        TransferRemains(
            **ctx(FORENSIC, FI),
            remains_id=remains,
            from_holder=from_holder,
            to_holder=to_holder,
            reason="examination",
        )
    )


def chain(ledger: object, remains: UUID) -> list[str]:
    return list(custody_of(ledger.repository.get(remains)))  # type: ignore[attr-defined]


def test_custody_passes_only_from_the_current_holder() -> None:
    mx = ledger_node("MX")
    remains = new_remains(mx)
    transfer(mx, remains, SEMEFO, LAB)  # the first names who held them since recovery
    with pytest.raises(RuleBroken, match=r"^from_holder: custody can pass only from the current holder"):
        transfer(mx, remains, SEMEFO, CEMETERY)  # SEMEFO gave them up already
    with pytest.raises(RuleBroken, match=r"^to_holder: custody passes to another holder"):
        transfer(mx, remains, LAB, LAB)
    with pytest.raises(InvalidField) as empty:
        transfer(mx, remains, LAB, "")
    assert empty.value.field == "to_holder"
    transfer(mx, remains, LAB, SEMEFO)  # control: from the current holder, it passes
    assert chain(mx, remains) == [SEMEFO, LAB, SEMEFO]
    assert names(mx, remains).count("RemainsTransferred") == 2  # nothing recorded by the refusals


def test_a_release_makes_its_recipient_the_holder_and_the_hand_over_ends_custody_here() -> None:
    mx = ledger_node("MX")
    hn = ledger_node("HN", foreign_matches=mx.match_facts)
    case_id, remains = new_case(hn), new_remains(mx)
    transfer(mx, remains, SEMEFO, CEMETERY)
    bury(mx, remains)
    match = propose(mx, case_id, remains)
    review(mx, match)
    identify(hn, case_id, match)
    mx.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    mx.exhume_remains(
        ExhumeRemains(**ctx(FORENSIC, FI), remains_id=remains, exhumed_on="2026-05-18", reason="release")
    )
    transfer(mx, remains, CEMETERY, SEMEFO)
    with pytest.raises(RuleBroken, match=r"^from_holder: the remains are released by their current holder"):
        mx.release_remains(
            ReleaseRemains(
                **ctx(FORENSIC, FI),
                remains_id=remains,
                released_to="consulate",
                recipient="hn-consulado-tapachula",
                released_on="2026-05-20",
                from_holder=CEMETERY,  # it gave them up already
            )
        )
    release(mx, remains)  # to the consulate, hn-consulado-tapachula; by the holder, SEMEFO
    [released] = [e for e in mx.repository.event_store.get(remains) if type(e).__name__ == "RemainsReleased"]
    assert released.from_holder == SEMEFO  # the holder who gave them up
    with pytest.raises(RuleBroken, match=r"^from_holder: .*'hn-consulado-tapachula', not 'SEMEFO Tapachula'"):
        transfer(mx, remains, SEMEFO, "Funeraria San José")
    transfer(mx, remains, "hn-consulado-tapachula", "Funeraria San José")
    hand_over(mx, remains)
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains were handed over to HN"):
        transfer(mx, remains, "Funeraria San José", "hn-consulado-tapachula")
    assert chain(mx, remains) == [
        SEMEFO,
        CEMETERY,
        SEMEFO,
        "hn-consulado-tapachula",
        "Funeraria San José",
    ]


HOLDERS = st.sampled_from(["SEMEFO", "Panteón", "Laboratorio", "Consulado", "Funeraria", "Fiscalía"])


@settings(max_examples=40, deadline=None)
@given(first=HOLDERS, steps=st.lists(st.tuples(HOLDERS, st.booleans()), max_size=8))
def test_any_sequence_of_transfers_leaves_an_unbroken_chain(
    first: str, steps: list[tuple[str, bool]]
) -> None:
    """Whatever is attempted, from the holder or not, what is recorded is a chain in which each
    transfer's from_holder is the previous transfer's to_holder."""
    mx = ledger_node("MX")
    remains = new_remains(mx)
    holder = first
    for to_holder, from_the_holder in steps:
        giver = holder if from_the_holder else f"not {holder}"
        try:
            transfer(mx, remains, giver, to_holder)
        except RuleBroken as refused:
            assert refused.rule in ("from_holder", "to_holder")
            continue
        holder = to_holder
    recorded = [e for e in mx.repository.event_store.get(remains) if type(e).__name__ == "RemainsTransferred"]
    for before, after in itertools.pairwise(recorded):
        assert after.from_holder == before.to_holder
    assert chain(mx, remains) == ([recorded[0].from_holder] if recorded else []) + [
        e.to_holder for e in recorded
    ]


def test_custody_is_recorded_through_the_api_and_shown_in_the_remains_timeline_in_order(
    api: TestClient,  # noqa: F811
    node: Node,  # noqa: F811
    tokens: TokenStore,  # noqa: F811
) -> None:
    forensic = bearer(tokens, "mx-semefo-chiapas", "forensic_expert", FI)
    recovered = api.post(
        "/remains",
        json={"recovered_on": day(-30), "place": {"country": "MX", "place": "Huixtla"}, "context": "river"},
        headers=forensic,
    )
    assert recovered.status_code == 201, recovered.text
    remains = recovered.json()["id"]

    def passes(from_holder: str, to_holder: str) -> object:
        body = {"from_holder": from_holder, "to_holder": to_holder, "reason": "examination"}
        return api.post(f"/remains/{remains}/custody", json=body, headers=forensic)

    assert passes(SEMEFO, LAB).status_code == 200
    refused = passes(SEMEFO, CEMETERY)
    assert refused.status_code in (409, 422), refused.text  # type: ignore[attr-defined]
    assert "from_holder" in refused.text and "current holder" in refused.text  # type: ignore[attr-defined]
    assert passes(LAB, CEMETERY).status_code == 200  # control: from the current holder
    node.sync("MX")
    entries = node.views("MX").timeline(remains)
    assert [e.event_type for e in entries] == ["RemainsRecovered", "RemainsTransferred", "RemainsTransferred"]
    assert all(e.role == "forensic_expert" and e.purpose == FI for e in entries)
    # Holders are forensic, as a sample's: the network's MX views name the steps, not the holders.
    assert all("forensic" in e.withheld and LAB not in e.public + e.shown for e in entries[1:])
    assert node.views("MX").forensic_rows([remains])[remains].status == "recovered"  # not changed


def test_the_command_line_transfers_custody_and_refuses_a_broken_chain(tmp_path: Path) -> None:
    from services.bootstrap import build_node
    from services.settings import Settings

    built = build_node(Settings(node="MX", data_dir=tmp_path / "data"))
    try:
        remains = str(new_remains(built.ledger))
    finally:
        built.close()
    who = ("--as", "mx-semefo-chiapas", "--role", "forensic_expert", "--purpose", FI)
    done = caseledger(
        tmp_path, "course", "transfer", remains, *who, "--from-holder", SEMEFO, "--to-holder", LAB,
        "--reason", "examination",
    )  # fmt: skip
    assert done.returncode == 0 and "recorded" in done.stdout, done.stderr
    refused = caseledger(
        tmp_path, "course", "transfer", remains, *who, "--from-holder", SEMEFO, "--to-holder", CEMETERY,
        "--reason", "burial",
    )  # fmt: skip
    assert refused.returncode != 0 and "from_holder" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    done = caseledger(
        tmp_path, "course", "transfer", remains, *who, "--from-holder", LAB, "--to-holder", CEMETERY,
        "--reason", "burial",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = caseledger(tmp_path, "timeline", remains, "--as", "MX")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("Remains transferred") == 2, shown.stdout  # each step, in order
    listed = caseledger(tmp_path, "forensic", "remains", "--as", "MX", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["state"]["custody"] == [SEMEFO, LAB, CEMETERY] and row["state"]["holder"] == CEMETERY


def test_a_release_recorded_before_custody_was_kept_reads_with_no_holder() -> None:
    from ledger.remains import UnidentifiedRemains

    state: dict[str, object] = {"released_to": "family", "recipient": "Rosa Cruz"}
    UnidentifiedRemains.RemainsReleased.upcast_v1_v2(state)
    assert state["from_holder"] is None
    assert UnidentifiedRemains.RemainsReleased.class_version == 2
