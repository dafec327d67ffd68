"""`caseledger candidates`: possible duplicates, and remains and the cases they may be (kind
am_pm), as the JSON objects the API gives (README, #14 item 8)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import click

from ledger.access_rules import AccessRules
from ledger.access_rules import load as load_rules
from ledger.commands import Actor, JudgeCasesDistinct
from ledger.errors import NotFound
from ledger.validation import country
from ledger.vocabulary import PURPOSES
from projections.duplicates import Candidate
from services.bootstrap import Node
from services.candidates import DEFAULT_MIN_SCORE, KINDS, Candidates, CandidatesRefused, listed
from services.cli import common as cli_common
from services.cli.common import UserError, node_from_env, parse_case_id

__all__ = ["COMMANDS", "at_report", "candidates", "distinct", "print_candidates", "reader_of", "rules_of"]


def rules_of(node: Node) -> AccessRules | None:
    return load_rules(node.settings.access_rules) if node.settings.access_rules else None


def reader_of(rules: AccessRules | None, name: str, node: str) -> tuple[str, str]:
    """(organisation, jurisdiction) for --as: an organisation of the rules reads its
    jurisdiction's views; a jurisdiction's code reads its own, as its node."""
    if rules is not None and name in rules.organisations:
        return name, rules.organisations[name].jurisdiction
    if rules is None and not (len(name) == 2 and name.isalpha()):
        return name, node  # no network rules: any organisation of this node
    code = country("--as", name)
    return code, code


def print_candidates(
    found: Sequence[Candidate], kind: str, as_json: bool, refs: dict[str, str | None] | None = None
) -> None:
    shown = [listed(c, kind, refs) for c in found]
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    click.echo(f"{len(shown)} possible {'duplicates' if kind == 'duplicate' else 'matches'}:")
    for item in shown:
        why = "; ".join(f"{e['field']}: {e['comparison']} ({e['weight']:+.1f})" for e in item["explanation"])
        left, right = (
            f"{item[side]} (ref {item[side + '_ref']})" if item[side + "_ref"] else str(item[side])
            for side in ("left", "right")
        )
        click.echo(f"  {left} ~ {right}  score {item['score']:.3f}  {why}")


@click.command("candidates")
@click.option(
    "--as", "name", required=True, help="The organisation asking (an id from the rules), or a jurisdiction."
)
@click.option("--kind", type=click.Choice(KINDS), default="duplicate", show_default=True)
@click.option("--case", "case_id", help="Candidates of one case (default: every pair, the batch run).")
@click.option("--remains", "remains_id", help="Candidates of some remains (kind am_pm).")
@click.option("--min-score", type=float, default=DEFAULT_MIN_SCORE, show_default=True, help="0 to 1")
@click.option("--role", default="caseworker", show_default=True)
@click.option("--purpose", default="search", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (the API's objects).")
@click.option("--no-sync", is_flag=True, help="Read the views as they are, without catching up first.")
def candidates(
    name: str,
    kind: str,
    case_id: str | None,
    remains_id: str | None,
    min_score: float,
    role: str,
    purpose: str,
    as_json: bool,
    no_sync: bool,
) -> None:
    """Possible duplicates, or remains and the cases they may be (--kind am_pm, forensic roles),
    scored 0 to 1 and explained, among the records the organisation may read. Kind am_pm
    proposes the candidates at the node's threshold (CASELEDGER_MATCH_THRESHOLD) for review."""
    if not 0.0 <= min_score <= 1.0:
        raise UserError(f"--min-score: {min_score} is not between 0 and 1")
    if case_id and remains_id:
        raise UserError("--case, --remains: give one of them, not both")
    if remains_id is not None and kind == "duplicate":
        raise UserError("--remains: remains have candidates of kind am_pm (--kind am_pm)")
    with node_from_env() as node:
        rules = rules_of(node)
        organisation, jurisdiction = reader_of(rules, name, node.settings.node)
        if organisation != jurisdiction:  # an organisation: one the rules know, in a role it holds
            cli_common.reader(node, organisation, role, purpose)
        elif purpose not in PURPOSES:
            raise UserError(f"--purpose: {purpose!r} is not a purpose of the network ({', '.join(PURPOSES)})")
        else:
            jurisdiction = cli_common.jurisdiction(node, jurisdiction)
        finder = Candidates(node, rules)
        reader = Actor(organisation, role)
        if not no_sync:
            node.sync(jurisdiction)
        if kind == "am_pm":
            found = _am_pm(finder, jurisdiction, case_id, remains_id, reader, purpose, min_score)
        elif case_id is not None:
            found = finder.for_case(
                jurisdiction, str(parse_case_id(case_id)), reader, purpose, min_score, "cli"
            )
        else:
            found = finder.batch(jurisdiction, reader, purpose, min_score, "cli")
        print_candidates(found, kind, as_json, finder.references(jurisdiction, found))


