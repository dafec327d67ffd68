"""The commission's case review pages, driven in headless Chromium (Debian's chromium and
chromium-driver, which `compose/services up` installs) with real clicks: sign in, open a case,
filter its timeline, see the custody chain, the matches and who read the case."""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.story import whole_story

COMMISSION = "mx-mecanismo-externo"  # a commission of the MX jurisdiction in the sample policy


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Node, TokenStore, dict[str, Any]]]:
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    ids = whole_story(node.ledger)
    tokens = TokenStore(tmp_path / "tokens.json")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(node, tokens, catch_up=True), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the node's web server did not start"
    yield f"http://127.0.0.1:{port}", node, tokens, ids
    server.should_exit = True
    thread.join(timeout=10)
    node.close()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def click_and_wait(browser: webdriver.Chrome, by: str, what: str) -> None:
    """Click something that loads a new page, and wait until the new page has replaced the old."""
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, what).click()

    def replaced(driver: webdriver.Chrome) -> bool:
        try:
            old.is_enabled()  # any call on an element of a page that has gone fails
        except WebDriverException:  # stale, or no longer in any document
            return True
        return False

    WebDriverWait(browser, 15).until(replaced)


def test_a_commissioner_reviews_a_case_in_the_browser(
    served: tuple[str, Node, TokenStore, dict[str, Any]], browser: webdriver.Chrome
) -> None:
    base, _node, tokens, ids = served
    token, _ = tokens.issue(COMMISSION, "commissioner")
    case_id = str(ids["case"])

    browser.get(f"{base}/pages/cases")  # not signed in yet: sent to sign in
    assert browser.current_url.endswith("/pages/login")
    browser.find_element(By.NAME, "token").send_keys("clt_wrong")
    click_and_wait(browser, By.ID, "sign-in")
    assert "does not open" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text

    browser.find_element(By.NAME, "token").send_keys(token)
    # The family withdrew consent for accountability (tests/story.py): the review is for the search.
    Select(browser.find_element(By.NAME, "purpose")).select_by_value("search")
    click_and_wait(browser, By.ID, "sign-in")
    assert browser.current_url.endswith("/pages/cases")
    click_and_wait(browser, By.CSS_SELECTOR, f"a[href='/pages/cases/{case_id}']")

    rows = browser.find_elements(By.CSS_SELECTOR, "#timeline tr.event")
    types = [row.get_attribute("data-type") for row in rows]
    # In the order things happened: the sighting of 2026-02-10 (tests/story.py) before the report.
    assert types[0] == "SightingRecorded" and "CaseReported" in types and "CaseReopened" in types
    assert "2026-02-10" in rows[0].text
    assert "source: survivor (medium)" in browser.find_element(By.ID, "timeline").text
    assert browser.find_element(By.ID, "status").text.startswith("identified_deceased")

    # Filter by event type: a real selection and a real click.
    Select(browser.find_element(By.ID, "event-type")).select_by_value("SightingRecorded")
    click_and_wait(browser, By.ID, "apply")
    filtered = browser.find_elements(By.CSS_SELECTOR, "#timeline tr.event")
    assert [r.get_attribute("data-type") for r in filtered] == ["SightingRecorded"]
    assert "event_type=SightingRecorded" in browser.current_url

    # And by date: nothing happened before the case was reported.
    click_and_wait(browser, By.LINK_TEXT, "Clear")
    browser.execute_script("document.getElementById('until').value = '2000-01-01'")
    click_and_wait(browser, By.ID, "apply")
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline tr.event") == []
    assert "No event matches these filters." in browser.find_element(By.ID, "timeline").text

    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Sample " + str(ids["sample"]) in page, "the custody chain of the case's sample"
    custody = browser.find_element(By.CSS_SELECTOR, "table.custody").text
    assert "SampleTransferred" in custody and "SampleDestroyed" in custody
    assert "D3S1358" not in page, "genetic data never reaches a page"
    assert str(ids["match"]) in browser.find_element(By.ID, "matches").text
    assert COMMISSION in browser.find_element(By.ID, "reads").text, "opening the case was recorded"

    # Printable: a print stylesheet hides the filters and navigation.
    has_print_rules = browser.execute_script(
        "return [...document.styleSheets].some(s => [...s.cssRules].some("
        "r => r.media && r.media.mediaText === 'print'))"
    )
    assert has_print_rules and browser.find_element(By.ID, "print").is_displayed()
    # The stylesheet above and the print button's script come from the node, under its policy.
    assert browser.find_element(By.ID, "print").get_attribute("data-ready") == "yes"

    click_and_wait(browser, By.LINK_TEXT, "Sign out")
    browser.get(f"{base}/pages/cases/{case_id}")
    assert browser.current_url.endswith("/pages/login")


def test_a_read_the_rules_refuse_is_shown_and_recorded(
    served: tuple[str, Node, TokenStore, dict[str, Any]], browser: webdriver.Chrome
) -> None:
    base, node, tokens, ids = served
    token, _ = tokens.issue("hn-cofamipro", "caseworker")  # a Honduran NGO: no agreement for this
    browser.get(f"{base}/pages/login")
    browser.find_element(By.NAME, "token").send_keys(token)
    click_and_wait(browser, By.ID, "sign-in")
    browser.get(f"{base}/pages/cases/{ids['case']}")
    assert "refused and recorded" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    reads = node.ledger.reads_of(ids["case"])
    assert any(r.recorded_by["organisation"] == "hn-cofamipro" and r.outcome == "refused" for r in reads)


