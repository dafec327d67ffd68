"""Pages for families, in Spanish and English: with their own credential a family member
consults everything held about their case and who read it, corrects it, gives or withdraws
consent purpose by purpose, and asks for erasure. Every consultation is recorded as a read,
every change is an event on the ledger; the original of a correction stays in the history.

A family signs in with the short code its caseworker gives it (`caseledger family-code CASE
--for NAME`, services/family_codes.py), or a family token (`caseledger token issue NAME --role
family_member --case CASE`); either opens that case only. Signing in starts a session held at the
node (services/http/sessions.py) whose random id alone is in the cookie; every form, the sign-in
form included, carries the session's form token, besides the SameSite=Strict cookie and the
node's check of Origin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledger.application import CaseLedger
from ledger.case import identified_remains
from ledger.commands import AMENDABLE
from ledger.course import course_of
from ledger.remains_course import resting_of
from ledger.vocabulary import PURPOSES
from services.family_codes import FamilyCodes
from services.http import deps
from services.http.pages.family_view import Words
from services.http.pages.family_words import TEXT
from services.http.pages.review import templates
from services.http.sessions import Guard
from services.http.web_security import attempt_keys, set_session_cookie
from services.node_lock import NodeLock
from services.reading import CaseReading
from services.tokens import Credential, TokenStore

__all__ = [
    "COOKIE",
    "KIND",
    "NOTICES",
    "FamilyCase",
    "Signed",
    "case_page",
    "family_case",
    "family_course",
    "family_session",
    "lang_of",
    "node_today",
    "render",
    "resting_place",
    "router",
]

COOKIE = "caseledger_family"
KIND = "family"
NOTICES = ("amended", "granted_notice", "withdrawn_notice", "erased_notice")

assert set(TEXT["es"]["amendable"]) <= set(AMENDABLE), "the pages offer only what the ledger amends"

Signed = tuple[Credential, str]
"""The signed-in family member and their session's form token."""

router = APIRouter()


def family_course(case: Any, ledger: Any = None) -> dict[str, Any]:
    """What the family is owed of the search, in plain terms: who was asked and whether they
    answered, the support offered, and when they will hear next (and whether that is late)."""
    course = course_of(case)
    cadence = course["cadence"]
    today = node_today()
    return {
        "inquiries": [
            {**i, "answered": i["answer"] is not None}
            for _, i in sorted(course["inquiries"].items(), key=lambda kv: int(kv[0]))
        ],
        "referrals": [r for _, r in sorted(course["referrals"].items(), key=lambda kv: int(kv[0]))],
        "next_news": None
        if cadence is None
        else {
            "due": cadence["next_due"],
            "focal_point": cadence["focal_point"],
            "late": cadence["next_due"] is not None and str(cadence["next_due"]) < today.isoformat(),
        },
        "care": case.handle_with_care,
        "rests": resting_place(case, ledger),
    }


def resting_place(case: Any, ledger: Any) -> str | None:
    """Where the family's relative rests: buried at home after a repatriation, or in the grave
    where remains identified as them are held at this node."""
    home = case.__dict__.get("resting_place")
    if home:
        return str(home)
    for remains_id in identified_remains(case):
        try:
            remains = ledger.repository.get(uuid.UUID(remains_id))
        except Exception:  # held at another node: that node's family page says it
            continue
        buried = resting_of(remains)["buried"] if hasattr(remains, "identified_as") else None
        if buried:
            return f"{buried['cemetery']}, {buried['grave']}"
    return None


def node_today() -> date:
    return datetime.now(UTC).date()


def lang_of(value: str | None) -> str:
    return value if value in TEXT else "es"


def family_session(
    request: Request,
    guard: Guard = Depends(deps.guard),
    tokens: TokenStore = Depends(deps.token_store),
) -> Signed | None:
    """The signed-in family member and their session's form token (None: not signed in)."""
    session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
    if session is None or session.token_id is None:
        return None
    credential = tokens.by_id(session.token_id)  # revoked or expired since: signed out
    return (credential, session.csrf) if credential is not None and credential.family else None


@dataclass(frozen=True)
class FamilyCase:
    """What the family's case page reads and its forms change: the node's lock, the audited
    consultation and the ledger."""

    lock: NodeLock
    reading: CaseReading
    ledger: CaseLedger


def family_case(
    lock: NodeLock = Depends(deps.node_lock),
    reading: CaseReading = Depends(deps.reading),
    ledger: CaseLedger = Depends(deps.case_ledger),
) -> FamilyCase:
    return FamilyCase(lock, reading, ledger)


