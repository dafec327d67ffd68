"""Each user's main task on the pages, walked in headless Chromium at a phone's width (360 px)
and a desktop's (1280 px), every page checked by axe-core (npm, `npm ci --prefix tests`) with
no serious or critical violation, and a screenshot of each kept in tests/artifacts/ (the path
is printed): a family signs in with the short code its caseworker gave, reads its case in
Spanish and withdraws a consent; the commission reviews a timeline under its legal mandate and
prints it; the observatory reads the charts."""

from __future__ import annotations

import base64
import json
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
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.family_codes import FamilyCodes, shown
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import report
from tests.story import whole_story
from tests.unit.test_pages_browser import click_and_wait

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTHS = (360, 1280)
COMMISSION = "mx-mecanismo-externo"
OBSERVATORY = "regional-observatory"
MANDATE = "Acuerdo A/117/15"
# What no human page may show: a program's values, escaped unicode, field names.
REPR = re.compile(r"\{'|\['|\bNone\b|\\u[0-9a-f]{4}|\b[a-z]+_[a-z_]+\b")


@pytest.fixture(scope="module", autouse=True)
def artifacts_said(request: pytest.FixtureRequest) -> Iterator[None]:
    """Say where the screenshots are, whatever pytest captures (CI keeps that directory)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and ARTIFACTS.exists():
        reporter.write_line(f"page screenshots and prints: {ARTIFACTS}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Node, TokenStore, dict[str, Any]]]:
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    ids = whole_story(node.ledger)
    for n in range(6):  # enough cases for the charts to draw bars (cells under 5 are suppressed)
        node.ledger.report_missing_person(report(given_names=f"Persona {n}", nationalities=("HN",)))
    tokens = TokenStore(tmp_path / "tokens.json")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(node, tokens, catch_up=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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


@pytest.fixture(name="browser")
def chromium() -> Iterator[webdriver.Chrome]:
    """Debian's headless chromium, as tests/unit/test_pages_browser.py drives it."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def at_width(browser: webdriver.Chrome, width: int) -> None:
    """The viewport of a phone (360 px, touch) or of a desktop, exactly."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": 800 if width < 600 else 900,
            "deviceScaleFactor": 1,
            "mobile": width < 600,
        },
    )


def violations(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    assert AXE.exists(), f"axe-core is missing: run `npm ci --prefix tests` (looked for {AXE})"
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    found = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations))"
        ".catch(e => done([{id: 'axe-failed', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [v for v in found if v.get("impact") in ("serious", "critical")]


def check(browser: webdriver.Chrome, name: str, width: int) -> str:
    """axe-clean, no sideways scrolling at this width, and a screenshot kept; the page's text."""
    bad = violations(browser)
    assert not bad, json.dumps(
        [{"id": v["id"], "help": v["help"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]} for v in bad],
        ensure_ascii=False,
    )
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} runs {overflow} px off a {width}-px screen"
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}-{width}.png"
    browser.get_screenshot_as_file(str(path))
    print(f"screenshot: {path}")
    return str(browser.find_element(By.TAG_NAME, "body").text)


