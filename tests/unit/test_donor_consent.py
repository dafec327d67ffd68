"""A relative's reference sample and DNA profile (issue 12, item 7): recorded with the donor's
own consent, sealed under the sample's own keys (never the case's), and erased when the donor
withdraws that consent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from ledger.application import CaseLedger
from ledger.errors import InvalidField, RuleBroken
from ledger.forensic_commands import (
    RecordProfile,
    RecordRemainsRecovered,
    TakeSample,
    TransferSample,
    WithdrawDonorConsent,
)
from ledger.keystore import parse_key_id
from ledger.values import Place
from tests.factories import FORENSIC, ctx, report

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
FI = "forensic_identification"
PROFILE = "D3S1358:15,16;vWA:17,18"


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def reference_sample(ledger: CaseLedger, case_id: UUID, **changes: Any) -> UUID:
    fields: dict[str, Any] = {
        "taken_on": "2026-04-05",
        "sample_type": "buccal_swab",
        "holder": "Medicina Forense",
        "case_id": case_id,
        "donor_relationship": "mother",
        "donor_consent_given_by": "Rosa Chávez, the donor",
        **changes,
    }
    sample = ledger.take_sample(TakeSample(**ctx(FORENSIC, FI), **fields))
    ledger.record_profile(
        RecordProfile(
            **ctx(FORENSIC, FI), sample_id=sample, laboratory="LGF", kind="autosomal_str", profile=PROFILE
        )
    )
    return sample


def test_a_reference_sample_records_who_gave_the_donors_consent(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(report(consented_purposes=("search", FI)))
    with pytest.raises(InvalidField, match="donor_consent_given_by: a reference sample is taken with"):
        reference_sample(ledger, case_id, donor_consent_given_by=None)
    remains = ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(FORENSIC, FI), recovered_on="2026-04-02", place=Place("MX"), context="sea"
        )
    )
    with pytest.raises(InvalidField, match="donor_consent_given_by: does not apply"):
        ledger.take_sample(
            TakeSample(
                **ctx(FORENSIC, FI),
                taken_on="2026-04-05",
                sample_type="bone",
                holder="SEMEFO",
                remains_id=remains,
                donor_consent_given_by="someone",
            )
        )
    sample = reference_sample(ledger, case_id)
    [taken] = [e for e in ledger.events.get(sample) if type(e).__name__ == "SampleTaken"]
    assert taken.donor_consent_given_by == "Rosa Chávez, the donor"


def test_the_sample_and_its_profile_are_sealed_under_keys_of_their_own(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(report(consented_purposes=("search", FI)))
    sample = reference_sample(ledger, case_id)
    sample_keys = ledger.keys.live(str(sample))
    assert {parse_key_id(k)[1] for k in sample_keys} == {"forensic", "genetic"}
    assert all(parse_key_id(k)[0] == str(sample) for k in sample_keys)
    assert not set(sample_keys) & set(ledger.keys.live(str(case_id)))


def test_the_donors_withdrawal_erases_the_sample_and_its_profile_and_leaves_the_case(
    ledger: CaseLedger,
) -> None:
    case_id = ledger.report_missing_person(report(consented_purposes=("search", FI)))
    sample = reference_sample(ledger, case_id)
    case_keys = ledger.keys.live(str(case_id))
    ledger.withdraw_donor_consent(
        WithdrawDonorConsent(**ctx(FORENSIC, FI), sample_id=sample, withdrawn_by="Rosa Chávez, the donor")
    )
    assert ledger.keys.live(str(sample)) == []
    events = {type(e).__name__: e for e in ledger.events.get(sample)}
    assert list(events) == ["SampleTaken", "ProfileRecorded", "DonorConsentWithdrawn"]
    assert events["ProfileRecorded"].profile is None and events["ProfileRecorded"].kind is None
    assert events["SampleTaken"].donor_consent_given_by is None and events["SampleTaken"].holder is None
    assert events["DonorConsentWithdrawn"].withdrawn_by is None
    # The case is the family's, not the donor's: it keeps its keys and its data.
    assert ledger.keys.live(str(case_id)) == case_keys
    assert ledger.get_case(case_id).full_name == "María José López Chávez"
    with pytest.raises(RuleBroken, match="consent: the donor withdrew"):
        ledger.transfer_sample(
            TransferSample(
                **ctx(FORENSIC), sample_id=sample, from_holder="Medicina Forense", to_holder="Lab", reason="x"
            )
        )
    with pytest.raises(RuleBroken, match="consent: the donor withdrew"):
        ledger.withdraw_donor_consent(
            WithdrawDonorConsent(**ctx(FORENSIC, FI), sample_id=sample, withdrawn_by="Rosa Chávez")
        )


def test_a_sample_from_remains_has_no_donor_consent_to_withdraw(ledger: CaseLedger) -> None:
    remains = ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(FORENSIC, FI), recovered_on="2026-04-02", place=Place("MX"), context="sea"
        )
    )
    bone = ledger.take_sample(
        TakeSample(
            **ctx(FORENSIC, FI),
            taken_on="2026-04-05",
            sample_type="bone",
            holder="SEMEFO",
            remains_id=remains,
        )
    )
    with pytest.raises(RuleBroken, match="sample_id: a sample from remains"):
        ledger.withdraw_donor_consent(
            WithdrawDonorConsent(**ctx(FORENSIC, FI), sample_id=bone, withdrawn_by="x")
        )
    assert ledger.keys.live(str(bone))
