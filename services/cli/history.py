"""`caseledger` commands about the past and its integrity: rebuild, history, timeline,
forensic (remains, samples, matches), stats, audit verify."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click

from projections.linked import JurisdictionReading
from projections.statistics import SMALLEST_CELL, UNKNOWN_MONTH, monthly, remains_monthly
from projections.views import TimelineRow, ViewsFromLaterRelease
from services.cli import common as cli_common
from services.cli.common import UserError, instant, node_from_env, parse_case_id
from services.cli.export import emit, format_option
from services.cli.text import (
    echo_table,
    emit_json,
    empty,
    organisation_names,
    plain,
    recorder,
    when,
    words,
)
from services.cli.text import (
    kind as kind_name,
)
from services.history import (
    case_as_of,
    diff,
    entry_happened,
    in_happened_order,
    timeline_items,
    visible_fields,
)
from services.parallel import project

__all__ = [
    "COMMANDS",
    "JSON_HELP",
    "echo_timeline",
    "exact",
    "forensic",
    "history",
    "rebuild",
    "stats",
    "timeline",
]


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
    with node_from_env() as node:
        name = cli_common.jurisdiction(node, jurisdiction)
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


JSON_HELP = "Machine output: stable JSON, instants in ISO 8601."


def _recorded(name: Callable[[str], str], entry: TimelineRow) -> str:
    return f"{when(entry.recorded_at)} by {recorder(name, entry.organisation, entry.role)}"


def echo_timeline(entries: list[TimelineRow], name: Callable[[str], str], seen_by: str) -> None:
    """A timeline in the order things happened: what, when it happened, when and by whom it was
    recorded and why; then the fields shown, and the tiers withheld."""
    for entry in in_happened_order(entries, entry_happened):
        happened_at = entry_happened(entry)
        day = happened_at != entry.occurred_at
        click.echo(
            f"  {when(happened_at, day_only=day):<20}  {words(entry.event_type)} (v{entry.version}); "
            f"recorded {_recorded(name, entry)} for {words(entry.purpose)}"
        )
        for key, value in visible_fields(entry).items():
            if not empty(value):
                click.echo(f"      {words(key)}: {plain(value)}")
        if entry.withheld:
            click.echo(f"      withheld from {seen_by}: the {', '.join(entry.withheld)} tier")


def _echo_case(found: dict[str, Any], seen_by: str, name: Callable[[str], str]) -> None:
    for label, key in (("Person", "person"), ("Last seen", "last_seen")):
        if found[key]:
            click.echo(f"  {label}: {plain(found[key])}")
    click.echo(f"  Consented purposes: {plain([words(p) for p in found['consents']]) or 'none'}")
    counts = [
        f"{found[key]} {label}"
        for key, label in (
            ("sightings", "sightings"),
            ("ante_mortem_records", "ante-mortem records"),
            ("amendments", "amendments"),
            ("notifications", "notifications of the family"),
        )
        if found[key]
    ]
    if counts:
        click.echo(f"  Recorded: {', '.join(counts)}")
    if found["last_sighting"]:
        click.echo(f"  Last sighting: {plain(found['last_sighting'])}")
    if found["linked_cases"]:
        click.echo(f"  Linked cases: {plain(found['linked_cases'])}")


@click.command()
@click.argument("case_id")
@click.option("--as", "jurisdiction", required=True, help="The jurisdiction whose view of the past to show.")
@click.option(
    "--as-of", "as_of", help="What was known (recorded) by this instant (ISO 8601 with zone); default now."
)
@click.option(
    "--diff", "between", nargs=2, help="Two instants: what became known from the first to the second."
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def history(
    case_id: str, jurisdiction: str, as_of: str | None, between: tuple[str, str] | None, as_json: bool
) -> None:
    """A case as a jurisdiction knew it at an instant (what had been recorded by then), or what
    became known between two; events in the order they happened."""
    case = str(parse_case_id(case_id))
    with node_from_env() as node:
        name = cli_common.jurisdiction(node, jurisdiction)
        names = organisation_names(cli_common.rules_of(node))
        projector = node.projector(name)
        projector.run_once()
        if between:
            first, second = instant(between[0], "--diff"), instant(between[1], "--diff")
            result = diff(projector.views, case, first, second)
        else:
            moment = instant(as_of, "--as-of") if as_of else None
            found = case_as_of(projector.views, case, moment)
            if not found.events:
                raise UserError(
                    f"case: {case_id}: nothing recorded by then that {name} can see", cli_common.NOT_FOUND
                )
            result = found.as_dict()
    if as_json:
        emit_json(result)
        return
    if between:
        click.echo(
            f"Case {case}, as known to {name}: what became known between {exact(first)} and {exact(second)}"
        )
        _echo_changes(result["changed"])
    else:
        known = f"at {exact(moment)}" if moment else "now"
        click.echo(
            f"Case {case} [{result['origin']}] as known to {name} {known}: only what had been "
            "recorded by then; events in the order they happened"
        )
        click.echo(f"  Status: {words(str(result['status']))}")
        _echo_case(result, name, names)
    _echo_events(result["events"])


def _echo_changes(changed: dict[str, Any]) -> None:
    for key, change in changed.items():
        pairs = change.items() if "from" not in change else [("", change)]
        for sub, values in pairs:
            label = words(f"{key}.{sub}" if sub else key).replace(".", ": ")
            before, after = (plain(values[k]) if not empty(values[k]) else "none" for k in ("from", "to"))
            click.echo(f"  {label}: {before} -> {after}")
    if not changed:
        click.echo("  nothing it could see changed")


def _echo_events(events: list[dict[str, Any]]) -> None:
    if not events:
        return
    click.echo("Events:")
    echo_table(
        ("Happened", "What", "Recorded", "By", "Purpose"),
        (
            (
                _happened(e),
                f"{words(e['event'])} (v{e['version']})",
                when(_at(e["recorded_at"])),
                e["recorded_by"],
                words(e["purpose"]),
            )
            for e in events
        ),
    )


def exact(at: datetime) -> str:
    """An instant someone typed, as they typed it (never shortened to its month)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _happened(event: dict[str, Any]) -> str:
    if event["happened_at"] != event["occurred_at"]:
        return str(event["happened_at"])[:10]  # a day the event names
    return when(_at(event["occurred_at"]))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@click.command()
