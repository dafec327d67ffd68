"""`caseledger act ...` (#16, item 5): every API command on the command line, made from the API's
own registry (ROUTES) with the same body model and the same check of who may act on what."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.cli import main
from services.cli.act import OWN_COMMAND, act_group, command_name, parse_body
from services.cli.common import UserError
from services.command_registry import LEDGER as ROUTES
from services.settings import Settings

PROSECUTOR = "mx-fiscalia-migrantes"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for variable in [v for v in os.environ if v.startswith("CASELEDGER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASELEDGER_NODE", "MX")
    monkeypatch.setenv("CASELEDGER_ACCESS_RULES", str(SAMPLE_POLICY))
    return CliRunner()


@pytest.fixture
def node(tmp_path: Path, cli: CliRunner) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


def test_every_api_command_has_a_cli_command() -> None:
    made = set(act_group.commands)
    for route in ROUTES:
        own = OWN_COMMAND.get(route.method)
        assert (own in main.commands) if own else command_name(route) in made, route.path


def test_a_body_is_set_field_by_field_or_given_whole() -> None:
    body = parse_body('{"source": "press"}', ("place.country=MX", "score=0.9", 'marks=["scar"]', "a=Vía"))
    assert body == {
        "source": "press",
        "place": {"country": "MX"},
        "score": 0.9,
        "marks": ["scar"],
        "a": "Vía",
    }
    with pytest.raises(UserError, match="--set: 'x' is not name=value"):
        parse_body(None, ("x",))
    with pytest.raises(UserError, match="--body: not a JSON object"):
        parse_body("[1]", ())


def test_a_sighting_on_the_command_line_is_checked_as_the_api_checks_it(cli: CliRunner, node: Node) -> None:
    reported = cli.invoke(
        main,
        [
            "report", "--given-names", "Ana", "--first-surname", "Cruz", "--sex", "female",
            "--nationality", "HN", "--last-seen-date", "2026-01-10", "--last-seen-country", "MX",
            "--date-of-birth", "1990-01-01", "--organisation", PROSECUTOR, "--consent", "search",
            "--consent-explained-by", "Fiscalía", "--consent-language", "es",
        ],
    )  # fmt: skip
    assert reported.exit_code == 0, reported.output
    case = reported.output.split("case ", 1)[1].split()[0]
    sighting = ["--set", "seen_on=2026-01-15", "--set", "place.country=MX", "--set", "place.place=Vía"]
    done = cli.invoke(
        main, ["act", "record-sighting", case, "--as", PROSECUTOR, *sighting, "--set", "source=survivor"]
    )
    assert done.exit_code == 0 and "Record a sighting" in done.output and "(version 2)" in done.output
    bad = cli.invoke(
        main, ["act", "record-sighting", case, "--as", PROSECUTOR, *sighting, "--set", "source=gossip"]
    )
    assert bad.exit_code == 2 and bad.output.startswith("error: source: Input should be"), bad.output
    consulate = ["--as", "gt-consulado-tapachula", "--role", "consular_officer"]
    refused = cli.invoke(
        main, ["act", "record-sighting", case, *consulate, *sighting, "--set", "source=survivor"]
    )
    assert refused.exit_code == 3 and refused.output.startswith("error: "), refused.output
    mistyped = cli.invoke(
        main, ["act", "record-sighting", case, "--as", "mx-fiscal", *sighting, "--set", "source=press"]
    )
    assert mistyped.exit_code == 2 and "not an organisation of the network's rules" in mistyped.output
    node.sync("MX")
    events = [e.event_type for e in node.views("MX").timeline(case)]
    assert events == ["CaseReported", "SightingRecorded"], "the refused and the bad ones recorded nothing"
