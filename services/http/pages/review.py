"""Server-rendered pages for commissions and investigators: a case's timeline with its
sources, the custody chain of its samples, its matches and who read it; filters by event type
and date; printable. No front-end build step: Jinja2 templates and one stylesheet.

A browser signs in with its organisation's token through a form that carries a form token;
the node then keeps a session of its own (services/http/sessions.py) whose random id alone goes in
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

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ledger.access_rules import AccessRules
from ledger.application import CaseLedger
from ledger.errors import CaseNotFound, InvalidField, LedgerError
from ledger.vocabulary import PURPOSES
from projections.views import ForensicRow
from services import case_search
from services.http import deps
from services.http.common import jurisdiction_of
from services.http.sessions import Guard
from services.http.view_access import ViewAccess
from services.http.web_security import attempt_keys, set_session_cookie
from services.node_lock import NodeLock
from services.readable import plain
from services.reading import CaseReading, Dossier, Entry, ReadRefused
from services.tokens import Credential, TokenStore

__all__ = [
    "COOKIE",
    "KIND",
    "MATCH_OUTCOMES",
    "READERS",
    "Reviewer",
    "SampleCustody",
    "page",
    "reviewer",
    "router",
    "templates",
]

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


Reviewer = tuple[Credential, str]
"""Who is signed in to the review pages, and the purpose they gave."""

router = APIRouter()


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


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
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


def reviewer(
    request: Request,
    guard: Guard = Depends(deps.guard),
    tokens: TokenStore = Depends(deps.token_store),
    rules: AccessRules | None = Depends(deps.rules),
) -> Reviewer | None:
    """The signed-in reviewer and their purpose; None: not signed in (or no longer may be)."""
    session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
    if session is None or session.token_id is None or session.purpose is None:
        return None
    credential = tokens.by_id(session.token_id)  # revoked or expired since: signed out
    if credential is None or not _opens_review(credential, rules):
        return None
    return credential, session.purpose


def login_page(request: Request, guard: Guard, error: str | None = None, status: int = 200) -> HTMLResponse:
    """The sign-in form, in the browser's session (one started for it if it has none)."""
    session_id = request.cookies.get(COOKIE)
    session = guard.sessions.get(session_id, KIND)
    if session is None:
        session_id, session = guard.sessions.start(KIND)
    response = page(
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


@router.get("/pages/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, guard: Guard = Depends(deps.guard)) -> HTMLResponse:
    return login_page(request, guard)


def _opens_review(credential: Credential, rules: AccessRules | None) -> bool:
    """Whether a credential opens the review pages: a reader's, of an organisation the rules know."""
    if credential.family or credential.role not in READERS:
        return False
    return rules is None or credential.organisation in rules.organisations


@router.post("/pages/login", include_in_schema=False)
def login(
    request: Request,
    token: str = Form(""),
    purpose: str = Form("accountability"),
    csrf: str = Form(""),
    guard: Guard = Depends(deps.guard),
    tokens: TokenStore = Depends(deps.token_store),
    rules: AccessRules | None = Depends(deps.rules),
) -> Response:
    session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
    if session is None or not session.same_form(csrf):
        return login_page(request, guard, "The sign-in form had expired: sign in again.", 403)
    keys = attempt_keys(request, token)
    wait = guard.throttle.retry_after(keys)
    if wait is not None:
        refused = login_page(request, guard, f"Too many failed sign-ins: try again in {wait} s.", 429)
        refused.headers["Retry-After"] = str(wait)
        return refused
    credential = tokens.verify(token.strip())
    if credential is None or not _opens_review(credential, rules):
        guard.throttle.failed(keys)
        return login_page(request, guard, "That token does not open the case review pages.", 401)
    if purpose not in PURPOSES:
        return login_page(request, guard, f"{purpose!r} is not a purpose of the network.", 422)
    guard.throttle.succeeded(keys[1:])  # the address keeps its count: one good token is no pass
    session_id = guard.sessions.sign_in(request.cookies.get(COOKIE), KIND, credential.token_id, purpose)
    landing = "/pages/statistics" if purpose == "statistics" else "/pages/cases"
    response = RedirectResponse(landing, status_code=303)
    set_session_cookie(response, request, COOKIE, session_id, "/pages")
    return response


@router.get("/pages/logout", include_in_schema=False)
def logout(request: Request, guard: Guard = Depends(deps.guard)) -> Response:
    guard.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse("/pages/login", status_code=303)
    response.delete_cookie(COOKIE, path="/pages")
    return response


@router.get("/pages/cases", response_class=HTMLResponse, include_in_schema=False)
def case_list(
    request: Request,
    who: Reviewer | None = Depends(reviewer),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    here: str = Depends(deps.node_jurisdiction),
) -> Response:
    if who is None:
        return RedirectResponse("/pages/login", status_code=303)
    credential, purpose = who
    if purpose == "statistics":  # statistics count cases, they list none
        return RedirectResponse("/pages/statistics", status_code=303)
    jurisdiction = jurisdiction_of(views.rules, credential, here)
    asked = dict(request.query_params)
    shown: dict[str, Any] = {
        "title": "Cases", "asked": asked, "who": credential.organisation, "purpose": purpose,
        "jurisdiction": jurisdiction, "statuses": case_search.STATUSES, "age_bands": case_search.AGE_BANDS,
    }  # fmt: skip
    try:
        search = case_search.from_query(request.query_params.multi_items())
    except InvalidField as error:
        return page("cases.html", 422, found=None, error=str(error), **shown)
    with lock:
        views.sync(jurisdiction)
        view = views.read_by(jurisdiction, credential.organisation, purpose)
        found = case_search.find(view.views, case_search.reader(view), search)
    following = None
    if found.next_cursor:
        following = "/pages/cases?" + urlencode(
            {**{k: v for k, v in asked.items() if v}, "cursor": found.next_cursor}
        )
    return page("cases.html", found=found, following=following, **shown)


@dataclass(frozen=True)
class _Review:
    """What a case's review page shows besides its entries: its samples' custody, its matches
    and who read it."""

    dossier: Dossier
    samples: list[SampleCustody]
    matches: list[dict[str, Any]]
    reads: Any


def _review(
    case_id: uuid.UUID,
    credential: Credential,
    purpose: str,
    jurisdiction: str,
    views: ViewAccess,
    reading: CaseReading,
    ledger: CaseLedger,
) -> _Review:
    """The audited read of the case and what is linked to it, as this reviewer may see it
    (under the node's lock, the views caught up)."""
    views.sync(jurisdiction)
    dossier = reading.read(case_id, credential.actor, purpose, interface="http")
    rows = {r.aggregate_id: r for kind in ("Sample", "Match") for r in views.of(jurisdiction).forensic(kind)}
    linked_samples, linked_matches = reading.related(case_id, credential.actor, purpose, list(rows))
    seen = views.read_by(jurisdiction, credential.organisation, purpose)
    return _Review(
        dossier,
        [SampleCustody(seen.forensic_row(rows[i]), steps) for i, steps in linked_samples],
        [_match(seen.forensic_row(rows[i]), steps) for i, steps in linked_matches],
        ledger.reads_of(case_id),
    )


def _entries(dossier: Dossier, event_type: str | None, since: str | None, until: str | None) -> list[Entry]:
    first, last = _day(since), _day(until)
    return [
        e
        for e in dossier.entries
        if (not event_type or e.event_type == event_type)
        and (first is None or e.happened.date() >= first)
        and (last is None or e.happened.date() <= last)
    ]


@router.get("/pages/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
def case_page(
    case_id: str,
    event_type: str | None = None,
    since: str | None = None,
    until: str | None = None,
    who: Reviewer | None = Depends(reviewer),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    reading: CaseReading = Depends(deps.reading),
    ledger: CaseLedger = Depends(deps.case_ledger),
    here: str = Depends(deps.node_jurisdiction),
) -> Response:
    if who is None:
        return RedirectResponse("/pages/login", status_code=303)
    credential, purpose = who
    jurisdiction = jurisdiction_of(views.rules, credential, here)
    try:
        case_uuid = uuid.UUID(case_id)
    except ValueError:
        return page("base.html", 404, title="No such case", error=f"case: {case_id!r} is not a case id")
    try:
        with lock:
            review = _review(case_uuid, credential, purpose, jurisdiction, views, reading, ledger)
    except (CaseNotFound, ReadRefused) as error:
        status = 404 if isinstance(error, CaseNotFound) else 403
        return page("base.html", status, title="Case not shown", error=str(error), purpose=purpose)
    except LedgerError as error:
        return page("base.html", 400, title="Case not shown", error=str(error))
    return page(
        "case.html",
        title=f"Case review: {case_id}",
        dossier=review.dossier,
        entries=_entries(review.dossier, event_type, since, until),
        event_types=sorted({e.event_type for e in review.dossier.entries}),
        selected_type=event_type,
        since=since,
        until=until,
        samples=review.samples,
        matches=review.matches,
        reads=review.reads,
        who=credential.organisation,
        who_name=_name(views.rules, credential.organisation),
        role=credential.role,
        purpose=purpose,
        now=datetime.now(UTC),
    )


def _name(rules: AccessRules | None, organisation: str) -> str:
    known = rules.organisations.get(organisation) if rules else None
    return known.name if known else organisation
