"""Every route refuses a caller who shows no credentials, except the few that are public by
design (operations, sign-in forms, assets). A route added later without the token or session
check fails this test: the list of public routes is pinned here, not derived from the app.

An API route answers 401 with `WWW-Authenticate: Bearer`; a page sends the browser to its
sign-in form (303); a page's form POST without a session goes to the sign-in form too (sent
from the page's own origin, so the same-origin guard is not what refuses it)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.unit.test_http_routes import flat

# (method, path): answered to anyone, by design.
PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),  # counts and lags per partition, nothing about a person
    ("GET", "/docs"),
    ("GET", "/pages/login"),
    ("POST", "/pages/login"),
    ("GET", "/family/login"),
    ("POST", "/family/login"),
    ("GET", "/assets/{name}"),
}
SIGN_IN = {"/pages": "/pages/login", "/family": "/family/login"}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY, api_docs=True))
    yield built
    built.close()


@pytest.fixture
def app(node: Node, tmp_path: Path) -> FastAPI:
    return create_app(node, TokenStore(tmp_path / "tokens.json"), catch_up=True)


def routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in flat(app.routes):
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD":
                found.append((method, str(getattr(route, "path", ""))))
    return found


def ask(client: TestClient, method: str, path: str) -> Any:
    """The request a stranger would send: no token, no session cookie; each path parameter a
    fresh id (it names nothing, so only the credential check can answer before the lookup)."""
    concrete = re.sub(r"\{(\w+)\}", lambda m: "site.css" if m[1] == "name" else str(uuid.uuid4()), path)
    headers = {"X-Purpose": "search", "Origin": "http://testserver"}
    if path.startswith(tuple(SIGN_IN)) and method == "POST":
        return client.request(method, concrete, data={"field": "value"}, headers=headers)
    return client.request(method, concrete, json={} if method == "POST" else None, headers=headers)


def refused(method: str, path: str, answer: Any) -> str | None:
    """Why the answer is not a refusal of a stranger, or None when it is one."""
    area = next((a for a in SIGN_IN if path == a or path.startswith(a + "/")), None)
    if area is None:
        if answer.status_code == 401 and answer.headers.get("WWW-Authenticate") == "Bearer":
            return None
        return f"{method} {path}: {answer.status_code}, not 401 with WWW-Authenticate: Bearer"
    location = answer.headers.get("location", "")
    if answer.status_code == 303 and location.split("?")[0] == SIGN_IN[area]:
        return None
    return f"{method} {path}: {answer.status_code} {location!r}, not 303 to {SIGN_IN[area]}"


def test_every_route_but_the_public_ones_refuses_a_stranger(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    found = routes(app)
    guarded = [(m, p) for m, p in found if (m, p) not in PUBLIC]
    assert len(guarded) > 70 and ("POST", "/cases") in guarded and ("GET", "/family") in guarded
    assert [why for m, p in guarded if (why := refused(m, p, ask(client, m, p)))] == []
    # Every pinned public route still exists (a renamed one would leave a stale exemption).
    assert set(found) >= PUBLIC


def test_the_public_routes_answer_a_stranger(app: FastAPI) -> None:
    """The control: the same requests reach routes without a check, so a refusal above is the
    check's doing, not the request's."""
    client = TestClient(app, follow_redirects=False)
    for method, path in [("GET", "/health"), ("GET", "/pages/login"), ("GET", "/family/login")]:
        answer = ask(client, method, path)
        assert answer.status_code == 200, (method, path)
        assert refused(method, path, answer) is not None


def test_a_route_added_without_a_check_is_caught(app: FastAPI) -> None:
    @app.get("/cases-unguarded/{case_id}")
    def unguarded(case_id: str) -> dict[str, str]:
        return {"case": case_id}

    @app.get("/pages/unguarded")
    def unguarded_page() -> dict[str, str]:
        return {"page": "open"}

    client = TestClient(app, follow_redirects=False)
    caught = [
        why for m, p in routes(app) if (m, p) not in PUBLIC and (why := refused(m, p, ask(client, m, p)))
    ]
    assert len(caught) == 2
    assert (
        caught[0].startswith("GET /cases-unguarded/{case_id}: 200")
        and "GET /pages/unguarded: 200" in caught[1]
    )
