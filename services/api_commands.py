"""Every ledger command as an HTTP route, with its request body generated from the command's
own dataclass: one definition of each command's fields, the domain's, and the OpenAPI schema
follows it. The envelope (who, why, which version, which retry) comes from the request's
credential and headers, never from the body."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import typing
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from ledger import vocabulary
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
from ledger.errors import CommandIdReused
from ledger.forensic_commands import (
    POST_MORTEM_SEXES,
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
from services.acting import Acting, ActRefused
from services.api_common import Caller, HeaderProblem, etag, own_case, parse_if_match
from services.api_limits import ITEM_LENGTHS, MAX_ITEMS, TEXT_LENGTHS, Day, text
from services.bootstrap import Node
from services.node_lock import NodeLock

__all__ = [
    "CASEWORK",
    "ENVELOPE",
    "FAMILY_BEHALF",
    "FORENSIC",
    "REVIEWERS",
    "ROUTES",
    "Country",
    "Route",
    "add_command",
    "body_model",
]

# imported_from: set by an import (services/importing.py), never by a request body.
ENVELOPE = frozenset({"command_id", "recorded_by", "purpose", "expected_version", "extra", "imported_from"})

FORENSIC = frozenset({"forensic_expert", "geneticist"})
REVIEWERS = frozenset(vocabulary.MATCH_REVIEWER_ROLES)
# Consent and erasure are the family's; a caseworker may record them on the family's behalf.
FAMILY_BEHALF = frozenset({"caseworker", "node_operator"})
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
        FAMILY_BEHALF,
        "case_id",
        family=True,
    ),
    Route(
        "/cases/{case_id}/consent-withdrawals",
        WithdrawConsent,
        "withdraw_consent",
        "Withdraw consent for a purpose",
        FAMILY_BEHALF,
        "case_id",
        family=True,
    ),
    Route(
        "/cases/{case_id}/withholding",
        WithholdSharing,
        "withhold_sharing",
        "Withhold the case from countries (the one a refugee fled), whatever the agreements say",
        CASEWORK - {"consular_officer"},
        "case_id",
    ),
    Route("/cases/{case_id}/links", LinkCases, "link_cases", "Link two cases", CASEWORK, "case_id"),
    Route(
        "/cases/{case_id}/distinct",
        JudgeCasesDistinct,
        "judge_cases_distinct",
        "Judge two cases proposed as possible duplicates to be two people (not proposed again)",
        CASEWORK,
        "case_id",
    ),
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
        "/cases/{case_id}/identification-reopening",
        ReopenIdentification,
        "reopen_identification",
        "Reopen the identification after its match was revised at another node",
        REVIEWERS,
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
    Route(
        "/cases/{case_id}/best-interests",
        DetermineBestInterests,
        "determine_best_interests",
        "Decide, in a located minor's best interests, whether their whereabouts are shared",
        frozenset(vocabulary.BEST_INTERESTS_ROLES),
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
        FAMILY_BEHALF,
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
    Route(
        "/remains/{remains_id}/identification",
        IdentifyRemains,
        "identify_remains",
        "Record the remains' identification through a confirmed match",
        REVIEWERS,
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
    Route(
        "/samples/{sample_id}/donor-consent-withdrawal",
        WithdrawDonorConsent,
        "withdraw_donor_consent",
        "Record that the donor withdrew their consent (the sample's data is erased)",
        FORENSIC | FAMILY_BEHALF,
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
    Route(
        "/matches/{match_id}/revision",
        ReviseMatch,
        "revise_match",
        "Revise a confirmed match (its identification reopens)",
        REVIEWERS,
        "match_id",
    ),
)


_BODY_CONFIG = ConfigDict(extra="forbid")

# Fields whose values come from the ledger's vocabulary: the OpenAPI document lists them, so a
# client (and a property-based test) knows the accepted words. The domain checks them again.
_WORDS: dict[str, tuple[str, ...]] = {
    "sex": vocabulary.SEXES,
    "source": vocabulary.SOURCES,
    "source_reliability": vocabulary.RELIABILITY,
    "consent_purpose": vocabulary.PURPOSES,
    "context": vocabulary.RECOVERY_CONTEXTS,
    "condition": vocabulary.REMAINS_CONDITIONS,
    "sample_type": vocabulary.SAMPLE_TYPES,
    "donor_relationship": vocabulary.DONOR_RELATIONSHIPS,
    "kind": vocabulary.PROFILE_KINDS,
    "basis": vocabulary.MATCH_BASES,
    "outcome": vocabulary.MATCH_OUTCOMES,
    "means": vocabulary.NOTIFICATION_MEANS,
    "decision": vocabulary.BEST_INTERESTS_DECISIONS,
    "language": tuple(vocabulary.LANGUAGES),
    "languages": tuple(vocabulary.LANGUAGES),
    "addressee_kind": vocabulary.INQUIRY_ADDRESSEE_KINDS,
    "risks": vocabulary.PROTECTION_RISKS,
    "gender_identity": vocabulary.GENDER_IDENTITIES,
}
_BY_COMMAND: dict[tuple[str, str], tuple[str, ...]] = {
    ("CloseCase", "reason"): vocabulary.CLOSURE_REASONS,
    ("ReportMissingPerson", "consented_purposes"): vocabulary.PURPOSES,
    ("RecordPostMortem", "sex"): POST_MORTEM_SEXES,
    ("AnswerInquiry", "outcome"): vocabulary.INQUIRY_OUTCOMES,
    ("ReferSupport", "kind"): vocabulary.SUPPORT_KINDS,
    ("RecordSupportProvided", "outcome"): vocabulary.SUPPORT_OUTCOMES,
    ("GiveFamilyUpdate", "means"): vocabulary.UPDATE_MEANS,
}
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]


def _field_type(command: str, name: str, hint: Any) -> Any:
    """The command's own type, narrowed to the vocabulary's words, a country code's shape, a
    date's, and the lengths the domain allows text."""
    words = _BY_COMMAND.get((command, name)) or _WORDS.get(name)
    optional = type(None) in typing.get_args(hint)
    if words is not None:
        word = Literal[words]  # type: ignore[valid-type]
        if typing.get_origin(hint) is tuple:
            return tuple[word, ...]
        return word | None if optional else word
    if name in ("last_seen_country",):
        return Country
    if name == "nationalities":
        return tuple[Country, ...]
    if date in typing.get_args(hint):
        return Day | None if optional else Day
    if name in TEXT_LENGTHS and str in (hint, *typing.get_args(hint)):
        bounded = text(TEXT_LENGTHS[name], required=not optional)
        return bounded | None if optional else bounded
    if name in ITEM_LENGTHS:
        item = text(ITEM_LENGTHS[name], required=True)
        return Annotated[tuple[item, ...], Field(max_length=MAX_ITEMS)]  # type: ignore[valid-type]
    if name == "score":
        return Annotated[float, Field(ge=0.0, le=1.0)]
    return hint


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
        fields[field.name] = (_field_type(route.command.__name__, field.name, hints[field.name]), default)
    model: type[BaseModel] = create_model(f"{route.command.__name__}Body", __config__=_BODY_CONFIG, **fields)
    return model


