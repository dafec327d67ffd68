"""How the command line shows things to people (#16, item 4): values as they are read (no
Python reprs, no JSON quotes, no escaped unicode), organisations by their names in the rules,
aligned columns; and `--json`, the stable machine output every read offers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

import click

from ledger.access_rules import AccessRules
from services.readable import REPR_MARKS, empty, is_month, kind, plain, reprs_in, when, words

__all__ = [
    "REPR_MARKS",
    "echo_table",
    "emit_json",
    "empty",
    "is_month",
    "kind",
    "organisation_names",
    "plain",
    "recorder",
    "reprs_in",
    "table",
    "when",
    "words",
]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "  ") -> list[str]:
    """Aligned columns (the last one free), a header line first."""
    cells = [[plain(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [v.ljust(widths[i]) if i < len(values) - 1 else v for i, v in enumerate(values)]
        return (indent + "  ".join(padded)).rstrip()

    return [line(list(headers)), *(line(r) for r in cells)]


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "  ") -> None:
    for text in table(headers, list(rows), indent):
        click.echo(text)


def _instant(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value)  # type: ignore[return-value]
    return str(value)


def emit_json(value: Any) -> None:
    """The machine output: UTF-8 JSON, keys sorted, instants in ISO 8601."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=_instant))


def organisation_names(rules: AccessRules | None) -> Callable[[str], str]:
    """An organisation's name as the rules give it (the id itself where they do not know it)."""
    known = rules.organisations if rules is not None else {}

    def name(identifier: str) -> str:
        found = known.get(identifier)
        return found.name if found is not None else identifier

    return name


def recorder(name: Callable[[str], str], organisation: str, role: str) -> str:
    return f"{name(organisation)} ({words(role)})"
