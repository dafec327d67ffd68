"""Pages for families, in Spanish and English: with their own credential a family member
consults everything held about their case and who read it, corrects it, gives or withdraws
consent purpose by purpose, and asks for erasure. Every consultation is recorded as a read,
every change is an event on the ledger; the original of a correction stays in the history.

The credential is a token issued for the family member and their case only (`caseledger
token issue NAME --role family_member --case CASE`). Signing in starts a session held at the
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
from services.pages import templates
from services.reading import CaseReading
from services.sessions import Guard
from services.tokens import Credential, TokenStore
from services.web_security import attempt_keys, set_session_cookie

COOKIE = "caseledger_family"
KIND = "family"
NOTICES = ("amended", "granted_notice", "withdrawn_notice", "erased_notice")

TEXT: dict[str, dict[str, Any]] = {
    "es": {
        "title": "Su caso",
        "login_title": "Acceso para familias",
        "login_intro": "Entre con la clave que le dieron para su caso. Cada consulta queda registrada.",
        "token": "Clave",
        "sign_in": "Entrar",
        "sign_out": "Salir",
        "other_language": "English",
        "intro": "Aquí está todo lo que se guarda sobre su caso, quién lo anotó y quién lo consultó.",
        "status": "Estado del caso",
        "held": "Lo que se guarda",
        "what": "Qué",
        "when": "Cuándo",
        "by_whom": "Quién lo anotó",
        "details": "Datos",
        "who_read": "Quién consultó su caso",
        "who": "Quién",
        "why": "Para qué",
        "result": "Resultado",
        "granted": "se le mostró",
        "refused": "se le negó",
        "correct": "Corregir un dato",
        "field": "Dato",
        "new_value": "Valor correcto",
        "reason": "Por qué lo corrige",
        "send_correction": "Enviar la corrección",
        "consents": "Sus permisos",
        "consents_intro": "Usted decide para qué se puede usar la información de su caso.",
        "given": "permitido",
        "not_given": "no permitido",
        "on_behalf": "dado en su nombre por",
        "grant": "Permitir",
        "withdraw": "Retirar el permiso",
        "erase_title": "Borrar sus datos",
        "erase_intro": "Si pide el borrado, las claves que protegen sus datos se destruyen en todos los "
        "países; lo que se compartió no se podrá leer más. No se puede deshacer.",
        "erase_confirm": "Entiendo que no se puede deshacer",
        "erase_button": "Pedir el borrado",
        "confirm_first": "Marque la casilla para confirmar el borrado.",
        "amended": "Su corrección quedó registrada. El dato anterior se conserva en el historial.",
        "granted_notice": "Permiso registrado.",
        "withdrawn_notice": "Permiso retirado. Dejará de compartirse para ese fin.",
        "erased_notice": "Sus datos fueron borrados.",
        "bad_token": "Esa clave no abre ningún caso.",
        "form_expired": "El formulario había caducado: vuelva a entrar.",
        "throttled": "Demasiados intentos fallidos: vuelva a intentarlo en {wait} s.",
        "protected": "Parte de este dato se reserva para proteger a una persona.",
        "course": "Su búsqueda",
        "next_news": "Tendrá noticias a más tardar el {due}, de {focal_point}.",
        "news_late": "Las noticias prometidas para el {due} no han llegado: "
        "puede reclamarlas a {focal_point}.",
        "asked": "Preguntas hechas",
        "asked_line": "A {addressee} ({kind}): respuesta esperada el {due}.",
        "answered": "Ya respondió.",
        "waiting": "Sin respuesta todavía.",
        "support": "Apoyo",
        "support_line": "Apoyo {kind} con {provider}.",
        "rests": "Su familiar descansa en: {place}.",
        "care": "Se registró un riesgo para su seguridad: su caso se trata con cuidado especial.",
        "kinds": {
            "detention_centre": "centro de detención",
            "shelter": "albergue",
            "hospital": "hospital",
            "prison": "cárcel",
            "migration_authority": "autoridad migratoria",
            "psychosocial": "psicosocial",
            "legal": "legal",
            "forensic": "forense",
            "financial": "económico",
            "administrative": "administrativo",
        },
        "purposes": {
            "search": "la búsqueda",
            "forensic_identification": "la identificación forense",
            "family_support": "el apoyo a la familia",
            "accountability": "la rendición de cuentas",
            "statistics": "las estadísticas",
        },
        "amendable": {
            "person.given_names": "Nombres",
            "person.first_surname": "Primer apellido",
            "person.second_surname": "Segundo apellido",
            "person.father_name": "Nombre del padre",
            "person.mother_name": "Nombre de la madre",
            "person.physical_description": "Descripción física",
            "last_seen.place": "Lugar donde se le vio por última vez",
            "last_seen.route": "Ruta",
            "circumstances": "Circunstancias",
        },
        "events": {
            "CaseReported": "Denuncia",
            "SightingRecorded": "Avistamiento",
            "DataAmended": "Corrección",
            "ConsentGranted": "Permiso dado",
            "ConsentWithdrawn": "Permiso retirado",
            "FamilyNotified": "Aviso a la familia",
            "InquirySent": "Pregunta enviada",
            "InquiryAnswered": "Respuesta recibida",
            "SupportReferred": "Apoyo ofrecido",
            "SupportProvided": "Apoyo dado",
            "UpdateCadenceSet": "Noticias prometidas",
            "FamilyUpdateGiven": "Noticias dadas",
            "NotificationPlanned": "Aviso preparado",
            "ProtectionRiskFlagged": "Tratar con cuidado",
        },
    },
    "en": {
        "title": "Your case",
        "login_title": "Access for families",
        "login_intro": "Sign in with the key you were given for your case. Every visit is recorded.",
        "token": "Key",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "other_language": "Español",
        "intro": "Here is everything kept about your case, who recorded it and who looked at it.",
        "status": "Case status",
        "held": "What is kept",
        "what": "What",
        "when": "When",
        "by_whom": "Recorded by",
        "details": "Details",
        "who_read": "Who looked at your case",
        "who": "Who",
        "why": "What for",
        "result": "Result",
        "granted": "shown",
        "refused": "refused",
        "correct": "Correct something",
        "field": "What to correct",
        "new_value": "Correct value",
        "reason": "Why",
        "send_correction": "Send the correction",
        "consents": "Your permissions",
        "consents_intro": "You decide what the information about your case may be used for.",
        "given": "allowed",
        "not_given": "not allowed",
        "on_behalf": "given on your behalf by",
        "grant": "Allow",
        "withdraw": "Withdraw permission",
        "erase_title": "Erase your data",
        "erase_intro": "If you ask for erasure, the keys that protect your data are destroyed in every "
        "country; what was shared can no longer be read. This cannot be undone.",
        "erase_confirm": "I understand this cannot be undone",
        "erase_button": "Ask for erasure",
        "confirm_first": "Tick the box to confirm the erasure.",
        "amended": "Your correction is recorded. The earlier value stays in the history.",
        "granted_notice": "Permission recorded.",
        "withdrawn_notice": "Permission withdrawn. It will no longer be shared for that.",
        "erased_notice": "Your data has been erased.",
        "bad_token": "That key does not open a case.",
        "form_expired": "The form had expired: sign in again.",
        "throttled": "Too many failed attempts: try again in {wait} s.",
        "protected": "Part of this is kept back to protect a person.",
        "course": "Your search",
        "next_news": "You will hear from {focal_point} by {due} at the latest.",
        "news_late": "The news promised for {due} has not come: you may ask {focal_point} for it.",
        "asked": "Who was asked",
        "asked_line": "{addressee} ({kind}): answer expected by {due}.",
        "answered": "They have answered.",
        "waiting": "No answer yet.",
        "support": "Support",
        "support_line": "{kind} support with {provider}.",
        "rests": "Your relative rests at: {place}.",
        "care": "A risk to your safety was recorded: your case is handled with special care.",
        "kinds": {
            "detention_centre": "detention centre",
            "shelter": "shelter",
            "hospital": "hospital",
            "prison": "prison",
            "migration_authority": "migration authority",
            "psychosocial": "psychosocial",
            "legal": "legal",
            "forensic": "forensic",
            "financial": "financial",
            "administrative": "administrative",
        },
        "purposes": {
            "search": "the search",
            "forensic_identification": "forensic identification",
            "family_support": "support to the family",
            "accountability": "accountability",
            "statistics": "statistics",
        },
        "amendable": {
            "person.given_names": "Given names",
            "person.first_surname": "First surname",
            "person.second_surname": "Second surname",
            "person.father_name": "Father's name",
            "person.mother_name": "Mother's name",
            "person.physical_description": "Physical description",
            "last_seen.place": "Where last seen",
            "last_seen.route": "Route",
            "circumstances": "Circumstances",
        },
        "events": {
            "CaseReported": "Report",
            "SightingRecorded": "Sighting",
            "DataAmended": "Correction",
            "ConsentGranted": "Permission given",
            "ConsentWithdrawn": "Permission withdrawn",
            "FamilyNotified": "Family informed",
            "InquirySent": "Inquiry sent",
            "InquiryAnswered": "Answer received",
            "SupportReferred": "Support offered",
            "SupportProvided": "Support given",
            "UpdateCadenceSet": "News promised",
            "FamilyUpdateGiven": "News given",
            "NotificationPlanned": "Notification prepared",
            "ProtectionRiskFlagged": "Handle with care",
        },
    },
}
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

    def render(name: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
        t = TEXT[lang]
        page = templates.get_template(name).render(
            lang=lang,
            other_lang="en" if lang == "es" else "es",
            t=t,
            footer="caseledger",
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
        return render(
            "family.html",
            lang,
            422 if error else 200,
            title=TEXT[lang]["title"],
            dossier=dossier,
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
        wait = guard.throttle.retry_after(keys)
        if wait is not None:
            refused = login_page(request, language, TEXT[language]["throttled"].format(wait=wait), 429)
            refused.headers["Retry-After"] = str(wait)
            return refused
        credential = tokens.verify(token.strip())
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
            return render("base.html", language, 403, title=TEXT[language]["title"], error="form expired")
        envelope = {
            "command_id": f"family:{uuid.uuid4()}",
            "recorded_by": credential.actor,
            "purpose": "family_support",
            "case_id": uuid.UUID(str(credential.case_id)),
        }
        try:
            with lock:
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
