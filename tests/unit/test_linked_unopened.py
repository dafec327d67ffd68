"""A match whose forensic tier a node cannot open still links its record to a case, one these
views cannot name (issue 12, item 3): at such a node the match answers to the strictest
reading (nothing above public, the month for its instant), never to its own rules alone, since
the case it names may be a minor's, withheld, or without consent for the reader's purpose."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.commands import Actor
from ledger.forensic_commands import ProposeMatch, RecordRemainsRecovered
from ledger.values import Place
from projections.linked import JurisdictionReading, refused_by_links
from projections.views import UNKNOWN_CASE, Link
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import ctx, report
from tests.network import keyed

EXPERT = Actor("mx-semefo-chiapas", "forensic_expert")
FI = "forensic_identification"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    # The sample rules without Guatemala's forensic institute's agreement: nothing entitles an
    # organisation at Guatemala's node to the match's forensic tier, so the node holds no key for it.
    text = SAMPLE_POLICY.read_text(encoding="utf-8")
    start = text.index('[[agreements]]\nid = "mx-cases-to-gt-inacif"')
    end = text.index("[[agreements]]", start + 1)
    policy = tmp_path / "rules.toml"
    policy.write_text(text[:start] + text[end:], encoding="utf-8")
    network = keyed(
        {c: Settings(node=c, data_dir=tmp_path, access_rules=policy) for c in ("MX", "GT")},
        tmp_path / "keys",
    )
    mx, gt = build_node(network["MX"]), build_node(network["GT"])
    yield mx, gt
    gt.close()
    mx.close()


def matched(mx: Node, date_of_birth: str) -> tuple[UUID, UUID, UUID]:
    """A Guatemalan's case at Mexico's node, remains, and a match between them."""
    case = mx.ledger.report_missing_person(
        report(nationalities=("GT",), date_of_birth=date_of_birth, consented_purposes=("search", FI))
    )
    remains = mx.ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(EXPERT, FI), recovered_on="2026-06-01", place=Place("MX", "Huixtla"), context="desert"
        )
    )
    match = mx.ledger.propose_match(
        ProposeMatch(**ctx(EXPERT, FI), case_id=case, remains_id=remains, basis="dental", score=0.8)
    )
    return case, remains, match


def test_a_match_a_node_cannot_open_shows_nothing_above_public_there(nodes: tuple[Node, Node]) -> None:
    mx, gt = nodes
    child, _, match = matched(mx, "2012-04-04")
    mx.relay.run_once()
    gt.sync("GT")
    mx.sync("MX")
    views = gt.views("GT")
    (held,) = views.forensic("Match")
    assert "forensic" in held.withheld, "the setting: Guatemala's node holds no key for the link"
    assert views.links([str(match)]) == [Link(str(match), UNKNOWN_CASE, "case")]
    every = {"common", "reserved", "forensic"}
    assert refused_by_links(views, [str(match)], "search", lambda *_: True) == {str(match): every}
    (shown,) = JurisdictionReading(views).forensic("Match")
    assert "common" in shown.withheld and shown.status == "proposed"
    assert re.fullmatch(r"\d{4}-\d\d-01 00:00:00\+00:00", str(shown.recorded_at)), shown.recorded_at
    timeline = JurisdictionReading(views).timeline(str(match))
    assert timeline and all(e.occurred_at.day == 1 and e.shown == "{}" for e in timeline)
    # Control: Mexico's node opens the match and links it to the child's case itself.
    assert mx.views("MX").links([str(match)]) == [Link(str(match), str(child), "case")]
