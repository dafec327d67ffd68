"""How each error the API knows reaches a caller: a body in FastAPI's own shape whose
detail[].loc names the field, header or query parameter at fault, and the status that says
what kind of error it is."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ledger.errors import (
    ConsentRequired,
    InvalidField,
    LedgerError,
    NotFound,
    NotOnBehalf,
    RuleBroken,
    VersionConflict,
)
from projections.views import ViewsFromLaterRelease
from services.acting import ActRefused
from services.command_bodies import VISIBLE
from services.http.common import HeaderProblem, QueryProblem, encodable, etag, problem
from services.reading import ReadRefused

__all__ = ["HANDLERS", "add_error_handlers"]


def headerproblem(request: Request, error: HeaderProblem) -> JSONResponse:
    return problem(422, ["header", error.header], error.message, "invalid_header")


def queryproblem(request: Request, error: QueryProblem) -> JSONResponse:
    return problem(422, ["query", error.name], error.message, "invalid_query")


def invalid_field(request: Request, error: InvalidField) -> JSONResponse:
    return problem(422, ["body", *error.field.split(".")], error.problem, "invalid_field")


def conflict(request: Request, error: VersionConflict) -> JSONResponse:
    response = problem(
        409, ["header", "If-Match"], str(error), "version_conflict", current_version=error.current
    )
    response.headers["ETag"] = etag(error.current)
    return response


def not_found(request: Request, error: NotFound) -> JSONResponse:
    return problem(404, ["path", f"{error.kind}_id"], str(error), "not_found")


def no_consent(request: Request, error: ConsentRequired) -> JSONResponse:
    return problem(403, ["header", "X-Purpose"], str(error), "consent_required")


def refused(request: Request, error: ReadRefused) -> JSONResponse:
    return problem(403, ["header", "X-Purpose"], str(error), "read_refused")


def not_on_behalf(request: Request, error: NotOnBehalf) -> JSONResponse:
    return problem(403, ["body", *error.rule.split(".")], error.reason, "not_on_behalf")


def rule_broken(request: Request, error: RuleBroken) -> JSONResponse:
    return problem(409, ["body"], str(error), "rule_broken")


def later_views(request: Request, error: ViewsFromLaterRelease) -> JSONResponse:
    return problem(503, ["server"], str(error), "views_from_later_release")


def act_refused(request: Request, error: ActRefused) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=403)  # as the route's own refusal


def ledger_error(request: Request, error: LedgerError) -> JSONResponse:
    return problem(400, ["body"], str(error), "refused")


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


HANDLERS = (
    (HeaderProblem, headerproblem),
    (QueryProblem, queryproblem),
    (InvalidField, invalid_field),
    (VersionConflict, conflict),
    (NotFound, not_found),
    (ConsentRequired, no_consent),
    (ReadRefused, refused),
    (NotOnBehalf, not_on_behalf),
    (RuleBroken, rule_broken),
    (ViewsFromLaterRelease, later_views),
    (ActRefused, act_refused),
    (LedgerError, ledger_error),
    (RequestValidationError, unreadable),
)


def add_error_handlers(app: FastAPI) -> None:
    for error, handler in HANDLERS:
        app.add_exception_handler(error, handler)  # type: ignore[arg-type]
