"""`caseledger`: the command line of a node. Errors are sentences, never stack traces."""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from ledger.access_rules import load as load_rules
from ledger.commands import Actor, AmendData, EraseData, GrantConsent, ReportMissingPerson, WithdrawConsent
from ledger.errors import LedgerError
from ledger.values import FamilyContact
from projections.statistics import monthly
from projections.views import CaseRow
from services.bootstrap import Node, build_node
from services.history import case_as_of, diff, visible_fields
from services.reading import CaseReading, Dossier
from services.settings import Settings
from topics.audit import LogVerifier
from topics.log import LogUnavailable

F = TypeVar("F", bound=Callable[..., Any])


class UserError(click.ClickException):
    exit_code = 2


@contextmanager
def node_from_env(**overrides: Any) -> Iterator[Node]:
    """A node for one command, closed afterwards; configuration problems become sentences."""
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(f"configuration: {first['msg']}") from None
    try:
        node = build_node(settings)
    except LogUnavailable as error:
        raise UserError(f"the log is unreachable ({error}); is Kafka running? compose/services up") from None
    try:
        yield node
    finally:
        node.close()


def print_cases(jurisdiction: str, rows: list[CaseRow]) -> None:
    click.echo(f"Cases visible to {jurisdiction} ({len(rows)}):")
    if not rows:
        click.echo("  (none)")
    for row in rows:
        seen = f"{row.last_seen_date or row.last_seen_month or '?'} in {row.last_seen_country}"
        if row.last_seen_place:
            seen += f" ({row.last_seen_place})"
        click.echo(
            f"  {row.case_id}  [{row.origin}] {row.display_name:<32} {row.sex:<7} "
            f"{row.age_band or '?':<6} nationality {','.join(row.nationalities)}; "
            f"last seen {seen}; {row.status}"
        )


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the node does (never personal data).")
def main(verbose: bool) -> None:
    """caseledger: a shared, auditable ledger of missing-migrant cases, one node per country."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
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
        **fields,
    )
    with node_from_env() as node:
        case_id = node.ledger.report_missing_person(command)
        click.echo(f"case {case_id} recorded at node {node.settings.node}")


@main.command()
@click.option("--as", "jurisdiction", required=True, help="The jurisdiction whose view to show.")
@click.option("--no-sync", is_flag=True, help="Show the view as it is, without catching up first.")
def cases(jurisdiction: str, no_sync: bool) -> None:
    """List the cases a jurisdiction may see."""
    from ledger.validation import country

    jurisdiction = country("--as", jurisdiction)
    with node_from_env() as node:
        if not no_sync:
            node.sync(jurisdiction)
        print_cases(jurisdiction, node.views(jurisdiction).cases())


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


@main.command()
@click.option(
    "--as", "jurisdictions", multiple=True, help="Jurisdictions whose views to keep (default: the node's)."
)
def serve(jurisdictions: tuple[str, ...]) -> None:
    """Run the node: publish its events and keep its views current until interrupted."""
    with node_from_env() as node:
        wanted = [j.upper() for j in jurisdictions] or [node.settings.node]
        stop = threading.Event()
        workers = [threading.Thread(target=node.relay.run, args=(stop,), name="relay", daemon=True)]
        workers += [
            threading.Thread(target=node.projector(j).run, args=(stop,), name=f"views-{j}", daemon=True)
            for j in wanted
        ]
        for worker in workers:
            worker.start()
        click.echo(f"serving {node.settings.describe()}; views for {', '.join(wanted)}. Ctrl-C stops.")
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            stop.set()
        for worker in workers:
            worker.join(timeout=10)


@main.group()
def rules() -> None:
    """The network's access rules (sharing agreements as data)."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
def rules_check(path: Path | None) -> None:
    """Validate a rules file (default: the sample Central America–Mexico policy)."""
    from ledger.access_rules import SAMPLE_POLICY, load

    loaded = load(path or SAMPLE_POLICY)
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
def lag(jurisdiction: str) -> None:
    """How far a jurisdiction's views are behind the log, per topic partition."""
    with node_from_env() as node:
        for tp, behind in sorted(node.projector(jurisdiction.upper()).lag().items()):
            click.echo(f"{tp.topic}[{tp.partition}]: {behind} behind")


def parse_case_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise UserError(f"case: {text!r} is not a case id (a UUID)") from None


def print_dossier(dossier: Dossier) -> None:
    click.echo(
        f"Case {dossier.case_id} [{dossier.origin}] {dossier.status}; tiers shown: {', '.join(dossier.tiers)}"
    )
    for entry in dossier.entries:
        who = f"{entry.recorded_by['organisation']} ({entry.recorded_by['role']})"
        click.echo(
            f"  v{entry.version} {entry.event_type}: happened {entry.occurred_at:%Y-%m-%d %H:%M}Z, "
            f"recorded {entry.recorded_at:%Y-%m-%d %H:%M}Z by {who} for {entry.purpose}"
        )
        for name, value in entry.fields.items():
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v not in (None, [], {})}
            if value not in (None, [], {}):
                click.echo(f"      {name}: {value}")
        if entry.withheld:
            click.echo(f"      (withheld from you: the {', '.join(entry.withheld)} tier)")
    if dossier.reads:
        click.echo("Who read this case:")
        for read in dossier.reads:
            tiers = ", ".join(read.tiers) or "nothing"
            click.echo(
                f"  {read.at:%Y-%m-%d %H:%M}Z {read.organisation} ({read.role}) for {read.purpose} "
                f"via {read.interface}: {read.outcome} ({tiers}) - {read.reason}"
            )


