"""The field's rules, each with a test: never presumed dead, identification only through a
confirmed match, notification only after an outcome, consent per purpose, closed cases,
non-destructive links, custody chains, idempotent commands, optimistic concurrency."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.application import CaseLedger
from ledger.commands import (
    Actor,
    AddComprehensiveData,
    AmendData,
    CloseCase,
    ConfirmIdentification,
    EraseData,
    GrantConsent,
    LinkCases,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordSighting,
    ReopenCase,
    WithdrawConsent,
)
from ledger.errors import ConsentRequired, InvalidField, NotFound, RuleBroken, VersionConflict
from ledger.forensic_commands import (
    DestroySample,
    ProposeMatch,
    RecordPostMortem,
    RecordProfile,
    RecordRemainsRecovered,
    ReviewMatch,
    TakeSample,
    TransferSample,
)
from ledger.protection_commands import DetermineBestInterests
from ledger.values import AgeRange, Place
from ledger.vocabulary import CaseStatus
from tests.factories import FAMILY, FORENSIC, REVIEWER, ctx, report

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def new_case(ledger: CaseLedger, **changes: object) -> UUID:
    return ledger.report_missing_person(
        report(consented_purposes=("search", "forensic_identification", "family_support"), **changes)
    )


def confirmed_match(ledger: CaseLedger, case_id: UUID) -> tuple[UUID, UUID]:
    remains = ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(FORENSIC, "forensic_identification"),
            recovered_on="2026-04-02",
            place=Place("MX", "Altar, Sonora"),
            context="desert",
        )
    )
    match = ledger.propose_match(
        ProposeMatch(
            **ctx(FORENSIC, "forensic_identification"),
            case_id=case_id,
            remains_id=remains,
            basis="dna",
            score=0.9999,
        )
    )
    ledger.review_match(
        ReviewMatch(**ctx(REVIEWER, "forensic_identification"), match_id=match, outcome="confirmed")
    )
    return match, remains


def events_of(ledger: CaseLedger, aggregate_id: UUID) -> list[str]:
    return [type(e).__name__ for e in ledger.repository.event_store.get(aggregate_id)]


# ---------------------------------------------------------------- status


def test_a_case_starts_missing_and_no_status_presumes_death(ledger: CaseLedger) -> None:
    case = ledger.get_case(new_case(ledger))
    assert case.status == CaseStatus.MISSING
    assert {s.value for s in CaseStatus} == {"missing", "located_alive", "identified_deceased", "closed"}


def test_identification_needs_a_confirmed_match(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    remains = ledger.record_remains_recovered(
        RecordRemainsRecovered(**ctx(FORENSIC), recovered_on="2026-04-02", place=Place("MX"), context="river")
    )
    match = ledger.propose_match(
        ProposeMatch(
            **ctx(FORENSIC, "forensic_identification"),
            case_id=case_id,
            remains_id=remains,
            basis="dental",
            score=0.8,
        )
    )
    with pytest.raises(RuleBroken, match="not reviewed, not confirmed"):
        ledger.confirm_identification(
            ConfirmIdentification(**ctx(FORENSIC, "forensic_identification"), case_id=case_id, match_id=match)
        )
    ledger.review_match(
        ReviewMatch(
            **ctx(FORENSIC, "forensic_identification"), match_id=match, outcome="more_evidence_needed"
        )
    )
    with pytest.raises(RuleBroken, match="more_evidence_needed, not confirmed"):
        ledger.confirm_identification(
            ConfirmIdentification(**ctx(FORENSIC, "forensic_identification"), case_id=case_id, match_id=match)
        )
    assert ledger.get_case(case_id).status == CaseStatus.MISSING
    with pytest.raises(NotFound):
        ledger.confirm_identification(
            ConfirmIdentification(
                **ctx(FORENSIC, "forensic_identification"), case_id=case_id, match_id=uuid4()
            )
        )


def test_a_confirmed_match_identifies_the_case_and_the_remains_together(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    match, remains = confirmed_match(ledger, case_id)
    ledger.confirm_identification(
        ConfirmIdentification(**ctx(FORENSIC, "forensic_identification"), case_id=case_id, match_id=match)
    )
    assert ledger.get_case(case_id).status == CaseStatus.IDENTIFIED_DECEASED
    assert events_of(ledger, remains)[-1] == "RemainsIdentified"


def test_a_match_for_another_case_cannot_identify_this_one(ledger: CaseLedger) -> None:
    first, second = new_case(ledger), new_case(ledger)
    match, _ = confirmed_match(ledger, first)
    with pytest.raises(RuleBroken, match="does not name this case"):
        ledger.confirm_identification(
            ConfirmIdentification(**ctx(FORENSIC, "forensic_identification"), case_id=second, match_id=match)
        )


def test_only_forensic_or_commission_roles_confirm_a_match(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    remains = ledger.record_remains_recovered(
        RecordRemainsRecovered(**ctx(FORENSIC), recovered_on="2026-04-02", place=Place("MX"), context="sea")
    )
    match = ledger.propose_match(
        ProposeMatch(
            **ctx(FORENSIC, "forensic_identification"),
            case_id=case_id,
            remains_id=remains,
            basis="dna",
            score=0.99,
        )
    )
    with pytest.raises(RuleBroken, match=r"recorded_by\.role"):
        ledger.review_match(
            ReviewMatch(**ctx(purpose="forensic_identification"), match_id=match, outcome="confirmed")
        )


# ---------------------------------------------------------------- notification


def test_the_family_is_notified_only_after_an_outcome(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    with pytest.raises(RuleBroken, match="only after an identification or a location"):
        ledger.notify_family(
            NotifyFamily(**ctx(purpose="family_support"), case_id=case_id, means="phone", language="es")
        )
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(),
            case_id=case_id,
            located_on="2026-05-20",
            place=Place("US", "Houston"),
            whereabouts_may_be_shared=True,
        )
    )
    ledger.notify_family(
        NotifyFamily(
            **ctx(purpose="family_support"),
            case_id=case_id,
            means="phone",
            language="es",
            whereabouts_shared=True,
        )
    )
    assert events_of(ledger, case_id)[-1] == "FamilyNotified"


def test_a_located_adult_who_declined_is_not_placed_for_the_family(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)  # born 1999: an adult
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(),
            case_id=case_id,
            located_on="2026-05-20",
            place=Place("US"),
            whereabouts_may_be_shared=False,
        )
    )
    with pytest.raises(RuleBroken, match="did not agree"):
        ledger.notify_family(
            NotifyFamily(
                **ctx(purpose="family_support"),
                case_id=case_id,
                means="in_person",
                language="es",
                whereabouts_shared=True,
            )
        )
    ledger.notify_family(
        NotifyFamily(**ctx(purpose="family_support"), case_id=case_id, means="in_person", language="es")
    )
    assert events_of(ledger, case_id)[-1] == "FamilyNotified"


def test_a_located_minor_is_placed_for_the_family_only_after_a_best_interests_decision(
    ledger: CaseLedger,
) -> None:
    case_id = new_case(ledger, date_of_birth="2012-01-01")
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(),
            case_id=case_id,
            located_on="2026-05-20",
            place=Place("MX"),
            whereabouts_may_be_shared=False,
        )
    )
    notify = NotifyFamily(
        **ctx(purpose="family_support"),
        case_id=case_id,
        means="phone",
        language="es",
        whereabouts_shared=True,
    )
    with pytest.raises(RuleBroken, match="best-interests"):
        ledger.notify_family(notify)
    ledger.determine_best_interests(
        DetermineBestInterests(
            **ctx(Actor("DIF Chiapas", "child_protection_officer"), "family_support"),
            case_id=case_id,
            decision="share_whereabouts",
            reason="returning to his mother is safe",
            decided_by="Lic. Ana Pérez",
        )
    )
    ledger.notify_family(notify)


# ---------------------------------------------------------------- consent


def test_a_purpose_without_consent_is_refused_and_a_withdrawn_one_too(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(report())  # consents to search only
    sighting = {"seen_on": "2026-03-01", "place": Place("MX"), "source": "witness"}
    with pytest.raises(ConsentRequired, match="accountability"):
        ledger.record_sighting(RecordSighting(**ctx(purpose="accountability"), case_id=case_id, **sighting))
    ledger.grant_consent(
        GrantConsent(
            **ctx(FAMILY), case_id=case_id, consent_purpose="accountability", given_by="Rosa Chávez, mother"
        )
    )
    ledger.record_sighting(RecordSighting(**ctx(purpose="accountability"), case_id=case_id, **sighting))
    ledger.withdraw_consent(
        WithdrawConsent(
            **ctx(FAMILY),
            case_id=case_id,
            consent_purpose="accountability",
            withdrawn_by="Rosa Chávez, mother",
        )
    )
    with pytest.raises(ConsentRequired):
        ledger.record_sighting(RecordSighting(**ctx(purpose="accountability"), case_id=case_id, **sighting))


# ---------------------------------------------------------------- closed cases, links, erasure


def test_a_closed_case_accepts_nothing_but_reopening(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.close_case(CloseCase(**ctx(FAMILY), case_id=case_id, reason="withdrawn_by_family"))
    attempts = [
        lambda: ledger.record_sighting(
            RecordSighting(**ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="press")
        ),
        lambda: ledger.add_comprehensive_data(AddComprehensiveData(**ctx(), case_id=case_id, dental="crown")),
        lambda: ledger.amend_data(
            AmendData(**ctx(FAMILY), case_id=case_id, changes={"person.aliases": ["Majo"]}, reason="nickname")
        ),
        lambda: ledger.close_case(CloseCase(**ctx(), case_id=case_id, reason="duplicate_of_linked_case")),
        lambda: ledger.grant_consent(
            GrantConsent(**ctx(FAMILY), case_id=case_id, consent_purpose="statistics", given_by="mother")
        ),
    ]
    for attempt in attempts:
        with pytest.raises(RuleBroken, match="closed case accepts nothing but CaseReopened"):
            attempt()
    ledger.reopen_case(ReopenCase(**ctx(FAMILY), case_id=case_id, reason="new information"))
    assert ledger.get_case(case_id).status == CaseStatus.MISSING


def test_reopening_returns_the_case_to_where_it_stood(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(),
            case_id=case_id,
            located_on="2026-05-01",
            place=Place("MX"),
            whereabouts_may_be_shared=True,
        )
    )
    ledger.close_case(CloseCase(**ctx(), case_id=case_id, reason="located_alive"))
    ledger.reopen_case(ReopenCase(**ctx(), case_id=case_id, reason="lost contact again"))
    assert ledger.get_case(case_id).status == CaseStatus.LOCATED_ALIVE


def test_linking_keeps_both_cases_whole(ledger: CaseLedger) -> None:
    first = new_case(ledger, given_names="María José")
    second = new_case(ledger, given_names="Ma. José", second_surname="Chavez")
    ledger.link_cases(
        LinkCases(**ctx(), case_id=first, other_case_id=second, basis="same parents and date of birth")
    )
    one, two = ledger.get_case(first), ledger.get_case(second)
    assert one.linked_cases == {str(second)} and two.linked_cases == {str(first)}
    assert (one.person["given_names"], two.person["given_names"]) == ("María José", "Ma. José")
    assert two.person["second_surname"] == "Chavez" and one.status == two.status == CaseStatus.MISSING
    with pytest.raises(RuleBroken, match="itself"):
        ledger.link_cases(LinkCases(**ctx(), case_id=first, other_case_id=first, basis="x"))


def test_amendment_keeps_the_original_in_the_history(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.amend_data(
        AmendData(
            **ctx(FAMILY),
            case_id=case_id,
            reason="spelling on the passport",
            changes={"person.first_surname": "Lópes", "person.date_of_birth": "1999-08-30"},
        )
    )
    case = ledger.get_case(case_id)
    assert case.person["first_surname"] == "Lópes" and case.person["date_of_birth"] == date(1999, 8, 30)
    first = next(iter(ledger.repository.event_store.get(case_id)))
    assert first.person["first_surname"] == "López"  # type: ignore[attr-defined]
    with pytest.raises(InvalidField, match=r"changes\.person\.sex"):
        ledger.amend_data(
            AmendData(**ctx(FAMILY), case_id=case_id, changes={"person.sex": "male"}, reason="x")
        )


def test_erasure_is_accepted_even_on_a_closed_case(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.close_case(CloseCase(**ctx(FAMILY), case_id=case_id, reason="withdrawn_by_family"))
    ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="Rosa Chávez, mother"))
    case = ledger.get_case(case_id)
    assert case.erased and "given_names" not in case.person and case.family_contacts == []


# ---------------------------------------------------------------- samples


def test_custody_passes_only_from_the_current_holder(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    sample = ledger.take_sample(
        TakeSample(
            **ctx(FORENSIC, "forensic_identification"),
            taken_on="2026-04-10",
            sample_type="buccal_swab",
            holder="Consulado de Honduras en Tapachula",
            case_id=case_id,
            donor_relationship="mother",
            donor_consent_given_by="the donor herself",
        )
    )
    transfer = {"reason": "to the laboratory"}
    with pytest.raises(RuleBroken, match="from_holder"):
        ledger.transfer_sample(
            TransferSample(
                **ctx(FORENSIC),
                sample_id=sample,
                from_holder="Someone else",
                to_holder="Laboratorio",
                **transfer,
            )
        )
    ledger.transfer_sample(
        TransferSample(
            **ctx(FORENSIC),
            sample_id=sample,
            from_holder="Consulado de Honduras en Tapachula",
            to_holder="Laboratorio de Genética",
            **transfer,
        )
    )
    with pytest.raises(RuleBroken, match="another holder"):
        ledger.transfer_sample(
            TransferSample(
                **ctx(FORENSIC),
                sample_id=sample,
                from_holder="Laboratorio de Genética",
                to_holder="Laboratorio de Genética",
                **transfer,
            )
        )
    assert ledger.repository.get(sample).custody == [
        "Consulado de Honduras en Tapachula",
        "Laboratorio de Genética",
    ]


def test_a_profile_needs_a_sample_that_exists_and_was_not_destroyed(ledger: CaseLedger) -> None:
    remains = ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(FORENSIC), recovered_on="2026-04-02", place=Place("MX"), context="desert"
        )
    )
    ledger.record_post_mortem(
        RecordPostMortem(
            **ctx(FORENSIC),
            remains_id=remains,
            sex="male",
            condition="skeletonised",
            age_range=AgeRange(18, 30),
            stature_cm=(160, 172),
        )
    )
    profile = {"laboratory": "EAAF", "kind": "autosomal_str", "profile": "D3S1358:15,16;vWA:17,18"}
    with pytest.raises(NotFound, match="sample"):
        ledger.record_profile(RecordProfile(**ctx(FORENSIC), sample_id=uuid4(), **profile))
    sample = ledger.take_sample(
        TakeSample(
            **ctx(FORENSIC, "forensic_identification"),
            taken_on="2026-04-03",
            sample_type="bone",
            holder="SEMEFO",
            remains_id=remains,
        )
    )
    ledger.record_profile(RecordProfile(**ctx(FORENSIC), sample_id=sample, **profile))
    ledger.destroy_sample(DestroySample(**ctx(FORENSIC), sample_id=sample, reason="consumed by extraction"))
    with pytest.raises(RuleBroken, match="destroyed"):
        ledger.record_profile(RecordProfile(**ctx(FORENSIC), sample_id=sample, **profile))


# ---------------------------------------------------------------- idempotency, concurrency


def test_a_retried_command_records_one_event(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    command = RecordSighting(
        **ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="shelter"
    )
    assert ledger.record_sighting(command) == ledger.record_sighting(command) == 2
    assert events_of(ledger, case_id) == ["CaseReported", "SightingRecorded"]
    sample_command = TakeSample(
        **ctx(FORENSIC, "forensic_identification"),
        taken_on="2026-04-03",
        sample_type="blood",
        holder="Lab",
        case_id=case_id,
        donor_relationship="father",
        donor_consent_given_by="the donor himself",
    )
    assert ledger.take_sample(sample_command) == ledger.take_sample(sample_command)


def test_a_stale_version_is_refused_naming_the_current_one(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    sighting = {"seen_on": "2026-03-01", "place": Place("MX"), "source": "press"}
    assert ledger.record_sighting(RecordSighting(**ctx(expected_version=1), case_id=case_id, **sighting)) == 2
    with pytest.raises(VersionConflict) as conflict:
        ledger.record_sighting(RecordSighting(**ctx(expected_version=1), case_id=case_id, **sighting))
    assert (conflict.value.expected, conflict.value.current) == (1, 2)
    assert "current version is 2" in str(conflict.value)
    assert events_of(ledger, case_id) == ["CaseReported", "SightingRecorded"]


def test_a_concurrent_save_is_a_version_conflict(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    stale = ledger.get_case(case_id)
    ledger.record_sighting(
        RecordSighting(**ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="press")
    )
    stale.record_sighting(
        ctx_envelope(),
        seen_on=date(2026, 3, 2),
        place={"country": "MX", "place": None, "coordinates": None},
        source="press",
        source_reliability="low",
        description=None,
        witness=None,
    )
    with pytest.raises(VersionConflict) as conflict:
        ledger._save(1, stale)
    assert conflict.value.current == 2


def test_a_save_committed_before_its_answer_was_lost_is_no_conflict(ledger: CaseLedger) -> None:
    """The group commit retries a transaction whose connection died at COMMIT; if the commit had
    gone through, the retry finds the command's own events recorded. The command was applied:
    its caller hears the version, not a conflict (the chaos run's refused-but-recorded sighting).
    A concurrent save of another command at that version is still a conflict (the test above)."""
    case_id = new_case(ledger)
    original = ledger.save

    def committed_then_lost(*aggregates: Any, **kwargs: Any) -> Any:
        original(*aggregates, **kwargs)
        raise IntegrityError("the retried transaction found these versions recorded")

    ledger.save = committed_then_lost  # type: ignore[method-assign]
    sighting = RecordSighting(
        **ctx(expected_version=1), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="press"
    )
    assert ledger.record_sighting(sighting) == 2
    ledger.save = original  # type: ignore[method-assign]
    assert events_of(ledger, case_id) == ["CaseReported", "SightingRecorded"]
    assert ledger.record_sighting(sighting) == 2  # and a retry of it with the same id is too


def ctx_envelope() -> dict[str, object]:
    return {
        "command_id": str(uuid4()),
        "occurred_at": NOW,
        "recorded_by": {"organisation": "x", "role": "caseworker"},
        "purpose": "search",
    }
