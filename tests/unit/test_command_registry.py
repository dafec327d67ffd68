"""One command registry (#13, item 4): every command in it is reachable from both the HTTP API
(a POST route at its path) and the command line (a click command), and who may issue each
is the ledger's rule (ledger/command_roles.py), applied by the command line as by the API."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.access_rules import SAMPLE_POLICY
from ledger.command_roles import COMMAND_ROLES, RoleRefused, kinds_for, require_role
from ledger.roles import KIND_ROLES
from services.bootstrap import Node, build_node
from services.cli.root import main, registry_paths
from services.command_registry import COMMANDS, Route, by_method
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore

LAB = "mx-lab-genetica"  # a genetic laboratory of MX in the sample policy: it has caseworkers too


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


def posted(node: Node, tmp_path: Path) -> set[str]:
    """The paths the node's API takes a POST at, as its OpenAPI document states them."""
    app = create_app(node, TokenStore(tmp_path / "tokens.db"))
    return {path for path, operations in app.openapi()["paths"].items() if "post" in operations}


def resolves(group: click.Group, path: tuple[str, ...]) -> bool:
    command: click.Command | None = group
    for name in path:
        command = command.commands.get(name) if isinstance(command, click.Group) else None
    return command is not None and not isinstance(command, click.Group)


def unreachable(
    registry: Iterable[Route], api: set[str], cli: click.Group, paths: dict[str, tuple[str, ...]]
) -> list[str]:
    """The registry's commands that the API or the command line does not offer."""
    missing = [f"{r.method}: no POST {r.path}" for r in registry if r.path not in api]
    return missing + [
        f"{r.method}: not on the command line"
        for r in registry
        if r.method not in paths or not resolves(cli, paths[r.method])
    ]


def test_every_command_is_reachable_from_the_api_and_the_cli(node: Node, tmp_path: Path) -> None:
    api, paths = posted(node, tmp_path), registry_paths()
    assert unreachable(COMMANDS, api, main, paths) == []
    # Controls: a command added to the registry alone, a route gone, a click command gone.
    extra = replace(by_method("record_sighting"), path="/cases/{case_id}/hearsay", method="record_hearsay")
    assert unreachable([*COMMANDS, extra], api, main, paths) == [
        "record_hearsay: no POST /cases/{case_id}/hearsay",
        "record_hearsay: not on the command line",
    ]
    assert unreachable(COMMANDS, api - {"/samples"}, main, paths) == ["take_sample: no POST /samples"]
    pruned = click.Group("caseledger", commands={k: v for k, v in main.commands.items() if k != "course"})
    lost = unreachable(COMMANDS, api, pruned, paths)
    assert (
        "send_inquiry: not on the command line" in lost and "take_sample: not on the command line" not in lost
    )


def test_who_may_run_a_command_is_the_ledgers_rule() -> None:
    require_role("take_sample", "geneticist", "genetic_laboratory")
    with pytest.raises(RoleRefused, match="the role caseworker may not run take_sample"):
        require_role("take_sample", "caseworker")
    with pytest.raises(RoleRefused, match="kind consulate cannot hold the role geneticist"):
        require_role("take_sample", "geneticist", "consulate")
    assert "genetic_laboratory" in kinds_for("record_profile") and "consulate" not in kinds_for(
        "record_profile"
    )
    assert all(kinds_for(command) for command in COMMAND_ROLES), "every command has someone to run it"
    assert set().union(*KIND_ROLES.values()) >= set().union(*COMMAND_ROLES.values())


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for variable in [v for v in os.environ if v.startswith("CASELEDGER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASELEDGER_NODE", "MX")
    monkeypatch.setenv("CASELEDGER_ACCESS_RULES", str(SAMPLE_POLICY))
    return CliRunner()


REPORT = [
    "report", "--given-names", "Ana", "--first-surname", "Cruz", "--sex", "female", "--nationality", "HN",
    "--last-seen-date", "2026-01-10", "--last-seen-country", "MX", "--organisation", LAB,
]  # fmt: skip


def test_the_cli_refuses_a_role_the_command_is_not_for(cli: CliRunner) -> None:
    """A geneticist of a genetic laboratory holds a role its kind can hold, but reporting a
    missing person is casework: refused (exit 3), naming the role and the command."""
    refused = cli.invoke(main, [*REPORT, "--role", "geneticist"])
    assert refused.exit_code == 3, refused.output
    assert "--role: the role geneticist may not run report_missing_person" in refused.output
    done = cli.invoke(main, [*REPORT, "--role", "caseworker"])  # control: the same, by a caseworker
    assert done.exit_code == 0, done.output
    case = done.output.split("case ", 1)[1].split()[0]
    inquiry = [
        "--addressee",
        "x",
        "--addressee-kind",
        "shelter",
        "--question",
        "seen?",
        "--due-on",
        "2026-09-01",
    ]
    course = cli.invoke(main, ["course", "inquire", case, "--as", LAB, "--role", "geneticist", *inquiry])
    assert course.exit_code == 3 and "may not run send_inquiry" in course.output, course.output
