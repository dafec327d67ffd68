"""`caseledger` commands for reading a case and for the family's rights: case show, consult,
amend, consent, erase. Every read above the common tier is recorded (services/reading.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from ledger.access_rules import load as load_rules
from ledger.commands import Actor, AmendData, EraseData, GrantConsent, WithdrawConsent
from services.bootstrap import Node
from services.cli.common import UserError, node_from_env, parse_case_id, reader, rules_of
from services.cli.text import echo_table, emit_json, empty, organisation_names, plain, recorder, when, words
from services.reading import CaseReading, Dossier
from services.tokens import family_pseudonym, node_secret

__all__ = [
    "COMMANDS",
    "amend",
    "case_group",
    "case_show",
    "consent",
    "consult",
    "dossier_json",
    "erase",
    "family_member",
    "print_dossier",
    "reading",
    "show",
]


def print_dossier(dossier: Dossier, name: Callable[[str], str] = str) -> None:
    """A case as its reader may see it, in the order things happened, each event with when and
    by whom it was recorded; then who read it (to the family)."""
    click.echo(
        f"Case {dossier.case_id} [{dossier.origin}] {words(dossier.status)}; "
        f"tiers shown: {', '.join(dossier.tiers) or 'none'}; in the order things happened:"
    )
    if dossier.handle_with_care:
        click.echo("  HANDLE WITH CARE: a protection risk was recorded (threats, trafficking or violence)")
    for entry in dossier.entries:
        who = recorder(name, entry.recorded_by["organisation"], entry.recorded_by["role"])
        happened = when(entry.happened_at, day_only=True) if entry.happened_at else when(entry.occurred_at)
        click.echo(
            f"  {happened:<20}  {words(entry.event_type)} (v{entry.version}); recorded "
            f"{when(entry.recorded_at)} by {who} for {words(entry.purpose)}"
        )
        for field, value in entry.fields.items():
            if field == "changes" and isinstance(value, list):  # amendments carry their values as JSON
                value = {str(c["field"]): json.loads(c["value"]) for c in value if isinstance(c, dict)}
            if not empty(value):
                click.echo(f"      {words(field)}: {plain(value)}")
        if entry.withheld:
            click.echo(f"      withheld from you: the {', '.join(entry.withheld)} tier")
        if entry.protected:
            click.echo(
                f"      kept from you to protect a person: {', '.join(words(p) for p in entry.protected)}"
            )
    if dossier.reads:
        click.echo("Who read this case:")
        echo_table(
            ("When", "Who", "Purpose", "How", "Outcome", "Tiers", "Why"),
            (
                (
                    when(read.at),
                    recorder(name, read.organisation, read.role),
                    words(read.purpose),
                    read.interface,
                    read.outcome,
                    ", ".join(read.tiers) or "nothing",
                    read.reason,
                )
                for read in dossier.reads
            ),
        )


def dossier_json(dossier: Dossier) -> dict[str, Any]:
    """The machine output of a read: the dossier's fields, instants in ISO 8601."""
    out = asdict(dossier)
    for entry, source in zip(out["entries"], dossier.entries, strict=True):
        entry["happened_at"] = source.happened.isoformat()
    return out


def show(node: Node, dossier: Dossier, as_json: bool) -> None:
    if as_json:
        emit_json(dossier_json(dossier))
    else:
        print_dossier(dossier, organisation_names(rules_of(node)))


def reading(node: Node) -> CaseReading:
    return CaseReading(node, load_rules(node.settings.access_rules) if node.settings.access_rules else None)


@click.group("case")
def case_group() -> None:
    """Read one case, as the access rules allow; every read above the common tier is recorded."""


@case_group.command("show")
@click.argument("case_id")
@click.option("--as", "organisation", required=True, help="The organisation reading (an id from the rules).")
@click.option("--role", default="caseworker", show_default=True)
@click.option("--purpose", required=True, help="search, forensic_identification, family_support, ...")
@click.option("--json", "as_json", is_flag=True, help="Machine output: stable JSON.")
def case_show(case_id: str, organisation: str, role: str, purpose: str, as_json: bool) -> None:
    """Show a case to an organisation for a purpose (refusals are recorded too; a name or
    purpose the rules do not know is a usage error, and no read)."""
    case = parse_case_id(case_id)
    with node_from_env() as node:
        reader(node, organisation, role, purpose)
        show(node, reading(node).read(case, Actor(organisation, role), purpose), as_json)


