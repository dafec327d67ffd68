"""`caseledger`: the command line of a node. Errors are sentences, never stack traces."""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ledger.commands import Actor, ReportMissingPerson
from ledger.errors import CommandIdReused, LedgerError
from ledger.values import FamilyContact
from projections.views import CaseRow
from services.cli import candidates as cli_candidates
from services.cli import codes as cli_codes
from services.cli import common as cli_common
from services.cli import course as cli_course
from services.cli import export as cli_export
from services.cli import family as cli_family
from services.cli import history as cli_history
from services.cli import imports as cli_import
from services.cli import linkage as cli_linkage
from services.cli import restore as cli_restore
from services.cli import serve as cli_serve
from services.cli import verify as cli_verify
from services.cli.act import act_group
from services.cli.common import UNAVAILABLE, UserError, click_message, exit_status, may_issue, node_from_env
from topics.log import LogUnavailable

__all__ = [
    "F",
    "cases",
    "lag",
    "main",
    "print_cases",
    "quickstart",
    "registry_paths",
    "relay",
    "report",
    "rules",
    "rules_check",
    "run",
    "topics",
    "topics_init",
]

F = TypeVar("F", bound=Callable[..., Any])


def print_cases(jurisdiction: str, rows: list[CaseRow], scores: list[float] | None = None) -> None:
    click.echo(f"Cases visible to {jurisdiction} ({len(rows)}):")
    if not rows:
        click.echo("  (none)")
    for n, row in enumerate(rows):
        if scores is not None:
            click.echo(f"  {scores[n]:.2f}", nl=False)
        seen = f"{row.last_seen_date or row.last_seen_month or '?'} in {row.last_seen_country}"
        if row.last_seen_place:
            seen += f" ({row.last_seen_place})"
        click.echo(
            f"  {row.case_id}  [{row.origin}] {row.display_name:<32} {row.sex:<7} "
            f"{row.age_band or '?':<6} nationality {','.join(row.nationalities)}; "
            f"last seen {seen}; {row.status}"
        )


