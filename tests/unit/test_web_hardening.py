"""The node's web and API hardening (issue 12, item 8), on an embedded node: sign-in forms carry
form tokens and refuse other origins, every response carries headers against caching, framing,
sniffing and referrers, /docs only when enabled and never from a CDN, page sessions held at the
node apart from tokens, tokens that expire, throttled failed sign-ins, the Bearer scheme only,
and photos tied to their case and checked against their hash."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from ledger.crypto import seal
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.http.sessions import IDLE_S, LoginThrottle, SessionStore
from services.settings import Settings
from services.tokens import TokenStore
from tests.infrastructure import cli_env

PROSECUTOR = "mx-fiscalia-migrantes"
COMMISSION = "mx-mecanismo-externo"
REPORT = {
    "given_names": "Yesenia",
    "first_surname": "Cruz",
    "sex": "female",
    "nationalities": ["HN"],
    "date_of_birth": "1994-10-10",
    "last_seen_date": "2026-05-05",
    "last_seen_country": "MX",
    "last_seen_place": "Tapachula",
    "consented_purposes": ["search", "forensic_identification", "family_support"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
OTHER_PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 4
SAME = {"Origin": "http://testserver"}  # what a browser sends from the node's own page


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "api-tokens.json")


@pytest.fixture
def api(node: Node, tokens: TokenStore) -> TestClient:
    return TestClient(create_app(node, tokens, catch_up=True), follow_redirects=False)


def bearer(tokens: TokenStore, organisation: str, role: str, case_id: str | None = None) -> dict[str, str]:
    token, _ = tokens.issue(organisation, role, case_id)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}


def form_token(client: TestClient, path: str) -> str:
    """Open a sign-in form as a browser would: its session cookie is kept by the client."""
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the sign-in form carries a form token"
    return found[1]


def family_case(api: TestClient, tokens: TokenStore) -> tuple[str, str]:
    case_id = api.post("/cases", json=REPORT, headers=bearer(tokens, PROSECUTOR, "caseworker")).json()["id"]
    token, _ = tokens.issue("Rosa Cruz, madre", "family_member", case_id)
    return case_id, token


# ------------------------------------------------------------------ CSRF and Origin


def test_a_sign_in_from_another_origin_or_without_its_form_token_is_refused(
    api: TestClient, tokens: TokenStore
) -> None:
    """A page on another port of the same host posts the attacker's family key to the sign-in
    form: the victim's browser would then show the attacker's case as theirs (login CSRF)."""
    _case_id, attacker = family_case(api, tokens)
    csrf = form_token(api, "/family/login")
    for headers in (
        {"Origin": "http://testserver:8666"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    ):
        posted = api.post("/family/login", data={"token": attacker, "csrf": csrf}, headers=headers)
        assert posted.status_code == 403, headers
        assert posted.json()["detail"][0]["loc"] == ["header", "Origin"]
    no_form_token = api.post("/family/login", data={"token": attacker}, headers=SAME)
    assert no_form_token.status_code == 403 and "caducado" in no_form_token.text
    assert api.get("/family").status_code == 303, "nobody was signed in"
    commissioner, _ = tokens.issue(COMMISSION, "commissioner")
    pages_csrf = form_token(api, "/pages/login")
    assert api.post("/pages/login", data={"token": commissioner}, headers=SAME).status_code == 403
    foreign = api.post(
        "/pages/login",
        data={"token": commissioner, "csrf": pages_csrf},
        headers={"Origin": "http://127.0.0.1:8666"},
    )
    assert foreign.status_code == 403
    signed = api.post("/pages/login", data={"token": commissioner, "csrf": pages_csrf}, headers=SAME)
    assert signed.status_code == 303 and signed.headers["location"] == "/pages/cases"
    # A browser posting its own page's form, with Referrer-Policy no-referrer, sends Origin: null
    # and Sec-Fetch-Site: same-origin, which it alone can set.
    csrf = form_token(api, "/family/login")
    own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert api.post("/family/login", data={"token": attacker, "csrf": csrf}, headers=own).status_code == 303


def test_api_commands_from_another_origin_are_refused(api: TestClient, tokens: TokenStore) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    foreign = api.post("/cases", json=REPORT, headers={**headers, "Origin": "https://elsewhere.example"})
    assert foreign.status_code == 403
    assert api.get("/cases", headers=headers).json() == [], "nothing recorded"
    assert api.post("/cases", json=REPORT, headers=headers).status_code == 201  # no Origin: not a browser


# ------------------------------------------------------------------ headers


def test_every_response_forbids_caching_framing_sniffing_and_referrers(
    api: TestClient, tokens: TokenStore
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case_id = api.post("/cases", json=REPORT, headers=staff).json()["id"]
    answers = [
        api.get("/cases", headers=staff),
        api.get(f"/cases/{case_id}", headers=staff),
        api.get(f"/timeline/{case_id}", headers=staff),
        api.get("/cases", headers={"X-Purpose": "search"}),  # 401
        api.get("/pages/login"),
        api.get("/family/login?lang=en"),
        api.get("/pages/cases"),  # a redirect
        api.get("/assets/caseledger.css"),
        api.get("/openapi.json"),
    ]
    for answer in answers:
        where = f"{answer.request.url} ({answer.status_code})"
        assert answer.headers["Cache-Control"] == "no-store", where
        assert answer.headers["Referrer-Policy"] == "no-referrer", where
        assert answer.headers["X-Content-Type-Options"] == "nosniff", where
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, where
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "http" not in policy


def test_the_pages_hold_no_inline_script_or_style_the_policy_would_block() -> None:
    templates = Path(__file__).parents[2] / "services" / "http" / "pages" / "templates"
    for page in templates.glob("*.html"):
        text = page.read_text()
        assert "<style" not in text and " style=" not in text, page.name
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), f"{page.name}: inline script"
        assert not re.search(r"\son[a-z]+=", text), f"{page.name}: inline event handler"


# ------------------------------------------------------------------ docs


def test_docs_are_off_unless_enabled_and_never_load_from_a_cdn(
    node: Node, tokens: TokenStore, tmp_path: Path
) -> None:
    plain = TestClient(create_app(node, tokens))
    assert plain.get("/docs").status_code == 404 and plain.get("/redoc").status_code == 404
    assert plain.get("/openapi.json").status_code == 200
    enabled = build_node(Settings(node="MX", data_dir=tmp_path / "docs", api_docs=True))
    try:
        docs = TestClient(create_app(enabled, tokens)).get("/docs")
    finally:
        enabled.close()
    assert docs.status_code == 200 and "/cases/{case_id}/sightings" in docs.text
    assert "<script" not in docs.text and "cdn" not in docs.text.lower()
    assert not re.search(r'(src|href)="https?:', docs.text), "nothing loaded from elsewhere"


# ------------------------------------------------------------------ sessions


def test_page_sessions_are_held_at_the_node_apart_from_tokens_and_sign_out_ends_them(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    commissioner, _ = tokens.issue(COMMISSION, "commissioner")
    with TestClient(api.app, cookies={"caseledger_session": "planted-by-someone"}) as planted:
        replaced = planted.get("/pages/login").cookies.get("caseledger_session")
        assert replaced and replaced != "planted-by-someone", "an unknown session id is replaced"
    csrf = form_token(api, "/pages/login")
    form_session = api.cookies["caseledger_session"]
    signed = api.post("/pages/login", data={"token": commissioner, "csrf": csrf}, headers=SAME)
    assert signed.status_code == 303
    session = api.cookies["caseledger_session"]
    assert session != form_session, "signing in starts a new session"
    assert commissioner not in signed.headers.get("set-cookie", "") and commissioner not in session
    assert api.get("/pages/cases").status_code == 200
    # The token itself in the cookie opens nothing: the cookie is a session id, never a token.
    with TestClient(api.app, cookies={"caseledger_session": commissioner}) as by_hand:
        assert by_hand.get("/pages/cases", follow_redirects=False).status_code == 303
    with TestClient(api.app, cookies={"caseledger_token": commissioner}) as old_cookie:
        assert old_cookie.get("/pages/cases", follow_redirects=False).status_code == 303
    assert api.get("/pages/logout").status_code == 303
    with TestClient(api.app, cookies={"caseledger_session": session}) as replayed:
        assert replayed.get("/pages/cases", follow_redirects=False).status_code == 303, "sign-out ended it"


def test_a_family_session_ends_at_sign_out_and_when_its_token_is_revoked(
    api: TestClient, tokens: TokenStore
) -> None:
    _case_id, token = family_case(api, tokens)
    with TestClient(api.app, cookies={"caseledger_family": token}) as by_hand:
        assert by_hand.get("/family", follow_redirects=False).status_code == 303, "a token is no session"
    csrf = form_token(api, "/family/login")
    assert api.post("/family/login", data={"token": token, "csrf": csrf}, headers=SAME).status_code == 303
    session = api.cookies["caseledger_family"]
    assert session != token and api.get("/family").status_code == 200
    tokens.revoke(tokens.list()[-1].token_id)
    assert api.get("/family").status_code == 303, "a revoked token's sessions open nothing"
    _other_case, token = family_case(api, tokens)
    csrf = form_token(api, "/family/login")
    api.post("/family/login", data={"token": token, "csrf": csrf}, headers=SAME)
    session = api.cookies["caseledger_family"]
    assert api.get("/family/logout").status_code == 303
    with TestClient(api.app, cookies={"caseledger_family": session}) as replayed:
        assert replayed.get("/family", follow_redirects=False).status_code == 303


# ------------------------------------------------------------------ tokens


def test_an_expired_token_gets_401(api: TestClient, tokens: TokenStore) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    assert api.get("/cases", headers=headers).status_code == 200
    entries = json.loads(tokens.path.read_text())
    for entry in entries.values():
        entry["expires_at"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    tokens.path.write_text(json.dumps(entries))
    expired = api.get("/cases", headers=headers)
    assert expired.status_code == 401 and expired.headers["WWW-Authenticate"] == "Bearer"
    # A token kept before tokens carried an expiry expires 90 days after it was issued.
    for entry in entries.values():
        entry.pop("expires_at")
        entry["issued_at"] = (datetime.now(UTC) - timedelta(days=91)).isoformat()
    tokens.path.write_text(json.dumps(entries))
    assert api.get("/cases", headers=headers).status_code == 401
    _token, fresh = tokens.issue(PROSECUTOR, "caseworker")
    assert timedelta(days=89) < fresh.expiry - datetime.now(UTC) <= timedelta(days=90), "90 days by default"


def test_token_issue_takes_an_expiry(tmp_path: Path) -> None:
    def caseledger(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**cli_env(), "CASELEDGER_DATA_DIR": str(tmp_path / "data")}
        command = [sys.executable, "-c", "from services.cli import run; run()", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    issued = caseledger("token", "issue", PROSECUTOR, "--role", "caseworker", "--expires", "12h")
    assert issued.returncode == 0, issued.stderr
    (credential,) = TokenStore(tmp_path / "data" / "api-tokens.json").list()
    assert timedelta(hours=11) < credential.expiry - datetime.now(UTC) <= timedelta(hours=12)
    assert f"expires {credential.expiry:%Y-%m-%d %H:%M}Z" in issued.stdout
    wrong = caseledger("token", "issue", PROSECUTOR, "--role", "caseworker", "--expires", "soon")
    assert wrong.returncode != 0 and "--expires" in wrong.stderr and "Traceback" not in wrong.stderr


# ------------------------------------------------------------------ throttling and the scheme


def test_a_sixth_failed_sign_in_gets_429_with_retry_after(api: TestClient, tokens: TokenStore) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    for attempt in range(5):
        guessed = {"Authorization": f"Bearer clt_guess{attempt}", "X-Purpose": "search"}
        assert api.get("/cases", headers=guessed).status_code == 401
    sixth = api.get("/cases", headers={"Authorization": "Bearer clt_guess6", "X-Purpose": "search"})
    assert sixth.status_code == 429 and 0 < int(sixth.headers["Retry-After"]) <= 900
    assert api.get("/cases", headers=headers).status_code == 429, "the address waits, whatever it sends"
    elsewhere = TestClient(api.app, client=("192.0.2.7", 50000))
    assert elsewhere.get("/cases", headers=headers).status_code == 200, "other addresses are heard"

    # The family's sign-in form, from another address, and one identity from many addresses.
    page = TestClient(api.app, client=("192.0.2.8", 50000), follow_redirects=False)
    for _ in range(5):
        csrf = form_token(page, "/family/login")
        wrong = page.post("/family/login", data={"token": "clt_wrong", "csrf": csrf}, headers=SAME)
        assert wrong.status_code == 401
    csrf = form_token(page, "/family/login")
    throttled = page.post("/family/login", data={"token": "clt_wrong", "csrf": csrf}, headers=SAME)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    commissioner, _ = tokens.issue(COMMISSION, "commissioner")  # a token that does not open /family
    for number in range(6):
        client = TestClient(api.app, client=(f"198.51.100.{number}", 50000), follow_redirects=False)
        csrf = form_token(client, "/family/login")
        tried = client.post("/family/login", data={"token": commissioner, "csrf": csrf}, headers=SAME)
        assert tried.status_code == (401 if number < 5 else 429)


def test_authorization_takes_the_bearer_scheme_only(api: TestClient, tokens: TokenStore) -> None:
    token, _ = tokens.issue(PROSECUTOR, "caseworker")
    for value in (token, f"Basic {token}", f"Token {token}", f"Bearer{token}", "Bearer "):
        refused = api.get("/cases", headers={"Authorization": value, "X-Purpose": "search"})
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer", value
    assert (
        api.get("/cases", headers={"Authorization": f"bearer {token}", "X-Purpose": "search"}).status_code
        == 200
    )


# ------------------------------------------------------------------ photos


def test_a_photo_is_served_only_for_the_case_it_was_uploaded_for_and_its_hash_is_checked(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    photo = api.post("/photos", content=PNG, headers={**staff, "Content-Type": "image/png"}).json()
    case_id = api.post("/cases", json={**REPORT, "photo": photo["reference"]}, headers=staff).json()["id"]
    assert api.get(f"/cases/{case_id}/photo", headers=staff).content == PNG
    binding = node.settings.data_dir / "photos" / f"{photo['photo_id']}.json"
    assert json.loads(binding.read_text())["case_id"] == case_id and binding.stat().st_mode & 0o777 == 0o600
    assert photo["reference"]["sha256"] not in binding.read_text(), "no hash to confirm a copy against"

    # Another report carrying the same reference, by the same organisation or another one.
    again = api.post(
        "/cases", json={**REPORT, "given_names": "Otra", "photo": photo["reference"]}, headers=staff
    )
    assert again.status_code == 422 and again.json()["detail"][0]["loc"] == ["body", "photo", "location"]
    other = bearer(tokens, "mx-semefo-chiapas", "caseworker")
    theirs = api.post("/cases", json={**REPORT, "photo": photo["reference"]}, headers=other)
    assert theirs.status_code == 422 and theirs.json()["detail"][0]["loc"] == ["body", "photo", "location"]
    second = api.post("/photos", content=OTHER_PNG, headers={**staff, "Content-Type": "image/png"}).json()
    lying = {**second["reference"], "sha256": hashlib.sha256(PNG).hexdigest()}
    wrong_hash = api.post("/cases", json={**REPORT, "photo": lying}, headers=staff)
    assert wrong_hash.status_code == 422 and wrong_hash.json()["detail"][0]["loc"] == [
        "body",
        "photo",
        "sha256",
    ]
    assert len(api.get("/cases", headers=staff).json()) == 1, "nothing recorded"

    # The same report retried with its idempotency key still answers.
    keyed = {**staff, "Idempotency-Key": "with-photo"}
    body = {**REPORT, "photo": second["reference"]}
    first = api.post("/cases", json=body, headers=keyed)
    assert first.status_code == 201 and api.post("/cases", json=body, headers=keyed).json() == first.json()

    # Bytes kept under the photo's key but not those the case's reference hashes: refused.
    key_id, key = node.data_keys.current(photo["photo_id"], "photo")
    path = node.settings.data_dir / "photos" / f"{photo['photo_id']}.sealed"
    path.write_bytes(b"image/png\n" + seal(key, OTHER_PNG, f"photo:{key_id}".encode()))
    altered = api.get(f"/cases/{case_id}/photo", headers=staff)
    assert altered.status_code == 409 and OTHER_PNG not in altered.content


def test_sessions_end_when_idle_and_a_flood_of_forms_signs_nobody_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    store = SessionStore(clock=lambda: now[0])
    signed = store.sign_in(None, "pages", "abc123", "search")
    monkeypatch.setattr("services.http.sessions.MAX_SESSIONS", 50)
    for _ in range(200):
        store.start("pages")
    assert store.get(signed, "pages") is not None, "forms evict forms only"
    assert store.get(signed, "family") is None, "a session opens its own pages only"
    now[0] += IDLE_S + 1
    assert store.get(signed, "pages") is None, "idle too long"


def test_the_throttle_forgets_failures_after_its_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(5, 900, clock=lambda: now[0])
    for _ in range(5):
        assert throttle.retry_after(["address:a"]) is None
        throttle.failed(["address:a"])
    assert throttle.retry_after(["address:a"]) == 901 and throttle.retry_after(["address:b"]) is None
    now[0] = 600.0
    assert throttle.retry_after(["address:a"]) == 301
    now[0] = 901.0
    assert throttle.retry_after(["address:a"]) is None
