"""The observatory's charts (services/http/pages/statistics.py): counts from the public tier,
cells under 5 suppressed in the drawing, the tables and the CSV alike, SVG that runs no script;
and no page shows a value as a program writes it."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from projections.views import CaseRow
from services.bootstrap import build_node
from services.family_codes import FamilyCodes
from services.http.app import create_app
from services.http.pages.statistics import as_csv, charts, svg
from services.settings import Settings
from services.tokens import TokenStore
from tests.story import whole_story
from tests.unit.test_web_hardening import SAME, form_token

ROW = CaseRow(
    case_id="c",
    origin="MX",
    version=1,
    status="missing",
    reported_at=datetime(2026, 3, 1, tzinfo=UTC),
    sex="female",
    age_band="18-29",
    nationalities=("HN",),
    last_seen_country="MX",
    last_seen_month="2026-02",
    route="Tecún Umán – Arriaga",
    restricted=True,
)


def rows() -> list[CaseRow]:
    many = [replace(ROW, case_id=f"hn{n}") for n in range(6)]
    few = [replace(ROW, case_id=f"gt{n}", nationalities=("GT",), status="located_alive") for n in range(2)]
    return many + few


def test_counts_by_month_nationality_route_and_status() -> None:
    found = {c.key: dict(c.cells) for c in charts(rows())}
    assert found["month"] == {"2026-02": 8}, "the month the person went missing"
    assert found["nationality"] == {"Honduras": 6, "Guatemala": None}
    assert found["route"] == {"Tecún Umán – Arriaga": 8}
    assert found["status"] == {"missing": 6, "located alive": None}


def test_the_check_catches_a_small_cell_shown() -> None:
    """Control: five is shown, four is not."""
    five = {c.key: dict(c.cells) for c in charts(rows()[:5])}
    four = {c.key: dict(c.cells) for c in charts(rows()[:4])}
    assert five["nationality"] == {"Honduras": 5} and four["nationality"] == {"Honduras": None}


def test_the_drawing_and_the_csv_say_the_same_and_hide_the_same() -> None:
    drawn = {c.key: svg(c) for c in charts(rows())}
    nationality = str(drawn["nationality"])
    assert nationality.count("<rect") == 1, "a bar for Honduras, none for a suppressed cell"
    assert "fewer than 5" in nationality and ">6<" in nationality
    assert 'role="img"' in nationality and "<title" in nationality and "<script" not in nationality
    assert "style=" not in nationality, "nothing the Content-Security-Policy would refuse"
    lines = as_csv(charts(rows())).splitlines()
    assert lines[0] == "chart,category,cases"
    assert "nationality,Honduras,6" in lines and "nationality,Guatemala,<5" in lines
    assert not any(line.endswith(",2") for line in lines), "the suppressed count appears nowhere"


def test_an_unknown_month_or_route_is_counted_as_not_known() -> None:
    found = {c.key: dict(c.cells) for c in charts([replace(ROW, last_seen_month=None, route=None)] * 5)}
    assert found["month"] == {"not known": 5} and found["route"] == {"not known": 5}


def test_no_page_shows_a_program_value(tmp_path: Path) -> None:
    """The family's page in both languages, and the commission's case page: no Python repr, no
    escaped unicode, no None; on the family's page no field name either. Control: the pattern
    catches each of them."""
    pattern = re.compile(r"\{'|\['|\bNone\b|\\u[0-9a-f]{4}")
    field_name = re.compile(r"\b[a-z]+_[a-z_]+\b")
    for bad in ("{'name': 'x'}", "['GT']", "email: None", "V\\u00eda"):
        assert pattern.search(bad), bad
    assert field_name.search("given_names")
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    ids = whole_story(node.ledger)
    tokens = TokenStore(tmp_path / "tokens.json")
    code, _ = FamilyCodes(tokens).issue("Rosa", str(ids["case"]))
    client = TestClient(create_app(node, tokens, catch_up=True))
    csrf = form_token(client, "/family/login")
    assert client.post("/family/login", data={"token": code, "csrf": csrf}, headers=SAME).status_code == 200
    for lang in ("es", "en"):
        page = client.get(f"/family?lang={lang}")
        text = html.unescape(re.sub(r"<[^>]+>", " ", page.text.split("<main>")[1]))
        text = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "", text)  # reference numbers
        assert not pattern.search(text) and not field_name.search(text), (lang, field_name.search(text))
    staff = TestClient(client.app)
    token, _ = tokens.issue("mx-mecanismo-externo", "commissioner")
    csrf = form_token(staff, "/pages/login")
    signed = staff.post(
        "/pages/login", data={"token": token, "purpose": "search", "csrf": csrf}, headers=SAME
    )
    assert signed.status_code == 200
    page = staff.get(f"/pages/cases/{ids['case']}")
    assert page.status_code == 200 and not pattern.search(html.unescape(page.text)), pattern.search(
        html.unescape(page.text)
    )
    node.close()
