"""`caseledger linkage ...`: the node's linkage process and disclosure requests (#19).

    caseledger linkage run                      read every origin's encodings, record candidates
    caseledger linkage request --case ID --other-origin HN --other-case ID --as ORG --role ROLE
    caseledger linkage decide --case ID --request ID --requester-origin MX --requester-case ID
                              --decision approved|declined --as ORG --role ROLE

Nothing printed names a person: counts, case ids and origins only."""

from __future__ import annotations

import json
import uuid

import click

from ledger.access_rules import load as load_rules
from ledger.commands import Actor
from ledger.linkage_case import DECISIONS, DecideDisclosure, RequestDisclosure
from services.cli.common import UserError, node_from_env, parse_case_id
from services.linkage import candidates_of, linkage_finder, rotate_secret

__all__ = ["candidates", "decide", "linkage_group", "request", "rotate", "run"]


@click.group("linkage")
def linkage_group() -> None:
    """Privacy-preserving linkage across origins, and disclosure by request."""


@linkage_group.command("run")
def run() -> None:
    """Read the linkage topics once; record each new candidate on this node's case."""
    with node_from_env() as node:
        if node.settings.access_rules is None or node.settings.linkage_secret is None:
            raise UserError("CASELEDGER_LINKAGE_SECRET: linkage needs the network's rules and linkage secret")
        finder = linkage_finder(node, load_rules(node.settings.access_rules))
        try:
            found = finder.run_once()
        finally:
            finder.close()
        click.echo(
            f"{len(finder.store)} encodings held, {len(found)} new candidates, "
            f"{len(finder.rejected)} dead-lettered, {len(finder.requests)} disclosure requests to this node"
        )
        for request in finder.requests.values():
            asker = f"{request.from_origin} case {request.from_case_id}"
            click.echo(f"  request {request.request}: {asker} asks about {request.case_id}")


@linkage_group.command("candidates")
@click.option("--case", "case_id", required=True)
@click.option("--as", "organisation", required=True)
@click.option("--role", required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
def candidates(case_id: str, organisation: str, role: str, as_json: bool) -> None:
    """A case's linkage candidates (designated roles only; the read is recorded)."""
    with node_from_env() as node:
        found = candidates_of(node, parse_case_id(case_id), Actor(organisation, role))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"{len(found)} linkage candidates:")
    for item in found:
        asked = "disclosure asked" if item["disclosure_asked"] else "not asked yet"
        click.echo(
            f"  {item['other_origin']} case {item['other_case_id']}  score {item['score']:.3f}  {asked}"
        )


@linkage_group.command("request")
@click.option("--case", "case_id", required=True, help="This node's case that holds the candidate.")
@click.option("--other-origin", required=True)
@click.option("--other-case", required=True)
@click.option("--as", "organisation", required=True)
@click.option("--role", required=True)
def request(case_id: str, other_origin: str, other_case: str, organisation: str, role: str) -> None:
    """Ask the other origin to disclose its case (designated roles only)."""
    made = str(uuid.uuid4())
    with node_from_env() as node:
        node.ledger.request_disclosure(
            RequestDisclosure(
                command_id=made,
                recorded_by=Actor(organisation, role),
                case_id=parse_case_id(case_id),
                request=made,
                other_origin=other_origin,
                other_case_id=other_case,
            )
        )
        node.relay.run_once()
    click.echo(f"request {made} sent to {other_origin}")


@linkage_group.command("decide")
@click.option("--case", "case_id", required=True)
@click.option("--request", "request_id", required=True)
@click.option("--requester-origin", required=True)
@click.option("--requester-case", required=True)
@click.option("--decision", type=click.Choice(DECISIONS), required=True)
@click.option("--as", "organisation", required=True)
@click.option("--role", required=True)
def decide(
    case_id: str,
    request_id: str,
    requester_origin: str,
    requester_case: str,
    decision: str,
    organisation: str,
    role: str,
) -> None:
    """Approve or decline a request to disclose this node's case (designated roles only)."""
    with node_from_env() as node:
        node.ledger.decide_disclosure(
            DecideDisclosure(
                command_id=f"disclosure:{request_id}",
                recorded_by=Actor(organisation, role),
                case_id=parse_case_id(case_id),
                request=request_id,
                requester_origin=requester_origin,
                requester_case_id=requester_case,
                decision=decision,
            )
        )
        node.relay.run_once()
    click.echo(f"request {request_id} {decision}")


@linkage_group.command("rotate")
def rotate() -> None:
    """Announce that this node now encodes under the network's new linkage secret (installed in
    CASELEDGER_LINKAGE_SECRET first) and publish its encodings again under it; every node then
    withdraws this origin's encodings made under the old one."""
    with node_from_env() as node:
        if node.settings.access_rules is None or node.settings.linkage_secret is None:
            raise UserError("CASELEDGER_LINKAGE_SECRET: linkage needs the network's rules and linkage secret")
        count, previous = rotate_secret(node)
    withdrawn = ", ".join(previous) or "none"
    click.echo(f"{count} encodings published again under the new linkage secret; withdrawn: {withdrawn}")
