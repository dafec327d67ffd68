"""Matches and identifications need two people (issue 12, item 7): the proposer never confirms,
a secondary basis needs two reviewers, a confirmed match can be revised and its identification
reopens, several remains identify one case, and remains at another node are identified there."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from ledger.application import CaseLedger
from ledger.commands import Actor, CloseCase, ConfirmIdentification, ReopenCase
from ledger.errors import RuleBroken
from ledger.forensic_commands import (
    IdentifyRemains,
    ProposeMatch,
    RecordRemainsRecovered,
    ReopenIdentification,
    ReviewMatch,
    ReviseMatch,
)
from ledger.remains import UnidentifiedRemains
from ledger.values import Place
from ledger.vocabulary import CaseStatus
from tests.factories import FAMILY, FORENSIC, REVIEWER, ctx, report

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
FI = "forensic_identification"
COMMISSION = Actor("Comisión Forense de Migrantes", "commissioner")


def node(origin: str = "MX", **kwargs: object) -> CaseLedger:
    return CaseLedger(origin, env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def ledger() -> CaseLedger:
    return node()


def new_case(ledger: CaseLedger) -> UUID:
    return ledger.report_missing_person(report(consented_purposes=("search", FI, "family_support")))


def new_remains(ledger: CaseLedger) -> UUID:
    return ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(FORENSIC, FI), recovered_on="2026-04-02", place=Place("MX"), context="desert"
        )
    )


def propose(ledger: CaseLedger, case_id: UUID, remains_id: UUID, basis: str = "dna") -> UUID:
    return ledger.propose_match(
        ProposeMatch(**ctx(FORENSIC, FI), case_id=case_id, remains_id=remains_id, basis=basis, score=0.99)
    )


def review(ledger: CaseLedger, match: UUID, by: Actor = REVIEWER, outcome: str = "confirmed") -> int:
    return ledger.review_match(ReviewMatch(**ctx(by, FI), match_id=match, outcome=outcome))


def identify(ledger: CaseLedger, case_id: UUID, match: UUID) -> int:
    return ledger.confirm_identification(
        ConfirmIdentification(**ctx(FORENSIC, FI), case_id=case_id, match_id=match)
    )


def revise(ledger: CaseLedger, match: UUID, by: Actor = REVIEWER) -> int:
    return ledger.revise_match(ReviseMatch(**ctx(by, FI), match_id=match, reason="the profile was mixed up"))


def names(ledger: CaseLedger, aggregate_id: UUID) -> list[str]:
    return [type(e).__name__ for e in ledger.repository.event_store.get(aggregate_id)]


def test_the_organisation_that_proposed_a_match_cannot_confirm_it(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    match = propose(ledger, case_id, new_remains(ledger))
    with pytest.raises(RuleBroken, match=r"recorded_by\.organisation: the organisation that proposed"):
        review(ledger, match, by=FORENSIC)
    with pytest.raises(RuleBroken, match=r"recorded_by\.organisation"):  # another person, same organisation
        review(ledger, match, by=Actor(FORENSIC.organisation, "geneticist"))
    assert names(ledger, match) == ["MatchProposed"]
    review(ledger, match)  # another organisation
    identify(ledger, case_id, match)
    assert ledger.get_case(case_id).status == CaseStatus.IDENTIFIED_DECEASED


def test_a_match_without_a_primary_identifier_needs_two_reviewers(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    match = propose(ledger, case_id, new_remains(ledger), basis="personal_effects")
    review(ledger, match)
    with pytest.raises(
        RuleBroken, match=r"match_id: the match rests on personal_effects.*primary identifier"
    ):
        identify(ledger, case_id, match)
    with pytest.raises(RuleBroken, match=r"recorded_by\.organisation: this organisation confirmed"):
        review(ledger, match)  # the same reviewer twice is one reviewer
    assert ledger.get_case(case_id).status == CaseStatus.MISSING
    review(ledger, match, by=COMMISSION)
    identify(ledger, case_id, match)
    assert ledger.get_case(case_id).status == CaseStatus.IDENTIFIED_DECEASED
    with pytest.raises(RuleBroken, match="already confirmed"):
        review(ledger, match, by=Actor("Otra institución", "forensic_expert"))


def test_a_second_reviewer_may_reject_what_the_first_confirmed(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    match = propose(ledger, case_id, new_remains(ledger), basis="anthropological")
    review(ledger, match)
    review(ledger, match, by=COMMISSION, outcome="rejected")
    with pytest.raises(RuleBroken, match="rejected, not confirmed"):
        identify(ledger, case_id, match)


@pytest.mark.parametrize("basis", ["dna", "fingerprints", "dental"])
def test_a_primary_identifier_confirmed_by_another_organisation_identifies(
    ledger: CaseLedger, basis: str
) -> None:
    case_id = new_case(ledger)
    match = propose(ledger, case_id, new_remains(ledger), basis=basis)
    review(ledger, match)
    identify(ledger, case_id, match)
    assert ledger.get_case(case_id).status == CaseStatus.IDENTIFIED_DECEASED


def test_a_revised_match_reopens_the_identification_and_the_person_is_missing_again(
    ledger: CaseLedger,
) -> None:
    case_id, remains = new_case(ledger), new_remains(ledger)
    match = propose(ledger, case_id, remains)
    with pytest.raises(RuleBroken, match="match_id: only a confirmed match is revised"):
        revise(ledger, match)
    review(ledger, match)
    identify(ledger, case_id, match)
    with pytest.raises(RuleBroken, match=r"recorded_by\.role"):
        ledger.revise_match(ReviseMatch(**ctx(purpose=FI), match_id=match, reason="a caseworker doubts it"))
    revise(ledger, match)
    assert names(ledger, match)[-1] == "MatchRevised"
    assert names(ledger, case_id)[-1] == "IdentificationRevised"
    assert names(ledger, remains)[-1] == "RemainsIdentificationRevised"
    case = ledger.get_case(case_id)
    assert case.status == CaseStatus.MISSING and case.identification is None
    assert ledger.repository.get(remains).identified_as is None
    with pytest.raises(RuleBroken, match="not confirmed"):
        identify(ledger, case_id, match)
    with pytest.raises(RuleBroken, match="already revised"):
        review(ledger, match, by=COMMISSION)
    # The remains can be identified again, through a new match.
    again = propose(ledger, case_id, remains)
    review(ledger, again)
    identify(ledger, case_id, again)
    assert ledger.get_case(case_id).status == CaseStatus.IDENTIFIED_DECEASED


def test_a_revision_of_a_closed_case_leaves_it_closed_and_a_reopening_finds_the_person_missing(
    ledger: CaseLedger,
) -> None:
    case_id = new_case(ledger)
    match = propose(ledger, case_id, new_remains(ledger))
    review(ledger, match)
    identify(ledger, case_id, match)
    ledger.close_case(CloseCase(**ctx(FAMILY), case_id=case_id, reason="identified_deceased"))
    revise(ledger, match)
    assert ledger.get_case(case_id).status == CaseStatus.CLOSED
    ledger.reopen_case(ReopenCase(**ctx(FAMILY), case_id=case_id, reason="the match was revised"))
    assert ledger.get_case(case_id).status == CaseStatus.MISSING


def test_several_remains_are_identified_to_one_case(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    skull, femur = new_remains(ledger), new_remains(ledger)
    first, second = propose(ledger, case_id, skull), propose(ledger, case_id, femur, basis="dental")
    for match in (first, second):
        review(ledger, match)
        identify(ledger, case_id, match)
    assert names(ledger, case_id).count("IdentificationConfirmed") == 2
    assert ledger.repository.get(femur).identified_as == str(case_id)
    duplicate = propose(ledger, case_id, skull)
    review(ledger, duplicate)
    with pytest.raises(RuleBroken, match="match_id: these remains are already identified to this case"):
        identify(ledger, case_id, duplicate)
    revise(ledger, second)  # the femur is someone else's: she is still identified by the skull
    assert ledger.get_case(case_id).status == CaseStatus.IDENTIFIED_DECEASED
    assert ledger.repository.get(femur).identified_as is None
    revise(ledger, first)
    assert ledger.get_case(case_id).status == CaseStatus.MISSING


def test_remains_at_another_node_are_identified_there_and_only_once() -> None:
    """Remains held in Guatemala, matched there with a Mexican case: Mexico confirms the case's
    identification, Guatemala records the remains'; a second case (Honduras) is refused there."""
    gt = node("GT")
    mx, hn = node("MX", foreign_matches=gt.match_facts), node("HN", foreign_matches=gt.match_facts)
    remains = new_remains(gt)
    mexican, honduran = new_case(mx), new_case(hn)
    match = propose(gt, mexican, remains)
    review(gt, match)
    identify(mx, mexican, match)
    assert mx.get_case(mexican).status == CaseStatus.IDENTIFIED_DECEASED
    assert gt.repository.get(remains).identified_as is None  # Mexico cannot write on Guatemala's remains
    gt.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    held: UnidentifiedRemains = gt.repository.get(remains)
    assert held.identified_as == str(mexican)
    other = propose(gt, honduran, remains)
    review(gt, other)
    with pytest.raises(RuleBroken, match="already identified"):
        gt.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=other))
    assert gt.repository.get(remains).identified_as == str(mexican)


