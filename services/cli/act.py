"""`caseledger act ...`: every command of the API on the command line (#16, item 5), made from
the one registry the API's routes are made from (services/command_registry.py), with the
same body model, the same checks of who may act on which record, and the same errors.

    caseledger act record-sighting CASE --as mx-fiscalia-migrantes --set seen_on=2026-02-03 \\
        --set place.country=MX --set place.place="Arriaga" --set source=survivor

A body is `--set name=value` (dotted names reach into sections; a value that reads as JSON,
a number, a list, an object, is taken as such, anything else as text: quote a number meant as
text, `--set 'file_number="123"'`) or `--body JSON`
(`--body @file.json`), or both (`--set` wins)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from ledger.access_rules import AccessRules
from ledger.commands import Actor
from ledger.errors import CommandIdReused
from services.acting import Acting, ActRefused
from services.bootstrap import Node
from services.cli.common import (
    CONFLICT,
    REFUSED,
    UserError,
    may_issue,
    node_from_env,
    parse_case_id,
    reader,
    rules_of,
)
from services.cli.text import emit_json
from services.command_bodies import body_model
from services.command_registry import LEDGER, Route

__all__ = ["COMMANDS", "OWN_COMMAND", "act_group", "command_name", "make", "parse_body"]

# Commands with their own, richer command (report, amend, consent, erase, distinct).
OWN_COMMAND = {
    "report_missing_person": "report",
    "amend_data": "amend",
    "grant_consent": "consent",
    "withdraw_consent": "consent",
    "erase_data": "erase",
    "judge_cases_distinct": "distinct",
}


def command_name(route: Route) -> str:
    return route.method.replace("_", "-")


def parse_body(body: str | None, settings: tuple[str, ...]) -> dict[str, Any]:
    """The body from --body (JSON, or @file) and --set name=value."""
    found: dict[str, Any] = {}
    if body:
        text = Path(body[1:]).read_text() if body.startswith("@") else body
        try:
            found = json.loads(text)
        except (OSError, ValueError) as error:
            raise UserError(f"--body: not a JSON object ({error})") from None
        if not isinstance(found, dict):
            raise UserError("--body: not a JSON object")
    for setting in settings:
        name, sep, raw = setting.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--set: {setting!r} is not name=value")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        section = found
        *path, last = name.strip().split(".")
        for part in path:
            section = section.setdefault(part, {})
            if not isinstance(section, dict):
                raise UserError(f"--set: {name}: {part} is not a section")
        section[last] = value
    return found


def _invalid(error: ValidationError) -> UserError:
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return UserError(f"{field}: {first['msg']}")


def make(route: Route) -> click.Command:
    """The command for one route: its record as an argument, its body as --set / --body."""
    model = body_model(route)

    def act(
        target: str | None,
        organisation: str,
        role: str,
        purpose: str,
        body: str | None,
        settings: tuple[str, ...],
        version: int | None,
        command_id: str | None,
        as_json: bool,
    ) -> None:
        try:
            validated = model.model_validate(parse_body(body, settings))
        except ValidationError as error:
            raise _invalid(error) from None
        fields = {name: getattr(validated, name) for name in type(validated).model_fields}
        if route.target is not None and target is not None:
            fields[route.target] = parse_case_id(target)
        with node_from_env() as node:
            reader(node, organisation, role, purpose)
            may_issue(node, route.method, organisation, role)
            rules = _member_rules(node, organisation)
            try:
                Acting(node, rules).require(organisation, purpose, fields)
            except ActRefused as refused:
                raise UserError(f"--as: {refused}", REFUSED) from None
            command = route.command(
                **fields,
                command_id=command_id or f"cli:{uuid.uuid4()}",
                recorded_by=Actor(organisation, role),
                purpose=purpose,
                expected_version=version if route.target is not None else None,
            )
            try:
                result = getattr(node.ledger, route.method)(command)
            except CommandIdReused as error:
                raise UserError(f"--command-id: {error.problem}", CONFLICT) from None
        _answer(route, result, target, as_json)

    fields = ", ".join(n for n in model.model_fields) or "none"

    def callback(**kwargs: Any) -> None:
        target = kwargs.pop(route.target.replace("_id", ""), None) if route.target else None
        act(target, **kwargs)

    return click.Command(
        command_name(route),
        callback=callback,
        params=_params(route),
        help=f"{route.summary} (POST {route.path}). Body fields: {fields}.",
        short_help=route.summary,
    )


def _params(route: Route) -> list[click.Parameter]:
    """The record acted on as an argument, then the options every command takes."""
    params: list[click.Parameter] = []
    if route.target is not None:
        params.append(click.Argument([route.target.replace("_id", "")], required=True))
    params += [
        click.Option(
            ["--as", "organisation"], required=True, help="The organisation acting (an id from the rules)."
        ),
        click.Option(["--role"], default="caseworker", show_default=True),
        click.Option(["--purpose"], default="search", show_default=True),
        click.Option(["--body"], help="The request body as JSON, or @file.json."),
        click.Option(["--set", "settings"], multiple=True, help="name=value (dotted names into sections)."),
        click.Option(["--if-version", "version"], type=int, help="The version last seen (like If-Match)."),
        click.Option(["--command-id"], help="Resending the same id never records it twice."),
        click.Option(["--json", "as_json"], is_flag=True, help="Machine output: the id and version."),
    ]
    return params


def _member_rules(node: Node, organisation: str) -> AccessRules | None:
    """The node's rules, once the acting organisation is known to belong to this node."""
    rules = rules_of(node)
    member = rules.organisations[organisation] if rules is not None else None
    if member is not None and member.jurisdiction != node.settings.node:
        raise UserError(f"--as: {organisation} does not belong to node {node.settings.node}", REFUSED)
    return rules


def _answer(route: Route, result: Any, target: str | None, as_json: bool) -> None:
    record = str(result) if route.creates else str(target)
    version_now = 1 if route.creates else int(result)
    if as_json:
        emit_json({"id": record, "version": version_now})
    else:
        click.echo(f"{route.summary}: {record} (version {version_now})")


@click.group("act")
def act_group() -> None:
    """Every command of the API, with the API's validation: `caseledger act NAME --help`."""


for _route in LEDGER:
    if _route.method not in OWN_COMMAND:
        act_group.add_command(make(_route))

COMMANDS = (act_group,)
