"""The node's HTTP API (FastAPI; the OpenAPI document at /openapi.json).

Every request carries a bearer token (services/tokens.py) and states its purpose in the
X-Purpose header. Commands take an Idempotency-Key (a retry with the same key returns what
the first attempt did, and records nothing new; the key sent with a different request is
refused, 422) and, on an existing record, If-Match with the version the caller last saw (a
stale one gets 409 and the current version). Reads go
through the access rules and the family's consent; a read above the common tier, and any
refusal, is recorded on the ledger before anything is returned. Every error body names the
field or header at fault; nothing unexpected reaches a caller as a stack trace.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal, get_args

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ledger.access_rules import AccessRules
from ledger.access_rules import load as load_rules
from ledger.command_roles import CASEWORK
from ledger.errors import (
    ConsentRequired,
    InvalidField,
    LedgerError,
    NotFound,
    NotOnBehalf,
    RuleBroken,
    VersionConflict,
)
from ledger.roles import KIND_ROLES
from ledger.vocabulary import PURPOSES
from projections.views import ViewsFromLaterRelease
from services.acting import Acting, ActRefused
from services.bootstrap import Node
from services.candidates import Candidates, listed
from services.command_bodies import VISIBLE
from services.command_registry import COMMANDS
from services.family_pages import add_family_pages
from services.http.admission import add_admission
from services.http.candidates import add_candidates
from services.http.commands import add_command
from services.http.common import (
    PROBLEMS,
    BodyLimit,
    Caller,
    Contained,
    HeaderProblem,
    QueryProblem,
    encodable,
    etag,
    jsonable,
    jurisdiction_of,
    own_case,
    problem,
)
from services.http.course import add_course_reads
from services.http.export import CsvLists
from services.http.family_codes import add_family_codes
from services.http.imports import MAX_IMPORT_BYTES, add_imports
from services.http.reads import add_reads
from services.http.search import add_case_list
from services.node_lock import NodeLock, share_with_group_commit
from services.operations import add_operations
from services.pages import add_pages
from services.photos import MAX_PHOTO_BYTES, MEDIA_TYPES, PhotoAltered, PhotoStore, photo_of
from services.reading import CaseReading, Dossier, ReadRefused
from services.sessions import Guard, LoginThrottle, SessionStore
from services.tokens import TokenStore
from services.web_security import (
    SameOrigin,
    SecurityHeaders,
    add_assets,
    add_docs,
    attempt_keys,
)

__all__ = ["BINARY", "MAX_BODY_BYTES", "Purpose", "add_middleware", "case_then_read", "create_app"]

log = logging.getLogger(__name__)
BINARY = {"type": "string", "format": "binary"}

Purpose = Literal["search", "forensic_identification", "family_support", "accountability", "statistics"]
assert set(get_args(Purpose)) == set(PURPOSES), "the API's purposes are the vocabulary's"

MAX_BODY_BYTES = 1_000_000


def add_middleware(app: FastAPI, node: Node, max_body_bytes: int) -> None:
    """Admission (503 + Retry-After rather than timeouts), body limits, same-origin forms,
    contained errors, security headers and CSV lists, outermost last."""
    admit = node.settings
    add_admission(app, admit.api_max_commands, admit.api_retry_after_s, admit.api_max_wait_s, admit.node)
    larger = {"/photos": MAX_PHOTO_BYTES, "/imports": MAX_IMPORT_BYTES}
    app.add_middleware(BodyLimit, limit=max_body_bytes, larger=larger)
    app.add_middleware(SameOrigin)
    app.add_middleware(Contained)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(CsvLists)  # Accept: text/csv on the lists (services/http/export.py)


def case_then_read(
    node: Node, case_id: uuid.UUID, who: Caller, audited_read: Callable[[uuid.UUID, Caller], Dossier]
) -> tuple[Any, Dossier]:
    """The case as it stands, then the audited read of it: recording the read gives the node's
    lock up (services/node_lock.py), and a command committed meanwhile must not lend the answer
    a later version than the one read. A family's own case is checked first, and a case the
    ledger does not hold is left for the read to refuse, as it always has."""
    if who.credential.family:
        own_case(who, case_id)
    try:
        case = node.ledger.get_case(case_id)
    except NotFound:
        case = None
    dossier = audited_read(case_id, who)
    return (case if case is not None else node.ledger.get_case(case_id)), dossier


def create_app(
    node: Node, tokens: TokenStore, *, max_body_bytes: int = MAX_BODY_BYTES, catch_up: bool = False
) -> FastAPI:
    """The API of one node. Calls into the node are serialised (services/node_lock.py: on
    PostgreSQL a command waiting for its commit lets the next ones decide and join it).
    catch_up: publish and project before each read of the views (a node without background
    relay and projector threads); `caseledger serve` runs those threads instead."""
    rules: AccessRules | None = load_rules(node.settings.access_rules) if node.settings.access_rules else None
    lock = NodeLock()  # given up while a command waits for its commit (services/node_lock.py)
    app = FastAPI(
        title="caseledger",
        version="1",
        description="A node of the transnational case ledger for missing migrants.",
        responses=PROBLEMS,
        docs_url=None,  # FastAPI's /docs and /redoc load their script from a CDN: add_docs, if enabled
        redoc_url=None,
    )
    app.state.node = node
    grouped = share_with_group_commit(lock, node, app.state)
    add_middleware(app, node, max_body_bytes)
    add_operations(app, node, lock)
    guard = Guard(SessionStore(), LoginThrottle(node.settings.login_attempts, node.settings.login_lockout_s))

    def sync(jurisdiction: str) -> None:
        if catch_up:
            node.sync(jurisdiction)

    def caller(
        request: Request,
        authorization: str | None = Header(None, description="Bearer <token>"),
        purpose: Purpose = Header(..., alias="X-Purpose", description="Why the caller asks"),
    ) -> Caller:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(
                401, "the Authorization header must be 'Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        keys = attempt_keys(request, token)
        wait = guard.throttle.retry_after(keys)
        if wait is not None:
            log.warning("api: a client with failed tokens is refused for %d s", wait)  # no address: personal
            raise HTTPException(
                429, f"too many failed sign-ins; try again in {wait} s", {"Retry-After": str(wait)}
            )
        credential = tokens.verify(token)
        if credential is None:
            guard.throttle.failed(keys)
            raise HTTPException(
                401,
                "a valid, unexpired bearer token is required",
                {"WWW-Authenticate": "Bearer"},
            )
        if purpose not in PURPOSES:
            raise HeaderProblem("X-Purpose", f"{purpose!r} is not one of {', '.join(PURPOSES)}")
        if rules is not None and not credential.family and credential.organisation not in rules.organisations:
            raise HTTPException(
                403, f"{credential.organisation} is not an organisation of the network's rules"
            )
        if rules is not None and not credential.family:
            kind = rules.organisations[credential.organisation].kind
            if credential.role not in KIND_ROLES[kind]:
                raise HTTPException(
                    403, f"an organisation of kind {kind} cannot hold the role {credential.role}"
                )
        return Caller(
            credential=credential,
            purpose=purpose,
            jurisdiction=jurisdiction_of(rules, credential, node.settings.node),
        )

    # ------------------------------------------------------------------ errors

    @app.exception_handler(HeaderProblem)
    def headerproblem(request: Request, error: HeaderProblem) -> JSONResponse:
        return problem(422, ["header", error.header], error.message, "invalid_header")

    @app.exception_handler(QueryProblem)
    def queryproblem(request: Request, error: QueryProblem) -> JSONResponse:
        return problem(422, ["query", error.name], error.message, "invalid_query")

    @app.exception_handler(InvalidField)
    def invalid_field(request: Request, error: InvalidField) -> JSONResponse:
        return problem(422, ["body", *error.field.split(".")], error.problem, "invalid_field")

    @app.exception_handler(VersionConflict)
    def conflict(request: Request, error: VersionConflict) -> JSONResponse:
        response = problem(
            409, ["header", "If-Match"], str(error), "version_conflict", current_version=error.current
        )
        response.headers["ETag"] = etag(error.current)
        return response

    @app.exception_handler(NotFound)
    def not_found(request: Request, error: NotFound) -> JSONResponse:
        return problem(404, ["path", f"{error.kind}_id"], str(error), "not_found")

    @app.exception_handler(ConsentRequired)
    def no_consent(request: Request, error: ConsentRequired) -> JSONResponse:
        return problem(403, ["header", "X-Purpose"], str(error), "consent_required")

    @app.exception_handler(ReadRefused)
    def refused(request: Request, error: ReadRefused) -> JSONResponse:
        return problem(403, ["header", "X-Purpose"], str(error), "read_refused")

    @app.exception_handler(NotOnBehalf)
    def not_on_behalf(request: Request, error: NotOnBehalf) -> JSONResponse:
        return problem(403, ["body", *error.rule.split(".")], error.reason, "not_on_behalf")

    @app.exception_handler(RuleBroken)
    def rule_broken(request: Request, error: RuleBroken) -> JSONResponse:
        return problem(409, ["body"], str(error), "rule_broken")

    @app.exception_handler(ViewsFromLaterRelease)
    def later_views(request: Request, error: ViewsFromLaterRelease) -> JSONResponse:
        return problem(503, ["server"], str(error), "views_from_later_release")

    @app.exception_handler(ActRefused)
    def act_refused(request: Request, error: ActRefused) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=403)  # as the route's own refusal

    @app.exception_handler(LedgerError)
    def ledger_error(request: Request, error: LedgerError) -> JSONResponse:
        return problem(400, ["body"], str(error), "refused")

    @app.exception_handler(RequestValidationError)
    def unreadable(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "loc": [encodable(str(part)) for part in e["loc"]],
                "msg": "must hold at least one visible character"
                if (e.get("ctx") or {}).get("pattern") == VISIBLE
                else encodable(e["msg"]),
                "type": e["type"],
            }
            for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    # ------------------------------------------------------------------ commands

    acting = Acting(node, rules)
    candidates = Candidates(node, rules)

    def reported(who: Caller, case_id: str) -> list[dict[str, Any]] | None:
        """A report's possible duplicates, as its recorder may see them; None (not checked)
        when the check fails: the report is recorded, and its answer must say so."""
        try:
            sync(who.jurisdiction)
            # The new case is read with the node's lock given up (a read of the event store,
            # while the next requests decide theirs); the check itself holds it.
            with lock.released() if grouped else contextlib.nullcontext():
                case = node.ledger.get_case(uuid.UUID(case_id))
            found = candidates.at_report(
                who.jurisdiction, case_id, who.credential.actor, who.purpose, "http", case=case
            )
        except Exception as error:  # the check is an aid; the report stands without it
            log.error("api: the duplicate check of a report failed: %s", type(error).__name__)
            return None
        return [listed(c, refs=candidates.references(who.jurisdiction, found)) for c in found]

    photos = PhotoStore(node.settings.data_dir / "photos", node.data_keys, node.settings.node)
    for route in COMMANDS:
        add_command(app, route, node, lock, caller, acting, photos, reported)

    # ------------------------------------------------------------------ reads

    reading = CaseReading(node, rules)

    add_case_list(app, node, rules, lock, caller, sync)

    def audited_read(case_id: uuid.UUID, who: Caller) -> Dossier:
        """The family consults its own case; anyone else reads as the rules allow. Recorded."""
        if who.credential.family:
            own_case(who, case_id)
            return reading.consult(case_id, who.credential.actor)
        return reading.read(case_id, who.credential.actor, who.purpose, interface="http")

    @app.get("/cases/{case_id}", summary="One case as the rules let this caller read it (reads are audited)")
    def read_case(case_id: uuid.UUID, who: Caller = Depends(caller)) -> JSONResponse:
        with lock:
            case, dossier = case_then_read(node, case_id, who, audited_read)
            version = case.version
        return JSONResponse(jsonable(asdict(dossier)), headers={"ETag": etag(version)})

    @app.post(
        "/photos",
        status_code=201,
        summary="Keep a photo of a missing person here, sealed; returns the reference a report carries",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {t: {"schema": BINARY} for t in MEDIA_TYPES},
            }
        },
    )
    async def upload_photo(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
        if who.credential.role not in CASEWORK and not who.credential.family:
            raise HTTPException(403, f"the role {who.credential.role} may not upload photos")
        media_type = request.headers.get("content-type", "").split(";")[0].strip()
        content = await request.body()  # BodyLimit has refused anything over the photo limit
        try:
            with lock:
                stored = photos.put(content, media_type, who.credential.actor.organisation)
        except InvalidField as error:
            if error.field == "Content-Type":
                return problem(415, ["header", "Content-Type"], error.problem, "unsupported_media_type")
            return problem(422, ["body"], error.problem, "invalid_body")
        reference = {"sha256": stored.sha256, "location": stored.location}
        return JSONResponse(
            {"photo_id": stored.photo_id, "media_type": stored.media_type, "reference": reference},
            status_code=201,
            headers={"Location": f"/photos/{stored.photo_id}"},
        )

    @app.get(
        "/cases/{case_id}/photo",
        summary="The case's photo, as a read of the case: the rules, the family's consent and the "
        "purpose decide, and the read is recorded",
        response_class=Response,
        responses={200: {"content": {t: {"schema": BINARY} for t in MEDIA_TYPES}}},
    )
    def read_photo(case_id: uuid.UUID, who: Caller = Depends(caller)) -> Response:
        with lock:
            case, dossier = case_then_read(node, case_id, who, audited_read)
            reference = case.person.get("photo") or {}
            photo_id = photo_of(str(reference.get("location", "")))
            if photo_id is None:
                raise HTTPException(404, f"case {case_id}: no photo kept at this node")
            if "common" not in dossier.tiers and not who.credential.family:
                raise HTTPException(403, "the photo is in the common tier, which this read does not open")
            try:
                content, media_type = photos.get_for_case(
                    photo_id, str(case_id), str(reference.get("sha256", ""))
                )
            except PhotoAltered as error:
                log.error("api: %s", error)  # ids and a hash only
                return problem(
                    409,
                    ["path", "case_id"],
                    "the photo kept here is not the one the case records",
                    "photo_altered",
                )
        return Response(content, media_type=media_type, headers={"Cache-Control": "no-store"})

    add_reads(app, node, rules, lock, caller, sync, catch_up)
    add_course_reads(app, node, lock, caller, acting)
    add_candidates(app, node, candidates, lock, caller, sync)
    add_imports(app, node, lock, caller)
    add_family_codes(app, node, tokens, lock, caller)
    add_pages(app, node, rules, tokens, lock, sync, guard)
    add_family_pages(app, node, reading, tokens, lock, guard)
    add_assets(app)
    if node.settings.api_docs:
        add_docs(app)

    return app