def family_member(node: Node, name: str) -> Actor:
    """The family member as the ledger records them: a pseudonym, never the name (envelopes
    are read by every node); the name goes only where it travels sealed."""
    secret = node_secret(node.settings.data_dir / "forms.secret")
    return Actor(family_pseudonym(secret, name), "family_member")


@click.command()
@click.argument("case_id")
@click.option("--by", "name", required=True, help="The family member consulting (recorded as the reader).")
@click.option("--json", "as_json", is_flag=True, help="Machine output: stable JSON.")
def consult(case_id: str, name: str, as_json: bool) -> None:
    """Everything held about a case, who recorded it and who read it: the family's right."""
    case = parse_case_id(case_id)
    with node_from_env() as node:
        show(node, reading(node).consult(case, family_member(node, name)), as_json)


@click.command()
@click.argument("case_id")
@click.option(
    "--set", "changes", multiple=True, required=True, help="field=value, e.g. person.given_names=Ana"
)
@click.option("--reason", required=True)
@click.option("--by", "name", required=True, help="The family member amending.")
def amend(case_id: str, changes: tuple[str, ...], reason: str, name: str) -> None:
    """Amend what was recorded; the original stays in the history."""
    parsed = {}
    for change in changes:
        field, sep, value = change.partition("=")
        if not sep:
            raise UserError(f"--set: {change!r} is not field=value")
        parsed[field.strip()] = value
    with node_from_env() as node:
        version = node.ledger.amend_data(
            AmendData(
                command_id=str(uuid.uuid4()),
                recorded_by=family_member(node, name),
                purpose="family_support",
                case_id=parse_case_id(case_id),
                changes=parsed,
                reason=reason,
            )
        )
        click.echo(f"Amended case {case_id} (version {version}); the original stays in its history.")


@click.command()
@click.argument("case_id")
@click.argument("action", type=click.Choice(["grant", "withdraw"]))
@click.argument("purpose")
@click.option("--by", "name", required=True, help="The person or family member deciding.")
@click.option("--explained-by", help="Who explained the purpose before consent was given.")
@click.option("--language", help="The language it was explained and given in.")
@click.option(
    "--risks-explained/--risks-not-explained",
    default=None,
    help="Whether the risks of sharing the case were explained to the family.",
)
def consent(
    case_id: str,
    action: str,
    purpose: str,
    name: str,
    explained_by: str | None,
    language: str | None,
    risks_explained: bool | None,
) -> None:
    """Grant or withdraw consent for one purpose; shares for a withdrawn purpose stop."""
    with node_from_env() as node:
        common: dict[str, Any] = {
            "command_id": str(uuid.uuid4()),
            "recorded_by": family_member(node, name),
            "purpose": "family_support",
            "case_id": parse_case_id(case_id),
            "consent_purpose": purpose,
        }
        if action == "grant":
            version = node.ledger.grant_consent(
                GrantConsent(
                    **common,
                    given_by=name,
                    explained_by=explained_by,
                    language=language,
                    risks_explained=risks_explained,
                )
            )
        else:
            version = node.ledger.withdraw_consent(WithdrawConsent(**common, withdrawn_by=name))
        done = "granted" if action == "grant" else "withdrawn"
        click.echo(f"Consent for {purpose} {done} on case {case_id} (version {version}).")


@click.command()
@click.argument("case_id")
@click.option("--by", "name", required=True, help="Who asks for the erasure.")
@click.confirmation_option(prompt="Erase this case's personal data everywhere? This cannot be undone.")
def erase(case_id: str, name: str) -> None:
    """The family withdraws: the case's keys are destroyed here and, via tombstones, everywhere."""
    with node_from_env() as node:
        node.ledger.erase_data(
            EraseData(
                command_id=str(uuid.uuid4()),
                recorded_by=family_member(node, name),
                purpose="family_support",
                case_id=parse_case_id(case_id),
                requested_by=name,
            )
        )
        node.relay.run_once()
        click.echo(f"Erased case {case_id}: its keys are destroyed and tombstones published.")


COMMANDS = (case_group, consult, amend, consent, erase)