@click.group()
@click.version_option(package_name="caseledger", prog_name="caseledger", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Log what the node does (never personal data).")
def main(verbose: bool) -> None:
    """caseledger: a shared, auditable ledger of missing-migrant cases, one node per country."""
    logging.basicConfig(  # the time in UTC: a node's log is read beside other nodes' and the brokers'
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.Formatter.converter = time.gmtime
    # kafka-python's own timing warnings are about its event loop, not about the ledger.
    logging.getLogger("kafka").setLevel(logging.INFO if verbose else logging.ERROR)


@main.command()
@click.option("--given-names", required=True)
@click.option("--first-surname", required=True)
@click.option("--second-surname")
@click.option("--father-name")
@click.option("--mother-name")
@click.option("--alias", "aliases", multiple=True, help="Another name or spelling; repeatable.")
@click.option("--sex", required=True, help="female, male, intersex or unknown")
@click.option("--date-of-birth", help="YYYY-MM-DD")
@click.option(
    "--nationality", "nationalities", multiple=True, required=True, help="ISO 3166 code; repeatable."
)
@click.option("--last-seen-date", required=True, help="YYYY-MM-DD")
@click.option("--last-seen-country", required=True, help="ISO 3166 code")
@click.option("--last-seen-place")
@click.option("--route")
@click.option("--family-contact-name")
@click.option("--family-contact-relationship", default="relative", show_default=True)
@click.option("--family-contact-phone")
@click.option("--circumstances")
@click.option("--source", default="family", show_default=True)
@click.option(
    "--consent",
    "consented_purposes",
    multiple=True,
    help="A purpose the family consented to (repeatable); with none, only the public tier is shared.",
)
@click.option(
    "--consent-explained-by", help="Who explained the purposes to the family (needed with --consent)."
)
@click.option(
    "--consent-language", help="The language consent was explained and given in (needed with --consent)."
)
@click.option(
    "--withheld-from",
    "withheld_from_countries",
    multiple=True,
    help="ISO 3166 code of a country never to receive the case (the one a refugee fled); repeatable.",
)
@click.option("--organisation", default="caseledger-cli", show_default=True)
@click.option("--role", default="caseworker", show_default=True)
@click.option("--purpose", default="search", show_default=True)
@click.option("--command-id", help="Resending the same id never records the case twice.")
def report(**fields: Any) -> None:
    """Report a missing person with the basic data set."""
    contact_name = fields.pop("family_contact_name")
    contact_relationship = fields.pop("family_contact_relationship")
    contact_phone = fields.pop("family_contact_phone")
    contacts = (
        (FamilyContact(contact_name, contact_relationship, phone=contact_phone),)
        if contact_name or contact_phone
        else ()
    )
    command = ReportMissingPerson(
        family_contacts=contacts,
        command_id=fields.pop("command_id") or str(uuid.uuid4()),
        recorded_by=Actor(fields.pop("organisation"), fields.pop("role")),
        aliases=tuple(fields.pop("aliases")),
        nationalities=tuple(fields.pop("nationalities")),
        consented_purposes=tuple(fields.pop("consented_purposes")),
        withheld_from_countries=tuple(fields.pop("withheld_from_countries")),
        **fields,
    )
    with node_from_env() as node:
        if node.settings.access_rules:  # under the network's rules, a recorder is one of theirs
            from ledger.access_rules import load
            from ledger.roles import check_staff

            recorder = command.recorded_by
            check_staff(
                load(node.settings.access_rules).organisations,
                recorder.organisation,
                recorder.role,
                prefix="--",
            )
        may_issue(node, "report_missing_person", command.recorded_by.organisation, command.recorded_by.role)
        try:
            case_id = node.ledger.report_missing_person(command)
        except CommandIdReused as error:
            raise UserError(f"--command-id: {error.problem}") from None
        click.echo(f"case {case_id} recorded at node {node.settings.node}")
        duplicates = cli_candidates.at_report(
            node, str(case_id), command.recorded_by.organisation, command.recorded_by.role, command.purpose
        )
        if duplicates:
            click.echo(f"possible duplicates you may see ({len(duplicates)}):")
            for item in duplicates:
                other = item["right"] if item["left"] == str(case_id) else item["left"]
                why = "; ".join(f"{e['field']}: {e['comparison']}" for e in item["explanation"])
                click.echo(f"  {other}  score {item['score']:.3f}  {why}")


@main.command()
@click.option("--as", "jurisdiction", required=True, help="The jurisdiction whose view to show.")
@click.option("--no-sync", is_flag=True, help="Show the view as it is, without catching up first.")
@click.option("--search", "q", help="A name as people write it; best match first.")
@click.option("--status", help="missing, located_alive, identified_deceased or closed")
@click.option("--nationality", help="ISO 3166 code")
@click.option("--sex", help="female, male, intersex or unknown")
@click.option("--age-band", help="0-11, 12-17, 18-29, 30-44, 45-59 or 60+")
@click.option("--last-seen-country", help="ISO 3166 code")
@click.option("--last-seen-from", help="YYYY-MM-DD")
@click.option("--last-seen-to", help="YYYY-MM-DD")
@click.option("--reported-from", help="YYYY-MM-DD")
@click.option("--reported-to", help="YYYY-MM-DD")
@click.option("--origin", help="The node that recorded the case (ISO 3166 code)")
@click.option("--limit", help="Cases per page, 1 to 500 (default 50).")
@click.option("--cursor", help="The next page, as the page before said.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the cases (machine output).")
@cli_export.format_option
def cases(jurisdiction: str, no_sync: bool, as_json: bool, output_format: str, **asked: str | None) -> None:
    """List the cases a jurisdiction may see; search them by name, filter them, page through them."""
    from ledger.validation import country
    from services.cli import search as cli_search
    from services.cli.common import jurisdiction as known_jurisdiction

    jurisdiction = country("--as", jurisdiction)
    search = cli_search.parse(asked)
    with node_from_env() as node:
        jurisdiction = known_jurisdiction(node, jurisdiction)
        if not no_sync:
            node.sync(jurisdiction)
        if output_format != "text":
            cli_export.emit(cli_search.listed(node.views(jurisdiction), search), output_format)
            return
        cli_search.show(jurisdiction, node.views(jurisdiction), search, as_json, print_cases)


@main.command()
@click.option("--follow", is_flag=True, help="Keep publishing until interrupted.")
def relay(follow: bool) -> None:
    """Publish this node's recorded events to the shared log."""
    with node_from_env() as node:
        if follow:
            stop = threading.Event()
            try:
                node.relay.run(stop)
            except KeyboardInterrupt:
                stop.set()
        else:
            click.echo(f"published {node.relay.run_once()} events")


@main.group()
def rules() -> None:
    """The network's access rules (sharing agreements as data)."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine output: what the file declares.")
def rules_check(path: Path | None, as_json: bool) -> None:
    """Validate a rules file (default: the sample Central America–Mexico policy)."""
    from ledger.access_rules import SAMPLE_POLICY, load
    from services.cli.text import emit_json

    loaded = load(path or SAMPLE_POLICY)
    if as_json:
        return emit_json(
            {
                "path": str(path or SAMPLE_POLICY),
                "valid": True,
                "jurisdictions": dict(loaded.jurisdictions),
                "organisations": {k: vars(o) for k, o in loaded.organisations.items()},
                "agreements": [a.id for a in loaded.agreements],
            }
        )
    click.echo(
        f"{path or SAMPLE_POLICY}: valid; {len(loaded.jurisdictions)} jurisdictions, "
        f"{len(loaded.organisations)} organisations, {len(loaded.agreements)} agreements"
    )


@main.group()
def topics() -> None:
    """The Kafka layout: ledger.events.<origin>, ledger.keys, ledger.deadletter.<node>."""


@topics.command("init")
@click.option("--origin", "origins", multiple=True, help="Also create the events topic of these origins.")
def topics_init(origins: tuple[str, ...]) -> None:
    """Create this node's topics (and other origins' events topics); existing ones are left alone."""
    from ledger.validation import country

    with node_from_env() as node:
        definitions = node.catalogue.node_topics(node.settings.node)
        definitions += [node.catalogue.events(country("--origin", o)) for o in origins]
        node.event_log.create_topics(definitions)
        for definition in definitions:
            config = ", ".join(f"{k}={v}" for k, v in sorted(definition.config.items()))
            click.echo(f"{definition.name}: {definition.partitions} partitions; {config}")


@main.command()
@click.option("--as", "jurisdiction", required=True)
@click.option("--json", "as_json", is_flag=True, help="Machine output: stable JSON.")
def lag(jurisdiction: str, as_json: bool) -> None:
    """How far a jurisdiction's views are behind the log, per topic partition."""
    from services.cli.common import jurisdiction as known_jurisdiction
    from services.cli.text import emit_json

    with node_from_env() as node:
        behind = sorted(node.projector(known_jurisdiction(node, jurisdiction)).lag().items())
    if as_json:
        emit_json([{"topic": tp.topic, "partition": tp.partition, "behind": n} for tp, n in behind])
    for tp, n in [] if as_json else behind:
        click.echo(f"{tp.topic}[{tp.partition}]: {n} behind")


def _quickstart_reporter(node: Any) -> str:
    """Who reports the sample case: under the network's rules an organisation of this node's
    jurisdiction that works with families (the ledger checks the recorder); else a name."""
    from services.cli.common import rules_of

    rules = rules_of(node)
    if rules is None:
        return "Comité de Familiares"
    kinds = ("family_association", "shelter", "ngo", "search_commission", "prosecutor")
    for kind in kinds:
        for organisation in rules.organisations.values():
            if organisation.jurisdiction == node.settings.node and organisation.kind == kind:
                return organisation.id
    raise UserError(f"quickstart: the rules name no organisation in {node.settings.node} to report the case")


@main.command()
def quickstart() -> None:
    """Report a sample case at this node and show it in two countries' views."""
    with node_from_env() as node:
        origin = node.settings.node
        command = ReportMissingPerson(
            command_id="quickstart-1",
            recorded_by=Actor(_quickstart_reporter(node), "caseworker"),
            given_names="José Ángel",
            first_surname="Hernández",
            second_surname="Núñez",
            aliases=("Chepe",),
            sex="male",
            date_of_birth="2004-02-11",
            nationalities=("HN",),
            last_seen_date="2026-03-14",
            last_seen_country=origin,
            last_seen_place="Tenosique, Tabasco",
            route="Corinto – Tenosique",
            source="family",
            family_contacts=(FamilyContact("Gloria Hernández", "mother", phone="+504 5555 0177"),),
            consented_purposes=("search",),
            consent_explained_by="Comité de Familiares",
            consent_language="es",
        )
        case_id = node.ledger.report_missing_person(command)
        click.echo(f"Reported case {case_id} at node {origin} ({node.settings.describe()}).\n")
        for jurisdiction in (origin, "GT" if origin != "GT" else "HN"):
            node.sync(jurisdiction)
            print_cases(jurisdiction, node.views(jurisdiction).cases())
            click.echo("")


for command in (
    *cli_family.COMMANDS,
    *cli_history.COMMANDS,
    *cli_verify.COMMANDS,
    *cli_serve.COMMANDS,
    *cli_candidates.COMMANDS,
    *cli_course.COMMANDS,
):
    main.add_command(command)
main.add_command(act_group)
main.add_command(cli_linkage.linkage_group)
main.add_command(cli_import.import_group)
cli_export.register(main)  # after the import group: `import pfif` joins it
for command in (*cli_codes.COMMANDS, *cli_restore.COMMANDS):
    main.add_command(command)


def run() -> None:
    """Entry point: every error is one line, `error: field: problem`, and an exit status that
    says what kind of error it was (services/cli/common.py, README)."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        click.echo(f"error: {click_message(error)}", err=True)
        sys.exit(error.exit_code)
    except LedgerError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(exit_status(error))
    except LogUnavailable as error:
        click.echo(f"error: log: unreachable: {error}", err=True)
        sys.exit(UNAVAILABLE)
    except Exception as error:  # last resort: a sentence, not a stack trace
        where = cli_common.where_it_arose(error)  # no message: it may quote a value
        logging.getLogger("caseledger").info("unexpected error:\n%s", where)  # shown under -v
        click.echo(f"error: unexpected {type(error).__name__}; run with -v for details", err=True)
        sys.exit(1)


def registry_paths() -> dict[str, tuple[str, ...]]:
    """Where each command of the one registry (services/command_registry.py) is on the command
    line, by the ledger's method: its own richer command, `act NAME` or `course NAME`."""
    from services.cli.act import OWN_COMMAND, command_name
    from services.cli.course import NAMES
    from services.command_registry import LEDGER

    paths: dict[str, tuple[str, ...]] = {
        r.method: ("act", command_name(r)) for r in LEDGER if r.method not in OWN_COMMAND
    }
    paths |= {method: (name,) for method, name in OWN_COMMAND.items()}
    return paths | {method: ("course", name) for method, name in NAMES.items()}