def reading(node: Node) -> CaseReading:
    return CaseReading(node, load_rules(node.settings.access_rules) if node.settings.access_rules else None)


@main.group("case")
def case_group() -> None:
    """Read one case, as the access rules allow; every read above the common tier is recorded."""


@case_group.command("show")
@click.argument("case_id")
@click.option("--as", "organisation", required=True, help="The organisation reading (an id from the rules).")
@click.option("--role", default="caseworker", show_default=True)
@click.option("--purpose", required=True, help="search, forensic_identification, family_support, ...")
def case_show(case_id: str, organisation: str, role: str, purpose: str) -> None:
    """Show a case to an organisation for a purpose (refusals are recorded too)."""
    with node_from_env() as node:
        print_dossier(reading(node).read(parse_case_id(case_id), Actor(organisation, role), purpose))


def family_member(name: str) -> Actor:
    return Actor(name, "family_member")


@main.command()
@click.argument("case_id")
@click.option("--by", "name", required=True, help="The family member consulting (recorded as the reader).")
def consult(case_id: str, name: str) -> None:
    """Everything held about a case, who recorded it and who read it: the family's right."""
    with node_from_env() as node:
        print_dossier(reading(node).consult(parse_case_id(case_id), family_member(name)))


@main.command()
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
                recorded_by=family_member(name),
                purpose="family_support",
                case_id=parse_case_id(case_id),
                changes=parsed,
                reason=reason,
            )
        )
        click.echo(f"Amended case {case_id} (version {version}); the original stays in its history.")


@main.command()
@click.argument("case_id")
@click.argument("action", type=click.Choice(["grant", "withdraw"]))
@click.argument("purpose")
@click.option("--by", "name", required=True, help="The person or family member deciding.")
def consent(case_id: str, action: str, purpose: str, name: str) -> None:
    """Grant or withdraw consent for one purpose; shares for a withdrawn purpose stop."""
    common = {
        "command_id": str(uuid.uuid4()),
        "recorded_by": family_member(name),
        "purpose": "family_support",
        "case_id": parse_case_id(case_id),
        "consent_purpose": purpose,
    }
    with node_from_env() as node:
        if action == "grant":
            version = node.ledger.grant_consent(GrantConsent(**common, given_by=name))
        else:
            version = node.ledger.withdraw_consent(WithdrawConsent(**common, withdrawn_by=name))
        done = "granted" if action == "grant" else "withdrawn"
        click.echo(f"Consent for {purpose} {done} on case {case_id} (version {version}).")


@main.command()
@click.argument("case_id")
@click.option("--by", "name", required=True, help="Who asks for the erasure.")
@click.confirmation_option(prompt="Erase this case's personal data everywhere? This cannot be undone.")
def erase(case_id: str, name: str) -> None:
    """The family withdraws: the case's keys are destroyed here and, via tombstones, everywhere."""
    with node_from_env() as node:
        node.ledger.erase_data(
            EraseData(
                command_id=str(uuid.uuid4()),
                recorded_by=family_member(name),
                purpose="family_support",
                case_id=parse_case_id(case_id),
                requested_by=name,
            )
        )
        node.relay.run_once()
        click.echo(f"Erased case {case_id}: its keys are destroyed and tombstones published.")


@main.command()
@click.option("--as", "jurisdiction", required=True, help="The jurisdiction whose views to rebuild.")
def rebuild(jurisdiction: str) -> None:
    """Drop a jurisdiction's views and rebuild them from offset 0; print their digest."""
    name = jurisdiction.upper()
    with node_from_env() as node:
        projector = node.projector(name)
        projector.run_once()  # the live views, caught up
        live = projector.views.digest()
        total = sum(projector.event_log.end_offsets(projector.partitions()).values())
        with click.progressbar(length=total, label=f"rebuilding {name}", file=sys.stderr) as bar:
            consumed = projector.rebuild(progress=bar.update)
        rebuilt = projector.views.digest()
    click.echo(f"rebuilt the views of {name} from {consumed} events; digest {rebuilt}")
    if rebuilt == live:
        click.echo("identical to the live views")
    else:  # events may have arrived meanwhile; a second rebuild settles it
        click.echo(f"the live views had digest {live}: events arrived during the rebuild, or they differed")