def add_command(
    app: FastAPI,
    route: Route,
    node: Node,
    lock: NodeLock,
    caller: Any,
    acting: Acting,
    photos: Any = None,
    reported: Any = None,
) -> None:
    """acting: who may act on which record; photos: the node's PhotoStore, which ties a photo
    to the report that carries it; reported(who, case_id): what a report's response adds (its
    possible duplicates)."""
    body_type = body_model(route)

    def handle(
        body: Any, who: Caller, if_match: str | None, idempotency_key: str | None, target: uuid.UUID | None
    ) -> JSONResponse:
        if who.credential.family:
            if not route.family or target is None:
                raise HTTPException(403, "a family member's credential acts on their own case, as the family")
            own_case(who, target)
        elif who.credential.role not in route.roles:
            raise HTTPException(403, f"the role {who.credential.role} may not {route.summary.lower()}")
        elif who.jurisdiction != node.settings.node:
            # A node records what its own jurisdiction's organisations say; others go through theirs.
            raise HTTPException(
                403, f"{who.credential.organisation} does not belong to node {node.settings.node}"
            )
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 64:
            raise HeaderProblem("Idempotency-Key", "must be 1 to 64 characters")
        # Retries are scoped by credential holder; hashed so no organisation name can forge another's scope.
        scope = hashlib.sha256(who.credential.actor.organisation.encode()).hexdigest()[:16]
        command_id = f"{scope}:{idempotency_key}" if idempotency_key else f"api:{uuid.uuid4()}"
        fields = {name: getattr(body, name) for name in type(body).model_fields}
        if who.credential.family:  # what the family says of itself is theirs to say, not the body's
            for name in ("given_by", "withdrawn_by", "requested_by"):
                if name in fields:
                    fields[name] = who.credential.organisation
        if route.target is not None:
            fields[route.target] = target
        if not who.credential.family:  # the family acts on its own case, checked above
            try:
                with lock:  # before the ledger is asked anything, in words that say nothing of the record
                    acting.require(who.credential.organisation, who.purpose, fields)
            except ActRefused as refused:
                raise HTTPException(403, str(refused)) from None
        command = route.command(
            **fields,
            command_id=command_id,
            recorded_by=who.credential.actor,
            purpose=who.purpose,
            expected_version=parse_if_match(if_match) if route.target is not None else None,
        )
        photo = fields.get("photo") if photos is not None and route.command is ReportMissingPerson else None
        try:
            # A report tying a photo to itself, and a command that narrows access (a withdrawal
            # of consent, an erasure: ledger/narrowing.py), keep the lock while they commit, so
            # that nothing is decided on the record as it was before them (services/node_lock.py).
            with lock.holding(command, photo=bool(photo)):
                photo_id = (
                    photos.check_claim(photo, who.credential.actor.organisation, command_id)
                    if photo
                    else None
                )
                result = getattr(node.ledger, route.method)(command)
                if photo_id is not None:
                    photos.bind(photo_id, str(result), command_id)
        except CommandIdReused:
            raise HeaderProblem(
                "Idempotency-Key",
                "this key was already used for a different request; a retry repeats the request "
                "exactly, a new request needs a new key",
            ) from None
        if route.creates:
            record_id = str(result)
            answer: dict[str, Any] = {"id": record_id, "version": 1}
            if reported is not None and route.method == "report_missing_person":
                with lock:
                    answer["possible_duplicates"] = reported(who, record_id)
            return JSONResponse(
                answer,
                status_code=201,
                headers={"ETag": etag(1), "Location": f"{route.path}/{record_id}"},
            )
        return JSONResponse({"id": str(target), "version": int(result)}, headers={"ETag": etag(int(result))})

    parameters = [
        inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body_type),
        inspect.Parameter("who", inspect.Parameter.KEYWORD_ONLY, annotation=Caller, default=Depends(caller)),
        inspect.Parameter(
            "if_match",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str | None,
            default=Header(None, alias="If-Match", description="The version last seen (ETag)"),
        ),
        inspect.Parameter(
            "idempotency_key",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str | None,
            default=Header(
                None, alias="Idempotency-Key", description="Retries with the same key record once"
            ),
        ),
    ]
    if route.target is not None:
        parameters.append(
            inspect.Parameter(
                route.target, inspect.Parameter.KEYWORD_ONLY, annotation=uuid.UUID, default=PathParam(...)
            )
        )

    def endpoint(**kwargs: Any) -> JSONResponse:
        target = kwargs.pop(route.target) if route.target is not None else None
        return handle(kwargs["body"], kwargs["who"], kwargs["if_match"], kwargs["idempotency_key"], target)

    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = route.method
    status = 201 if route.creates else 200
    app.post(route.path, summary=route.summary, status_code=status, response_model=None)(endpoint)
