"""What the API's routes depend on, each given on its own (FastAPI's Depends), rather than the
whole node: who is asking (caller), the ledger, the node's lock, who may act on which record,
the views as a caller may read them, the candidates, the consular feeds, the node's photos,
tokens, sessions and jurisdiction. create_app puts each on the application's state once
(wire); a route names the few it uses, and a test can override any one of them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from fastapi import FastAPI, Header, HTTPException, Request

from ledger.access_rules import AccessRules
from ledger.application import CaseLedger
from ledger.roles import KIND_ROLES
from ledger.vocabulary import PURPOSES
from services.acting import Acting
from services.candidates import Candidates
from services.family_codes import FamilyCodes
from services.feed import ConsularFeed
from services.http.common import Caller, HeaderProblem, jurisdiction_of
from services.http.figures import Figures
from services.http.import_jobs import ImportJobs
from services.http.sessions import Guard
from services.http.view_access import ViewAccess
from services.http.web_security import attempt_keys
from services.node_lock import NodeLock
from services.photos import PhotoStore
from services.reading import CaseReading
from services.tokens import Credential, TokenStore

__all__ = [
    "Authenticate",
    "Feeds",
    "Purpose",
    "Reported",
    "Wiring",
    "acting",
    "caller",
    "candidates",
    "case_ledger",
    "consular_feeds",
    "family_codes",
    "guard",
    "import_jobs",
    "metrics_extra",
    "node_figures",
    "node_jurisdiction",
    "node_lock",
    "photos",
    "reading",
    "reported",
    "rules",
    "token_store",
    "views",
    "wire",
]

log = logging.getLogger(__name__)

Purpose = Literal["search", "forensic_identification", "family_support", "accountability", "statistics"]
assert set(get_args(Purpose)) == set(PURPOSES), "the API's purposes are the vocabulary's"

Reported = Callable[[Caller, str], list[dict[str, Any]] | None]
"""What a report's answer adds: its possible duplicates as the caller may see them (None: not checked)."""

Feeds = Callable[[AccessRules, str, str], ConsularFeed]
"""A consulate's feed at this node: (the network's rules, the consulate, the purpose)."""


@dataclass(frozen=True)
class Authenticate:
    """The caller of a request: a valid bearer token (throttled after failures), a purpose of
    the vocabulary, and under the network's rules an organisation they know holding a role its
    kind can hold."""

    tokens: TokenStore
    guard: Guard
    rules: AccessRules | None
    node: str

    def __call__(self, request: Request, authorization: str | None, purpose: str) -> Caller:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(
                401, "the Authorization header must be 'Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        keys = attempt_keys(request, token)
        wait = self.guard.throttle.retry_after(keys)
        if wait is not None:
            log.warning("api: a client with failed tokens is refused for %d s", wait)  # no address: personal
            raise HTTPException(
                429, f"too many failed sign-ins; try again in {wait} s", {"Retry-After": str(wait)}
            )
        credential = self.tokens.verify(token)
        if credential is None:
            self.guard.throttle.failed(keys)
            raise HTTPException(
                401, "a valid, unexpired bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        if purpose not in PURPOSES:
            raise HeaderProblem("X-Purpose", f"{purpose!r} is not one of {', '.join(PURPOSES)}")
        self._member(credential)
        return Caller(
            credential=credential,
            purpose=purpose,
            jurisdiction=jurisdiction_of(self.rules, credential, self.node),
        )

    def _member(self, credential: Credential) -> None:
        if self.rules is None or credential.family:
            return
        if credential.organisation not in self.rules.organisations:
            raise HTTPException(
                403, f"{credential.organisation} is not an organisation of the network's rules"
            )
        kind = self.rules.organisations[credential.organisation].kind
        if credential.role not in KIND_ROLES[kind]:
            raise HTTPException(403, f"an organisation of kind {kind} cannot hold the role {credential.role}")


@dataclass(frozen=True)
class Wiring:
    """What create_app gives the routes, once per application."""

    authenticate: Authenticate
    ledger: CaseLedger
    lock: NodeLock
    acting: Acting
    photos: PhotoStore
    reading: CaseReading
    reported: Reported
    jurisdiction: str
    codes: FamilyCodes
    imports: ImportJobs
    views: ViewAccess
    candidates: Candidates
    feeds: Feeds


def wire(app: FastAPI, wiring: Wiring) -> None:
    app.state.wiring = wiring


def _wiring(request: Request) -> Wiring:
    wiring: Wiring = request.app.state.wiring
    return wiring


def caller(
    request: Request,
    authorization: str | None = Header(None, description="Bearer <token>"),
    purpose: Purpose = Header(..., alias="X-Purpose", description="Why the caller asks"),
) -> Caller:
    return _wiring(request).authenticate(request, authorization, purpose)


def case_ledger(request: Request) -> CaseLedger:
    return _wiring(request).ledger


def family_codes(request: Request) -> FamilyCodes:
    return _wiring(request).codes


def import_jobs(request: Request) -> ImportJobs:
    return _wiring(request).imports


def node_lock(request: Request) -> NodeLock:
    return _wiring(request).lock


def acting(request: Request) -> Acting:
    return _wiring(request).acting


def photos(request: Request) -> PhotoStore:
    return _wiring(request).photos


def reading(request: Request) -> CaseReading:
    return _wiring(request).reading


def reported(request: Request) -> Reported:
    return _wiring(request).reported


def node_jurisdiction(request: Request) -> str:
    """The jurisdiction whose organisations this node records for."""
    return _wiring(request).jurisdiction


def rules(request: Request) -> AccessRules | None:
    """The network's access rules (None: a node without them)."""
    return _wiring(request).authenticate.rules


def views(request: Request) -> ViewAccess:
    return _wiring(request).views


def candidates(request: Request) -> Candidates:
    return _wiring(request).candidates


def consular_feeds(request: Request) -> Feeds:
    return _wiring(request).feeds


def token_store(request: Request) -> TokenStore:
    return _wiring(request).authenticate.tokens


def guard(request: Request) -> Guard:
    """The pages' sessions and the throttle of failed sign-ins."""
    return _wiring(request).authenticate.guard


def node_figures(request: Request) -> Figures:
    """The node's figures for its operators (services/http/figures.py), put on the application
    by services/http/operations.py with the middleware that counts responses."""
    found: Figures = request.app.state.figures
    return found


def metrics_extra(request: Request) -> list[Callable[[], str]]:
    """More figures in the same format, from the admission gate and the group commit."""
    return list(getattr(request.app.state, "metrics_extra", []))