def instant(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{option}: {text!r} is not an ISO 8601 instant, e.g. 2026-03-01T00:00Z") from None
    if moment.tzinfo is None:
        raise UserError(f"{option}: {text!r} needs a time zone, e.g. 2026-03-01T00:00Z")
    return moment


@main.command()
@click.argument("case_id")
@click.option("--as", "jurisdiction", required=True, help="The jurisdiction whose view of the past to show.")
@click.option("--as-of", "as_of", help="The instant (ISO 8601 with zone); default now.")
@click.option("--diff", "between", nargs=2, help="Two instants: what changed from the first to the second.")
def history(case_id: str, jurisdiction: str, as_of: str | None, between: tuple[str, str] | None) -> None:
    """A case exactly as a jurisdiction could see it at an instant, or what changed between two."""
    case = str(parse_case_id(case_id))
    with node_from_env() as node:
        projector = node.projector(jurisdiction.upper())
        projector.run_once()
        if between:
            result = diff(projector.views, case, instant(between[0], "--diff"), instant(between[1], "--diff"))
        else:
            moment = instant(as_of, "--as-of") if as_of else None
            found = case_as_of(projector.views, case, moment)
            if not found.events:
                raise UserError(
                    f"case {case_id}: nothing recorded by then that {jurisdiction.upper()} can see"
                )
            result = found.as_dict()
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))


@main.command()
@click.argument("aggregate_id")
@click.option("--as", "jurisdiction", required=True)
def timeline(aggregate_id: str, jurisdiction: str) -> None:
    """Every event of a case, remains, sample (its custody chain) or match, as a jurisdiction
    may see it: what, when, who recorded it and why; the tiers it may not see are named."""
    name = jurisdiction.upper()
    with node_from_env() as node:
        node.sync(name)
        entries = node.views(name).timeline(str(parse_case_id(aggregate_id)))
    if not entries:
        raise UserError(f"{aggregate_id}: nothing that {name} can see")
    click.echo(f"{entries[0].aggregate_type} {aggregate_id} [{entries[0].origin}], as {name} sees it:")
    for entry in entries:
        click.echo(
            f"  v{entry.version} {entry.event_type}: happened {entry.occurred_at:%Y-%m-%d %H:%M}Z, "
            f"recorded {entry.recorded_at:%Y-%m-%d %H:%M}Z by {entry.organisation} ({entry.role}) "
            f"for {entry.purpose}"
        )
        for key, value in visible_fields(entry).items():
            if value not in (None, [], {}):
                click.echo(f"      {key}: {value}")
        if entry.withheld:
            click.echo(f"      (withheld: the {', '.join(entry.withheld)} tier)")


@main.command()
@click.option("--as", "jurisdiction", required=True)
def stats(jurisdiction: str) -> None:
    """Monthly counts of reported cases from the public tier; cells under 5 suppressed."""
    with node_from_env() as node:
        node.sync(jurisdiction.upper())
        cells = monthly(node.views(jurisdiction.upper()))
    click.echo(f"Reported cases visible to {jurisdiction.upper()}, by month, country last seen and sex:")
    for cell in cells:
        click.echo(f"  {cell.month}  {cell.last_seen_country}  {cell.sex:<8} {cell.shown:>5}")
    if not cells:
        click.echo("  (none)")


@main.group("audit")
def audit_group() -> None:
    """Check the shared history."""


@audit_group.command("verify")
@click.argument("case_id", required=False)
def audit_verify(case_id: str | None) -> None:
    """Check signatures and hash chains over the whole log (or one case's); report the first
    break. Exit status 1 when anything does not verify."""
    aggregate = str(parse_case_id(case_id)) if case_id else None
    with node_from_env() as node:
        verifier = LogVerifier(node.event_log, node.keys, node.registry, node.catalogue)
        with click.progressbar(length=verifier.size(), label="verifying", file=sys.stderr) as bar:
            report = verifier.verify(aggregate, progress=bar.update)
    scope = f"case {case_id}" if case_id else "the whole log"
    summary = f"{report.messages} messages, {report.aggregates} aggregates, {report.repeats} repeats"
    if report.first_break is None:
        click.echo(f"verified {scope}: {summary}; every signature and hash link holds")
        return
    click.echo(f"BROKEN {scope}: {summary}; {len(report.breaks)} aggregates break", err=True)
    click.echo(f"first break: {report.first_break}", err=True)
    sys.exit(1)


@main.command()
def quickstart() -> None:
    """Report a sample case at this node and show it in two countries' views."""
    with node_from_env() as node:
        origin = node.settings.node
        command = ReportMissingPerson(
            command_id="quickstart-1",
            recorded_by=Actor("Comité de Familiares", "caseworker"),
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
        )
        case_id = node.ledger.report_missing_person(command)
        click.echo(f"Reported case {case_id} at node {origin} ({node.settings.describe()}).\n")
        for jurisdiction in (origin, "GT" if origin != "GT" else "HN"):
            node.sync(jurisdiction)
            print_cases(jurisdiction, node.views(jurisdiction).cases())
            click.echo("")


def run() -> None:
    """Entry point: domain errors and outages become one clear line and a non-zero exit."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except LedgerError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except LogUnavailable as error:
        click.echo(f"error: the log is unreachable: {error}", err=True)
        sys.exit(3)
    except Exception as error:  # last resort: a sentence, not a stack trace
        logging.getLogger("caseledger").debug("unexpected error", exc_info=True)
        click.echo(f"error: unexpected {type(error).__name__}; run with -v for details", err=True)
        sys.exit(1)
