"""Every ledger command as an HTTP route, with its request body generated from the command's
own dataclass: one definition of each command's fields, the domain's, and the OpenAPI schema
follows it. The envelope (who, why, which version, which retry) comes from the request's
credential and headers, never from the body."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from ledger.commands import (
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
    ReportMissingPerson,
    WithdrawConsent,
)
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

ENVELOPE = frozenset({"command_id", "recorded_by", "purpose", "expected_version", "extra"})

FORENSIC = frozenset({"forensic_expert", "geneticist"})
CASEWORK = frozenset({"caseworker", "consular_officer", "investigator", "forensic_expert", "node_operator"})


@dataclass(frozen=True)
class Route:
    path: str
    command: type
    method: str  # the ledger's method that carries it out
    summary: str
    roles: frozenset[str]  # who may issue it
    target: str | None = None  # the path parameter that names the record the command is about
    family: bool = False  # a family member may issue it, for their own case

    @property
    def creates(self) -> bool:
        return self.target is None


ROUTES = (
    Route("/cases", ReportMissingPerson, "report_missing_person", "Report a missing person", CASEWORK),
    Route(
        "/cases/{case_id}/sightings",
        RecordSighting,
        "record_sighting",
        "Record a sighting",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/ante-mortem",
        AddComprehensiveData,
        "add_comprehensive_data",
        "Add ante-mortem data (dental, medical, marks, clothing, belongings)",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/amendments",
        AmendData,
        "amend_data",
        "Amend what was recorded (the original stays in the history)",
        CASEWORK,
        "case_id",
        family=True,
    ),
    Route(
        "/cases/{case_id}/consents",
        GrantConsent,
        "grant_consent",
        "Grant consent for a purpose",
        CASEWORK,
        "case_id",
        family=True,
    ),
    Route(
        "/cases/{case_id}/consent-withdrawals",
        WithdrawConsent,
        "withdraw_consent",
        "Withdraw consent for a purpose",
        CASEWORK,
        "case_id",
        family=True,
    ),
    Route("/cases/{case_id}/links", LinkCases, "link_cases", "Link two cases", CASEWORK, "case_id"),
    Route(
        "/cases/{case_id}/located-alive",
        RecordPersonLocatedAlive,
        "record_person_located_alive",
        "Record that the person was located alive",
        CASEWORK,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/identification",
        ConfirmIdentification,
        "confirm_identification",
        "Confirm an identification from a confirmed match",
        FORENSIC,
        "case_id",
    ),
    Route(
        "/cases/{case_id}/notifications",
        NotifyFamily,
        "notify_family",
        "Record that the family was notified",
        CASEWORK,
        "case_id",
    ),
    Route("/cases/{case_id}/closure", CloseCase, "close_case", "Close the case", CASEWORK, "case_id", True),
    Route(
        "/cases/{case_id}/reopening", ReopenCase, "reopen_case", "Reopen the case", CASEWORK, "case_id", True
    ),
    Route(
        "/cases/{case_id}/erasure",
        EraseData,
        "erase_data",
        "Erase the family's data (crypto-shredding, at every node)",
        CASEWORK,
        "case_id",
        family=True,
    ),
    Route(
        "/remains", RecordRemainsRecovered, "record_remains_recovered", "Record recovered remains", FORENSIC
    ),
    Route(
        "/remains/{remains_id}/post-mortem",
        RecordPostMortem,
        "record_post_mortem",
        "Record post-mortem data",
        FORENSIC,
        "remains_id",
    ),
    Route("/samples", TakeSample, "take_sample", "Record a sample taken", FORENSIC),
    Route(
        "/samples/{sample_id}/transfers",
        TransferSample,
        "transfer_sample",
        "Record a transfer of custody",
        FORENSIC,
        "sample_id",
    ),
    Route(
        "/samples/{sample_id}/profiles",
        RecordProfile,
        "record_profile",
        "Record a genetic profile",
        frozenset({"geneticist"}),
        "sample_id",
    ),
    Route(
        "/samples/{sample_id}/destruction",
        DestroySample,
        "destroy_sample",
        "Record that a sample was consumed or destroyed",
        FORENSIC,
        "sample_id",
    ),
    Route("/matches", ProposeMatch, "propose_match", "Propose a match of a case and remains", FORENSIC),
    Route(
        "/matches/{match_id}/review",
        ReviewMatch,
        "review_match",
        "Confirm or reject a match",
        FORENSIC,
        "match_id",
    ),
)


_BODY_CONFIG = ConfigDict(extra="forbid")


def body_model(route: Route) -> type[BaseModel]:
    """The request body: the command's own fields, less the envelope and the path's record."""
    hints = typing.get_type_hints(route.command)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(route.command):
        if field.name in ENVELOPE or field.name == route.target:
            continue
        if field.default is not dataclasses.MISSING:
            default: Any = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = ...
        fields[field.name] = (hints[field.name], default)
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{route.command.__name__}Body", __config__=_BODY_CONFIG, **fields
    )
    return model
