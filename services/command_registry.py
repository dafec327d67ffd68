"""The one registry of commands: every command the ledger takes from outside, with the URL
its HTTP route is posted to, the ledger's method that carries it out and what it does in
words. The HTTP API (services/http/commands.py) and the command line (services/cli/act.py,
services/cli/course.py) are both made from it; who may issue each command is the ledger's
rule (ledger/command_roles.py), and each command's body is its own dataclass's fields
(services/command_bodies.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.command_roles import COMMAND_ROLES, FAMILY_COMMANDS
from ledger.commands import (
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
    RecordSighting,
    ReopenCase,
    ReportMissingPerson,
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
    IdentifyRemains,
    ProposeMatch,
    RecordPostMortem,
    RecordProfile,
    RecordRemainsRecovered,
    ReopenIdentification,
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
    ReceiveRemains,
    ReleaseRemains,
    TransferRemains,
)

__all__ = ["COMMANDS", "COURSE", "LEDGER", "Route", "by_method"]


@dataclass(frozen=True)
class Route:
    path: str
    command: type
    method: str  # the ledger's method that carries it out
    summary: str
    target: str | None = None  # the path parameter that names the record the command is about

    @property
    def creates(self) -> bool:
        return self.target is None

    @property
    def roles(self) -> frozenset[str]:
        """Who may issue it (ledger/command_roles.py)."""
        return COMMAND_ROLES[self.method]

    @property
    def family(self) -> bool:
        """A family member may issue it, for their own case."""
        return self.method in FAMILY_COMMANDS


LEDGER = (
    Route("/cases", ReportMissingPerson, "report_missing_person", "Report a missing person"),
    Route("/cases/{case_id}/sightings", RecordSighting, "record_sighting", "Record a sighting", "case_id"),
    Route(
        "/cases/{case_id}/ante-mortem",
        AddComprehensiveData,
        "add_comprehensive_data",
        "Add ante-mortem data (dental, medical, marks, clothing, belongings)",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/amendments",
        AmendData,
        "amend_data",
        "Amend what was recorded (the original stays in the history)",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/consents", GrantConsent, "grant_consent", "Grant consent for a purpose", "case_id"
    ),
    Route(
        "/cases/{case_id}/consent-withdrawals",
        WithdrawConsent,
        "withdraw_consent",
        "Withdraw consent for a purpose",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/withholding",
        WithholdSharing,
        "withhold_sharing",
        "Withhold the case from countries (the one a refugee fled), whatever the agreements say",
        "case_id",
    ),
    Route("/cases/{case_id}/links", LinkCases, "link_cases", "Link two cases", "case_id"),
    Route(
        "/cases/{case_id}/distinct",
        JudgeCasesDistinct,
        "judge_cases_distinct",
        "Judge two cases proposed as possible duplicates to be two people (not proposed again)",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/located-alive",
        RecordPersonLocatedAlive,
        "record_person_located_alive",
        "Record that the person was located alive",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/identification",
        ConfirmIdentification,
        "confirm_identification",
        "Confirm an identification from a confirmed match",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/identification-reopening",
        ReopenIdentification,
        "reopen_identification",
        "Reopen the identification after its match was revised at another node",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/notifications",
        NotifyFamily,
        "notify_family",
        "Record that the family was notified",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/best-interests",
        DetermineBestInterests,
        "determine_best_interests",
        "Decide, in a located minor's best interests, whether their whereabouts are shared",
        "case_id",
    ),
    Route("/cases/{case_id}/closure", CloseCase, "close_case", "Close the case", "case_id"),
    Route("/cases/{case_id}/reopening", ReopenCase, "reopen_case", "Reopen the case", "case_id"),
    Route(
        "/cases/{case_id}/erasure",
        EraseData,
        "erase_data",
        "Erase the family's data (crypto-shredding, at every node)",
        "case_id",
    ),
    Route("/remains", RecordRemainsRecovered, "record_remains_recovered", "Record recovered remains"),
    Route(
        "/remains/{remains_id}/post-mortem",
        RecordPostMortem,
        "record_post_mortem",
        "Record post-mortem data",
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/identification",
        IdentifyRemains,
        "identify_remains",
        "Record the remains' identification through a confirmed match",
        "remains_id",
    ),
    Route("/samples", TakeSample, "take_sample", "Record a sample taken"),
    Route(
        "/samples/{sample_id}/transfers",
        TransferSample,
        "transfer_sample",
        "Record a transfer of custody",
        "sample_id",
    ),
    Route(
        "/samples/{sample_id}/profiles",
        RecordProfile,
        "record_profile",
        "Record a genetic profile",
        "sample_id",
    ),
    Route(
        "/samples/{sample_id}/destruction",
        DestroySample,
        "destroy_sample",
        "Record that a sample was consumed or destroyed",
        "sample_id",
    ),
    Route(
        "/samples/{sample_id}/donor-consent-withdrawal",
        WithdrawDonorConsent,
        "withdraw_donor_consent",
        "Record that the donor withdrew their consent (the sample's data is erased)",
        "sample_id",
    ),
    Route("/matches", ProposeMatch, "propose_match", "Propose a match of a case and remains"),
    Route("/matches/{match_id}/review", ReviewMatch, "review_match", "Confirm or reject a match", "match_id"),
    Route(
        "/matches/{match_id}/revision",
        ReviseMatch,
        "revise_match",
        "Revise a confirmed match (its identification reopens)",
        "match_id",
    ),
)
"""A case's record, remains, samples and matches."""

