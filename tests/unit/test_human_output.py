"""What people read (#16, items 3, 4 and 9): every CLI read prints readable text, or stable JSON
with --json; no Python repr, JSON quoting or escaped unicode reaches a person, on the command
line or the pages; timelines stand in the order things happened; errors are one style with
documented exit statuses, and a mistyped name is a usage error, never a recorded read."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.cli import main
from services.cli import text as cli_text
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.unit.test_web_hardening import SAME, form_token

PROSECUTOR = "mx-fiscalia-migrantes"
FORENSIC_INSTITUTE = "mx-semefo-chiapas"
REPORT = {
    "given_names": "Marta",
    "first_surname": "Ramírez",
    "second_surname": "Xicará",
    "sex": "female",
    "nationalities": ["GT"],
    "date_of_birth": "1990-04-02",
    "last_seen_date": "2026-01-20",
    "last_seen_country": "MX",
    "last_seen_place": "Vía del tren, Arriaga",
    "family_contacts": [{"name": "Rosa Xicará", "relationship": "mother", "phone": "+502 5555 0101"}],
    "consented_purposes": ["search", "forensic_identification", "family_support", "accountability"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}
SEEN_ON = "2026-02-03"  # before the report is typed in: the timeline puts the sighting first
SIGHTING = {
    "seen_on": SEEN_ON,
    "place": {"country": "MX", "place": "Vía del tren, Ixtepec"},
    "source": "survivor",
}
REMAINS = {"recovered_on": "2026-06-01", "place": {"country": "MX", "place": "Huixtla"}, "context": "river"}

# Every command of the CLI that only reads, and what it is run with; the rest write or run.
WRITES = {
    "report",
    "relay",
    "topics",
    "quickstart",
    "serve",
    "views-worker",
    "network",
    "demo",
    "rebuild",
    "amend",
}
WRITES |= {"consent", "erase", "distinct", "act", "family-code"}
WRITES |= {"import", "export"}  # files in other systems' formats (PFIF XML, CSV), not text for people
WRITES |= {"keys", "restore"}  # key backups and a node's stores rebuilt from its topics (#18)


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


def bearer(tokens: TokenStore, organisation: str, role: str, purpose: str = "search") -> dict[str, str]:
    token, _ = tokens.issue(organisation, role, None)
    return {"Authorization": f"Bearer {token}", "X-Purpose": purpose}


def created(response: Any) -> str:
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


@pytest.fixture
def story(api: TestClient, tokens: TokenStore) -> dict[str, str]:
    """A case with a sighting seen before it was reported, remains, a sample and a reviewed match."""
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    case = created(api.post("/cases", json=REPORT, headers=staff))
    assert api.post(f"/cases/{case}/sightings", json=SIGHTING, headers=staff).status_code == 200
    expert = bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert", "forensic_identification")
    remains = created(api.post("/remains", json=REMAINS, headers=expert))
    sample = {
        "taken_on": "2026-06-02",
        "sample_type": "bone",
        "holder": "SEMEFO Chiapas",
        "remains_id": remains,
    }
    sample_id = created(api.post("/samples", json=sample, headers=expert))
    match = {"case_id": case, "remains_id": remains, "basis": "dental", "score": 0.9}
    match_id = created(api.post("/matches", json=match, headers=expert))
    return {"case": case, "remains": remains, "sample": sample_id, "match": match_id}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for variable in [v for v in os.environ if v.startswith("CASELEDGER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASELEDGER_NODE", "MX")
    monkeypatch.setenv("CASELEDGER_ACCESS_RULES", str(SAMPLE_POLICY))
    return CliRunner()


def reads(ids: dict[str, str]) -> list[list[str]]:
    case = ids["case"]
    return [
        ["cases", "--as", "MX"],
        ["cases", "--as", "MX", "--search", "Marta Ramirez"],
        ["lag", "--as", "MX"],
        ["rules", "check"],
        ["history", case, "--as", "MX"],
        ["history", case, "--as", "MX", "--as-of", datetime.now(UTC).isoformat()],
        ["history", case, "--as", "MX", "--diff", "2020-01-01T00:00Z", datetime.now(UTC).isoformat()],
        *[["timeline", ids[k], "--as", "MX"] for k in ("case", "remains", "sample", "match")],
        *[["forensic", k, "--as", "MX"] for k in ("remains", "samples", "matches")],
        ["stats", "--as", "MX"],
        ["linkage", "candidates", "--case", case, "--as", "mx-busqueda-nacional", "--role", "investigator"],
        ["audit", "verify"],
        ["case", "show", case, "--as", PROSECUTOR, "--purpose", "search"],
        ["consult", case, "--by", "Rosa Xicará"],
        ["candidates", "--as", PROSECUTOR],
        ["token", "list"],
        *[["course", "overdue", k, "--as", PROSECUTOR] for k in ("inquiries", "updates")],
    ]


def run(cli: CliRunner, args: list[str]) -> Result:
    result = cli.invoke(main, args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def test_the_check_catches_python_and_json_values() -> None:
    """The control: what the issue found in human output is caught."""
    for leaked in (
        str({"name": "Marta Ramírez Xicará", "email": None}),
        f"nationalities: {['GT']}",
        json.dumps({"place": "Vía"}),
        "whereabouts may be shared: True",
        "email: None",
    ):
        assert cli_text.reprs_in(leaked), leaked
    assert cli_text.reprs_in("Vía del tren; email: none; shared: yes; [MX] v1 (restricted)") == []


def test_every_cli_read_prints_readable_text_or_json(
    cli: CliRunner, story: dict[str, str], node: Node
) -> None:
    covered = {args[0] for args in reads(story)}
    assert set(main.commands) - WRITES == covered, "a new read command: add it to reads()"
    for args in reads(story):
        text = run(cli, args).output
        assert cli_text.reprs_in(text) == [], (args, cli_text.reprs_in(text), text)
        assert "Traceback" not in text
        machine = run(cli, [*args, "--json"]).stdout
        json.loads(machine.split("\n\n")[0] if args[0] == "audit" else machine)
    shown = run(cli, ["timeline", story["case"], "--as", "MX"]).output
    assert ("Vía del tren, Ixtepec" in shown and "Fiscalía" in shown) or "Unidad de Investigación" in shown
    assert PROSECUTOR not in shown, "organisations by their names in the rules"


def test_the_check_catches_a_command_that_prints_python_values(
    cli: CliRunner, story: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control on a real command: printing values with str() again is caught."""
    monkeypatch.setattr("services.cli.history.plain", str)
    text = run(cli, ["timeline", story["case"], "--as", "MX"]).output
    assert cli_text.reprs_in(text), text


