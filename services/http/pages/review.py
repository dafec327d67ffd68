"""Server-rendered pages for commissions and investigators: a case's timeline with its
sources, the custody chain of its samples, its matches and who read it; filters by event type
and date; printable. No front-end build step: Jinja2 templates and one stylesheet.

A browser signs in with its organisation's token through a form that carries a form token;
the node then keeps a session of its own (services/sessions.py) whose random id alone goes in
an HttpOnly, SameSite=Strict cookie for the pages: the token never does. Every page is read
through the same access rules and consent checks as the API, and opening a case is an audited
read like any other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ledger.access_rules import AccessRules
from ledger.errors import CaseNotFound, InvalidField, LedgerError
from ledger.vocabulary import PURPOSES
from projections.views import ForensicRow
from services import case_search
from services.bootstrap import Node
from services.caller_view import CallerView, ledger_withholding
from services.http.common import jurisdiction_of
from services.http.pages.statistics import add_statistics_pages
from services.readable import plain
from services.reading import CaseReading, Entry, ReadRefused
from services.sessions import Guard
from services.tokens import Credential, TokenStore
from services.web_security import attempt_keys, set_session_cookie

__all__ = ["COOKIE", "KIND", "MATCH_OUTCOMES", "READERS", "SampleCustody", "add_pages", "templates"]

COOKIE = "caseledger_session"
KIND = "pages"
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

templates = Environment(
    loader=PackageLoader("services.http.pages", "templates"), autoescape=select_autoescape(["html"])
)
templates.filters["plain"] = plain  # values as people read them, never a Python repr


@dataclass(frozen=True)
class SampleCustody:
    row: ForensicRow
    custody: list[Entry]


# A match's status as a reviewer reads it: the outcome of its review, not just "reviewed".
MATCH_OUTCOMES = {
    "proposed": "proposed, awaiting review",
    "confirmed": "confirmed",
    "rejected": "rejected",
    "more_evidence_needed": "inconclusive: more evidence needed",
    "revised": "revised after confirmation",
    "reviewed": "reviewed (the outcome is forensic, which you may not read)",
}


def _match(row: ForensicRow, entries: list[Entry]) -> dict[str, Any]:
    proposed = entries[0].fields if entries else {}
    reviews = [
        {
            "outcome": MATCH_OUTCOMES.get(str(e.fields.get("outcome")), "withheld"),
            "by": f"{e.recorded_by['organisation']} ({e.recorded_by['role']})",
            "when": e.occurred_at,
        }
        for e in entries
        if e.event_type == "MatchReviewed"
    ]
    # The views of a node hold no forensic tier; the audited read of the match (entries) may.
    status = row.status
    seen = [str(e.fields.get("outcome")) for e in entries if e.event_type == "MatchReviewed"]
    seen = [o for o in seen if o in MATCH_OUTCOMES]
    if status == "reviewed" and seen:
        status = seen[-1]
    return {
        "aggregate_id": row.aggregate_id,
        "status": status,
        "outcome": MATCH_OUTCOMES.get(status, status.replace("_", " ")),
        "reviews": reviews,
        "remains_id": proposed.get("remains_id"),
        "basis": proposed.get("basis"),
        "score": proposed.get("score"),
    }


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("lang", "en")
    if status >= 400 and "back" not in context:  # a way back from every refusal
        context["back"] = ("/pages/cases", "Back to the case list")
    context.setdefault("footer", "caseledger · what this page shows is what the access rules allow you")
    context.setdefault("t", _TEXT)
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def add_pages(
    app: FastAPI,
    node: Node,
    rules: AccessRules | None,
    tokens: TokenStore,
    lock: Any,
    sync: Any,
    guard: Guard,
) -> None:
    reading = CaseReading(node, rules)

    def signed_in(request: Request) -> tuple[Credential, str] | None:
        session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
        if session is None or session.token_id is None or session.purpose is None:
            return None
        credential = tokens.by_id(session.token_id)  # revoked or expired since: signed out
        if credential is None or credential.family or credential.role not in READERS:
            return None
        if rules is not None and credential.organisation not in rules.organisations:
            return None
        return credential, session.purpose

    def login_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
        """The sign-in form, in the browser's session (one started for it if it has none)."""
        session_id = request.cookies.get(COOKIE)
        session = guard.sessions.get(session_id, KIND)
        if session is None:
            session_id, session = guard.sessions.start(KIND)
        response = _page(
            "login.html",
            status,
            title="Case review: sign in",
            action="/pages/login",
            purposes=PURPOSES,
            purpose="accountability",
            csrf=session.csrf,
            error=error,
            back=None,
        )
        set_session_cookie(response, request, COOKIE, str(session_id), "/pages")
        return response

    @app.get("/pages/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request) -> HTMLResponse:
        return login_page(request)

    @app.post("/pages/login", include_in_schema=False)
    def login(
        request: Request,
        token: str = Form(""),
        purpose: str = Form("accountability"),
        csrf: str = Form(""),
    ) -> Response:
        session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
        if session is None or not session.same_form(csrf):
            return login_page(request, "The sign-in form had expired: sign in again.", 403)
        keys = attempt_keys(request, token)
        wait = guard.throttle.retry_after(keys)
        if wait is not None:
            refused = login_page(request, f"Too many failed sign-ins: try again in {wait} s.", 429)
            refused.headers["Retry-After"] = str(wait)
            return refused
        credential = tokens.verify(token.strip())
        refused_here = credential is None or credential.family or credential.role not in READERS
        if not refused_here and rules is not None and credential is not None:
            refused_here = credential.organisation not in rules.organisations
        if refused_here or credential is None:
            guard.throttle.failed(keys)
            return login_page(request, "That token does not open the case review pages.", 401)
        if purpose not in PURPOSES:
            return login_page(request, f"{purpose!r} is not a purpose of the network.", 422)
        guard.throttle.succeeded(keys[1:])  # the address keeps its count: one good token is no pass
        session_id = guard.sessions.sign_in(request.cookies.get(COOKIE), KIND, credential.token_id, purpose)
        landing = "/pages/statistics" if purpose == "statistics" else "/pages/cases"
        response = RedirectResponse(landing, status_code=303)
        set_session_cookie(response, request, COOKIE, session_id, "/pages")
        return response

    @app.get("/pages/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        guard.sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse("/pages/login", status_code=303)
        response.delete_cookie(COOKIE, path="/pages")
        return response

    @app.get("/pages/cases", response_class=HTMLResponse, include_in_schema=False)
    def case_list(request: Request) -> Response:
        who = signed_in(request)
        if who is None:
            return RedirectResponse("/pages/login", status_code=303)
        credential, purpose = who
        if purpose == "statistics":  # statistics count cases, they list none
            return RedirectResponse("/pages/statistics", status_code=303)
        jurisdiction = jurisdiction_of(rules, credential, node.settings.node)
        asked = dict(request.query_params)
        try:
            search = case_search.from_query(request.query_params.multi_items())
        except InvalidField as error:
            return _page(
                "cases.html", 422, title="Cases", found=None, asked=asked, who=credential.organisation,
                purpose=purpose, jurisdiction=jurisdiction, error=str(error), statuses=case_search.STATUSES,
                age_bands=case_search.AGE_BANDS,
            )  # fmt: skip
        with lock:
            sync(jurisdiction)
            view = CallerView(
                node.views(jurisdiction),
                rules,
                credential.organisation,
                purpose,
                withheld=ledger_withholding(node.ledger),
            )
            found = case_search.find(view.views, case_search.reader(view), search)
        following = None
        if found.next_cursor:
            following = "/pages/cases?" + urlencode(
                {**{k: v for k, v in asked.items() if v}, "cursor": found.next_cursor}
            )
        return _page(
            "cases.html",
            title="Cases",
            found=found,
            asked=asked,
            following=following,
            who=credential.organisation,
            purpose=purpose,
            jurisdiction=jurisdiction,
            statuses=case_search.STATUSES,
            age_bands=case_search.AGE_BANDS,
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
            return _page("base.html", 404, title="No such case", error=f"case: {case_id!r} is not a case id")
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
                seen = CallerView(
                    node.views(jurisdiction),
                    rules,
                    credential.organisation,
                    purpose,
                    withheld=ledger_withholding(node.ledger),
                )
                samples = [SampleCustody(seen.forensic_row(rows[i]), steps) for i, steps in linked_samples]
                matches = [_match(seen.forensic_row(rows[i]), steps) for i, steps in linked_matches]
                reads = node.ledger.reads_of(case_uuid)
        except (CaseNotFound, ReadRefused) as error:
            status = 404 if isinstance(error, CaseNotFound) else 403
            return _page("base.html", status, title="Case not shown", error=str(error), purpose=purpose)
        except LedgerError as error:
            return _page("base.html", 400, title="Case not shown", error=str(error))
        first, last = _day(since), _day(until)
        entries = [
            e
            for e in dossier.entries
            if (not event_type or e.event_type == event_type)
            and (first is None or e.happened.date() >= first)
            and (last is None or e.happened.date() <= last)
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
            who_name=_name(rules, credential.organisation),
            role=credential.role,
            purpose=purpose,
            now=datetime.now(UTC),
        )

    add_statistics_pages(app, node, rules, lock, sync, signed_in, _page)


def _name(rules: AccessRules | None, organisation: str) -> str:
    known = rules.organisations.get(organisation) if rules else None
    return known.name if known else organisation
