"""The families' forms (services/http/pages/family.py serves their pages): a family member
corrects their case, gives or withdraws consent purpose by purpose, and asks for erasure. Each
form carries the session's form token; each change is an event on the ledger, recorded before
the next command, and the page is shown again after a redirect (reloading it sends nothing)."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledger.commands import AmendData, EraseData, GrantConsent, WithdrawConsent
from ledger.errors import InvalidField, LedgerError
from services.http.pages.family import (
    FamilyCase,
    Signed,
    case_page,
    family_case,
    family_session,
    lang_of,
    render,
)
from services.http.pages.family_words import TEXT

__all__ = ["act", "router"]

router = APIRouter()


def act(
    held: FamilyCase,
    signed: Signed | None,
    lang: str | None,
    csrf: str,
    do: Callable[[dict[str, Any]], None],
    notice: str,
) -> Response:
    """A family's change to its case: signed in, with the session's form token; recorded
    before the next command, then the page again (post, then redirect)."""
    language = lang_of(lang)
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
        with held.lock.pinned():  # a family's consent, amendment or withdrawal: committed before the next
            do(envelope)
    except InvalidField as error:
        return case_page(held, signed, language, error=f"{error.field}: {error.problem}")
    except LedgerError as error:
        return case_page(held, signed, language, error=str(error))
    # Post, then redirect: reloading the page does not send the form again.
    return RedirectResponse(f"/family?lang={language}&done={notice}", status_code=303)


@router.post("/family/amend", response_class=HTMLResponse, include_in_schema=False)
def amend(
    lang: str | None = None,
    csrf: str = Form(""),
    field: str = Form(""),
    value: str = Form(""),
    reason: str = Form(""),
    signed: Signed | None = Depends(family_session),
    held: FamilyCase = Depends(family_case),
) -> Response:
    def do(envelope: dict[str, Any]) -> None:
        held.ledger.amend_data(AmendData(**envelope, changes={field: value}, reason=reason))

    return act(held, signed, lang, csrf, do, "amended")


@router.post("/family/consent", response_class=HTMLResponse, include_in_schema=False)
def consent(
    lang: str | None = None,
    csrf: str = Form(""),
    purpose: str = Form(""),
    action: str = Form(""),
    signed: Signed | None = Depends(family_session),
    held: FamilyCase = Depends(family_case),
) -> Response:
    who = signed[0].organisation if signed else ""
    language = lang_of(lang)  # the language the page explained the purpose in

    def do(envelope: dict[str, Any]) -> None:
        if action == "grant":
            held.ledger.grant_consent(
                GrantConsent(**envelope, consent_purpose=purpose, given_by=who, language=language)
            )
        else:
            held.ledger.withdraw_consent(
                WithdrawConsent(**envelope, consent_purpose=purpose, withdrawn_by=who)
            )

    return act(held, signed, lang, csrf, do, "granted_notice" if action == "grant" else "withdrawn_notice")


@router.post("/family/erase", response_class=HTMLResponse, include_in_schema=False)
def erase(
    lang: str | None = None,
    csrf: str = Form(""),
    confirm: str = Form(""),
    signed: Signed | None = Depends(family_session),
    held: FamilyCase = Depends(family_case),
) -> Response:
    language = lang_of(lang)
    requested_by = signed[0].organisation if signed else ""

    def do(envelope: dict[str, Any]) -> None:
        if confirm != "yes":
            raise InvalidField("confirm", TEXT[language]["confirm_first"])
        held.ledger.erase_data(EraseData(**envelope, requested_by=requested_by))

    return act(held, signed, lang, csrf, do, "erased_notice")
