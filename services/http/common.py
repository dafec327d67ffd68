"""What the API's modules share: the caller, error bodies that name the field, the body limit,
versions as ETags."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ledger.access_rules import AccessRules
from projections.views import JurisdictionViews
from services.caller_view import CallerView, ledger_withholding
from services.tokens import Credential

__all__ = [
    "DATABASE_AWAY",
    "DATABASE_RETRY_S",
    "PROBLEMS",
    "BodyLimit",
    "Caller",
    "Contained",
    "HeaderProblem",
    "Problem",
    "ProblemItem",
    "QueryProblem",
    "TooLarge",
    "empty",
    "encodable",
    "etag",
    "jsonable",
    "jurisdiction_of",
    "not_family",
    "own_case",
    "parse_if_match",
    "problem",
    "seen_by",
]

log = logging.getLogger(__name__)


class ProblemItem(BaseModel):
    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """Every error body: detail names the field or header at fault (a list, as FastAPI's own
    validation errors), or says why in a sentence."""

    detail: list[ProblemItem] | str
    current_version: int | None = None


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in (
        (400, "Refused by the ledger's rules"),
        (401, "No valid bearer token"),
        (403, "Not allowed by the access rules, the family's consent or the caller's role"),
        (404, "No such record at this node"),
        (409, "A stale If-Match version, or the record's state forbids the command"),
        (413, "The body is over the limit"),
        (415, "A photo of a kind this node does not keep"),
        (422, "A field, header or query parameter is invalid (named in detail[].loc)"),
        (429, "Too many failed sign-ins from this address or with this token; see Retry-After"),
        (500, "An unexpected failure; the node's log names it"),
        (
            503,
            "The node is overloaded (nothing was recorded; resend with the same Idempotency-Key after "
            "Retry-After), or its views were built by a later release",
        ),
    )
}


def problem(status: int, loc: list[str], message: str, kind: str, **extra: Any) -> JSONResponse:
    """An error body in FastAPI's own shape: detail[].loc names the field or header."""
    item = {"loc": [encodable(part) for part in loc], "msg": encodable(message), "type": kind}
    return JSONResponse({"detail": [item], **extra}, status_code=status)


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """Text as a response can carry it: a lone surrogate the caller sent (in a field's name,
    echoed by an error) becomes U+FFFD instead of failing the response's UTF-8 encoding."""
    return _SURROGATE.sub("\ufffd", text)


class Caller(BaseModel):
    """Who is asking, for what, on behalf of which jurisdiction's view."""

    credential: Credential
    purpose: str
    jurisdiction: str

    model_config = {"arbitrary_types_allowed": True}


class BodyLimit:
    """Refuses a request body over the limit with 413, before the application reads it; paths
    in `larger` (a photo upload) have limits of their own."""

    def __init__(self, app: Any, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app, self.default, self.larger = app, limit, larger or {}

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, int(declared), limit)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge(seen)
            return message

        try:
            await self.app(scope, counted, send)
        except TooLarge as error:
            await self._refuse(scope, send, error.size, limit)

    async def _refuse(self, scope: dict[str, Any], send: Any, size: int, limit: int) -> None:
        response = problem(
            413,
            ["body"],
            f"the body ({size} bytes or more) is over the limit of {limit} bytes",
            "too_large",
        )
        await response(scope, lambda: empty(), send)


class Contained:
    """Turns an unexpected exception into a 500 whose body says nothing, and logs only its type:
    an exception's message can hold personal data, and neither the caller nor the server's log
    (uvicorn prints tracebacks of what reaches it) may see it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        started = False

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            log.error(
                "api: unexpected %s on %s %s", type(error).__name__, scope.get("method"), scope.get("path")
            )
            if scope["type"] == "http" and not started:
                await _contained(error)(scope, receive, send)


# The node's database away for a moment (a restart, a lost connection): the store reconnects at
# its next statement, so the caller is told to resend, as when the node is overloaded. A command
# whose commit did happen is answered with its first answer on a resend with its Idempotency-Key.
DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError)
DATABASE_RETRY_S = 2


def _contained(error: Exception) -> JSONResponse:
    if isinstance(error, DATABASE_AWAY):
        return JSONResponse(
            {
                "detail": "the node's database is unavailable for a moment; resend the same request "
                "(with its Idempotency-Key) after Retry-After"
            },
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_S)},
        )
    return JSONResponse({"detail": "internal error; the node's log names its kind"}, status_code=500)


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def empty() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise HeaderProblem("If-Match", f'{value!r} is not a version this API gave (an ETag like "3")')
    return int(text)


class HeaderProblem(Exception):
    def __init__(self, header: str, message: str) -> None:
        super().__init__(message)
        self.header, self.message = header, message


class QueryProblem(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


def not_family(who: Caller) -> None:
    """For the reads of a jurisdiction's views: not a family credential, and not for statistics
    (which read the public tier, through /statistics only)."""
    if who.credential.family:
        raise HTTPException(403, "a family member's credential opens their own case only")
    if who.purpose == "statistics":
        raise HTTPException(403, "for statistics, /statistics gives the public tier; views hold more")


def seen_by(
    who: Caller, views: JurisdictionViews, rules: AccessRules | None, ledger: Any = None
) -> CallerView:
    """The jurisdiction's views as this caller may read them (services/caller_view.py);
    ledger: the node's, whose cases may be withheld from the caller's country."""
    if ledger is None:
        return CallerView(views, rules, who.credential.organisation, who.purpose)
    return CallerView(
        views, rules, who.credential.organisation, who.purpose, withheld=ledger_withholding(ledger)
    )


def own_case(who: Caller, case_id: uuid.UUID) -> None:
    if who.credential.case_id != str(case_id):
        raise HTTPException(403, "a family member's credential opens their own case only")


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def jurisdiction_of(rules: AccessRules | None, credential: Credential, node: str) -> str:
    """Whose views a caller reads: its organisation's jurisdiction in the rules, else the node's."""
    if rules is not None and credential.organisation in rules.organisations:
        return rules.organisations[credential.organisation].jurisdiction
    return node
