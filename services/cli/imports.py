"""`caseledger import reports|remains FILE --mapping M.toml`: a registry's CSV or XLSX file in
bulk, each row checked as the API checks a request, refused rows reported (row, column,
problem) and the rest recorded; `caseledger import --template reports` writes a starter."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from ledger.command_roles import IMPORTED_AS
from ledger.commands import Actor
from services.bootstrap import Node
from services.cli.common import UserError, may_issue, node_from_env
from services.import_files import FileRefused, Scan, import_file
from services.import_mapping import ImportMapping, MappingRefused
from services.import_templates import TEMPLATES
from services.importing import RowResult

__all__ = [
    "COMMANDS",
    "REPORT_FIELDS",
    "SHOWN",
    "ErrorReport",
    "F",
    "error_report",
    "import_group",
    "import_remains",
    "import_reports",
    "run_import",
    "write_template",
]

F = TypeVar("F", bound=Callable[..., Any])
REPORT_FIELDS = ("row", "external_ref", "outcome", "record_id", "column", "field", "problem")
SHOWN = 20  # refused rows printed on the terminal; the error report holds them all


class ErrorReport:
    """Refused rows to a CSV or JSON file (by its extension), written as they are found."""

    def __init__(self, out: IO[str], as_json: bool) -> None:
        self.out, self.as_json, self.count = out, as_json, 0
        if as_json:
            out.write("[")
        else:
            self.writer = csv.DictWriter(out, fieldnames=REPORT_FIELDS)
            self.writer.writeheader()

    def add(self, result: RowResult) -> None:
        if self.as_json:
            self.out.write(
                ("," if self.count else "") + "\n  " + json.dumps(result.as_dict(), ensure_ascii=False)
            )
        else:
            self.writer.writerow(result.as_dict())
        self.count += 1

    def close(self) -> None:
        if self.as_json:
            self.out.write("\n]\n")


@contextmanager
def error_report(path: Path | None) -> Iterator[ErrorReport | None]:
    if path is None:
        yield None
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        report = ErrorReport(out, path.suffix.lower() == ".json")
        yield report
        report.close()


def write_template(kind: str, directory: Path) -> None:
    mapping, sample = TEMPLATES[kind]
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in ((f"{kind}-mapping.toml", mapping), (f"{kind}-sample.csv", sample)):
        target = directory / name
        if target.exists():
            raise UserError(f"{target}: exists already; remove it or give --dir")
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}")
    click.echo(
        f"try: caseledger import {kind} {directory / f'{kind}-sample.csv'} "
        f"--mapping {directory / f'{kind}-mapping.toml'}"
    )


def run_import(kind: str, file: Path, options: dict[str, Any]) -> None:
    try:
        mapping = ImportMapping.load(options["mapping"], kind)
    except MappingRefused as error:
        raise UserError(f"{error.field}: {error.problem}; nothing was imported") from None
    actor = Actor(
        options["organisation"], options["role"] or ("forensic_expert" if kind == "remains" else "caseworker")
    )
    with node_from_env() as node, error_report(options["errors"]) as errors:
        _may_import(node, kind, actor)
        progress = _Progress(errors)
        try:
            summary = import_file(
                node.ledger,
                file,
                mapping,
                recorded_by=actor,
                **{name: options[name] for name in ("purpose", "encoding", "batch_size", "workers")},
                on_row=progress.row,
                on_scan=progress.scanned,
            )
        except (FileRefused, MappingRefused) as error:
            raise UserError(f"{error.field}: {error.problem}; nothing was imported") from None
        except KeyboardInterrupt:
            # Each batch commits whole: what is in stays, and the same command finishes the rest.
            click.echo("\ninterrupted: run the same command again to import the rest", err=True)
            sys.exit(130)
        finally:
            progress.close()
    _summarise(file, mapping.source, summary.rows, summary.counts, options["errors"])


def _may_import(node: Node, kind: str, actor: Actor) -> None:
    """Under the network's rules a recorder is one of their staff, and its role may import."""
    if node.settings.access_rules:
        from ledger.access_rules import load
        from ledger.roles import check_staff

        check_staff(
            load(node.settings.access_rules).organisations, actor.organisation, actor.role, prefix="--"
        )
    may_issue(node, IMPORTED_AS[kind], actor.organisation, actor.role)


class _Progress:
    """A progress bar on a terminal, and the first refused rows on stderr (all of them in the
    error report, if one was asked for)."""

    def __init__(self, errors: Any) -> None:
        self.errors, self.shown = errors, 0
        self.bar: Any = None

    def scanned(self, found: Scan) -> None:
        if sys.stderr.isatty():
            self.bar = click.progressbar(
                length=found.rows, label=f"importing {found.rows} rows", file=sys.stderr
            )
            self.bar.__enter__()

    def row(self, result: RowResult) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if result.outcome != "refused":
            return
        if self.errors is not None:
            self.errors.add(result)
        if self.shown < SHOWN:
            where = f"row {result.row}" + (f", column {result.column!r}" if result.column else "")
            click.echo(f"refused: {where}: {result.field}: {result.problem}", err=True)
            self.shown += 1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _summarise(file: Path, source: str, rows: int, counts: Mapping[str, int], errors: Path | None) -> None:
    click.echo(
        f"{file.name}: {rows} rows from {source}: {counts['recorded']} recorded, "
        f"{counts['amended']} amended, {counts['unchanged']} unchanged, {counts['refused']} refused"
    )
    if counts["refused"]:
        more = f" (all {counts['refused']} in {errors})" if errors else " (--errors FILE lists all)"
        click.echo(f"refused rows are listed above{more}; fix them and import the file again", err=True)
        sys.exit(1)


def _import_options(kind: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        for option in reversed(
            (
                click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path)),
                click.option(
                    "--mapping",
                    required=True,
                    type=click.Path(dir_okay=False, exists=True, path_type=Path),
                    help=f"TOML mapping of the file's columns (caseledger import --template {kind}).",
                ),
                click.option("--encoding", help="A CSV's encoding: utf-8 (default, BOM or not) or cp1252."),
                click.option(
                    "--errors",
                    type=click.Path(dir_okay=False, path_type=Path),
                    help="Write refused rows here (.csv or .json).",
                ),
                click.option("--organisation", default="caseledger-cli", show_default=True),
                click.option("--role", help="caseworker for reports, forensic_expert for remains (default)."),
                click.option("--purpose", default="search", show_default=True),
                click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True),
                click.option(
                    "--workers",
                    type=click.IntRange(0, 64),
                    default=0,
                    show_default=True,
                    help="Processes that check rows and seal them beside the one that writes (bulk speed).",
                ),
            )
        ):
            function = option(function)
        return function

    return decorate


@click.group("import", invoke_without_command=True)
@click.option(
    "--template", type=click.Choice(sorted(TEMPLATES)), help="Write a starter mapping and a sample file."
)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.pass_context
def import_group(context: click.Context, template: str | None, directory: Path) -> None:
    """Import a registry's records in bulk from CSV or XLSX (re-importing records nothing twice)."""
    if template:
        write_template(template, directory)
    elif context.invoked_subcommand is None:
        click.echo(context.get_help())


@import_group.command("reports")
@_import_options("reports")
def import_reports(file: Path, **options: Any) -> None:
    """Import missing-person reports from FILE."""
    run_import("reports", file, options)


@import_group.command("remains")
@_import_options("remains")
def import_remains(file: Path, **options: Any) -> None:
    """Import recovered remains from FILE."""
    run_import("remains", file, options)


COMMANDS = (import_group,)