def test_the_pages_show_no_python_values(api: TestClient, tokens: TokenStore, story: dict[str, str]) -> None:
    token, _ = tokens.issue("mx-mecanismo-externo", "commissioner", None)
    csrf = form_token(api, "/pages/login")
    signed = api.post("/pages/login", data={"token": token, "purpose": "search", "csrf": csrf}, headers=SAME)
    assert signed.status_code == 303, signed.text
    for path in ("/pages/cases", f"/pages/cases/{story['case']}"):
        page = api.get(path)
        assert page.status_code == 200, page.text
        text = html.unescape(re.sub(r"<[^>]+>", " ", page.text))
        assert cli_text.reprs_in(text) == [], (path, cli_text.reprs_in(text))
    case_page = api.get(f"/pages/cases/{story['case']}").text
    assert SEEN_ON in case_page, "the Happened column gives the day the sighting was seen"


def test_timelines_stand_in_the_order_things_happened(
    cli: CliRunner, api: TestClient, tokens: TokenStore, story: dict[str, str]
) -> None:
    case = story["case"]
    items = json.loads(run(cli, ["timeline", case, "--as", "MX", "--json"]).stdout)
    assert [i["event_type"] for i in items] == ["SightingRecorded", "CaseReported"]
    assert items[0]["happened_at"].startswith(SEEN_ON) and items[0]["version"] == 2
    assert items[0]["recorded_at"] > items[1]["recorded_at"], "recorded after the report, beside it"
    history = json.loads(run(cli, ["history", case, "--as", "MX", "--json"]).stdout)
    assert [e["event"] for e in history["events"]] == ["SightingRecorded", "CaseReported"]
    assert "recorded by as_of" in history["known_as_of"]
    staff = bearer(tokens, PROSECUTOR, "caseworker")
    over_http = api.get(f"/timeline/{case}", headers=staff).json()
    assert [e["event_type"] for e in over_http] == ["SightingRecorded", "CaseReported"]
    # --as-of: as known at an instant (recorded by then), which the output says.
    reported_at = items[1]["recorded_at"]
    then = run(cli, ["timeline", case, "--as", "MX", "--as-of", reported_at]).output
    assert "as known at" in then and "Sighting recorded" not in then and "Case reported" in then
    early = api.get(f"/timeline/{case}", params={"as_of": reported_at}, headers=staff).json()
    assert [e["event_type"] for e in early] == ["CaseReported"]


def test_errors_are_one_style_with_their_exit_status(
    cli: CliRunner, node: Node, story: dict[str, str]
) -> None:
    case = story["case"]
    reads_before = len(node.ledger.reads_of(uuid.UUID(case)))

    def status(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-c", "from services.cli import run; run()", *args],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stderr.strip().splitlines()[-1]  # after any warnings logged

    code, said = status("case", "show", case, "--as", "mx-fiscalia", "--purpose", "search")
    assert code == 2 and said.startswith("error: --as: 'mx-fiscalia' is not an organisation"), said
    code, said = status("case", "show", case, "--as", PROSECUTOR, "--purpose", "serch")
    assert code == 2 and said.startswith("error: --purpose: 'serch' is not a purpose"), said
    assert len(node.ledger.reads_of(uuid.UUID(case))) == reads_before, "no read recorded"
    for args in (["timeline", case], ["history", case], ["forensic", "remains"], ["stats"], ["lag"]):
        code, said = status(*args, "--as", "FR")
        assert code == 2 and "--as: 'FR' is not a jurisdiction of the network's rules" in said, (args, said)
    code, said = status("audit", "verify", "00000000-0000-4000-8000-000000000000")
    assert code == 4 and "error: case: 00000000-0000-4000-8000-000000000000: the log holds no such" in said
    code, said = status("timeline", "00000000-0000-4000-8000-000000000000", "--as", "MX")
    assert code == 4 and said.startswith("error: id: 00000000-0000-4000-8000-000000000000: nothing"), said
    code, said = status("case", "show", case, "--as", "gt-consulado-tapachula", "--role", "consular_officer",
                        "--purpose", "accountability")  # fmt: skip
    assert code == 3 and said.startswith("error: read of case"), said
    erased = cli.invoke(main, ["erase", case, "--by", "Rosa Xicará", "--yes"])
    assert erased.exit_code == 0, erased.output
    code, said = status("case", "show", case, "--as", PROSECUTOR, "--purpose", "search")
    assert code == 3 and "erased at the family's request" in said and "consent" not in said, said
