"""The node's HTTP API (FastAPI; the OpenAPI document at /openapi.json).

Every request carries a bearer token (services/tokens.py) and states its purpose in the
X-Purpose header. Commands take an Idempotency-Key (a retry with the same key returns what
the first attempt did, and records nothing new; the key sent with a different request is
refused, 422) and, on an existing record, If-Match with the version the caller last saw (a
stale one gets 409 and the current version). Reads go
through the access rules and the family's consent; a read above the common tier, and any
refusal, is recorded on the ledger before anything is returned. Every error body names the
field or header at fault; nothing unexpected reaches a caller as a stack trace.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from ledger.access_rules import AccessRules
from ledger.access_rules import load as load_rules
from services.acting import Acting
from services.bootstrap import Node
from services.candidates import Candidates, listed
from services.family_codes import FamilyCodes
from services.feed import ConsularFeed
from services.http import candidates as http_candidates
from services.http import cases, commands, course, family_codes, reads, search
from services.http import imports as http_imports
from services.http.admission import add_admission
from services.http.common import (
    PROBLEMS,
    BodyLimit,
    Caller,
    Contained,
)
from services.http.deps import Authenticate, Reported, Wiring, wire
from services.http.errors import add_error_handlers
from services.http.export import CsvLists
from services.http.import_jobs import ImportJobs
from services.http.imports import MAX_IMPORT_BYTES
from services.http.operations import add_operations
from services.http.pages import family, family_forms, review, statistics
from services.http.sessions import Guard, LoginThrottle, SessionStore
from services.http.view_access import ViewAccess
from services.http.web_security import (
    SameOrigin,
    SecurityHeaders,
    assets_router,
    docs_router,
)
from services.node_lock import NodeLock, share_with_group_commit
from services.photos import MAX_PHOTO_BYTES, PhotoStore
from services.reading import CaseReading
from services.tokens import TokenStore

__all__ = ["MAX_BODY_BYTES", "ROUTERS", "add_middleware", "create_app", "duplicates_at_report", "wiring_of"]

log = logging.getLogger(__name__)


MAX_BODY_BYTES = 1_000_000


def add_middleware(app: FastAPI, node: Node, max_body_bytes: int) -> None:
    """Admission (503 + Retry-After rather than timeouts), body limits, same-origin forms,
    contained errors, security headers and CSV lists, outermost last."""
    admit = node.settings
    add_admission(app, admit.api_max_commands, admit.api_retry_after_s, admit.api_max_wait_s, admit.node)
    larger = {"/photos": MAX_PHOTO_BYTES, "/imports": MAX_IMPORT_BYTES}
    app.add_middleware(BodyLimit, limit=max_body_bytes, larger=larger)
    app.add_middleware(SameOrigin)
    app.add_middleware(Contained)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(CsvLists)  # Accept: text/csv on the lists (services/http/export.py)


def duplicates_at_report(
    node: Node, candidates: Candidates, lock: NodeLock, grouped: bool, sync: Callable[[str], None]
) -> Reported:
    """What a report's answer adds: its possible duplicates (services/candidates.py)."""

    def reported(who: Caller, case_id: str) -> list[dict[str, Any]] | None:
        """A report's possible duplicates, as its recorder may see them; None (not checked)
        when the check fails: the report is recorded, and its answer must say so."""
        try:
            sync(who.jurisdiction)
            # The new case is read with the node's lock given up (a read of the event store,
            # while the next requests decide theirs); the check itself holds it.
            with lock.released() if grouped else contextlib.nullcontext():
                case = node.ledger.get_case(uuid.UUID(case_id))
            found = candidates.at_report(
                who.jurisdiction, case_id, who.credential.actor, who.purpose, "http", case=case
            )
        except Exception as error:  # the check is an aid; the report stands without it
            log.error("api: the duplicate check of a report failed: %s", type(error).__name__)
            return None
        return [listed(c, refs=candidates.references(who.jurisdiction, found)) for c in found]

    return reported


def wiring_of(
    node: Node, tokens: TokenStore, rules: AccessRules | None, lock: NodeLock, grouped: bool, catch_up: bool
) -> Wiring:
    """What the routes are given (services/http/deps.py), built once per application."""
    guard = Guard(SessionStore(), LoginThrottle(node.settings.login_attempts, node.settings.login_lockout_s))
    views = ViewAccess(node.views, rules, node.ledger, node.sync, catch_up)
    candidates = Candidates(node, rules)
    return Wiring(
        authenticate=Authenticate(tokens, guard, rules, node.settings.node),
        ledger=node.ledger,
        lock=lock,
        acting=Acting(node, rules),
        photos=PhotoStore(node.settings.data_dir / "photos", node.data_keys, node.settings.node),
        reading=CaseReading(node, rules),
        reported=duplicates_at_report(node, candidates, lock, grouped, views.sync),
        jurisdiction=node.settings.node,
        codes=FamilyCodes(tokens),
        imports=ImportJobs(node.ledger, lock, node.settings.data_dir / "imports"),
        views=views,
        candidates=candidates,
        feeds=functools.partial(ConsularFeed, node),
    )


ROUTERS = (
    commands.router,
    search.router,
    cases.router,
    reads.router,
    course.router,
    http_candidates.router,
    http_imports.router,
    family_codes.router,
    review.router,
    statistics.router,
    family.router,
    family_forms.router,
    assets_router,
)
"""In the order a request is matched against them (tests/unit/test_http_routes.py pins it)."""


def create_app(
    node: Node, tokens: TokenStore, *, max_body_bytes: int = MAX_BODY_BYTES, catch_up: bool = False
) -> FastAPI:
    """The API of one node. Calls into the node are serialised (services/node_lock.py: on
    PostgreSQL a command waiting for its commit lets the next ones decide and join it).
    catch_up: publish and project before each read of the views (a node without background
    relay and projector threads); `caseledger serve` runs those threads instead."""
    rules: AccessRules | None = load_rules(node.settings.access_rules) if node.settings.access_rules else None
    lock = NodeLock()  # given up while a command waits for its commit (services/node_lock.py)
    app = FastAPI(
        title="caseledger",
        version="1",
        description="A node of the transnational case ledger for missing migrants.",
        responses=PROBLEMS,
        docs_url=None,  # FastAPI's /docs and /redoc load their script from a CDN: docs_router, if enabled
        redoc_url=None,
    )
    grouped = share_with_group_commit(lock, node, app.state)
    add_middleware(app, node, max_body_bytes)
    add_operations(app, node, lock)
    add_error_handlers(app)
    wire(app, wiring_of(node, tokens, rules, lock, grouped, catch_up))
    for router in ROUTERS:
        app.include_router(router)
    if node.settings.api_docs:
        app.include_router(docs_router)
    return app