def test_remains_are_identified_at_their_node_only_through_a_match_that_identifies() -> None:
    gt = node("GT")
    remains, elsewhere = new_remains(gt), new_remains(gt)
    case_id = new_case(node("MX"))
    match = propose(gt, case_id, remains, basis="circumstantial")
    with pytest.raises(RuleBroken, match="not reviewed, not confirmed"):
        gt.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    review(gt, match)
    with pytest.raises(RuleBroken, match="primary identifier"):
        gt.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    review(gt, match, by=COMMISSION)
    with pytest.raises(RuleBroken, match="does not name these remains"):
        gt.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=elsewhere, match_id=match))
    gt.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    assert names(gt, remains)[-1] == "RemainsIdentified"


def test_a_revision_at_the_matchs_node_is_recorded_at_the_case_and_remains_nodes() -> None:
    """The match and remains in Guatemala, the case in Mexico: each node reopens what it holds,
    and only once the match was revised."""
    gt = node("GT")
    mx = node("MX", foreign_matches=gt.match_facts)
    gt.foreign_matches = mx.match_facts
    remains, case_id = new_remains(gt), new_case(mx)
    match = propose(gt, case_id, remains)
    review(gt, match)
    identify(mx, case_id, match)
    gt.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    reopen = ReopenIdentification(
        **ctx(REVIEWER, FI), case_id=case_id, match_id=match, reason="revised in GT"
    )
    with pytest.raises(RuleBroken, match="match_id: the match was not revised"):
        mx.reopen_identification(reopen)
    revise(gt, match)
    # Guatemala held the remains: its revision reopened them in the same transaction.
    assert names(gt, remains)[-1] == "RemainsIdentificationRevised"
    assert mx.get_case(case_id).status == CaseStatus.IDENTIFIED_DECEASED  # Mexico records its own
    mx.reopen_identification(reopen)
    assert mx.get_case(case_id).status == CaseStatus.MISSING
    assert names(mx, case_id)[-1] == "IdentificationRevised"
    with pytest.raises(RuleBroken, match="match_id: no identification of this case rests on that match"):
        mx.reopen_identification(
            ReopenIdentification(**ctx(REVIEWER, FI), case_id=case_id, match_id=match, reason="again")
        )
