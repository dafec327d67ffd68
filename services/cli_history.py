"""`caseledger` commands about the past and its integrity: rebuild, history, timeline,
forensic (remains, samples, matches), stats, audit verify."""

from __future__ import annotations

import json
import os
import sys

import click

from projections.linked import JurisdictionReading
from projections.statistics import monthly
from projections.views import ViewsFromLaterRelease
from services.cli_common import UserError, instant, node_from_env, parse_case_id
from services.cli_export import emit, format_option
from services.history import case_as_of, diff, visible_fields
from services.parallel import project
from topics.audit import LogVerifier


@click.command()
@click.option("--as", "jurisdiction", required=True, help="The jurisdiction whose views to rebuild.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=min(4, os.cpu_count() or 1),
    show_default=True,
    help="Processes sharing the partitions (on PostgreSQL and Kafka; the embedded default uses one).",
)
def rebuild(jurisdiction: str, workers: int) -> None:
    """Drop a jurisdiction's views and rebuild them from offset 0; print their digest."""
    name = jurisdiction.upper()
    with node_from_env() as node:
        projector = node.projector(name)
        live: str | None = None
        try:
            projector.run_once()  # the live views, caught up
            live = projector.views.digest()
        except ViewsFromLaterRelease as error:  # what the error advises: this release's format
            click.echo(f"{error.what}; rebuilding them in this release's format", err=True)
        total = sum(projector.event_log.end_offsets(projector.partitions()).values())
        with click.progressbar(length=total, label=f"rebuilding {name}", file=sys.stderr) as bar:
            consumed = project(node, name, workers, rebuild=True, progress=bar.update)
        rebuilt = projector.views.digest()
    click.echo(f"rebuilt the views of {name} from {consumed} events; digest {rebuilt}")
    if live is None:
        return
    if rebuilt == live:
        click.echo("identical to the live views")
    else:  # events may have arrived meanwhile; a second rebuild settles it
        click.echo(f"the live views had digest {live}: events arrived during the rebuild, or they differed")


@click.command()
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


@click.command()
@click.argument("aggregate_id")
@click.option("--as", "jurisdiction", required=True)
@format_option
def timeline(aggregate_id: str, jurisdiction: str, output_format: str) -> None:
    """Every event of a case, remains, sample (its custody chain) or match, as a jurisdiction
    may see it: what, when, who recorded it and why; the tiers it may not see are named."""
    name = jurisdiction.upper()
    with node_from_env() as node:
        node.sync(name)
        entries = JurisdictionReading(node.views(name)).timeline(str(parse_case_id(aggregate_id)))
    if not entries:
        raise UserError(f"{aggregate_id}: nothing that {name} can see")
    if output_format != "text":
        return emit(entries, output_format)
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


_KINDS = {"remains": "UnidentifiedRemains", "samples": "Sample", "matches": "Match"}


@click.command()
@click.argument("kind", type=click.Choice(sorted(_KINDS)))
@click.option("--as", "jurisdiction", required=True)
@format_option
def forensic(kind: str, jurisdiction: str, output_format: str) -> None:
    """Remains, samples or matches as a jurisdiction may see them now: status and visible fields
    (genetic data never); `caseledger timeline ID` gives one's history, a sample's custody chain."""
    name = jurisdiction.upper()
    with node_from_env() as node:
        node.sync(name)
        rows = JurisdictionReading(node.views(name)).forensic(_KINDS[kind])
    if output_format != "text":
        return emit(rows, output_format)
    click.echo(f"{kind.capitalize()} visible to {name}:")
    for row in rows:
        shown = {k: v for k, v in json.loads(row.state).items() if v not in (None, [], {})}
        click.echo(f"  {row.aggregate_id} [{row.origin}] v{row.version} {row.status}: {json.dumps(shown)}")
        if row.withheld:
            click.echo(f"      (withheld: the {', '.join(row.withheld)} tier)")
    if not rows:
        click.echo("  (none)")


@click.command()
@click.option("--as", "jurisdiction", required=True)
@format_option
def stats(jurisdiction: str, output_format: str) -> None:
    """Monthly counts of reported cases from the public tier; cells under 5 suppressed."""
    with node_from_env() as node:
        node.sync(jurisdiction.upper())
        cells = monthly(node.views(jurisdiction.upper()))
    if output_format != "text":
        rows = [
            {"month": c.month, "country": c.last_seen_country, "sex": c.sex, "cases": c.shown} for c in cells
        ]
        return emit(rows, output_format)
    click.echo(f"Reported cases visible to {jurisdiction.upper()}, by month, country last seen and sex:")
    for cell in cells:
        click.echo(f"  {cell.month}  {cell.last_seen_country}  {cell.sex:<8} {cell.shown:>5}")
    if not cells:
        click.echo("  (none)")


@click.group("audit")
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


COMMANDS = (rebuild, history, timeline, forensic, stats, audit_group)