def render(name: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
    t = TEXT[lang]
    page = templates.get_template(name).render(
        lang=lang,
        other_lang="en" if lang == "es" else "es",
        t=t,
        footer="caseledger",
        family_page=True,
        **context,
    )
    return HTMLResponse(page, status_code=status)


def login_page(
    request: Request, guard: Guard, lang: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    session_id = request.cookies.get(COOKIE)
    session = guard.sessions.get(session_id, KIND)
    if session is None:
        session_id, session = guard.sessions.start(KIND)
    response = render(
        "login.html",
        lang,
        status,
        title=TEXT[lang]["login_title"],
        action=f"/family/login?lang={lang}",
        csrf=session.csrf,
        error=error,
    )
    set_session_cookie(response, request, COOKIE, str(session_id), "/family")
    return response


def case_page(
    held: FamilyCase,
    signed: Signed,
    lang: str,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    credential, csrf = signed
    case_id = uuid.UUID(str(credential.case_id))
    with held.lock:
        dossier = held.reading.consult(case_id, credential.actor)
        case = held.ledger.get_case(case_id)
    consents = {p for p in PURPOSES if case.has_consent(p)}
    # What staff granted for the family is shown to it, so it can take it back.
    on_behalf = {p: o for p, o in getattr(case, "consents_on_behalf", {}).items() if p in consents}
    words = Words(lang, held.reading.rules)
    reads, own_visits = words.reads(dossier)
    person = case.person or {}
    name = " ".join(str(person.get(k) or "") for k in ("given_names", "first_surname", "second_surname"))
    return render(
        "family.html",
        lang,
        422 if error else 200,
        title=TEXT[lang]["title"],
        person_name=" ".join(name.split()),
        case_status=words.status(dossier.status),
        entries=[words.entry(e) for e in dossier.entries],
        reads=reads,
        own_visits=own_visits,
        mandates=words.mandates(),
        on_behalf_names={p: words.organisation(o) for p, o in on_behalf.items()},
        consents=consents,
        on_behalf=on_behalf,
        course=family_course(case, held.ledger),
        purposes=[p for p in PURPOSES if p != "statistics"],
        csrf=csrf,
        notice=notice,
        error=error,
    )


@router.get("/family/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, lang: str | None = None, guard: Guard = Depends(deps.guard)) -> HTMLResponse:
    return login_page(request, guard, lang_of(lang))


def _attempt_keys(request: Request, token: str, codes: FamilyCodes) -> list[str]:
    """What a failed sign-in is counted under: the address, and the token's id or, for a short
    code, its HMAC's id."""
    keys = attempt_keys(request, token)
    if not token.strip().startswith("clt_"):  # a short code: failures counted under its HMAC's id
        keys = [keys[0], f"code:{codes.code_id(token)}"]
    return keys


@router.post("/family/login", include_in_schema=False)
def login(
    request: Request,
    lang: str | None = None,
    token: str = Form(""),
    csrf: str = Form(""),
    guard: Guard = Depends(deps.guard),
    tokens: TokenStore = Depends(deps.token_store),
    codes: FamilyCodes = Depends(deps.family_codes),
) -> Response:
    language = lang_of(lang)
    session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
    if session is None or not session.same_form(csrf):
        return login_page(request, guard, language, TEXT[language]["form_expired"], 403)
    keys = _attempt_keys(request, token, codes)
    wait = guard.throttle.retry_after(keys)
    if wait is not None:
        minutes = max(1, -(-wait // 60))
        throttled = TEXT[language]["throttled"].format(minutes=minutes)
        refused = login_page(request, guard, language, throttled, 429)
        refused.headers["Retry-After"] = str(wait)
        return refused
    text = token.strip()
    credential = tokens.verify(text) if text.startswith("clt_") else codes.verify(text)
    if credential is None or not credential.family:
        guard.throttle.failed(keys)
        return login_page(request, guard, language, TEXT[language]["bad_token"], 401)
    guard.throttle.succeeded(keys[1:])  # the address keeps its count: one good token is no pass
    session_id = guard.sessions.sign_in(request.cookies.get(COOKIE), KIND, credential.token_id, None)
    response = RedirectResponse(f"/family?lang={language}", status_code=303)
    set_session_cookie(response, request, COOKIE, session_id, "/family")
    return response


@router.get("/family/logout", include_in_schema=False)
def logout(request: Request, lang: str | None = None, guard: Guard = Depends(deps.guard)) -> Response:
    guard.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse(f"/family/login?lang={lang_of(lang)}", status_code=303)
    response.delete_cookie(COOKIE, path="/family")
    return response


@router.get("/family", response_class=HTMLResponse, include_in_schema=False)
def home(
    lang: str | None = None,
    done: str | None = None,
    signed: Signed | None = Depends(family_session),
    held: FamilyCase = Depends(family_case),
) -> Response:
    language = lang_of(lang)
    if signed is None:
        return RedirectResponse(f"/family/login?lang={language}", status_code=303)
    notice = TEXT[language][done] if done in NOTICES else None
    return case_page(held, signed, language, notice=notice)
