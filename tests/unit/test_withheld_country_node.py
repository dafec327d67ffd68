"""A case withheld from a country (a refugee's) leaves nothing at that country's node (issue 12,
item 7): the public tier of its events still travels on the shared topic, but the node that
was never granted the keys the agreements would have given it removes the case from its views
and passes over its events, so its organisations and the consulates reading there list, find,
count, follow and read nothing of it, whether it was withheld at the report or later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY, load
from ledger.commands import Actor, RecordSighting
from ledger.protection_commands import WithholdSharing
from ledger.values import Place
from projections.statistics import monthly
from services.bootstrap import Node, build_node
from services.feed import ConsularFeed
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import ctx, report
from tests.network import keyed

SHELTER = Actor("mx-casa-migrante-tapachula", "caseworker")
CONSENTED = {
    "consented_purposes": ("search", "family_support"),
    "consent_explained_by": "Casa del Migrante: Juan Ruiz",
    "consent_language": "es",
}


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """Mexico's and Guatemala's nodes on one embedded log."""
    network = keyed(
        {c: Settings(node=c, data_dir=tmp_path, access_rules=SAMPLE_POLICY) for c in ("MX", "GT")},
        tmp_path / "keys",
    )
    mx, gt = build_node(network["MX"]), build_node(network["GT"])
    yield mx, gt
    gt.close()
    mx.close()


def guatemalan(mx: Node, name: str, **more: object) -> UUID:
    return mx.ledger.report_missing_person(
        report(recorded_by=SHELTER, given_names=name, nationalities=("GT",), **CONSENTED, **more)
    )


def sighted(mx: Node, case_id: UUID) -> None:
    mx.ledger.record_sighting(
        RecordSighting(
            **ctx(SHELTER),
            case_id=case_id,
            seen_on="2026-05-01",
            place=Place("MX", "Arriaga"),
            source="witness",
        )
    )


def test_the_country_a_case_is_withheld_from_holds_nothing_of_it(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    mx, gt = nodes
    fled = guatemalan(mx, "Refugiada", withheld_from_countries=("GT",))
    later = guatemalan(mx, "Solicitante")
    control = guatemalan(mx, "Migrante")
    mx.sync("MX")
    gt.sync("GT")
    views = gt.views("GT")
    assert {r.case_id for r in views.cases()} == {str(later), str(control)}, "not even the public tier"
    assert views.timeline(str(fled)) == []
    assert views.chain_heads([str(fled)]), "its events were verified all the same"
    assert views.timeline(str(later)), "the control: a case withheld from nobody is there"

    # Withheld later: what the node held of it goes, and what comes after never enters.
    mx.ledger.withhold_sharing(
        WithholdSharing(**ctx(SHELTER), case_id=later, countries=("GT",), reason="asylum requested")
    )
    for case_id in (fled, later, control):
        sighted(mx, case_id)
    mx.sync("MX")
    gt.sync("GT")
    assert {r.case_id for r in views.cases()} == {str(control)}
    assert views.timeline(str(later)) == [] and views.timeline(str(fled)) == []
    assert [e.event_type for e in views.timeline(str(control))] == ["CaseReported", "SightingRecorded"]
    assert sum(int(c.cases or 0) for c in monthly(views)) <= 1, "statistics count the control only"
    assert len(monthly(views)) == 1

    # Its organisations (a forensic institute of Guatemala) list, search and follow nothing of it.
    tokens = TokenStore(tmp_path / "gt-tokens.json")
    api = TestClient(create_app(gt, tokens, catch_up=True))
    token, _ = tokens.issue("gt-inacif", "forensic_expert")
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
    listed = api.get("/cases", headers=headers)
    assert listed.status_code == 200 and [c["case_id"] for c in listed.json()] == [str(control)]
    for case_id in (fled, later):
        assert api.get(f"/timeline/{case_id}", headers=headers).status_code == 404
        assert str(case_id) not in api.get("/cases", params={"nationality": "GT"}, headers=headers).text

    # A consulate of that country reading at this node's log follows nothing of it either.
    items, _ = ConsularFeed(gt, load(SAMPLE_POLICY), "gt-consulado-tapachula").read(timeout_s=20)
    followed = {i.aggregate_id for i in items}
    assert str(control) in followed and not followed & {str(fled), str(later)}

    # At the origin, the case is there (its names through the audited read only).
    assert {str(fled), str(later), str(control)} <= {r.case_id for r in mx.views("MX").cases()}
