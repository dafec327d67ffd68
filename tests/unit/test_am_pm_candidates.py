"""Ante-mortem / post-mortem candidates wired into a node (#14, items 5 and 6), on embedded
nodes of Mexico and Honduras sharing one log: Mexico's forensic institute compares its
remains with Honduras's cases under `hn-cases-to-mx-semefo`, and with nothing the agreements
keep from it; each candidate read is recorded; candidates at the threshold are proposed once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from ledger.access_rules import SAMPLE_POLICY
from ledger.commands import Actor, AddComprehensiveData
from ledger.errors import NotFound
from ledger.forensic_commands import RecordPostMortem, RecordRemainsRecovered
from ledger.match import Match
from ledger.values import AgeRange, Effect, FoundDocument, Mark, Place, Tooth
from ledger.vocabulary import MATCH_BASES, PRIMARY_IDENTIFIERS
from projections.duplicates import Candidate, Explained
from services.bootstrap import Node, build_node
from services.candidates import CandidatesRefused, listed
from services.candidates_am_pm import AmPmCandidates, basis_of, command_id_for
from services.http.app import create_app
from services.reading import CaseReading
from services.settings import Settings
from services.tokens import TokenStore
from tests.contracts.test_event_log_contract import read_all
from tests.factories import ctx, report
from tests.infrastructure import cli_env
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
    refugee = honduran(hn, withheld_from_countries=("MX",))  # never shared with Mexico
    found_id = remains(mx)
    synced(mx, hn)
    finder = AmPmCandidates(mx, _rules())
    found = finder.for_remains("MX", found_id, EXPERT, FORENSIC, 0.0, "cli")
    assert [c.right for c in found][:1] == [jose]
    assert sister not in {c.right for c in found}, "a woman's case is never a man's remains"
    assert search_only not in {c.right for c in found}, "the family did not consent to forensic use"
    assert refugee not in {c.right for c in found}, "a case withheld from Mexico is not compared there"
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
    # ... and show on the family's "who read" list at Honduras's node.
    mx.relay.run_once()
    hn.sync("HN")
    dossier = CaseReading(hn, _rules()).consult(uuid.UUID(jose), Actor("hn-cofamipro", "family_member"))
    abroad = [r for r in dossier.reads if r.organisation == INSTITUTE]
    assert abroad and all(r.interface == "cli at MX" and r.tiers == ("forensic",) for r in abroad)
    assert found_id in abroad[0].reason
    sisters = CaseReading(hn, _rules()).consult(uuid.UUID(sister), Actor("hn-cofamipro", "family_member"))
    assert not [r for r in sisters.reads if r.organisation == INSTITUTE]


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


def cli_settings(node: Node) -> dict[str, str]:
    """A node's settings as the CLI reads them from the environment."""
    s = node.settings
    assert s.master_key is not None and s.key_registry is not None
    return {
        "CASELEDGER_NODE": s.node,
        "CASELEDGER_DATA_DIR": str(s.data_dir),
        "CASELEDGER_ACCESS_RULES": str(s.access_rules),
        "CASELEDGER_NODE_KEY": str(s.node_key),
        "CASELEDGER_RECIPIENT_KEY": str(s.recipient_key),
        "CASELEDGER_MASTER_KEY": s.master_key.get_secret_value(),
        "CASELEDGER_KEY_REGISTRY": str(s.key_registry),
    }


def test_the_api_and_the_command_line_give_the_same_objects(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    mx, hn = nodes
    jose = honduran(hn)
    found_id = remains(mx)
    synced(mx, hn)
    tokens = TokenStore(tmp_path / "api-tokens.json")
    api = TestClient(create_app(mx, tokens, catch_up=True))

    def bearer(organisation: str, role: str, purpose: str = FORENSIC) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.issue(organisation, role, None)[0]}", "X-Purpose": purpose}

    expert = bearer(INSTITUTE, "forensic_expert")
    of_remains = api.get(f"/remains/{found_id}/candidates", headers=expert)
    assert of_remains.status_code == 200, of_remains.text
    [first] = [c for c in of_remains.json() if c["right"] == jose]
    assert list(first) == KEYS and first["kind"] == "am_pm" and first["left"] == found_id
    of_case = api.get(f"/cases/{jose}/candidates?kind=am_pm&min_score=0.5", headers=expert).json()
    assert [(c["left"], c["right"]) for c in of_case] == [(found_id, jose)]
    batch = api.get("/candidates?kind=am_pm", headers=expert).json()
    assert (found_id, jose) in {(c["left"], c["right"]) for c in batch}
    done = subprocess.run(
        [
            *(sys.executable, "-c", "from services.cli import run; run()", "candidates", "--kind", "am_pm"),
            *("--as", INSTITUTE, "--role", "forensic_expert", "--purpose", FORENSIC, "--remains", found_id),
            "--json",
        ],
        env=cli_env(**cli_settings(mx)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == of_remains.json()
    # Bad asks: a clear error naming the field, nothing recorded lost.
    too_high = api.get(f"/remains/{found_id}/candidates?min_score=1.5", headers=expert)
    assert too_high.status_code == 422 and too_high.json()["detail"][0]["loc"] == ["query", "min_score"]
    unknown = api.get(f"/remains/{uuid.uuid4()}/candidates", headers=expert)
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["loc"] == ["path", "remains_id"]
    # The genetic laboratory reads Honduras's profiles, not its forensic tier: refused, recorded.
    laboratory = bearer("mx-lab-genetica", "geneticist")
    refused = api.get(f"/cases/{jose}/candidates?kind=am_pm", headers=laboratory)
    assert refused.status_code == 403 and "refused and recorded" in refused.json()["detail"]
    assert api.get(f"/remains/{found_id}/candidates", headers=laboratory).json() == []
    shelter = api.get(
        f"/remains/{found_id}/candidates", headers=bearer("mx-casa-migrante-tapachula", "caseworker")
    )
    assert shelter.status_code == 403 and "forensic roles only" in shelter.json()["detail"]
    reads = mx.ledger.reads_of(uuid.UUID(jose))
    assert {(r.recorded_by["organisation"], r.outcome) for r in reads} == {
        (INSTITUTE, "granted"),
        ("mx-lab-genetica", "refused"),
    }


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["sex", "age", "stature", "marks", "dental", "effects", "names", "time", "place"]
            ),
            st.floats(-20, 20, allow_nan=False),
        ),
        max_size=12,
    ),
    st.floats(0, 1),
)
def test_the_matcher_never_proposes_on_a_primary_identifier(
    weights: list[tuple[str, float]], score: float
) -> None:
    """Dental charts compared by a program are not an odontologist's identification: whatever
    weighs most, the basis leaves the identification to two organisations' reviews."""
    candidate = Candidate("r", "c", score, tuple(Explained(f, "outcome", w) for f, w in weights))
    assert basis_of(candidate) in set(MATCH_BASES) - set(PRIMARY_IDENTIFIERS)


@pytest.mark.parametrize(("threshold", "refused"), [("1.5", True), ("-0.1", True), ("0.8", False)])
def test_a_threshold_out_of_range_is_refused_naming_the_setting(
    tmp_path: Path, threshold: str, refused: bool
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", "candidates", "--as", "MX", "--json"],
        env=cli_env(CASELEDGER_DATA_DIR=str(tmp_path / "data"), CASELEDGER_MATCH_THRESHOLD=threshold),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr
    if refused:
        assert done.returncode == 2 and "CASELEDGER_MATCH_THRESHOLD:" in done.stderr
    else:  # the control: in range, the command runs
        assert done.returncode == 0 and json.loads(done.stdout) == [], done.stderr
