"""`caseledger audit verify`: the command line of the log's verification (topics/log_verifier.py)."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from services.cli import common as cli_common
from services.cli.common import UserError, node_from_env, parse_case_id
from services.cli.history import JSON_HELP
from services.cli.text import emit_json
from topics.log_verifier import LogVerifier

__all__ = ["COMMANDS", "audit_group", "audit_verify"]


@click.group("audit")
def audit_group() -> None:
    """Check the shared history."""


@audit_group.command("verify")
@click.argument("case_id", required=False)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def audit_verify(case_id: str | None, as_json: bool) -> None:
    """Check signatures and hash chains over the whole log (or one case's); report the first
    break. Exit status 1 when anything does not verify, 4 for a case the log does not hold."""
    aggregate = str(parse_case_id(case_id)) if case_id else None
    with node_from_env() as node:
        verifier = LogVerifier(node.event_log, node.keys, node.registry, node.catalogue)
        with click.progressbar(length=verifier.size(), label="verifying", file=sys.stderr) as bar:
            report = verifier.verify(aggregate, progress=bar.update)
    if aggregate is not None and report.messages == 0:
        raise UserError(f"case: {case_id}: the log holds no such case", cli_common.NOT_FOUND)
    scope = f"case {case_id}" if case_id else "the whole log"
    if as_json:
        emit_json(
            {
                "scope": aggregate or "log",
                "messages": report.messages,
                "aggregates": report.aggregates,
                "repeats": report.repeats,
                "verified": report.first_break is None,
                "breaks": [{**asdict(b), "description": str(b)} for b in report.breaks],
            }
        )
    summary = f"{report.messages} messages, {report.aggregates} aggregates, {report.repeats} repeats"
    if report.first_break is None:
        if not as_json:
            click.echo(f"verified {scope}: {summary}; every signature and hash link holds")
        return
    click.echo(f"BROKEN {scope}: {summary}; {len(report.breaks)} aggregates break", err=True)
    click.echo(f"first break: {report.first_break}", err=True)
    sys.exit(1)


COMMANDS = (audit_group,)
