"""The node's HTTP API (FastAPI; the OpenAPI document at /openapi.json).

Every request carries a bearer token (services/tokens.py) and states its purpose in the
X-Purpose header. Commands take an Idempotency-Key (a retry with the same key returns what
the first attempt did, and records nothing new) and, on an existing record, If-Match with
the version the caller last saw (a stale one gets 409 and the current version). Reads go
through the access rules and the family's consent; a read above the common tier, and any
refusal, is recorded on the ledger before anything is returned. Every error body names the
field or header at fault; nothing unexpected reaches a caller as a stack trace.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ledger.access_rules import AccessRules
from ledger.access_rules import load as load_rules
from ledger.errors import (
    ConsentRequired,
    InvalidField,
    LedgerError,
    NotFound,
    RuleBroken,
    VersionConflict,
)
from ledger.vocabulary import PURPOSES
from projections.statistics import monthly
from services.api_commands import ROUTES, Route, body_model
from services.bootstrap import Node
from services.history import case_as_of, diff, visible_fields
from services.reading import CaseReading, ReadRefused
from services.tokens import Credential, TokenStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
FORENSIC_LISTS = (("remains", "UnidentifiedRemains"), ("samples", "Sample"), ("matches", "Match"))


def _problem(status: int, loc: list[str], message: str, kind: str, **extra: Any) -> JSONResponse:
    """An error body in FastAPI's own shape: detail[].loc names the field or header."""
    return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": kind}], **extra}, status_code=status)


class Caller(BaseModel):
    """Who is asking, for what, on behalf of which jurisdiction's view."""

    credential: Credential
    purpose: str
    jurisdiction: str

    model_config = {"arbitrary_types_allowed": True}


