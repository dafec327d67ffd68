"""Ante-mortem / post-mortem candidates wired into a node (#14, items 5 and 6), on embedded
nodes of Mexico and Honduras sharing one log: Mexico's forensic institute compares its
remains with Honduras's cases under `hn-cases-to-mx-semefo`, and with nothing the agreements
keep from it; each candidate read is recorded; candidates at the threshold are proposed once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.commands import Actor, AddComprehensiveData
from ledger.errors import NotFound
from ledger.forensic_commands import RecordPostMortem, RecordRemainsRecovered
from ledger.match import Match
from ledger.values import AgeRange, Effect, FoundDocument, Mark, Place, Tooth
from services.bootstrap import Node, build_node
from services.candidates import CandidatesRefused, listed
from services.candidates_am_pm import AmPmCandidates, command_id_for
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import ctx, report
from tests.network import keyed
from topics.mapping import open_record

INSTITUTE = "mx-semefo-chiapas"
EXPERT = Actor(INSTITUTE, "forensic_expert")
FAMILIES = Actor("hn-cofamipro", "caseworker")
FORENSIC = "forensic_identification"
KEYS = ["kind", "left", "right", "left_ref", "right_ref", "score", "explanation"]


def settings(tmp_path: Path, country: str, **more: Any) -> Settings:
    return Settings(node=country, data_dir=tmp_path, access_rules=SAMPLE_POLICY, **more)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """Mexico's and Honduras's nodes on one embedded log."""
    network = keyed({c: settings(tmp_path, c) for c in ("MX", "HN")}, tmp_path / "keys")
    mx, hn = build_node(network["MX"]), build_node(network["HN"])
    yield mx, hn
    hn.close()
    mx.close()


def honduran(hn: Node, purposes: tuple[str, ...] = ("search", FORENSIC), **person: Any) -> str:
    """A Honduran man last seen in Tapachula, with his family's description of him."""
    fields: dict[str, Any] = {
        "given_names": "José Luis",
        "first_surname": "Hernández",
        "second_surname": "Mejía",
        "sex": "male",
        "date_of_birth": "1994-03-12",
        "nationalities": ("HN",),
        "last_seen_date": "2026-05-01",
        "last_seen_place": "Tapachula, Chiapas",
        "recorded_by": FAMILIES,
        "consented_purposes": purposes,
        **person,
    }
    case_id = hn.ledger.report_missing_person(report(**fields))
    hn.ledger.add_comprehensive_data(
        AddComprehensiveData(
            **ctx(FAMILIES, "search"),
            case_id=case_id,
            stature_cm=(165, 170),
            hair="black",
            body_marks=(Mark("tattoo", "left_forearm", "una rosa"),),
            teeth=(Tooth(11, "gold"),),
            effects=(Effect("jeans", "blue", "Levi's"),),
        )
    )
    return str(case_id)


def remains(mx: Node, document: str = "José Luis Hernández") -> str:
    """Remains found near the route a month after he was last seen, described alike."""
    remains_id = mx.ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(EXPERT, FORENSIC),
            recovered_on="2026-06-01",
            place=Place(country="MX", place="Huixtla, Chiapas"),
            context="road",
        )
    )
    mx.ledger.record_post_mortem(
        RecordPostMortem(
            **ctx(EXPERT, FORENSIC),
            remains_id=remains_id,
            sex="male",
            condition="decomposed",
            age_range=AgeRange(27, 36),
            stature_cm=(164, 170),
            hair="black",
            body_marks=(Mark("tattoo", "left_forearm", "rosa"),),
            teeth=(Tooth(11, "gold"),),
            effects=(Effect("jeans", "blue", "Levis"),),
            documents_found=(FoundDocument("national_id", document, None, "HN"),),
            time_since_death_days=(10, 40),
        )
    )
    return str(remains_id)


def synced(mx: Node, hn: Node) -> None:
    hn.relay.run_once()
    mx.sync("MX")


def proposals(mx: Node) -> list[Any]:
    """Every match proposed at Mexico's node, from its event store."""
    found = []
    for item in mx.ledger.recorder.select_notifications(1, 100_000):
        if item.topic.endswith("Match.MatchProposed"):
            found.append(mx.ledger.repository.get(item.originator_id))
    return found