COURSE = (
    Route(
        "/cases/{case_id}/inquiries",
        SendInquiry,
        "send_inquiry",
        "Ask a detention centre, shelter, hospital, prison or migration authority about the person",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/inquiry-answers",
        AnswerInquiry,
        "answer_inquiry",
        "Record the answer to an inquiry (found, not found, no answer)",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/support-referrals",
        ReferSupport,
        "refer_support",
        "Refer the family for psychosocial, legal, forensic, financial or administrative support",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/support-provided",
        RecordSupportProvided,
        "record_support_provided",
        "Record what came of a referral for support",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/update-cadence",
        SetUpdateCadence,
        "set_update_cadence",
        "Promise the family news every N days through a focal point",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/family-updates",
        GiveFamilyUpdate,
        "give_family_update",
        "Record news given to the family, and when they will hear next",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/notification-plans",
        PlanNotification,
        "plan_notification",
        "Plan how the family will be told: team and roles, language, place, copy of the report",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/person-details",
        RecordPersonDetails,
        "record_person_details",
        "Record the person's languages, gender identity, pregnancy, unaccompanied child",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/contact-details",
        RecordContactDetails,
        "record_contact_details",
        "Record the languages a family contact speaks",
        "case_id",
    ),
    Route(
        "/cases/{case_id}/repatriation",
        ReceiveRemains,
        "receive_remains",
        "Record the remains received home, then buried at home (the case's node's part)",
        "case_id",
    ),
    Route(
        "/remains/{remains_id}/burial",
        BuryRemains,
        "bury_remains",
        "Record where remains held here are buried (cemetery, grave, coordinates)",
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/exhumation",
        ExhumeRemains,
        "exhume_remains",
        "Record that remains were exhumed",
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/custody",
        TransferRemains,
        "transfer_remains",
        "Pass custody of remains from their current holder to the next",
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/release",
        ReleaseRemains,
        "release_remains",
        "Release identified remains to the family or a consulate",
        "remains_id",
    ),
    Route(
        "/remains/{remains_id}/repatriation",
        HandOverRemains,
        "hand_over_remains",
        "Record that released remains were handed over for repatriation (the remains' node's part)",
        "remains_id",
    ),
    Route(
        "/cases/{case_id}/protection-risks",
        FlagProtectionRisk,
        "flag_protection_risk",
        "Flag a protection risk to the person or a family contact (handle with care)",
        "case_id",
    ),
)
"""The course of a case: inquiries, support, news to the family, notification, repatriation,
protection (the notification itself is among LEDGER)."""

COMMANDS = (*LEDGER, *COURSE)

assert {r.method for r in COMMANDS} == set(COMMAND_ROLES), (
    "every command has its rule, every rule its command"
)


def by_method(method: str) -> Route:
    """The registry's entry for the ledger's method (KeyError if there is none)."""
    return _BY_METHOD[method]


_BY_METHOD = {r.method: r for r in COMMANDS}