class BodyLimit:
    """Refuses a request body over the limit with 413, before the application reads it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send, int(declared))
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge(seen)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge as error:
            await self._refuse(scope, send, error.size)

    async def _refuse(self, scope: dict[str, Any], send: Any, size: int) -> None:
        response = _problem(
            413,
            ["body"],
            f"the body ({size} bytes or more) is over the limit of {self.limit} bytes",
            "too_large",
        )
        await response(scope, lambda: _empty(), send)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _empty() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise _HeaderProblem("If-Match", f'{value!r} is not a version this API gave (an ETag like "3")')
    return int(text)


class _HeaderProblem(Exception):
    def __init__(self, header: str, message: str) -> None:
        super().__init__(message)
        self.header, self.message = header, message


def create_app(
    node: Node, tokens: TokenStore, *, max_body_bytes: int = MAX_BODY_BYTES, catch_up: bool = False
) -> FastAPI:
    """The API of one node. Calls into the node are serialised: its stores are not all
    safe to share between threads, and one node's command rate is well within one lock.
    catch_up: publish and project before each read of the views (a node without background
    relay and projector threads); `caseledger serve` runs those threads instead."""
    rules: AccessRules | None = load_rules(node.settings.access_rules) if node.settings.access_rules else None
    lock = threading.RLock()
    app = FastAPI(
        title="caseledger",
        version="1",
        description="A node of the transnational case ledger for missing migrants.",
    )
    app.state.node = node
    app.add_middleware(BodyLimit, limit=max_body_bytes)

    def sync(jurisdiction: str) -> None:
        if catch_up:
            node.sync(jurisdiction)

    def jurisdiction_of(credential: Credential) -> str:
        if rules is not None and credential.organisation in rules.organisations:
            return rules.organisations[credential.organisation].jurisdiction
        return node.settings.node

    def caller(
        authorization: str | None = Header(None, description="Bearer <token>"),
        purpose: str = Header(..., alias="X-Purpose", description=f"One of: {', '.join(PURPOSES)}"),
    ) -> Caller:
        token = (authorization or "").removeprefix("Bearer ").strip()
        credential = tokens.verify(token) if token else None
        if credential is None:
            raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        if purpose not in PURPOSES:
            raise _HeaderProblem("X-Purpose", f"{purpose!r} is not one of {', '.join(PURPOSES)}")
        if rules is not None and not credential.family and credential.organisation not in rules.organisations:
            raise HTTPException(
                403, f"{credential.organisation} is not an organisation of the network's rules"
            )
        return Caller(credential=credential, purpose=purpose, jurisdiction=jurisdiction_of(credential))

    # ------------------------------------------------------------------ errors

    @app.exception_handler(_HeaderProblem)
    def header_problem(request: Request, error: _HeaderProblem) -> JSONResponse:
        return _problem(422, ["header", error.header], error.message, "invalid_header")

    @app.exception_handler(_QueryProblem)
    def query_problem(request: Request, error: _QueryProblem) -> JSONResponse:
        return _problem(422, ["query", error.name], error.message, "invalid_query")

    @app.exception_handler(InvalidField)
    def invalid_field(request: Request, error: InvalidField) -> JSONResponse:
        return _problem(422, ["body", *error.field.split(".")], error.problem, "invalid_field")

    @app.exception_handler(VersionConflict)
    def conflict(request: Request, error: VersionConflict) -> JSONResponse:
        response = _problem(
            409, ["header", "If-Match"], str(error), "version_conflict", current_version=error.current
        )
        response.headers["ETag"] = _etag(error.current)
        return response

    @app.exception_handler(NotFound)
    def not_found(request: Request, error: NotFound) -> JSONResponse:
        return _problem(404, ["path", f"{error.kind}_id"], str(error), "not_found")

    @app.exception_handler(ConsentRequired)
    def no_consent(request: Request, error: ConsentRequired) -> JSONResponse:
        return _problem(403, ["header", "X-Purpose"], str(error), "consent_required")

    @app.exception_handler(ReadRefused)
    def refused(request: Request, error: ReadRefused) -> JSONResponse:
        return _problem(403, ["header", "X-Purpose"], str(error), "read_refused")

    @app.exception_handler(RuleBroken)
    def rule_broken(request: Request, error: RuleBroken) -> JSONResponse:
        return _problem(409, ["body"], str(error), "rule_broken")

    @app.exception_handler(LedgerError)
    def ledger_error(request: Request, error: LedgerError) -> JSONResponse:
        return _problem(400, ["body"], str(error), "refused")

    @app.exception_handler(Exception)
    def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("api: unexpected %s on %s %s", type(error).__name__, request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the node's log names it"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    def unreadable(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    # ------------------------------------------------------------------ commands

    for route in ROUTES:
        _add_command(app, route, node, lock, caller)

    # ------------------------------------------------------------------ reads

    reading = CaseReading(node, rules)

    @app.get("/cases", summary="The cases this caller's jurisdiction may see (at most the common tier)")
    def list_cases(who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        _not_family(who)
        with lock:
            sync(who.jurisdiction)
            return [asdict(row) for row in node.views(who.jurisdiction).cases()]

    @app.get("/cases/{case_id}", summary="One case as the rules let this caller read it (reads are audited)")
    def read_case(case_id: uuid.UUID, who: Caller = Depends(caller)) -> JSONResponse:
        with lock:
            if who.credential.family:
                _own_case(who, case_id)
                dossier = reading.consult(case_id, who.credential.actor)
            else:
                dossier = reading.read(case_id, who.credential.actor, who.purpose, interface="http")
            version = node.ledger.get_case(case_id).version
        return JSONResponse(_jsonable(asdict(dossier)), headers={"ETag": _etag(version)})

    @app.get("/cases/{case_id}/history", summary="The case as this jurisdiction could see it at an instant")
    def history(
        case_id: uuid.UUID,
        as_of: datetime | None = None,
        since: datetime | None = None,
        who: Caller = Depends(caller),
    ) -> dict[str, Any]:
        """as_of: the instant (ISO 8601 with zone; default now). since: also say what changed
        between since and as_of."""
        _not_family(who)
        for name, instant in (("as_of", as_of), ("since", since)):
            if instant is not None and instant.tzinfo is None:
                raise _QueryProblem(name, "needs a time zone (Z or +hh:mm)")
        with lock:
            sync(who.jurisdiction)
            views = node.views(who.jurisdiction)
            if since is not None:
                return diff(views, str(case_id), since, as_of or datetime.now(UTC))
            found = case_as_of(views, str(case_id), as_of)
        if not found.events:
            raise HTTPException(404, f"case {case_id}: nothing {who.jurisdiction} could see by then")
        return found.as_dict()

    @app.get(
        "/timeline/{aggregate_id}", summary="Every event of a case, remains, sample or match this view shows"
    )
    def timeline(aggregate_id: uuid.UUID, who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        _not_family(who)
        with lock:
            sync(who.jurisdiction)
            entries = node.views(who.jurisdiction).timeline(str(aggregate_id))
        if not entries:
            raise HTTPException(404, f"{aggregate_id}: nothing {who.jurisdiction} can see")
        return [
            {
                **_jsonable({k: v for k, v in asdict(e).items() if k not in ("public", "shown")}),
                "fields": visible_fields(e),
            }
            for e in entries
        ]

    for kind, aggregate_type in FORENSIC_LISTS:
        _add_forensic_list(app, kind, aggregate_type, node, lock, caller, sync)

    @app.get(
        "/statistics", summary="Monthly counts of reported cases from the public tier; cells under 5 hidden"
    )
    def statistics(who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        _not_family(who)
        with lock:
            sync(who.jurisdiction)
            cells = monthly(node.views(who.jurisdiction))
        return [
            {"month": c.month, "last_seen_country": c.last_seen_country, "sex": c.sex, "cases": c.shown}
            for c in cells
        ]

    return app


def _add_forensic_list(
    app: FastAPI, kind: str, aggregate_type: str, node: Node, lock: Any, caller: Any, sync: Any
) -> None:
    def listing(who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        _not_family(who)
        with lock:
            sync(who.jurisdiction)
            rows = node.views(who.jurisdiction).forensic(aggregate_type)
        return [{**_jsonable(asdict(r)), "state": json.loads(r.state)} for r in rows]

    listing.__name__ = f"list_{kind}"
    app.get(f"/{kind}", summary=f"The {kind} this jurisdiction may see: status and visible fields")(listing)


class _QueryProblem(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


def _not_family(who: Caller) -> None:
    if who.credential.family:
        raise HTTPException(403, "a family member's credential opens their own case only")


def _own_case(who: Caller, case_id: uuid.UUID) -> None:
    if who.credential.case_id != str(case_id):
        raise HTTPException(403, "a family member's credential opens their own case only")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _add_command(app: FastAPI, route: Route, node: Node, lock: threading.RLock, caller: Any) -> None:
    body_type = body_model(route)

    def handle(
        body: Any, who: Caller, if_match: str | None, idempotency_key: str | None, target: uuid.UUID | None
    ) -> JSONResponse:
        if who.credential.family:
            if not route.family or target is None:
                raise HTTPException(
                    403, "a family member may consult, amend, consent or ask for erasure only"
                )
            _own_case(who, target)
        elif who.credential.role not in route.roles:
            raise HTTPException(403, f"the role {who.credential.role} may not {route.summary.lower()}")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 64:
            raise _HeaderProblem("Idempotency-Key", "must be 1 to 64 characters")
        scope = who.credential.organisation
        command_id = f"{scope}:{idempotency_key}" if idempotency_key else f"api:{uuid.uuid4()}"
        fields = {name: getattr(body, name) for name in type(body).model_fields}
        if route.target is not None:
            fields[route.target] = target
        command = route.command(
            **fields,
            command_id=command_id,
            recorded_by=who.credential.actor,
            purpose=who.purpose,
            expected_version=_if_match(if_match) if route.target is not None else None,
        )
        with lock:
            result = getattr(node.ledger, route.method)(command)
        if route.creates:
            record_id = str(result)
            return JSONResponse(
                {"id": record_id, "version": 1},
                status_code=201,
                headers={"ETag": _etag(1), "Location": f"{route.path}/{record_id}"},
            )
        return JSONResponse({"id": str(target), "version": int(result)}, headers={"ETag": _etag(int(result))})

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
