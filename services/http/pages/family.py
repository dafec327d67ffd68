"""Pages for families, in Spanish and English: with their own credential a family member
consults everything held about their case and who read it, corrects it, gives or withdraws
consent purpose by purpose, and asks for erasure. Every consultation is recorded as a read,
every change is an event on the ledger; the original of a correction stays in the history.

A family signs in with the short code its caseworker gives it (`caseledger family-code CASE
--for NAME`, services/family_codes.py), or a family token (`caseledger token issue NAME --role
family_member --case CASE`); either opens that case only. Signing in starts a session held at the
node (services/sessions.py) whose random id alone is in the cookie; every form, the sign-in
form included, carries the session's form token, besides the SameSite=Strict cookie and the
node's check of Origin.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledger.case import identified_remains
from ledger.commands import AMENDABLE, AmendData, EraseData, GrantConsent, WithdrawConsent
from ledger.course import course_of
from ledger.errors import InvalidField, LedgerError
from ledger.remains_course import resting_of
from ledger.vocabulary import PURPOSES
from services.family_codes import FamilyCodes
from services.http.pages.family_view import Words
from services.http.pages.family_words import TEXT
from services.http.pages.review import templates
from services.reading import CaseReading
from services.sessions import Guard
from services.tokens import Credential, TokenStore
from services.web_security import attempt_keys, set_session_cookie

__all__ = ["COOKIE", "KIND", "NOTICES", "add_family_pages", "family_course", "node_today", "resting_place"]

COOKIE = "caseledger_family"
KIND = "family"
NOTICES = ("amended", "granted_notice", "withdrawn_notice", "erased_notice")

assert set(TEXT["es"]["amendable"]) <= set(AMENDABLE), "the pages offer only what the ledger amends"


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


def _lang(value: str | None) -> str:
    return value if value in TEXT else "es"


def add_family_pages(
    app: FastAPI, node: Any, reading: CaseReading, tokens: TokenStore, lock: Any, guard: Guard
) -> None:
    codes = FamilyCodes(tokens)

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

    def session_of(request: Request) -> tuple[Credential, str] | None:
        """The signed-in family member and their session's form token."""
        session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
        if session is None or session.token_id is None:
            return None
        credential = tokens.by_id(session.token_id)  # revoked or expired since: signed out
        return (credential, session.csrf) if credential is not None and credential.family else None

    def family(request: Request) -> Credential | None:
        signed = session_of(request)
        return signed[0] if signed else None

    def login_page(request: Request, lang: str, error: str | None = None, status: int = 200) -> HTMLResponse:
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
        credential: Credential, csrf: str, lang: str, notice: str | None = None, error: str | None = None
    ) -> Response:
        case_id = uuid.UUID(str(credential.case_id))
        with lock:
            dossier = reading.consult(case_id, credential.actor)
            case = node.ledger.get_case(case_id)
        consents = {p for p in PURPOSES if case.has_consent(p)}
        # What staff granted for the family is shown to it, so it can take it back.
        on_behalf = {p: o for p, o in getattr(case, "consents_on_behalf", {}).items() if p in consents}
        words = Words(lang, reading.rules)
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
            course=family_course(case, node.ledger),
            purposes=[p for p in PURPOSES if p != "statistics"],
            csrf=csrf,
            notice=notice,
            error=error,
        )

    @app.get("/family/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, lang: str | None = None) -> HTMLResponse:
        return login_page(request, _lang(lang))

    @app.post("/family/login", include_in_schema=False)
    def login(
        request: Request, lang: str | None = None, token: str = Form(""), csrf: str = Form("")
    ) -> Response:
        language = _lang(lang)
        session = guard.sessions.get(request.cookies.get(COOKIE), KIND)
        if session is None or not session.same_form(csrf):
            return login_page(request, language, TEXT[language]["form_expired"], 403)
        keys = attempt_keys(request, token)
        if not token.strip().startswith("clt_"):  # a short code: failures counted under its HMAC's id
            keys = [keys[0], f"code:{codes.code_id(token)}"]
        wait = guard.throttle.retry_after(keys)
        if wait is not None:
            minutes = max(1, -(-wait // 60))
            refused = login_page(request, language, TEXT[language]["throttled"].format(minutes=minutes), 429)
            refused.headers["Retry-After"] = str(wait)
            return refused
        text = token.strip()
        credential = tokens.verify(text) if text.startswith("clt_") else codes.verify(text)
        if credential is None or not credential.family:
            guard.throttle.failed(keys)
            return login_page(request, language, TEXT[language]["bad_token"], 401)
        guard.throttle.succeeded(keys[1:])  # the address keeps its count: one good token is no pass
        session_id = guard.sessions.sign_in(request.cookies.get(COOKIE), KIND, credential.token_id, None)
        response = RedirectResponse(f"/family?lang={language}", status_code=303)
        set_session_cookie(response, request, COOKIE, session_id, "/family")
        return response

    @app.get("/family/logout", include_in_schema=False)
    def logout(request: Request, lang: str | None = None) -> Response:
        guard.sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse(f"/family/login?lang={_lang(lang)}", status_code=303)
        response.delete_cookie(COOKIE, path="/family")
        return response

    @app.get("/family", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, lang: str | None = None, done: str | None = None) -> Response:
        signed = session_of(request)
        language = _lang(lang)
        if signed is None:
            return RedirectResponse(f"/family/login?lang={language}", status_code=303)
        notice = TEXT[language][done] if done in NOTICES else None
        return case_page(*signed, language, notice=notice)

    def act(request: Request, lang: str | None, csrf: str, do: Any, notice: str) -> Response:
        language = _lang(lang)
        signed = session_of(request)
        if signed is None:
            return RedirectResponse(f"/family/login?lang={language}", status_code=303)
        credential, form_token = signed
        if not hmac.compare_digest(csrf.encode(), form_token.encode()):
            t = TEXT[language]
            back = (f"/family?lang={language}", t["back"])
            return render("base.html", language, 403, title=t["title"], error=t["form_expired"], back=back)
        envelope = {
            "command_id": f"family:{uuid.uuid4()}",
            "recorded_by": credential.actor,
            "purpose": "family_support",
            "case_id": uuid.UUID(str(credential.case_id)),
        }
        try:
            with lock.pinned():  # a family's consent, amendment or withdrawal: committed before the next
                do(envelope)
        except InvalidField as error:
            return case_page(credential, form_token, language, error=f"{error.field}: {error.problem}")
        except LedgerError as error:
            return case_page(credential, form_token, language, error=str(error))
        # Post, then redirect: reloading the page does not send the form again.
        return RedirectResponse(f"/family?lang={language}&done={notice}", status_code=303)

    @app.post("/family/amend", response_class=HTMLResponse, include_in_schema=False)
    def amend(
        request: Request,
        lang: str | None = None,
        csrf: str = Form(""),
        field: str = Form(""),
        value: str = Form(""),
        reason: str = Form(""),
    ) -> Response:
        def do(envelope: dict[str, Any]) -> None:
            node.ledger.amend_data(AmendData(**envelope, changes={field: value}, reason=reason))

        return act(request, lang, csrf, do, "amended")

    @app.post("/family/consent", response_class=HTMLResponse, include_in_schema=False)
    def consent(
        request: Request,
        lang: str | None = None,
        csrf: str = Form(""),
        purpose: str = Form(""),
        action: str = Form(""),
    ) -> Response:
        credential = family(request)
        who = credential.organisation if credential else ""
        language = _lang(lang)  # the language the page explained the purpose in

        def do(envelope: dict[str, Any]) -> None:
            if action == "grant":
                node.ledger.grant_consent(
                    GrantConsent(**envelope, consent_purpose=purpose, given_by=who, language=language)
                )
            else:
                node.ledger.withdraw_consent(
                    WithdrawConsent(**envelope, consent_purpose=purpose, withdrawn_by=who)
                )

        return act(request, lang, csrf, do, "granted_notice" if action == "grant" else "withdrawn_notice")

    @app.post("/family/erase", response_class=HTMLResponse, include_in_schema=False)
    def erase(
        request: Request, lang: str | None = None, csrf: str = Form(""), confirm: str = Form("")
    ) -> Response:
        credential = family(request)
        language = _lang(lang)

        def do(envelope: dict[str, Any]) -> None:
            if confirm != "yes":
                raise InvalidField("confirm", TEXT[language]["confirm_first"])
            node.ledger.erase_data(
                EraseData(**envelope, requested_by=credential.organisation if credential else "")
            )

        return act(request, lang, csrf, do, "erased_notice")
