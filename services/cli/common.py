"""What every `caseledger` command shares: a node from the environment, and errors as sentences.

Exit statuses (README, "Errors and exit statuses"): 0 done; 1 a check found a fault (`audit
verify`) or an unexpected error; 2 usage (a bad option or value, an organisation, purpose or
jurisdiction the rules do not know); 3 refused (the rules, the family's consent or a rule of
the ledger); 4 not found; 5 conflict (a stale version, a command id reused); 6 unavailable
(the log or the database cannot be reached); 130 interrupted.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from pydantic import ValidationError

from ledger import validation
from ledger.access_rules import AccessRules
from ledger.access_rules import load as load_rules
from ledger.command_roles import RoleRefused, require_role
from ledger.errors import (
    CommandIdReused,
    ConsentRequired,
    InvalidField,
    LedgerError,
    NotFound,
    RuleBroken,
    VersionConflict,
)
from ledger.roles import role_for_kind
from ledger.vocabulary import PURPOSES
from projections.views import ViewsFromLaterRelease
from services.bootstrap import Node, build_node
from services.reading import ReadRefused
from services.settings import Settings
from topics.log import LogUnavailable

__all__ = [
    "UserError",
    "click_message",
    "exit_status",
    "instant",
    "jurisdiction",
    "may_issue",
    "node_from_env",
    "parse_case_id",
    "reader",
    "rules_of",
]

USAGE, REFUSED, NOT_FOUND, CONFLICT, UNAVAILABLE = 2, 3, 4, 5, 6


class UserError(click.ClickException):
    """A usage error: `error: field: problem`, exit status 2 (or the status given)."""

    exit_code = USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def click_message(error: click.ClickException) -> str:
    """A click error as `field: problem` (`--limit: ...`, `--given-names: required`)."""
    param = getattr(error, "param", None)
    if isinstance(param, click.Argument) and isinstance(error, click.BadParameter):
        problem = "required" if isinstance(error, click.MissingParameter) else error.message
        return f"{param.name}: {problem}"
    if isinstance(error, click.BadOptionUsage) and not isinstance(error, click.NoSuchOption):
        return f"{error.option_name}: {error.message[0].lower()}{error.message[1:].rstrip('.')}"
    if isinstance(error, click.MissingParameter) and error.param is not None:
        hint = error.param.get_error_hint(error.ctx) if error.ctx else str(error.param.name)
        return f"{hint.replace(chr(39), '')}: required"
    if isinstance(error, click.BadParameter) and error.param is not None and error.ctx is not None:
        hint = error.param.get_error_hint(error.ctx).replace("'", "")
        return f"{hint}: {error.message}"
    if isinstance(error, click.NoSuchOption):
        return f"{error.option_name}: no such option{_suggest(error)}"
    return error.format_message()


def _suggest(error: click.NoSuchOption) -> str:
    return f" (did you mean {', '.join(error.possibilities)}?)" if error.possibilities else ""


def exit_status(error: LedgerError) -> int:
    """The exit status of a domain error: usage, refused, not found or conflict."""
    if isinstance(error, CommandIdReused | VersionConflict):
        return CONFLICT
    if isinstance(error, InvalidField):
        return USAGE
    if isinstance(error, NotFound):
        return NOT_FOUND
    if isinstance(error, RuleBroken | ConsentRequired | ReadRefused) or type(error).__name__.endswith(
        "Refused"
    ):
        return REFUSED
    return USAGE


def rules_of(node: Node) -> AccessRules | None:
    return load_rules(node.settings.access_rules) if node.settings.access_rules else None


def jurisdiction(node: Node, text: str, option: str = "--as") -> str:
    """A jurisdiction this node may keep views for: an ISO 3166 code, and under the network's
    rules one they declare (or the node's own). Anything else is a usage error, before any
    views are opened or made for it."""
    try:
        code = validation.country(option, text)
    except InvalidField as error:
        raise UserError(str(error)) from None
    rules = rules_of(node)
    if rules is not None and code not in rules.jurisdictions and code != node.settings.node:
        known = ", ".join(sorted(rules.jurisdictions))
        raise UserError(f"{option}: {text!r} is not a jurisdiction of the network's rules ({known})")
    return code


def reader(node: Node, organisation: str, role: str, purpose: str, option: str = "--as") -> None:
    """A reader the rules know, for a purpose they know: a mistyped name is a usage error,
    never a read recorded as refused."""
    if purpose not in PURPOSES:
        raise UserError(f"--purpose: {purpose!r} is not a purpose of the network ({', '.join(PURPOSES)})")
    rules = rules_of(node)
    if rules is None:
        return
    if organisation not in rules.organisations:
        raise UserError(f"{option}: {organisation!r} is not an organisation of the network's rules")
    try:
        role_for_kind("--role", rules.organisations[organisation].kind, role)
    except InvalidField as error:
        raise UserError(str(error)) from None


def may_issue(node: Node, command: str, organisation: str, role: str) -> None:
    """The ledger's rule of who may issue a command (ledger/command_roles.py, the API's rule
    too): a role that may not, or that the organisation's kind cannot hold under the network's
    rules, is refused (exit status 3), the error naming the role and the command."""
    rules = rules_of(node)
    member = rules.organisations.get(organisation) if rules is not None else None
    try:
        require_role(command, role, member.kind if member is not None else None)
    except RoleRefused as error:
        raise UserError(f"--role: {error}", REFUSED) from None


@contextmanager
def node_from_env(**overrides: Any) -> Iterator[Node]:
    """A node for one command, closed afterwards; configuration problems become sentences."""
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        where = f"CASELEDGER_{str(first['loc'][0]).upper()}: " if first.get("loc") else ""
        raise UserError(f"configuration: {where}{first['msg']}") from None
    try:
        node = build_node(settings)
    except LogUnavailable as error:
        raise UserError(
            f"log: unreachable ({error}); is Kafka running? compose/services up", UNAVAILABLE
        ) from None
    try:
        yield node
    except ViewsFromLaterRelease as error:
        raise UserError(str(error)) from None
    finally:
        node.close()


def parse_case_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise UserError(f"case: {text!r} is not a case id (a UUID)") from None


def instant(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{option}: {text!r} is not an ISO 8601 instant, e.g. 2026-03-01T00:00Z") from None
    if moment.tzinfo is None:
        raise UserError(f"{option}: {text!r} needs a time zone, e.g. 2026-03-01T00:00Z")
    try:
        return validation.instant(option, moment)
    except InvalidField as error:
        raise UserError(str(error)) from None


def where_it_arose(error: BaseException) -> str:
    """Where an unexpected error arose: its type and the stack frames, with its causes', and
    never their messages (an error's message may quote a value: a name, a date of birth, a
    row PostgreSQL refused; -v promises no personal data)."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None and len(parts) < 10:
        frames = "".join(traceback.format_list(traceback.extract_tb(seen.__traceback__)))
        parts.append(f"{type(seen).__module__}.{type(seen).__qualname__} (message withheld), at:\n{frames}")
        seen = seen.__cause__ or seen.__context__
    return "caused by ".join(parts)