def _am_pm(
    finder: Candidates,
    jurisdiction: str,
    case_id: str | None,
    remains_id: str | None,
    reader: Actor,
    purpose: str,
    min_score: float,
) -> list[Candidate]:
    """Kind am_pm: of a case, of remains, or every unidentified remains (the batch run)."""
    try:
        if case_id is not None:
            return finder.am_pm.for_case(
                jurisdiction, str(parse_case_id(case_id)), reader, purpose, min_score, "cli"
            )
        if remains_id is not None:
            try:
                remains = str(uuid.UUID(remains_id))
            except ValueError:
                raise UserError(f"--remains: {remains_id!r} is not a remains id (a UUID)") from None
            return finder.am_pm.for_remains(jurisdiction, remains, reader, purpose, min_score, "cli")
        return finder.am_pm.batch(jurisdiction, reader, purpose, min_score, "cli")
    except CandidatesRefused as refused:
        raise UserError(f"--as: {refused}") from None
    except NotFound as missing:
        raise UserError(f"--{missing.kind}: {missing}") from None


def at_report(node: Node, case_id: str, organisation: str, role: str, purpose: str) -> list[dict[str, Any]]:
    """The possible duplicates of a case just reported through the command line."""
    rules = rules_of(node)
    jurisdiction = (
        rules.organisations[organisation].jurisdiction
        if rules is not None and organisation in rules.organisations
        else node.settings.node
    )
    node.sync(jurisdiction)
    finder = Candidates(node, rules)
    found = finder.at_report(jurisdiction, case_id, Actor(organisation, role), purpose, "cli")
    return [listed(c, refs=finder.references(jurisdiction, found)) for c in found]


@click.command("distinct")
@click.argument("case_id")
@click.argument("other_case_id")
@click.option("--reason", required=True, help="Why they are two people (kept in the reserved tier).")
@click.option("--as", "organisation", required=True, help="The organisation recording the judgement.")
@click.option("--role", default="caseworker", show_default=True)
@click.option("--purpose", default="search", show_default=True)
def distinct(
    case_id: str, other_case_id: str, reason: str, organisation: str, role: str, purpose: str
) -> None:
    """Record that two cases proposed as possible duplicates are two people: not proposed again."""
    command = JudgeCasesDistinct(
        command_id=str(uuid.uuid4()),
        recorded_by=Actor(organisation, role),
        purpose=purpose,
        case_id=parse_case_id(case_id),
        other_case_id=parse_case_id(other_case_id),
        reason=reason,
    )
    with node_from_env() as node:
        cli_common.reader(node, organisation, role, purpose)
        cli_common.may_issue(node, "judge_cases_distinct", organisation, role)
        version = node.ledger.judge_cases_distinct(command)
        click.echo(f"case {case_id} (version {version}): judged distinct from {other_case_id}")


COMMANDS = (candidates, distinct)
