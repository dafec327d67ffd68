"""Server-rendered pages for commissions and investigators: a case's timeline with its
sources, the custody chain of its samples, its matches and who read it; filters by event type
and date; printable. No front-end build step: Jinja2 templates and one stylesheet.

A browser signs in with its organisation's token, which the node keeps in an HttpOnly,
SameSite=Strict cookie for the pages only; every page is read through the same access rules
and consent checks as the API, and opening a case is an audited read like any other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ledger.access_rules import AccessRules
from ledger.errors import CaseNotFound, LedgerError
from ledger.vocabulary import PURPOSES
from projections.views import ForensicRow
from services.api_common import jurisdiction_of
from services.bootstrap import Node
from services.caller_view import CallerView
from services.reading import CaseReading, Entry, ReadRefused
from services.tokens import Credential, TokenStore

COOKIE = "caseledger_token"
PURPOSE_COOKIE = "caseledger_purpose"
READERS = (
    "commissioner",
    "investigator",
    "caseworker",
    "consular_officer",
    "forensic_expert",
    "node_operator",
)

_TEXT = {
    "login_intro": "Sign in with your organisation's caseledger token. Opening a case is recorded.",
    "token": "Token",
    "purpose": "Purpose of this review",
    "sign_in": "Sign in",
}

templates = Environment(loader=PackageLoader("services", "templates"), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class SampleCustody:
    row: ForensicRow
    custody: list[Entry]


def _match(row: ForensicRow, entries: list[Entry]) -> dict[str, Any]:
    proposed = entries[0].fields if entries else {}
    return {
        "aggregate_id": row.aggregate_id,
        "status": row.status,
        "remains_id": proposed.get("remains_id"),
        "basis": proposed.get("basis"),
        "score": proposed.get("score"),
    }


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("lang", "en")
    context.setdefault("footer", "caseledger · what this page shows is what the access rules allow you")
    context.setdefault("t", _TEXT)
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def add_pages(
    app: FastAPI, node: Node, rules: AccessRules | None, tokens: TokenStore, lock: Any, sync: Any
) -> None:
    reading = CaseReading(node, rules)

    def signed_in(request: Request) -> tuple[Credential, str] | None:
        credential = tokens.verify(request.cookies.get(COOKIE, ""))
        purpose = request.cookies.get(PURPOSE_COOKIE, "accountability")
        if credential is None or credential.family or credential.role not in READERS:
            return None  # checked on every page, not only at sign-in: a cookie can be set by hand
        if rules is not None and credential.organisation not in rules.organisations:
            return None
        if purpose not in PURPOSES or purpose == "statistics":
            return None
        return credential, purpose

    def login_page(error: str | None = None, status: int = 200) -> HTMLResponse:
        return _page(
            "login.html",
            status,
            title="Case review: sign in",
            action="/pages/login",
            purposes=PURPOSES,
            purpose="accountability",
            error=error,
        )

    @app.get("/pages/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form() -> HTMLResponse:
        return login_page()

    @app.post("/pages/login", include_in_schema=False)
    def login(request: Request, token: str = Form(""), purpose: str = Form("accountability")) -> Response:
        credential = tokens.verify(token.strip())
        if credential is None or credential.family or credential.role not in READERS:
            return login_page("That token does not open the case review pages.", 401)
        if rules is not None and credential.organisation not in rules.organisations:
            return login_page("That token does not open the case review pages.", 401)
        if purpose not in PURPOSES or purpose == "statistics":
            return login_page(f"{purpose!r} is not a purpose of the network.", 422)
        response = RedirectResponse("/pages/cases", status_code=303)
        secure = request.url.scheme == "https"
        response.set_cookie(
            COOKIE, token.strip(), httponly=True, samesite="strict", path="/pages", secure=secure
        )
        response.set_cookie(
            PURPOSE_COOKIE, purpose, httponly=True, samesite="strict", path="/pages", secure=secure
        )
        return response

    @app.get("/pages/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/pages/login", status_code=303)
        response.delete_cookie(COOKIE, path="/pages")
        response.delete_cookie(PURPOSE_COOKIE, path="/pages")
        return response

    @app.get("/pages/cases", response_class=HTMLResponse, include_in_schema=False)
    def case_list(request: Request) -> Response:
        who = signed_in(request)
        if who is None:
            return RedirectResponse("/pages/login", status_code=303)
        credential, purpose = who
        jurisdiction = jurisdiction_of(rules, credential, node.settings.node)
        with lock:
            sync(jurisdiction)
            cases = CallerView(node.views(jurisdiction), rules, credential.organisation, purpose).cases()
        return _page(
            "cases.html",
            title="Cases",
            cases=cases,
            who=credential.organisation,
            purpose=purpose,
            jurisdiction=jurisdiction,
        )

    @app.get("/pages/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(
        request: Request,
        case_id: str,
        event_type: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Response:
        who = signed_in(request)
        if who is None:
            return RedirectResponse("/pages/login", status_code=303)
        credential, purpose = who
        jurisdiction = jurisdiction_of(rules, credential, node.settings.node)
        try:
            case_uuid = uuid.UUID(case_id)
        except ValueError:
            return _page("base.html", 404, title="No such case", error=f"{case_id!r} is not a case id")
        try:
            with lock:
                sync(jurisdiction)
                dossier = reading.read(case_uuid, credential.actor, purpose, interface="http")
                rows = {
                    r.aggregate_id: r
                    for kind in ("Sample", "Match")
                    for r in node.views(jurisdiction).forensic(kind)
                }
                linked_samples, linked_matches = reading.related(
                    case_uuid, credential.actor, purpose, list(rows)
                )
                seen = CallerView(node.views(jurisdiction), rules, credential.organisation, purpose)
                samples = [SampleCustody(seen.forensic_row(rows[i]), steps) for i, steps in linked_samples]
                matches = [_match(seen.forensic_row(rows[i]), steps) for i, steps in linked_matches]
                reads = node.ledger.reads_of(case_uuid)
        except (CaseNotFound, ReadRefused) as error:
            status = 404 if isinstance(error, CaseNotFound) else 403
            return _page("base.html", status, title="Case not shown", error=str(error))
        except LedgerError as error:
            return _page("base.html", 400, title="Case not shown", error=str(error))
        first, last = _day(since), _day(until)
        entries = [
            e
            for e in dossier.entries
            if (not event_type or e.event_type == event_type)
            and (first is None or e.occurred_at.date() >= first)
            and (last is None or e.occurred_at.date() <= last)
        ]
        return _page(
            "case.html",
            title=f"Case review: {case_id}",
            dossier=dossier,
            entries=entries,
            event_types=sorted({e.event_type for e in dossier.entries}),
            selected_type=event_type,
            since=since,
            until=until,
            samples=samples,
            matches=matches,
            reads=reads,
            who=credential.organisation,
            purpose=purpose,
            now=datetime.now(),
        )