def test_a_mother_consults_corrects_and_withdraws_consent_in_spanish_then_english(
    served: tuple[str, Node, TokenStore, dict[str, Any]], browser: webdriver.Chrome
) -> None:
    base, node, tokens, ids = served
    case_id = str(ids["case"])
    token, _ = tokens.issue("Rosa Chávez, madre", "family_member", case_id)
    browser.get(f"{base}/family")
    assert "/family/login" in browser.current_url
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    browser.find_element(By.NAME, "token").send_keys(token)
    click_and_wait(browser, By.ID, "sign-in")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Su caso"
    held = browser.find_element(By.ID, "held").text
    assert "Denuncia" in held and "Alguien le vio" in held, "everything held, in plain Spanish"
    visits = browser.find_element(By.ID, "own-visits").text
    assert "una vez" in visits, "her own visit is recorded, and folded into one line"
    assert "family:" not in browser.find_element(By.TAG_NAME, "body").text, "no pseudonym shown as a code"
    reads = node.ledger.reads_of(ids["case"])
    assert any(r.recorded_by["organisation"].startswith("family:") for r in reads), "under a pseudonym"
    assert not any("Rosa" in r.recorded_by["organisation"] for r in reads)

    Select(browser.find_element(By.ID, "field")).select_by_value("last_seen.place")
    browser.find_element(By.ID, "value").send_keys("Arriaga, Chiapas, en el albergue")
    browser.find_element(By.ID, "reason").send_keys("lo supimos después")
    click_and_wait(browser, By.ID, "send-amendment")
    assert "Su corrección quedó registrada" in browser.find_element(By.ID, "notice").text
    assert "Corrección" in browser.find_element(By.ID, "held").text

    click_and_wait(browser, By.ID, "withdraw-forensic_identification")
    assert "Permiso retirado" in browser.find_element(By.ID, "notice").text
    case = node.ledger.get_case(ids["case"])
    assert not case.has_consent("forensic_identification") and case.has_consent("search")

    click_and_wait(browser, By.ID, "language")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Your case"
    assert "Missing person report" in browser.find_element(By.ID, "held").text
    click_and_wait(browser, By.ID, "erase-button")  # without ticking the box: nothing happens
    assert "Tick the box" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert not node.ledger.get_case(ids["case"]).erased


def test_family_forms_refuse_a_forged_post(served: tuple[str, Node, TokenStore, dict[str, Any]]) -> None:
    base, node, tokens, ids = served
    token, _ = tokens.issue("Rosa Chávez, madre", "family_member", str(ids["case"]))
    own = {"Origin": base}
    with httpx.Client(base_url=base) as client:
        form = client.get("/family/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, "the sign-in form carries a form token"
        signed = client.post("/family/login", data={"token": token, "csrf": csrf[1]}, headers=own)
        assert signed.status_code == 303
        forged = client.post("/family/erase", data={"csrf": "0" * 32, "confirm": "yes"}, headers=own)
        assert forged.status_code == 403
        assert not node.ledger.get_case(ids["case"]).erased, "nothing recorded"
        page = client.get("/family?lang=en")
        assert page.status_code == 200 and "Your case" in page.text


def test_a_page_on_another_port_cannot_sign_the_browser_in_as_someone_else(
    served: tuple[str, Node, TokenStore, dict[str, Any]], browser: webdriver.Chrome
) -> None:
    """Login CSRF: the attacker's page, on another port of the same host (same site, so the
    SameSite cookie does not help), posts the attacker's own family key to the sign-in form.
    The victim's browser must keep the victim's session, not show the attacker's case."""
    base, _node, tokens, ids = served
    victim, _ = tokens.issue("Rosa Chávez, madre", "family_member", str(ids["case"]))
    attacker, _ = tokens.issue("someone else", "family_member", str(ids["case"]))
    browser.get(f"{base}/family/login")
    browser.find_element(By.NAME, "token").send_keys(victim)
    click_and_wait(browser, By.ID, "sign-in")
    session = browser.get_cookie("caseledger_family")
    assert session is not None and session["value"] != victim, "the cookie holds a session id, not the key"

    page = (
        f'<form id="f" method="post" action="{base}/family/login"><input name="token" value="{attacker}">'
        '</form><script>document.getElementById("f").submit()</script>'
    ).encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker) as evil:
        threading.Thread(target=evil.serve_forever, daemon=True).start()
        browser.get(f"http://127.0.0.1:{evil.server_address[1]}/")
        WebDriverWait(browser, 15).until(lambda d: d.current_url.startswith(base))
        evil.shutdown()
    assert "another" in browser.find_element(By.TAG_NAME, "body").text, "the forged sign-in is refused"
    assert browser.get_cookie("caseledger_family")["value"] == session["value"], "the victim's session stays"
    browser.get(f"{base}/family")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Su caso"


def test_the_review_pages_refuse_a_cookie_the_sign_in_would_not_have_given(
    served: tuple[str, Node, TokenStore, dict[str, Any]],
) -> None:
    base, _node, tokens, _ids = served
    stranger, _ = tokens.issue("an-organisation-nobody-agreed-with", "commissioner")
    geneticist, _ = tokens.issue("mx-lab-genetica", "geneticist")
    for token in (stranger, geneticist):
        with httpx.Client(base_url=base, cookies={"caseledger_token": token}) as client:
            page = client.get("/pages/cases", follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"] == "/pages/login"