def small_targets(browser: webdriver.Chrome) -> list[str]:
    """Buttons, links styled as buttons and fields under 44 px high (a finger's size)."""
    return list(
        browser.execute_script(
            "return [...document.querySelectorAll("
            "'button, .button-link, input:not([type=hidden]):not([type=checkbox]), select')]"
            ".filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)"
            ".map(e => e.outerHTML.slice(0, 80))"
        )
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_a_family_signs_in_with_a_short_code_reads_in_spanish_and_withdraws_a_consent(
    served: tuple[str, Node, TokenStore, dict[str, Any]], browser: webdriver.Chrome, width: int
) -> None:
    base, node, tokens, ids = served
    case_id = str(ids["case"])
    # The commission reads the case for accountability, which the family withdrew: its mandate.
    token, _ = tokens.issue(COMMISSION, "commissioner")
    read = httpx.get(
        f"{base}/cases/{case_id}", headers={"Authorization": f"Bearer {token}", "X-Purpose": "accountability"}
    )
    assert read.status_code == 200, read.text
    code, _ = FamilyCodes(tokens).issue("Rosa Chávez, madre", case_id)

    at_width(browser, width)
    browser.get(f"{base}/family")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    check(browser, "family-sign-in", width)
    assert not small_targets(browser)
    # As a mother types it from the paper: small letters, a space instead of the dash.
    browser.find_element(By.NAME, "token").send_keys(shown(code).lower().replace("-", " "))
    click_and_wait(browser, By.ID, "sign-in")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Su caso"
    text = check(browser, "family-case-es", width)
    assert not small_targets(browser)
    assert browser.find_element(By.ID, "status").text == "Identificada sin vida"
    assert "Denuncia de la desaparición" in text and "Alguien le vio" in text
    assert "Nacionalidad\nGuatemala" in text or "Nacionalidad Guatemala" in text, "countries by name"
    assert "10 de febrero de 2026" in text, "dates in Spanish"
    visible = text.replace(case_id, "")
    assert not REPR.search(visible), REPR.search(visible)
    reads = browser.find_element(By.ID, "reads").text
    assert "Mecanismo de Apoyo Exterior" in reads and MANDATE in reads, "the read by mandate, named"
    assert "family:" not in text and "una vez" in browser.find_element(By.ID, "own-visits").text
    assert "Los servicios forenses pueden comparar" in browser.find_element(By.ID, "consents").text

    click_and_wait(browser, By.ID, "withdraw-search")
    assert "Permiso retirado" in browser.find_element(By.ID, "notice").text
    check(browser, "family-withdrawn-es", width)
    assert not node.ledger.get_case(ids["case"]).has_consent("search")
    assert browser.find_element(By.ID, "grant-search").is_displayed(), "and may give it again"


def test_a_wrong_code_is_refused_and_counted_like_a_wrong_token(
    served: tuple[str, Node, TokenStore, dict[str, Any]],
) -> None:
    base, _node, tokens, ids = served
    code, _ = FamilyCodes(tokens).issue("Rosa Chávez, madre", str(ids["case"]))
    wrong = ("C" if code[0] != "C" else "D") + code[1:]
    with httpx.Client(base_url=base, headers={"Origin": base}) as client:
        for attempt in range(6):
            form = client.get("/family/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf
            answer = client.post("/family/login", data={"token": wrong, "csrf": csrf[1]})
            assert answer.status_code == (401 if attempt < 5 else 429), attempt
        assert "Demasiados intentos" in answer.text and "Retry-After" in answer.headers
        # The right code from the same address waits too: the address is throttled.
        form = client.get("/family/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        assert client.post("/family/login", data={"token": code, "csrf": csrf[1]}).status_code == 429


@pytest.mark.parametrize("width", WIDTHS)
def test_the_commission_reviews_a_timeline_under_its_mandate_and_prints_it(
    served: tuple[str, Node, TokenStore, dict[str, Any]], browser: webdriver.Chrome, width: int
) -> None:
    base, node, tokens, ids = served
    token, _ = tokens.issue(COMMISSION, "commissioner")
    at_width(browser, width)
    browser.get(f"{base}/pages/login")
    check(browser, "commission-sign-in", width)
    browser.find_element(By.NAME, "token").send_keys(token)
    Select(browser.find_element(By.NAME, "purpose")).select_by_value("accountability")
    click_and_wait(browser, By.ID, "sign-in")
    text = check(browser, "commission-cases", width)
    assert "María José López Chávez" in text, "names where the mandate lets the commission read them"
    browser.find_element(By.NAME, "q").send_keys("Maria Jose Lopez")
    click_and_wait(browser, By.CSS_SELECTOR, "form.filters button[type=submit]")
    click_and_wait(browser, By.CSS_SELECTOR, f"a[href='/pages/cases/{ids['case']}']")

    text = check(browser, "commission-timeline", width)
    types = [
        r.get_attribute("data-type") for r in browser.find_elements(By.CSS_SELECTOR, "#timeline tr.event")
    ]
    assert "CaseReported" in types and "SightingRecorded" in types
    outcomes = {
        r.get_attribute("data-status"): r.text for r in browser.find_elements(By.CSS_SELECTOR, "tr.match")
    }
    assert outcomes, "the case's matches"
    assert all("reviewed (" not in t for t in outcomes.values()), "outcomes, not just 'reviewed'"
    assert any(s in ("confirmed", "rejected", "more_evidence_needed", "revised") for s in outcomes)
    assert COMMISSION in browser.find_element(By.ID, "reads").text
    reads = [r for r in node.ledger.reads_of(ids["case"]) if r.recorded_by["organisation"] == COMMISSION]
    assert reads and MANDATE in reads[-1].reason, "the read by mandate is recorded and names it"

    # Printing: the header names who printed it, when and why; the page counter is in @page.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    header = browser.find_element(By.ID, "print-header")
    assert header.is_displayed() and not browser.find_element(By.ID, "print").is_displayed()
    assert "Printed by Mecanismo de Apoyo Exterior" in header.text and "accountability" in header.text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", header.text)
    sheet = httpx.get(f"{base}/assets/caseledger.css").text
    assert "@page" in sheet and "counter(page)" in sheet and "counter(pages)" in sheet
    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})["data"])
    assert pdf.startswith(b"%PDF")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"commission-timeline-{width}.pdf").write_bytes(pdf)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    # A refusal has a way back: a case id that is none.
    browser.get(f"{base}/pages/cases/not-a-case")
    check(browser, "commission-refused", width)
    click_and_wait(browser, By.ID, "back")
    assert browser.current_url.endswith("/pages/cases")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_observatory_reads_the_charts(
    served: tuple[str, Node, TokenStore, dict[str, Any]], browser: webdriver.Chrome, width: int
) -> None:
    base, _node, tokens, _ids = served
    token, _ = tokens.issue(OBSERVATORY, "caseworker")
    at_width(browser, width)
    browser.get(f"{base}/pages/login")
    browser.find_element(By.NAME, "token").send_keys(token)
    Select(browser.find_element(By.NAME, "purpose")).select_by_value("statistics")
    click_and_wait(browser, By.ID, "sign-in")
    assert browser.current_url.endswith("/pages/statistics")
    text = check(browser, "observatory-charts", width)
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg[role=img]")
    assert len(charts) == 4
    assert "Cases by month of disappearance" in text and "Cases by route segment" in text
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-nationality rect"), "a bar for 5 or more"
    assert "fewer than 5" in text, "small cells suppressed"
    assert "María" not in text and "Persona" not in text, "no person on a statistics page"
    cookie = browser.get_cookie("caseledger_session")
    assert cookie is not None
    figures = httpx.get(f"{base}/pages/statistics.csv", cookies={cookie["name"]: cookie["value"]})
    assert figures.status_code == 200 and figures.headers["content-type"].startswith("text/csv")
    lines = figures.text.splitlines()
    assert lines[0] == "chart,category,cases" and any(
        line.startswith("nationality,Honduras,") for line in lines
    )
    assert any(line.endswith(",<5") for line in lines)