@click.argument("aggregate_id")
@click.option("--as", "jurisdiction", required=True)
@click.option("--as-of", "as_of", help="What was known (recorded) by this instant (ISO 8601 with zone).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@format_option
def timeline(
    aggregate_id: str, jurisdiction: str, as_of: str | None, as_json: bool, output_format: str
) -> None:
    """Every event of a case, remains, sample (its custody chain) or match, as a jurisdiction
    may see it, in the order things happened: what, when it happened, when and by whom it was
    recorded and why; the tiers it may not see are named."""
    moment = instant(as_of, "--as-of") if as_of else None
    with node_from_env() as node:
        name = cli_common.jurisdiction(node, jurisdiction)
        names = organisation_names(cli_common.rules_of(node))
        node.sync(name)
        entries = JurisdictionReading(node.views(name)).timeline(str(parse_case_id(aggregate_id)), moment)
    if not entries:
        raise UserError(f"id: {aggregate_id}: nothing that {name} can see", cli_common.NOT_FOUND)
    if as_json:
        emit_json(timeline_items(entries))
        return
    if output_format != "text":
        return emit(entries, output_format)
    known = f"as known at {exact(moment)} (what had been recorded by then)" if moment else "as known now"
    click.echo(
        f"{kind_name(entries[0].aggregate_type)} {aggregate_id} [{entries[0].origin}], as {name} sees it, "
        f"{known}; in the order things happened:"
    )
    echo_timeline(entries, names, name)


_KINDS = {"remains": "UnidentifiedRemains", "samples": "Sample", "matches": "Match"}


@click.command()
@click.argument("kind", type=click.Choice(sorted(_KINDS)))
@click.option("--as", "jurisdiction", required=True)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@format_option
def forensic(kind: str, jurisdiction: str, as_json: bool, output_format: str) -> None:
    """Remains, samples or matches as a jurisdiction may see them now: status and visible fields
    (genetic data never); `caseledger timeline ID` gives one's history, a sample's custody chain."""
    with node_from_env() as node:
        name = cli_common.jurisdiction(node, jurisdiction)
        node.sync(name)
        rows = JurisdictionReading(node.views(name)).forensic(_KINDS[kind])
    if as_json:
        emit_json([{**asdict(r), "state": json.loads(r.state), "withheld": list(r.withheld)} for r in rows])
        return
    if output_format != "text":
        return emit(rows, output_format)
    click.echo(f"{kind.capitalize()} visible to {name} ({len(rows)}):")
    if not rows:
        click.echo("  (none)")
    for row in rows:
        click.echo(
            f"  {row.aggregate_id} [{row.origin}] v{row.version} {words(row.status)}; "
            f"last recorded {when(row.recorded_at)}"
        )
        for key, value in json.loads(row.state).items():
            if not empty(value):
                click.echo(f"      {words(key)}: {plain(value)}")
        if row.withheld:
            click.echo(f"      withheld from {name}: the {', '.join(row.withheld)} tier")


@click.command()
@click.option("--as", "jurisdiction", required=True)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@format_option
def stats(jurisdiction: str, as_json: bool, output_format: str) -> None:
    """Monthly counts: cases by the month the person went missing and by the month reported,
    remains by the month recovered; cells under 5 suppressed."""
    with node_from_env() as node:
        name = cli_common.jurisdiction(node, jurisdiction)
        node.sync(name)
        views = node.views(name)
        tables = {
            "cases_by_month_missing": monthly(views, "missing"),
            "cases_by_month_reported": monthly(views, "reported"),
            "remains_by_month_recovered": remains_monthly(views),
        }
    if output_format != "text":  # one flat table for spreadsheets: which count, then the cell
        flat = [
            {
                "table": key,
                "month": c.month,
                "country": c.last_seen_country,
                "sex": c.sex or None,
                "count": c.shown,
            }
            for key, cells in tables.items()
            for c in cells
        ]
        return emit(flat, output_format)
    if as_json:
        emit_json(
            {
                key: [
                    {"month": c.month, "country": c.last_seen_country, "sex": c.sex or None, "count": c.shown}
                    for c in cells
                ]
                for key, cells in tables.items()
            }
        )
        return
    titles = {
        "cases_by_month_missing": f"Cases visible to {name}, by the month the person went missing",
        "cases_by_month_reported": "The same cases by the month they were reported",
        "remains_by_month_recovered": f"Remains visible to {name}, by the month recovered",
    }
    for key, cells in tables.items():
        click.echo(f"{titles[key]} (cells under {SMALLEST_CELL} shown as <{SMALLEST_CELL}):")
        if not cells:
            click.echo("  (none)")
            continue
        where = "Country recovered" if key.startswith("remains") else "Country last seen"
        headers = ("Month", where, "Count") if key.startswith("remains") else ("Month", where, "Sex", "Count")
        echo_table(
            headers,
            (
                (c.month, c.last_seen_country, c.shown)
                if key.startswith("remains")
                else (c.month, c.last_seen_country, c.sex, c.shown)
                for c in cells
            ),
        )
    if any(c.month == UNKNOWN_MONTH for c in tables["cases_by_month_missing"]):
        click.echo(f"  ({UNKNOWN_MONTH}: a month these views may not read, a minor's or unconsented case)")


COMMANDS = (rebuild, history, timeline, forensic, stats)
