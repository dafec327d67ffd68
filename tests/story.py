"""One case's whole story, using every kind of event: reused by tests and benchmarks."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from ledger.application import CaseLedger
from ledger.commands import (
    Actor,
    AddComprehensiveData,
    AmendData,
    CloseCase,
    ConfirmIdentification,
    EraseData,
    GrantConsent,
    JudgeCasesDistinct,
    LinkCases,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordRead,
    RecordSighting,
    ReopenCase,
    WithdrawConsent,
)
from ledger.course_commands import (
    AnswerInquiry,
    FlagProtectionRisk,
    GiveFamilyUpdate,
    PlanNotification,
    RecordContactDetails,
    RecordPersonDetails,
    RecordSupportProvided,
    ReferSupport,
    SendInquiry,
    SetUpdateCadence,
)
from ledger.forensic_commands import (
    DestroySample,
    ProposeMatch,
    RecordPostMortem,
    RecordProfile,
    RecordRemainsRecovered,
    ReviewMatch,
    ReviseMatch,
    TakeSample,
    TransferSample,
    WithdrawDonorConsent,
)
from ledger.protection_commands import DetermineBestInterests, WithholdSharing
from ledger.remains_commands import (
    BuryRemains,
    ExhumeRemains,
    HandOverRemains,
    ReleaseRemains,
    TransferRemains,
)
from ledger.values import AgeRange, Coordinates, Effect, Mark, Place, TeamMember, Tooth
from tests.factories import FAMILY, FORENSIC, ctx, report

GENETICIST = Actor("mx-lab-genetica", "geneticist")


def whole_story(ledger: CaseLedger) -> dict[str, UUID]:
    """Report, sight, link, judge distinct, amend, consent, sample, match, identify, notify, close, reopen,
    locate a second person alive, and erase: every event type at least once."""
    fi = "forensic_identification"
    case = ledger.report_missing_person(report(consented_purposes=("search", fi, "family_support")))
    twin = ledger.report_missing_person(report(given_names="Ma. José", consented_purposes=("search",)))
    ledger.record_sighting(
        RecordSighting(
            **ctx(),
            case_id=case,
            seen_on="2026-02-10",
            place=Place("MX", "Arriaga", Coordinates(16.23, -93.9)),
            source="survivor",
            source_reliability="medium",
        )
    )
    ledger.add_comprehensive_data(
        AddComprehensiveData(
            **ctx(purpose=fi),
            case_id=case,
            dental="gold crown, 11",
            marks=("scar, left knee",),
            clothing=("red jacket",),
            stature_cm=(152, 156),
            body_marks=(Mark("scar", "left_lower_leg", "below the knee"),),
            teeth=(Tooth(11, "gold"),),
            effects=(Effect("jacket", "red", None, None),),
        )
    )
    ledger.amend_data(
        AmendData(**ctx(FAMILY), case_id=case, changes={"person.aliases": ["Majo"]}, reason="her nickname")
    )
    ledger.link_cases(LinkCases(**ctx(), case_id=case, other_case_id=twin, basis="same parents"))
    ledger.judge_cases_distinct(
        JudgeCasesDistinct(
            **ctx(),
            case_id=case,
            other_case_id=twin,  # the ledger judges only cases its rules let the recorder read
            reason="another woman of the same name, born in 1971",
        )
    )
    ledger.grant_consent(
        GrantConsent(
            **ctx(FAMILY), case_id=case, consent_purpose="accountability", given_by="Rosa Chávez, mother"
        )
    )
    ledger.withdraw_consent(
        WithdrawConsent(
            **ctx(FAMILY), case_id=case, consent_purpose="accountability", withdrawn_by="Rosa Chávez, mother"
        )
    )
    remains = ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(FORENSIC, fi),
            recovered_on="2026-04-02",
            place=Place("MX", "Altar, Sonora"),
            context="desert",
        )
    )
    ledger.record_post_mortem(
        RecordPostMortem(
            **ctx(FORENSIC, fi),
            remains_id=remains,
            sex="female",
            condition="skeletonised",
            age_range=AgeRange(20, 30),
            stature_cm=(150, 160),
            time_since_death_days=(30, 120),
            teeth=(Tooth(11, "gold"),),
            effects=(Effect("jacket", "red"),),
        )
    )
    reference = ledger.take_sample(
        TakeSample(
            **ctx(FORENSIC, fi),
            taken_on="2026-04-05",
            sample_type="buccal_swab",
            holder="Consulado de Guatemala",
            case_id=case,
            donor_relationship="mother",
            donor_consent_given_by="the donor herself",
        )
    )
    ledger.transfer_sample(
        TransferSample(
            **ctx(FORENSIC, fi),
            sample_id=reference,
            from_holder="Consulado de Guatemala",
            to_holder="Laboratorio de Genética Forense",
            reason="analysis",
        )
    )
    ledger.record_profile(
        RecordProfile(
            **ctx(GENETICIST, fi),
            sample_id=reference,
            laboratory="LGF",
            kind="autosomal_str",
            profile="D3S1358:15,16;vWA:17,18",
        )
    )
    ledger.destroy_sample(DestroySample(**ctx(GENETICIST, fi), sample_id=reference, reason="consumed"))
    # Her father gave a sample too, then withdrew his consent: its keys are destroyed.
    fathers = ledger.take_sample(
        TakeSample(
            **ctx(FORENSIC, fi),
            taken_on="2026-04-06",
            sample_type="blood",
            holder="Laboratorio de Genética Forense",
            case_id=case,
            donor_relationship="father",
            donor_consent_given_by="the donor himself",
        )
    )
    ledger.withdraw_donor_consent(
        WithdrawDonorConsent(**ctx(FORENSIC, fi), sample_id=fathers, withdrawn_by="the donor himself")
    )
    match = ledger.propose_match(
        ProposeMatch(
            **ctx(GENETICIST, fi),
            case_id=case,
            remains_id=remains,
            basis="dna",
            score=0.9999,
            by_matcher=True,
        )
    )
    ledger.review_match(ReviewMatch(**ctx(FORENSIC, fi), match_id=match, outcome="confirmed"))
    ledger.confirm_identification(ConfirmIdentification(**ctx(FORENSIC, fi), case_id=case, match_id=match))
    # A second bone is identified to her too, then its match is revised: the bone is
    # unidentified again, and she stays identified by the first.
    bone = ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **ctx(FORENSIC, fi),
            recovered_on="2026-04-03",
            place=Place("MX", "Altar, Sonora"),
            context="desert",
        )
    )
    second = ledger.propose_match(
        ProposeMatch(**ctx(GENETICIST, fi), case_id=case, remains_id=bone, basis="dna", score=0.999)
    )
    ledger.review_match(ReviewMatch(**ctx(FORENSIC, fi), match_id=second, outcome="confirmed"))
    ledger.confirm_identification(ConfirmIdentification(**ctx(FORENSIC, fi), case_id=case, match_id=second))
    ledger.revise_match(
        ReviseMatch(
            **ctx(FORENSIC, fi), match_id=second, reason="the bone's mtDNA belongs to another lineage"
        )
    )
    ledger.plan_notification(
        PlanNotification(
            **ctx(purpose="family_support"),
            case_id=case,
            planned_on="2026-04-20",
            team=(
                TeamMember("Dra. Lucía Méndez", "forensic_expert"),
                TeamMember("Lic. Ana Ruiz", "psychologist"),
            ),
            contact="Rosa Chávez",
            language="es",
            place="Oficina de la fiscalía, Ciudad de Guatemala",
            report_copy_handed_over=True,
        )
    )
    ledger.notify_family(
        NotifyFamily(
            **ctx(purpose="family_support"),
            case_id=case,
            means="in_person",
            report_reference="SEMEFO-SON-2026-0412",
            acknowledgement="the family accepts the identification",
            questions=("When can she come home?",),
        )
    )
    course_of_the_case(ledger, case, remains)
    ledger.close_case(CloseCase(**ctx(FAMILY), case_id=case, reason="identified_deceased"))
    ledger.reopen_case(ReopenCase(**ctx(FAMILY), case_id=case, reason="the family asks for a second opinion"))
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(), case_id=twin, located_on="2026-05-01", place=Place("US"), whereabouts_may_be_shared=False
        )
    )
    ledger.record_read(
        RecordRead(
            **ctx(FORENSIC),
            case_id=case,
            read_purpose="forensic_identification",
            tiers=("forensic",),
            outcome="granted",
            reason="agreement mx-cases-to-gt-inacif",
            interface="cli",
        )
    )
    ledger.withhold_sharing(
        WithholdSharing(**ctx(), case_id=twin, countries=("HN",), reason="she asked for asylum in Mexico")
    )
    child = ledger.report_missing_person(
        report(given_names="Kevin", sex="male", date_of_birth="2012-03-01", consented_purposes=("search",))
    )
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(), case_id=child, located_on="2026-05-03", place=Place("MX"), whereabouts_may_be_shared=True
        )
    )
    ledger.determine_best_interests(
        DetermineBestInterests(
            **ctx(Actor("mx-casa-migrante-tapachula", "child_protection_officer"), "family_support"),
            case_id=child,
            decision="share_whereabouts",
            reason="his mother is safe to return to",
            decided_by="Lic. Ana Pérez",
        )
    )
    linkage_story(ledger, case)
    ledger.erase_data(EraseData(**ctx(FAMILY), case_id=twin, requested_by="Rosa Chávez, her mother"))
    return {
        "case": case,
        "twin": twin,
        "remains": remains,
        "sample": reference,
        "withdrawn_sample": fathers,
        "match": match,
        "bone": bone,
        "revised_match": second,
    }


def linkage_story(ledger: CaseLedger, case: UUID) -> None:
    """A linkage candidate on the case (#19), a disclosure asked about it, and one decided on it
    (as if another origin had asked): every linkage event once."""
    from ledger.linkage_case import DecideDisclosure, RecordLinkageCandidate, RequestDisclosure

    other = "7d3c0f6e-0000-4000-8000-0000000000aa"
    designated = Actor("mx-busqueda-nacional", "investigator")
    ledger.record_linkage_candidate(
        RecordLinkageCandidate(
            **ctx(), case_id=case, other_origin="HN", other_case_id=other, score=0.97, schema_version=1
        )
    )
    ledger.request_disclosure(
        RequestDisclosure(
            **ctx(designated),
            case_id=case,
            request="7d3c0f6e-0000-4000-8000-0000000000ab",
            other_origin="HN",
            other_case_id=other,
        )
    )
    ledger.decide_disclosure(
        DecideDisclosure(
            **ctx(designated),
            case_id=case,
            request="7d3c0f6e-0000-4000-8000-0000000000ac",
            requester_origin="HN",
            requester_case_id=other,
            decision="declined",
        )
    )


def course_of_the_case(ledger: CaseLedger, case: UUID, remains: UUID) -> None:
    """Inquiries, support, updates, languages, a protection risk; and the identified remains
    buried, exhumed, released and handed over for repatriation (#17)."""
    fi, support, soon = (
        "forensic_identification",
        ctx(purpose="family_support"),
        date.today() + timedelta(days=10),
    )
    ledger.record_person_details(
        RecordPersonDetails(
            **ctx(), case_id=case, languages=("mam", "es"), gender_identity="woman", pregnant=False
        )
    )
    ledger.record_contact_details(
        RecordContactDetails(**ctx(), case_id=case, contact="Rosa Chávez", languages=("mam", "es"))
    )
    ledger.send_inquiry(
        SendInquiry(
            **ctx(),
            case_id=case,
            addressee="mx-estacion-migratoria-tapachula",
            addressee_kind="detention_centre",
            question="¿Estuvo detenida en febrero?",
            due_on=soon,
        )
    )
    ledger.answer_inquiry(
        AnswerInquiry(**ctx(), case_id=case, inquiry=1, outcome="not_found", answered_on=date.today())
    )
    ledger.refer_support(ReferSupport(**support, case_id=case, kind="psychosocial", provider="Cruz Roja"))
    ledger.record_support_provided(
        RecordSupportProvided(
            **ctx(purpose="family_support"),
            case_id=case,
            referral=1,
            provided_on=date.today(),
            outcome="ongoing",
        )
    )
    ledger.set_update_cadence(
        SetUpdateCadence(
            **ctx(purpose="family_support"), case_id=case, every_days=30, focal_point="gt-consulado-tapachula"
        )
    )
    ledger.give_family_update(
        GiveFamilyUpdate(
            **ctx(purpose="family_support"),
            case_id=case,
            given_on=date.today(),
            given_by="Cónsul de Guatemala",
            means="phone",
            language="mam",
        )
    )
    ledger.flag_protection_risk(FlagProtectionRisk(**ctx(), case_id=case, risks=("threats",)))
    burial = {"cemetery": "Panteón de Altar", "grave": "fosa 3", "country": "MX", "buried_on": "2026-04-15"}
    ledger.bury_remains(BuryRemains(**ctx(FORENSIC, fi), remains_id=remains, **burial))
    ledger.exhume_remains(
        ExhumeRemains(**ctx(FORENSIC, fi), remains_id=remains, exhumed_on="2026-04-18", reason="release")
    )
    ledger.transfer_remains(
        TransferRemains(
            **ctx(FORENSIC, fi),
            remains_id=remains,
            from_holder="Panteón de Altar",
            to_holder="SEMEFO Sonora",
            reason="release",
        )
    )
    ledger.release_remains(
        ReleaseRemains(
            **ctx(FORENSIC, fi),
            remains_id=remains,
            released_to="family",
            recipient="Rosa Chávez",
            released_on="2026-04-19",
        )
    )
    ledger.hand_over_remains(
        HandOverRemains(
            **ctx(FORENSIC, fi),
            remains_id=remains,
            from_country="MX",
            to_country="GT",
            completed_on="2026-04-21",
        )
    )
