"""`caseledger import pfif`, `caseledger export pfif|mmp`, and `--format csv|json` for the
CLI's lists: registries in and out, each reading only what the caller may read."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from services.cli.common import UserError, node_from_env
from services.csv_text import to_csv

__all__ = [
    "FORMATS",
    "as_items",
    "emit",
    "export_group",
    "export_mmp",
    "export_pfif",
    "format_option",
    "import_pfif",
    "register",
]

FORMATS = ("text", "csv", "json")
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people; csv or json for programs (exactly the fields shown).",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def as_items(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows (dataclasses or dicts) as JSON-ready dicts; JSON text columns (a view's `state`,
    `public`, `shown`) as the objects they hold."""
    items = []
    for row in rows:
        item = asdict(row) if is_dataclass(row) and not isinstance(row, type) else dict(row)
        for key in ("state", "public", "shown"):
            if isinstance(item.get(key), str):
                item[key] = json.loads(item[key])
        items.append({k: _plain(v) for k, v in item.items()})
    return items


def emit(rows: Sequence[Any], output_format: str) -> None:
    """Print rows as CSV or a JSON array (the caller printed text itself)."""
    items = as_items(rows)
    if output_format == "json":
        click.echo(json.dumps(items, ensure_ascii=False, default=str))
    else:
        click.echo(to_csv(items), nl=False)


@click.command("pfif")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--organisation", default="caseledger-cli", show_default=True)
@click.option("--role", default="caseworker", show_default=True)
@click.option("--source", default="family", show_default=True, help="The source kind of the reports.")
@click.option("--country", help="ISO 3166 code for records that name no home_country.")
@click.option("--consent", "consented_purposes", multiple=True, help="A purpose the families consented to.")
@click.option("--consent-explained-by", help="Who explained the purposes (needed with --consent).")
@click.option("--consent-language", help="The language consent was given in (needed with --consent).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JSON.")
def import_pfif(path: Path, report_path: Path | None, **options: Any) -> None:
    """Import the persons and notes of a PFIF 1.2, 1.3 or 1.4 feed; report every bad record."""
    from ledger.validation import country
    from services.pfif_import import PfifImport
    from services.pfif_mapping import ImportOptions

    if options["country"]:
        options["country"] = country("--country", options["country"])
    options["consented_purposes"] = tuple(options["consented_purposes"])
    with node_from_env() as node:
        if node.settings.access_rules:
            from ledger.access_rules import load
            from ledger.roles import check_staff

            rules = load(node.settings.access_rules)
            check_staff(rules.organisations, options["organisation"], options["role"], prefix="--")
        report = PfifImport(node.ledger, ImportOptions(**options)).run(path)
    if report_path:
        report_path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    if report.refused:
        raise UserError(f"{path}: refused, nothing recorded: {report.refused}")
    click.echo(
        f"{path}: {len(report.recorded)} records recorded, {len(report.unchanged)} already here, "
        f"{len(report.bad)} refused"
    )
    for record_id, problems in report.bad.items():
        for problem in problems:
            click.echo(f"  refused {record_id}: {problem}", err=True)
    for record_id, warnings in report.warnings.items():
        for warning in warnings:
            click.echo(f"  note {record_id}: {warning}", err=True)
    if report.bad:
        sys.exit(1)


@click.group("export")
def export_group() -> None:
    """Write what a jurisdiction may read in a registry's format (PFIF 1.4, IOM MMP CSV)."""


def _target(output: Path | None, text: str | bytes) -> None:
    if output is None:
        click.echo(text if isinstance(text, str) else text.decode(), nl=False)
    elif isinstance(text, bytes):
        output.write_bytes(text)
    else:
        output.write_text(text, encoding="utf-8")


@export_group.command("pfif")
@click.option("--as", "jurisdiction", required=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: standard output.")
@click.option(
    "--domain", help="The domain of this registry's record ids (default: <node>.caseledger.invalid)."
)
@click.option("--schema", type=click.Path(dir_okay=False, path_type=Path), help="PFIF 1.4 RELAX NG schema.")
def export_pfif(jurisdiction: str, output: Path | None, domain: str | None, schema: Path | None) -> None:
    """PFIF 1.4 of the missing persons the jurisdiction may read whose families consented to
    search (public and common fields only), validated against the PFIF 1.4 RELAX NG schema."""
    from lxml import etree

    from ledger.validation import country
    from services.pfif_export import PfifExport, SchemaInvalid, default_schema, ledger_ids, validate

    name = country("--as", jurisdiction)
    schema = schema or default_schema()
    if not schema.is_file():
        raise UserError(f"--schema: {schema} is not a file (the PFIF 1.4 RELAX NG schema, pfif-1.4.rng)")
    with node_from_env() as node:
        node.sync(name)
        domain = domain or f"{node.settings.node.lower()}.caseledger.invalid"
        exporter = PfifExport(node.views(name), domain, ledger_ids(node.ledger, node.settings.node))
        root = exporter.document()
    try:
        validate(root, schema)
    except SchemaInvalid as error:
        raise UserError(str(error)) from None
    _target(output, etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    if output is not None:
        click.echo(f"{output}: {len(root)} persons, valid PFIF 1.4", err=True)


@export_group.command("mmp")
@click.option("--as", "jurisdiction", required=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: standard output.")
def export_mmp(jurisdiction: str, output: Path | None) -> None:
    """IOM Missing Migrants Project incident rows (CSV) from the public tier of remains and
    cases; counts under 5 suppressed; no personal data."""
    from ledger.validation import country
    from services.mmp import incidents, to_csv

    name = country("--as", jurisdiction)
    with node_from_env() as node:
        node.sync(name)
        rows = incidents(node.views(name), name)
    _target(output, to_csv(rows))


def register(main: click.Group) -> None:
    """Add these commands to the CLI; `pfif` joins an `import` group another module made."""
    group = main.commands.get("import")
    if not isinstance(group, click.Group):
        group = click.Group("import", help="Bring existing records in from registries' files.")
        main.add_command(group)
    group.add_command(import_pfif)
    main.add_command(export_group)
