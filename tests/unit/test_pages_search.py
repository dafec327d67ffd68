"""The commission review pages' case list: a search box and filters, names where the caller may
read them, pages, and bad input said on the page (422), never a stack trace."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.unit.test_case_search import PROSECUTOR, person
from tests.unit.test_web_hardening import SAME, form_token


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[TestClient, TokenStore]]:
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    tokens = TokenStore(tmp_path / "tokens.json")
    yield TestClient(create_app(node, tokens, catch_up=True)), tokens
    node.close()


def signed_in(client: TestClient, tokens: TokenStore, organisation: str, role: str) -> TestClient:
    token, _ = tokens.issue(organisation, role, None)
    csrf = form_token(client, "/pages/login")  # the sign-in form's token, and its Origin
    answer = client.post(
        "/pages/login",
        data={"token": token, "purpose": "search", "csrf": csrf},
        headers=SAME,
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def test_the_case_list_searches_filters_and_pages(pages: tuple[TestClient, TokenStore]) -> None:
    client, tokens = pages
    token, _ = tokens.issue(PROSECUTOR, "caseworker", None)
    staff = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
    for body in (
        person("José Ángel", "Hernández", "Núñez", "HN"),
        person("María José", "Pérez", "Gutiérrez", "GT"),
        person("Juan", "López", None, "HN"),
    ):
        assert client.post("/cases", json=body, headers=staff).status_code == 201
    signed_in(client, tokens, PROSECUTOR, "caseworker")

    page = client.get("/pages/cases", params={"q": "chepe hernandes"})
    assert page.status_code == 200
    assert 'name="q"' in page.text and 'value="chepe hernandes"' in page.text
    assert "José Ángel Hernández Núñez" in page.text and "María José" not in page.text
    assert re.search(r'id="total">1 case<', page.text)

    page = client.get("/pages/cases", params={"nationality": "HN", "limit": "1"})
    assert page.status_code == 200 and "2 cases, 1 on this page" in page.text
    following = re.search(r'id="next-page" href="([^"]+)"', page.text)
    assert following is not None
    second = client.get(following.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and 'id="next-page"' not in second.text
    shown = [n for n in ("José Ángel", "Juan López") if n in page.text + second.text]
    assert len(shown) == 2 and "María José" not in page.text + second.text

    bad = client.get("/pages/cases", params={"last_seen_from": "2026-05-01", "last_seen_to": "2026-01-01"})
    assert bad.status_code == 422 and "last_seen_to: " in bad.text and "Traceback" not in bad.text
    unknown = client.get("/pages/cases", params={"name": "Juan"})
    assert unknown.status_code == 422 and "name: is not a parameter" in unknown.text
