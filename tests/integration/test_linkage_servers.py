"""Cross-border linkage on real Kafka and PostgreSQL (#19, items 2 and 3): a case recorded at
MX and a case recorded at HN for the same person, under rules that let neither read the other's
names, produce a candidate at both origins; an erasure at HN removes its encoding everywhere."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ledger.access_rules import parse
from ledger.commands import EraseData
from services.bootstrap import Node, build_node
from services.linkage import linkage_finder
from services.settings import Settings
from tests.factories import ctx
from tests.network import keyed
from tests.unit.test_linkage_publishing import HN_WORKER, MX_WORKER, rules, same_person, write_rules

pytestmark = pytest.mark.integration


@pytest.fixture
def network(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> Iterator[dict[str, Node]]:
    secret = SecretStr(base64.b64encode(os.urandom(32)).decode())
    policy = write_rules(tmp_path / "rules.toml", rules())
    base = {
        c: Settings(
            node=c,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"linkage{unique}.",
            data_dir=tmp_path / c,
            access_rules=policy,
            linkage_secret=secret,
        )
        for c in ("HN", "MX")
    }
    nodes = {c: build_node(s) for c, s in keyed(base, tmp_path / "keys").items()}
    yield nodes
    for node in nodes.values():
        node.close()


def test_the_same_person_is_a_candidate_at_both_origins_and_erasure_withdraws_it(
    network: dict[str, Node],
) -> None:
    hn, mx = network["HN"], network["MX"]
    at_hn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    at_mx = mx.ledger.report_missing_person(same_person(MX_WORKER, "HN", second_surname=None))
    other = mx.ledger.report_missing_person(
        same_person(MX_WORKER, "MX", given_names="Ana", first_surname="Ruiz", sex="female")
    )
    for node in (hn, mx):
        node.relay.run_once()
    finders = {c: linkage_finder(n, parse(rules())) for c, n in network.items()}
    for finder in finders.values():
        finder.run_once()
    assert list(getattr(hn.ledger.get_case(at_hn), "linkage_candidates", {})) == [f"MX/{at_mx}"]
    assert list(getattr(mx.ledger.get_case(at_mx), "linkage_candidates", {})) == [f"HN/{at_hn}"]
    assert getattr(mx.ledger.get_case(other), "linkage_candidates", {}) == {}  # control

    hn.ledger.erase_data(EraseData(**ctx(HN_WORKER), case_id=at_hn, requested_by="Rosa Chávez"))
    hn.relay.run_once()
    for finder in finders.values():
        finder.read()
        assert finder.store.get("HN", str(at_hn)) is None
        assert finder.store.get("MX", str(at_mx)) is not None  # control
    assert hn.relay.linkage is not None and hn.relay.linkage.store.get("HN", str(at_hn)) is None
    for finder in finders.values():
        finder.close()


def test_a_disclosure_approved_at_hn_grants_mx_the_common_tier_key_only(network: dict[str, Node]) -> None:
    import uuid

    from ledger.linkage_case import DecideDisclosure, RequestDisclosure
    from tests.unit.test_linkage_publishing import HN_DESIGNATED, MX_DESIGNATED, grants_of

    hn, mx = network["HN"], network["MX"]
    at_hn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    at_mx = mx.ledger.report_missing_person(same_person(MX_WORKER, "HN"))
    for node in (hn, mx):
        node.relay.run_once()
    finders = {c: linkage_finder(n, parse(rules())) for c, n in network.items()}
    for finder in finders.values():
        finder.run_once()
    request = str(uuid.uuid4())
    mx.ledger.request_disclosure(
        RequestDisclosure(
            **ctx(MX_DESIGNATED), case_id=at_mx, request=request, other_origin="HN", other_case_id=str(at_hn)
        )
    )
    mx.relay.run_once()
    finders["HN"].read()
    assert finders["HN"].requests[request].case_id == str(at_hn)
    assert not any("MX" in r for r in grants_of(hn, f"{at_hn}/").values())  # control: not before
    hn.ledger.decide_disclosure(
        DecideDisclosure(
            **ctx(HN_DESIGNATED),
            case_id=at_hn,
            request=request,
            requester_origin="MX",
            requester_case_id=str(at_mx),
            decision="approved",
        )
    )
    hn.relay.run_once()
    grants = grants_of(hn, f"{at_hn}/")
    common = sorted(k for k in grants if "/common/" in k)
    assert common and "MX" in grants[common[-1]]
    assert not any("MX" in r for k, r in grants.items() if "/common/" not in k)
    # MX's views (PostgreSQL) now hold the HN case's common tier, nothing reserved, and the same
    # after a rebuild from zero; MX's own organisations read it to search.
    mx.sync("MX")
    views = mx.views("MX")
    row = views.rows([str(at_hn)])[str(at_hn)]
    assert (row.given_names, row.first_surname, row.disclosed) == ("Wilmer Josué", "Hernández", True)
    shown = " ".join(e.shown for e in views.timeline(str(at_hn)))
    assert "Wilmer" in shown and "5555" not in shown and "circumstances" not in shown
    from services.caller_view import CallerView

    raw = rules()
    raw["agreements"][0]["members"] = ["search_commission"]  # HN -> MX: who at MX reads a disclosure
    assert CallerView(views, parse(raw), MX_DESIGNATED.organisation, "search").case(row).given_names
    assert CallerView(views, parse(raw), MX_WORKER.organisation, "search").case(row).given_names is None
    digest = views.digest()
    mx.projector("MX").rebuild()
    assert views.digest() == digest
    for finder in finders.values():
        finder.close()
