"""`caseledger course ...`: the course of a case on the command line, made from the same
registry as its HTTP routes (services/command_registry.py): one command per route, one option per
field of the ledger's command, so both interfaces take the same fields and refuse the same
values. And the overdue lists: `caseledger course overdue inquiries|updates --as ORG`."""

from __future__ import annotations

import dataclasses
import json
import typing
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import click

from ledger.commands import Actor
from ledger.errors import CommandIdReused
from ledger.values import Coordinates, TeamMember
from services.cli.common import UserError, instant, may_issue, node_from_env, parse_case_id
from services.command_bodies import ENVELOPE
from services.command_registry import COURSE, Route, by_method
from services.overdue import overdue_inquiries, overdue_updates

__all__ = ["COMMANDS", "NAMES", "course_group", "overdue", "record_id", "route_command"]


def record_id(target: str, text: str) -> uuid.UUID:
    if target == "case_id":
        return parse_case_id(text)
    try:
        return uuid.UUID(text)
    except ValueError:
        raise UserError(f"{target.removesuffix('_id')}: {text!r} is not an id (a UUID)") from None


def _option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _team_member(text: str) -> TeamMember:
    name, separator, role = text.rpartition(":")
    if not separator or not name.strip():
        raise UserError(f"--team: {text!r} is not NAME:ROLE (e.g. 'Dra. Lucía Méndez:forensic_expert')")
    return TeamMember(name.strip(), role.strip())


def _coordinates(text: str) -> Coordinates:
    try:
        latitude, longitude = (float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--coordinates: {text!r} is not LATITUDE,LONGITUDE (e.g. 14.90,-92.26)") from None
    return Coordinates(latitude, longitude)


def _converter(hint: Any) -> tuple[dict[str, Any], Callable[[Any], Any]]:
    """The click option's settings for a field's type, and how its text becomes the value."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        item = args[0]
        if item is TeamMember:
            return {"multiple": True, "help": "NAME:ROLE; repeatable."}, lambda v: tuple(map(_team_member, v))
        return {"multiple": True, "help": "Repeatable."}, tuple
    kinds = {a for a in (args or (hint,)) if a is not type(None)}
    if datetime in kinds:
        return {"help": "ISO 8601 with a zone (default: now)."}, lambda v: instant(v, "--occurred-at")
    if Coordinates in kinds:
        return {"help": "LATITUDE,LONGITUDE (decimal degrees)."}, _coordinates
    if kinds == {bool}:
        return {"type": click.BOOL, "help": "true or false."}, lambda v: v
    if kinds == {int}:
        return {"type": int}, lambda v: v
    if date in kinds:
        return {"help": "YYYY-MM-DD."}, lambda v: v
    return {}, lambda v: v


def route_command(name: str, route: Route) -> click.Command:
    """A click command that records route.command on a case, as the API would."""
    hints = typing.get_type_hints(route.command)
    fields = [
        f for f in dataclasses.fields(route.command) if f.name not in ENVELOPE and f.name != route.target
    ]
    converters: dict[str, Callable[[Any], Any]] = {}
    target = route.target or "case_id"
    params: list[click.Parameter] = [click.Argument([target])]
    for field in fields:
        settings, convert = _converter(hints[field.name])
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        params.append(click.Option([_option_name(field.name), field.name], required=required, **settings))
        converters[field.name] = convert
    params += [
        click.Option(["--as", "organisation"], required=True, help="The organisation recording it."),
        click.Option(["--role"], default="caseworker", show_default=True),
        click.Option(["--purpose"], default="search", show_default=True),
        click.Option(["--command-id"], help="Resending the same id never records it twice."),
    ]

    def callback(organisation: str, role: str, purpose: str, command_id: str | None, **given: Any) -> None:
        record = given.pop(target)
        values = {k: converters[k](v) for k, v in given.items() if v is not None and v != ()}
        actor = Actor(organisation, role)
        with node_from_env() as node:
            if node.settings.access_rules:  # under the network's rules, a recorder is one of theirs
                from ledger.access_rules import load
                from ledger.roles import check_staff

                check_staff(load(node.settings.access_rules).organisations, organisation, role, prefix="--")
            may_issue(node, route.method, organisation, role)
            command = route.command(
                command_id=command_id or str(uuid.uuid4()),
                recorded_by=actor,
                purpose=purpose,
                **{target: record_id(target, record)},
                **values,
            )
            try:
                version = getattr(node.ledger, route.method)(command)
            except CommandIdReused as error:
                raise UserError(f"--command-id: {error.problem}") from None
        click.echo(
            f"{target.removesuffix('_id')} {record}: recorded ({route.summary.lower()}); version {version}"
        )

    return click.Command(name, params=params, callback=callback, help=f"{route.summary}.")


# The command's name on the command line, by the ledger's method it carries out.
NAMES = {
    "send_inquiry": "inquire",
    "answer_inquiry": "answer",
    "refer_support": "refer",
    "record_support_provided": "support",
    "set_update_cadence": "cadence",
    "give_family_update": "update",
    "plan_notification": "plan",
    "notify_family": "notify",
    "record_person_details": "person",
    "record_contact_details": "contact",
    "flag_protection_risk": "risk",
    "receive_remains": "receive",
    "bury_remains": "bury",
    "exhume_remains": "exhume",
    "release_remains": "release",
    "transfer_remains": "transfer",
    "hand_over_remains": "hand-over",
}


@click.group("course")
def course_group() -> None:
    """The course of a case: inquiries, family support and updates, notification, protection."""


for _route in (*COURSE, by_method("notify_family")):
    course_group.add_command(route_command(NAMES[_route.method], _route))


@course_group.command("overdue")
@click.argument("kind", type=click.Choice(["inquiries", "updates"]))
@click.option("--as", "organisation", required=True, help="The organisation asking (its own list).")
@click.option(
    "--role", default="caseworker", show_default=True, help="commissioner, node_operator: every item."
)
@click.option("--addressee", help="inquiries: only those sent to this organisation.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array (machine output).")
def overdue(kind: str, organisation: str, role: str, addressee: str | None, as_json: bool) -> None:
    """What is owed to families: inquiries not answered by their day, per organisation asked;
    updates not given when promised, per focal point."""
    with node_from_env() as node:
        if kind == "inquiries":
            items = overdue_inquiries(node.ledger, organisation, role, addressee)
        else:
            items = overdue_updates(node.ledger, organisation, role)
    if as_json:
        click.echo(json.dumps(items, default=str, ensure_ascii=False))
        return
    key = "addressee" if kind == "inquiries" else "focal_point"
    if not items:
        click.echo(f"no overdue {kind} for {organisation}")
    for group in sorted({str(i[key]) for i in items}):
        click.echo(f"{group}:")
        for i in (i for i in items if i[key] == group):
            care = "  HANDLE WITH CARE" if i["handle_with_care"] else ""
            if kind == "inquiries":
                click.echo(
                    f"  case {i['case_id']} inquiry {i['inquiry']} ({i['addressee_kind']}), due "
                    f"{i['due_on']}, {i['days_overdue']} days overdue; sent by {i['sent_by']}{care}"
                )
            else:
                click.echo(
                    f"  case {i['case_id']}: news due {i['next_due']} (every {i['every_days']} days), "
                    f"{i['days_overdue']} days overdue{care}"
                )


COMMANDS = (course_group,)