def test_mexicos_institute_finds_the_honduran_case_and_nothing_the_agreements_keep_from_it(
    nodes: tuple[Node, Node],
) -> None:
    mx, hn = nodes
    jose = honduran(hn)
    sister = honduran(hn, given_names="Rosa", sex="female")  # the control: excluded by sex
    search_only = honduran(hn, given_names="José Luis", purposes=("search",))  # no forensic consent
    found_id = remains(mx)
    synced(mx, hn)
    finder = AmPmCandidates(mx, _rules())
    found = finder.for_remains("MX", found_id, EXPERT, FORENSIC, 0.0, "cli")
    assert [c.right for c in found][:1] == [jose]
    assert sister not in {c.right for c in found}, "a woman's case is never a man's remains"
    assert search_only not in {c.right for c in found}, "the family did not consent to forensic use"
    shown = listed(found[0], "am_pm")
    assert list(shown) == KEYS and shown["kind"] == "am_pm" and shown["left"] == found_id
    assert shown["left_ref"] is None and shown["right_ref"] is None and 0.9 <= shown["score"] <= 1
    fields = {e["field"] for e in shown["explanation"]}
    assert {"sex", "marks", "dental", "effects", "names"} <= fields
    # The same institute asking to search (not for forensic identification) compares nothing:
    # Honduras shares only names with Mexico's node to search.
    assert finder.for_remains("MX", found_id, EXPERT, "search", 0.0, "cli") == []
    # The reads are recorded at Mexico's node for José's case.
    reads = mx.ledger.reads_of(uuid.UUID(jose))
    assert any(r.outcome == "granted" and "forensic" in r.tiers and found_id in r.reason for r in reads)
    assert mx.ledger.reads_of(uuid.UUID(sister)) == []


def _rules() -> Any:
    from ledger.access_rules import load

    return load(SAMPLE_POLICY)


def test_the_candidate_above_the_threshold_is_proposed_once_with_its_explanation(
    nodes: tuple[Node, Node],
) -> None:
    mx, hn = nodes
    jose = honduran(hn)
    found_id = remains(mx)
    synced(mx, hn)
    finder = AmPmCandidates(mx, _rules())
    first = finder.for_remains("MX", found_id, EXPERT, FORENSIC, 0.0, "cli")
    again = finder.batch("MX", EXPERT, FORENSIC, 0.0, "cli")
    assert {(c.left, c.right) for c in again} >= {(found_id, jose)}
    made = proposals(mx)
    assert len(made) == 1, "a rerun proposes nothing twice"
    match = made[0]
    assert (match.case_id, match.remains_id) == (jose, found_id)
    event = next(iter(mx.ledger.events.get(match.id)))
    assert isinstance(event, Match.MatchProposed) and event.by_matcher
    assert event.basis not in ("dna", "dental", "fingerprints"), "two organisations confirm the matcher's"
    assert event.explanation == [
        {"field": e.field, "comparison": e.comparison, "weight": e.weight} for e in first[0].explanation
    ]
    # On the log: MatchProposed v5, its forensic tier (with the explanation) sealed.
    mx.relay.run_once()
    on_log = [
        open_record(mx.registry, mx.data_keys, mx.registry.decode(r.value))
        for r in read_all(mx.event_log, mx.catalogue.events("MX").name)
        if r.header("event_type") == b"MatchProposed"
    ]
    assert [o.plain["by_matcher"] for o in on_log] == [True] and "forensic" in on_log[0].tiers
    assert [e["field"] for e in on_log[0].plain["explanation"]] == [e.field for e in first[0].explanation]
    assert "explanation" not in on_log[0].public


