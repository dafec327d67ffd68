"""Ante-mortem / post-mortem candidates across borders on real Kafka and PostgreSQL (#14,
items 5 and 6): Honduras's cases reach Mexico's forensic institute under
`hn-cases-to-mx-semefo` through the broker, their forensic tier opened with the key granted
to Mexico's node; the institute's candidate reads are recorded and show on the family's list
in Honduras; a rerun proposes nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.access_rules import SAMPLE_POLICY, load
from ledger.commands import Actor
from services.bootstrap import Node, build_node
from services.candidates import CandidatesRefused
from services.candidates_am_pm import AmPmCandidates
from services.reading import CaseReading
from services.settings import Settings
from tests.network import keyed
from tests.unit.test_am_pm_candidates import EXPERT, FORENSIC, INSTITUTE, honduran, proposals, remains

pytestmark = pytest.mark.integration


@pytest.fixture
def nodes(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> Iterator[tuple[Node, Node]]:
    base = {
        c: Settings(
            node=c,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"ampm{unique}.",
            data_dir=tmp_path / c,
            access_rules=SAMPLE_POLICY,
        )
        for c in ("MX", "HN")
    }
    built = {c: build_node(s) for c, s in keyed(base, tmp_path / "keys").items()}
    yield built["MX"], built["HN"]
    for node in built.values():
        node.close()


def test_mexicos_institute_matches_honduran_cases_through_the_broker(nodes: tuple[Node, Node]) -> None:
    mx, hn = nodes
    rules = load(SAMPLE_POLICY)
    jose = honduran(hn)
    sister = honduran(hn, given_names="Rosa", sex="female")
    found_id = remains(mx)
    hn.relay.run_once()
    mx.sync("MX")
    finder = AmPmCandidates(mx, rules)
    found = finder.for_remains("MX", found_id, EXPERT, FORENSIC, 0.0, "http")
    assert found[0].right == jose and found[0].score >= mx.settings.match_threshold
    assert sister not in {c.right for c in found}
    # The control: to search, Honduras shares names, not its forensic tier.
    assert finder.for_remains("MX", found_id, EXPERT, "search", 0.0, "http") == []
    with pytest.raises(CandidatesRefused, match="refused and recorded"):
        finder.for_case("MX", jose, Actor("mx-lab-genetica", "geneticist"), FORENSIC, 0.0, "http")
    again = AmPmCandidates(mx, rules).batch("MX", EXPERT, FORENSIC, 0.0, "http")  # a new process, a rerun
    assert (found_id, jose) in {(c.left, c.right) for c in again}
    made = proposals(mx)
    assert [(m.remains_id, m.case_id) for m in made] == [(found_id, jose)]
    assert next(iter(mx.ledger.events.get(made[0].id))).explanation
    # Honduras's family sees the institute's reads, through the broker.
    mx.relay.run_once()
    hn.sync("HN")
    reads = CaseReading(hn, rules).consult(uuid.UUID(jose), Actor("hn-cofamipro", "family_member")).reads
    abroad = {(r.organisation, r.outcome) for r in reads if r.interface.endswith("at MX")}
    assert abroad == {(INSTITUTE, "granted"), ("mx-lab-genetica", "refused")}
