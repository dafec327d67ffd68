"""What every `caseledger` command shares: a node from the environment, and errors as sentences."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from pydantic import ValidationError

from ledger import validation
from ledger.errors import InvalidField
from projections.views import ViewsFromLaterRelease
from services.bootstrap import Node, build_node
from services.settings import Settings
from topics.log import LogUnavailable


class UserError(click.ClickException):
    exit_code = 2


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
        raise UserError(f"the log is unreachable ({error}); is Kafka running? compose/services up") from None
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
