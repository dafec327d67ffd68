"""Every command of the registry (services/command_registry.py) as an HTTP route of one
APIRouter, its body the command's own dataclass's fields (services/command_bodies.py). The
envelope (who, why, which version, which retry) comes from the request's credential and
headers, never from the body; who may issue it is the ledger's rule (ledger/command_roles.py).
Each route is given what it uses (services/http/deps.py): the caller, the ledger, the node's
lock, who may act on which record, the node's jurisdiction; a report also the node's photos
and its check for possible duplicates."""

from __future__ import annotations

import hashlib
import inspect
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from ledger.application import CaseLedger
from ledger.command_roles import may_run
from ledger.commands import ReportMissingPerson
from ledger.errors import CommandIdReused
from services.acting import Acting, ActRefused
from services.command_bodies import body_model
from services.command_registry import COMMANDS, Route
from services.http import deps
from services.http.common import Caller, HeaderProblem, etag, own_case, parse_if_match
from services.node_lock import NodeLock
from services.photos import PhotoStore

__all__ = ["Given", "command_route", "router"]


@dataclass(frozen=True)
class Given:
    """What one command's route is given (services/http/deps.py)."""

    who: Caller
    ledger: CaseLedger
    lock: NodeLock
    acting: Acting
    jurisdiction: str
    photos: PhotoStore | None = None
    reported: deps.Reported | None = None


def allowed(route: Route, given: Given, target: uuid.UUID | None) -> None:
    """A family member on their own case, for a family's command; else a role the ledger lets
    issue it, of an organisation of this node's jurisdiction."""
    who = given.who
    if who.credential.family:
        if not route.family or target is None:
            raise HTTPException(403, "a family member's credential acts on their own case, as the family")
        own_case(who, target)
    elif not may_run(route.method, who.credential.role):
        raise HTTPException(403, f"the role {who.credential.role} may not {route.summary.lower()}")
    elif who.jurisdiction != given.jurisdiction:
        # A node records what its own jurisdiction's organisations say; others go through theirs.
        raise HTTPException(
            403, f"{who.credential.organisation} does not belong to node {given.jurisdiction}"
        )


def command_id(who: Caller, idempotency_key: str | None) -> str:
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 64:
        raise HeaderProblem("Idempotency-Key", "must be 1 to 64 characters")
    # Retries are scoped by credential holder; hashed so no organisation name can forge another's scope.
    scope = hashlib.sha256(who.credential.actor.organisation.encode()).hexdigest()[:16]
    return f"{scope}:{idempotency_key}" if idempotency_key else f"api:{uuid.uuid4()}"


def fields_of(route: Route, body: Any, given: Given, target: uuid.UUID | None) -> dict[str, Any]:
    """The command's fields: the body's, the path's record, and what the family says of itself."""
    who = given.who
    fields = {name: getattr(body, name) for name in type(body).model_fields}
    if who.credential.family:  # what the family says of itself is theirs to say, not the body's
        for name in ("given_by", "withdrawn_by", "requested_by"):
            if name in fields:
                fields[name] = who.credential.organisation
    if route.target is not None:
        fields[route.target] = target
    if not who.credential.family:  # the family acts on its own case, checked above
        try:
            with given.lock:  # before the ledger is asked anything, in words that say nothing of the record
                given.acting.require(who.credential.organisation, who.purpose, fields)
        except ActRefused as refused:
            raise HTTPException(403, str(refused)) from None
    return fields


def record(route: Route, command: Any, given: Given, photo: Any) -> Any:
    """The command carried out. A report tying a photo to itself, and a command that narrows
    access (a withdrawal of consent, an erasure: ledger/narrowing.py), keep the lock while they
    commit, so that nothing is decided on the record as it was before them
    (services/node_lock.py)."""
    organisation = given.who.credential.actor.organisation
    try:
        with given.lock.holding(command, photo=bool(photo)):
            store = given.photos if photo else None
            claimed = (
                store.check_claim(photo, organisation, command.command_id) if store is not None else None
            )
            result = getattr(given.ledger, route.method)(command)
            if store is not None and claimed is not None:
                store.bind(claimed, str(result), command.command_id)
    except CommandIdReused:
        raise HeaderProblem(
            "Idempotency-Key",
            "this key was already used for a different request; a retry repeats the request "
            "exactly, a new request needs a new key",
        ) from None
    return result


def handle(
    route: Route, body: Any, given: Given, if_match: str | None, key: str | None, target: uuid.UUID | None
) -> JSONResponse:
    allowed(route, given, target)
    made_id = command_id(given.who, key)
    fields = fields_of(route, body, given, target)
    command = route.command(
        **fields,
        command_id=made_id,
        recorded_by=given.who.credential.actor,
        purpose=given.who.purpose,
        expected_version=parse_if_match(if_match) if route.target is not None else None,
    )
    photo = fields.get("photo") if given.photos is not None else None
    result = record(route, command, given, photo)
    if not route.creates:
        return JSONResponse({"id": str(target), "version": int(result)}, headers={"ETag": etag(int(result))})
    record_id = str(result)
    answer: dict[str, Any] = {"id": record_id, "version": 1}
    if given.reported is not None:
        with given.lock:
            answer["possible_duplicates"] = given.reported(given.who, record_id)
    return JSONResponse(
        answer, status_code=201, headers={"ETag": etag(1), "Location": f"{route.path}/{record_id}"}
    )


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _parameters(route: Route) -> list[inspect.Parameter]:
    """The endpoint's parameters, as FastAPI reads them: the body, the headers, the path's
    record, and what the route depends on."""
    parameters = [
        inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body_model(route)),
        _keyword("who", Caller, Depends(deps.caller)),
        _keyword(
            "if_match", str | None, Header(None, alias="If-Match", description="The version last seen (ETag)")
        ),
        _keyword(
            "idempotency_key",
            str | None,
            Header(None, alias="Idempotency-Key", description="Retries with the same key record once"),
        ),
    ]
    if route.target is not None:
        parameters.append(_keyword(route.target, uuid.UUID, PathParam(...)))
    parameters += [
        _keyword("ledger", CaseLedger, Depends(deps.case_ledger)),
        _keyword("lock", NodeLock, Depends(deps.node_lock)),
        _keyword("acting", Acting, Depends(deps.acting)),
        _keyword("jurisdiction", str, Depends(deps.node_jurisdiction)),
    ]
    if route.command is ReportMissingPerson:  # a report ties its photo, and is checked for duplicates
        parameters += [
            _keyword("photos", PhotoStore, Depends(deps.photos)),
            _keyword("reported", Any, Depends(deps.reported)),
        ]
    return parameters


def command_route(router: APIRouter, route: Route) -> None:
    """The route of one command: POST at its path, 201 with the new record's id if it makes one."""

    def endpoint(**kwargs: Any) -> JSONResponse:
        target = kwargs.pop(route.target) if route.target is not None else None
        body, if_match, key = kwargs.pop("body"), kwargs.pop("if_match"), kwargs.pop("idempotency_key")
        return handle(route, body, Given(**kwargs), if_match, key, target)

    endpoint.__signature__ = inspect.Signature(_parameters(route))  # type: ignore[attr-defined]
    endpoint.__name__ = route.method
    status = 201 if route.creates else 200
    router.post(route.path, summary=route.summary, status_code=status, response_model=None)(endpoint)


router = APIRouter()
for _route in COMMANDS:
    command_route(router, _route)
