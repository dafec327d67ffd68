"""Every command of the registry (services/command_registry.py) as an HTTP route, its body
the command's own dataclass's fields (services/command_bodies.py). The envelope (who, why,
which version, which retry) comes from the request's credential and headers, never from the
body; who may issue it is the ledger's rule (ledger/command_roles.py)."""

from __future__ import annotations

import hashlib
import inspect
import uuid
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from ledger.command_roles import may_run
from ledger.commands import ReportMissingPerson
from ledger.errors import CommandIdReused
from services.acting import Acting, ActRefused
from services.bootstrap import Node
from services.command_bodies import body_model
from services.command_registry import Route
from services.http.common import Caller, HeaderProblem, etag, own_case, parse_if_match
from services.node_lock import NodeLock

__all__ = ["add_command"]


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
        elif not may_run(route.method, who.credential.role):
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