def test_below_the_threshold_a_candidate_is_listed_not_proposed(tmp_path: Path) -> None:
    network = keyed({c: settings(tmp_path, c, match_threshold=1.0) for c in ("MX", "HN")}, tmp_path / "keys")
    mx, hn = build_node(network["MX"]), build_node(network["HN"])
    try:
        jose = honduran(hn)
        found_id = remains(mx)
        synced(mx, hn)
        found = AmPmCandidates(mx, _rules()).for_remains("MX", found_id, EXPERT, FORENSIC, 0.0, "cli")
        assert found[0].right == jose and found[0].score < 1.0
        assert proposals(mx) == []
    finally:
        hn.close()
        mx.close()


def test_a_run_killed_midway_and_run_again_proposes_each_pair_once(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    mx, hn = nodes
    honduran(hn)
    honduran(hn, given_names="José Luis", second_surname="Cruz", date_of_birth="1993-01-01")
    honduran(hn, given_names="Luis", first_surname="Hernández", date_of_birth="1992-06-06")
    for _ in range(2):
        remains(mx)
    synced(mx, hn)
    finder = AmPmCandidates(mx, _rules())
    finder.threshold = 0.0  # every candidate is a proposal: many pairs
    propose = mx.ledger.propose_match
    made: list[str] = []

    class Killed(Exception):
        pass

    def killed_after_two(command: Any) -> Any:
        if len(made) == 2:
            raise Killed
        made.append(command.command_id)
        return propose(command)

    monkeypatch.setattr(mx.ledger, "propose_match", killed_after_two)
    with pytest.raises(Killed):
        finder.batch("MX", EXPERT, FORENSIC, 0.0, "cli")
    monkeypatch.setattr(mx.ledger, "propose_match", propose)
    assert len(proposals(mx)) == 2
    listed_pairs = {(c.left, c.right) for c in finder.batch("MX", EXPERT, FORENSIC, 0.0, "cli")}
    finder.batch("MX", EXPERT, FORENSIC, 0.0, "cli")
    pairs = [(m.remains_id, m.case_id) for m in proposals(mx)]
    assert len(pairs) == len(set(pairs)) == len(listed_pairs) > 2
    assert set(pairs) == listed_pairs
    assert {m.id for m in proposals(mx)} == {
        _match_id(mx, remains_id, case_id) for remains_id, case_id in listed_pairs
    }


def _match_id(mx: Node, remains_id: str, case_id: str) -> uuid.UUID:
    from ledger.match import match_id_for

    return match_id_for("MX", command_id_for(remains_id, case_id))


def test_bad_asks_are_refused_naming_what_is_wrong(nodes: tuple[Node, Node]) -> None:
    mx, hn = nodes
    jose = honduran(hn)
    found_id = remains(mx)
    synced(mx, hn)
    finder = AmPmCandidates(mx, _rules())
    with pytest.raises(NotFound, match="remains"):
        finder.for_remains("MX", str(uuid.uuid4()), EXPERT, FORENSIC, 0.0, "cli")
    with pytest.raises(NotFound, match="case"):
        finder.for_case("MX", str(uuid.uuid4()), EXPERT, FORENSIC, 0.0, "cli")
    with pytest.raises(CandidatesRefused, match="forensic roles"):
        finder.for_remains("MX", found_id, Actor("mx-fiscalia-migrantes", "caseworker"), FORENSIC, 0.0, "cli")
    # The shelter's caseworker asking about José's case: refused, and the refusal recorded.
    shelter = Actor("mx-casa-migrante-tapachula", "caseworker")
    with pytest.raises(CandidatesRefused):
        finder.for_case("MX", jose, shelter, "search", 0.0, "cli")
    # A forensic expert of an institute with no agreement for Honduras's forensic tier.
    gt = Actor("gt-inacif", "forensic_expert")
    with pytest.raises(CandidatesRefused, match="refused and recorded"):
        finder.for_case("MX", jose, gt, FORENSIC, 0.0, "cli")
    refused = [r for r in mx.ledger.reads_of(uuid.UUID(jose)) if r.outcome == "refused"]
    assert {r.recorded_by["organisation"] for r in refused} == {shelter.organisation, gt.organisation}
    # The control: the institute under its agreement reads it, and finds the remains.
    found = finder.for_case("MX", jose, EXPERT, FORENSIC, 0.0, "cli")
    assert [(c.left, c.right) for c in found] == [(found_id, jose)]
