"""Random sequences of commands over cases, remains, samples and matches; after every step
the field's invariants hold, and a refused command wrote nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from ledger.application import CaseLedger
from ledger.commands import (
    CloseCase,
    ConfirmIdentification,
    EraseData,
    LinkCases,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordSighting,
    ReopenCase,
    WithdrawConsent,
)
from ledger.errors import LedgerError
from ledger.forensic_commands import (
    DestroySample,
    ProposeMatch,
    RecordProfile,
    RecordRemainsRecovered,
    ReviewMatch,
    TakeSample,
    TransferSample,
)
from ledger.values import Place
from ledger.vocabulary import CLOSURE_REASONS, MATCH_OUTCOMES, NOTIFICATION_MEANS, PURPOSES, CaseStatus
from tests.factories import FAMILY, FORENSIC, REVIEWER, ctx, report

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOLDERS = ("Consulado", "Laboratorio", "SEMEFO", "EAAF")


class LedgerMachine(RuleBasedStateMachine):
    cases = Bundle("cases")
    remains = Bundle("remains")
    samples = Bundle("samples")
    matches = Bundle("matches")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)
        self.known: dict[str, set[UUID]] = {"case": set(), "sample": set()}

    def attempt(self, action: Callable[[], Any]) -> Any:
        """Run a command; a refusal must leave the store exactly as it was."""
        before = self.ledger.recorder.max_notification_id()
        try:
            return action()
        except LedgerError:
            assert self.ledger.recorder.max_notification_id() == before, "a refused command wrote something"
            return None

    def history(self, aggregate_id: UUID) -> list[Any]:
        return list(self.ledger.repository.event_store.get(aggregate_id))

    # ------------------------------------------------------------- rules

    @rule(target=cases, minor=st.booleans(), purposes=st.sets(st.sampled_from(PURPOSES), min_size=1))
    def report(self, minor: bool, purposes: set[str]) -> UUID:
        case_id = self.ledger.report_missing_person(
            report(
                date_of_birth="2012-01-01" if minor else "1990-01-01",
                consented_purposes=tuple(sorted(purposes)),
            )
        )
        self.known["case"].add(case_id)
        return case_id

    @rule(target=remains)
    def recover(self) -> UUID:
        return self.ledger.record_remains_recovered(
            RecordRemainsRecovered(
                **ctx(FORENSIC), recovered_on="2026-04-01", place=Place("MX"), context="desert"
            )
        )

    @rule(case=cases, purpose=st.sampled_from(PURPOSES))
    def sighting(self, case: UUID, purpose: str) -> None:
        self.attempt(
            lambda: self.ledger.record_sighting(
                RecordSighting(
                    **ctx(purpose=purpose),
                    case_id=case,
                    seen_on="2026-03-01",
                    place=Place("GT"),
                    source="witness",
                )
            )
        )

    @rule(case=cases, shareable=st.booleans())
    def located(self, case: UUID, shareable: bool) -> None:
        self.attempt(
            lambda: self.ledger.record_person_located_alive(
                RecordPersonLocatedAlive(
                    **ctx(),
                    case_id=case,
                    located_on="2026-05-01",
                    place=Place("US"),
                    whereabouts_may_be_shared=shareable,
                )
            )
        )

    @rule(case=cases, means=st.sampled_from(NOTIFICATION_MEANS), share=st.booleans())
    def notify(self, case: UUID, means: str, share: bool) -> None:
        self.attempt(
            lambda: self.ledger.notify_family(
                NotifyFamily(
                    **ctx(purpose="family_support"),
                    case_id=case,
                    means=means,
                    language="es",
                    whereabouts_shared=share,
                )
            )
        )

    @rule(case=cases, reason=st.sampled_from(CLOSURE_REASONS))
    def close(self, case: UUID, reason: str) -> None:
        self.attempt(lambda: self.ledger.close_case(CloseCase(**ctx(FAMILY), case_id=case, reason=reason)))

    @rule(case=cases)
    def reopen(self, case: UUID) -> None:
        self.attempt(lambda: self.ledger.reopen_case(ReopenCase(**ctx(FAMILY), case_id=case, reason="news")))

    @rule(pick=st.integers(0, 1000))
    def reopen_a_closed_case(self, pick: int) -> None:
        closed = sorted(c for c in self.known["case"] if self.ledger.get_case(c).status == CaseStatus.CLOSED)
        if closed:
            self.reopen(closed[pick % len(closed)])

    @rule(case=cases, purpose=st.sampled_from(PURPOSES))
    def withdraw(self, case: UUID, purpose: str) -> None:
        self.attempt(
            lambda: self.ledger.withdraw_consent(
                WithdrawConsent(**ctx(FAMILY), case_id=case, consent_purpose=purpose, withdrawn_by="mother")
            )
        )

    @rule(case=consumes(cases))
    def erase(self, case: UUID) -> None:
        self.attempt(
            lambda: self.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case, requested_by="Rosa Chávez"))
        )

    @rule(one=cases, other=cases)
    def link(self, one: UUID, other: UUID) -> None:
        self.attempt(
            lambda: self.ledger.link_cases(
                LinkCases(**ctx(), case_id=one, other_case_id=other, basis="same parents")
            )
        )

    @rule(
        target=matches,
        case=cases,
        body=remains,
        score=st.floats(0, 1),
        outcome=st.none() | st.sampled_from(MATCH_OUTCOMES),
    )
    def propose(self, case: UUID, body: UUID, score: float, outcome: str | None) -> UUID | None:
        found = self.attempt(
            lambda: self.ledger.propose_match(
                ProposeMatch(
                    **ctx(FORENSIC, "forensic_identification"),
                    case_id=case,
                    remains_id=body,
                    basis="dna",
                    score=score,
                )
            )
        )
        if found and outcome:
            self.review(found, outcome)  # the usual next step, so the forensic path is explored often
        return found or UUID(int=0)

    @rule(match=matches, outcome=st.sampled_from(MATCH_OUTCOMES))
    def review(self, match: UUID, outcome: str) -> None:
        self.attempt(
            lambda: self.ledger.review_match(
                ReviewMatch(**ctx(REVIEWER, "forensic_identification"), match_id=match, outcome=outcome)
            )
        )

    @rule(case=cases, body=remains)
    def the_whole_forensic_path(self, case: UUID, body: UUID) -> None:
        """Propose, confirm and identify in a row: the path that must respect every rule."""
        match = self.propose(case, body, 0.999, "confirmed")
        self.identify(case, match)

    @rule(match=matches)
    def identify_through(self, match: UUID) -> None:
        """Identify the case the match names (the likely path, so it is explored often)."""
        try:
            facts = self.ledger.match_facts(match)
        except LedgerError:
            return
        self.identify(UUID(str(facts["case_id"])), match)

    @rule(case=cases, match=matches)
    def identify(self, case: UUID, match: UUID) -> None:
        self.attempt(
            lambda: self.ledger.confirm_identification(
                ConfirmIdentification(
                    **ctx(FORENSIC, "forensic_identification"), case_id=case, match_id=match
                )
            )
        )

    @rule(target=samples, body=remains)
    def sample(self, body: UUID) -> UUID:
        found = self.attempt(
            lambda: self.ledger.take_sample(
                TakeSample(
                    **ctx(FORENSIC, "forensic_identification"),
                    taken_on="2026-04-02",
                    sample_type="bone",
                    holder=HOLDERS[0],
                    remains_id=body,
                )
            )
        )
        if found:
            self.known["sample"].add(found)
        return found or UUID(int=0)

    @rule(sample=samples, start=st.sampled_from(HOLDERS), end=st.sampled_from(HOLDERS))
    def transfer(self, sample: UUID, start: str, end: str) -> None:
        self.attempt(
            lambda: self.ledger.transfer_sample(
                TransferSample(
                    **ctx(FORENSIC), sample_id=sample, from_holder=start, to_holder=end, reason="analysis"
                )
            )
        )

    @rule(sample=samples)
    def profile(self, sample: UUID) -> None:
        self.attempt(
            lambda: self.ledger.record_profile(
                RecordProfile(
                    **ctx(FORENSIC),
                    sample_id=sample,
                    laboratory="EAAF",
                    kind="autosomal_str",
                    profile="D3:15,16",
                )
            )
        )

    @rule(sample=samples)
    def destroy(self, sample: UUID) -> None:
        self.attempt(
            lambda: self.ledger.destroy_sample(
                DestroySample(**ctx(FORENSIC), sample_id=sample, reason="consumed")
            )
        )

    # ------------------------------------------------------------- invariants

    @invariant()
    def cases_follow_the_rules(self) -> None:
        for case_id in self.known["case"]:
            status = None
            before_closure = None
            for event in self.history(case_id):
                name = type(event).__name__
                if status == CaseStatus.CLOSED:
                    assert name in ("CaseReopened", "DataErased"), f"closed case took {name}"
                if name == "CaseReported":
                    status = CaseStatus.MISSING
                elif name == "PersonLocatedAlive":
                    status = CaseStatus.LOCATED_ALIVE
                elif name == "IdentificationConfirmed" and event.match_id is None:
                    # Erased: the match id was in a shredded tier; the case says it was erased.
                    assert self.ledger.get_case(case_id).erased
                    status = CaseStatus.IDENTIFIED_DECEASED
                elif name == "IdentificationConfirmed":
                    facts = self.ledger.match_facts(UUID(event.match_id))
                    assert facts["outcome"] == "confirmed" and facts["case_id"] == str(case_id)
                    status = CaseStatus.IDENTIFIED_DECEASED
                elif name == "FamilyNotified":
                    assert status in (CaseStatus.LOCATED_ALIVE, CaseStatus.IDENTIFIED_DECEASED)
                elif name == "CaseClosed":
                    before_closure, status = status, CaseStatus.CLOSED
                elif name == "CaseReopened":
                    status = before_closure
            case = self.ledger.get_case(case_id)
            assert case.status == status and case.status in set(CaseStatus)
            if case.erased:  # crypto-shredded: nothing above the public tier reads back
                assert case.full_name == "" and not case.family_contacts and not case.linked_cases
            for other in case.linked_cases:
                linked = self.ledger.get_case(UUID(other))
                assert linked.erased or str(case_id) in linked.linked_cases
                assert linked.erased or linked.person.get("given_names")

    @invariant()
    def custody_is_continuous_and_profiles_need_a_live_sample(self) -> None:
        for sample_id in self.known["sample"]:
            holder, destroyed = None, False
            for event in self.history(sample_id):
                name = type(event).__name__
                assert not destroyed, f"{name} after SampleDestroyed"
                if name == "SampleTaken":
                    holder = event.holder
                elif name == "SampleTransferred":
                    assert event.from_holder == holder != event.to_holder
                    holder = event.to_holder
                elif name == "SampleDestroyed":
                    destroyed = True


TestLedgerInvariants = LedgerMachine.TestCase
TestLedgerInvariants.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
