"""`caseledger family-code`: a short sign-in code for a family's pages (services/family_codes.py)."""

from __future__ import annotations

import click

from ledger.errors import InvalidField
from services.cli.common import UserError, node_from_env, parse_case_id
from services.cli.serve import parse_lifetime, token_store
from services.family_codes import FamilyCodes, shown

__all__ = ["COMMANDS", "family_code"]


@click.command("family-code")
@click.argument("case_id")
@click.option("--for", "name", required=True, help="The family member it is for (kept at this node only).")
@click.option(
    "--expires", default="14d", show_default=True, help="How long it opens the pages: 14d, 48h (at most 90d)."
)
def family_code(case_id: str, name: str, expires: str) -> None:
    """Issue a short code a family member signs in with at /family; printed once."""
    lifetime = parse_lifetime(expires)
    with node_from_env() as node:
        case = parse_case_id(case_id)
        node.ledger.get_case(case)  # a case of this node, or "no such case"
        try:
            code, credential = FamilyCodes(token_store(node.settings.data_dir)).issue(
                name, str(case), lifetime
            )
        except InvalidField as error:
            raise UserError(f"{error.field}: {error.problem}") from None
    click.echo(
        f"code for {name}, case {case}, expires {credential.expiry:%Y-%m-%d %H:%M}Z "
        f"(revoke: caseledger token revoke {credential.token_id}); shown once:"
    )
    click.echo(shown(code))


COMMANDS = (family_code,)
