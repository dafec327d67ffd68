"""How the command line shows things to people (#16, item 4): values as they are read (no
Python reprs, no JSON quotes, no escaped unicode), organisations by their names in the rules,
aligned columns; and `--json`, the stable machine output every read offers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import click

from ledger.access_rules import AccessRules

# Python's and JSON's ways of writing a value, which a person should never have to read.
REPR_MARKS = re.compile(r"\{'|\['|\bNone\b|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\b(True|False)\b")

_TYPES = {
    "MissingPersonCase": "Case",
    "UnidentifiedRemains": "Remains",
    "Sample": "Sample",
    "Match": "Match",
}


def reprs_in(text: str) -> list[str]:
    """The marks of a Python or JSON value in text meant for people (empty when there are none)."""
    return [m.group(0) for m in REPR_MARKS.finditer(text)]


def words(name: str) -> str:
    """`SightingRecorded` -> `Sighting recorded`; `seen_on` -> `seen on`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:].lower() if re.search(r"[A-Z]", name) else spaced


def kind(aggregate_type: str) -> str:
    return _TYPES.get(aggregate_type, words(aggregate_type))


def is_month(at: datetime) -> bool:
    """An instant as the public tier gives it: the first of its month at midnight UTC."""
    at = at.astimezone(UTC)
    return (at.day, at.hour, at.minute, at.second, at.microsecond) == (1, 0, 0, 0, 0)


def when(at: datetime | date | None, *, day_only: bool = False) -> str:
    """An instant as people read it: `2026-03-14 10:05 UTC`; a month alone where that is all
    the reader may know; a day alone where that is all there is."""
    if at is None:
        return "unknown"
    if not isinstance(at, datetime):
        return at.isoformat()
    if is_month(at):
        return at.astimezone(UTC).strftime("%Y-%m")
    if day_only:
        return at.astimezone(UTC).strftime("%Y-%m-%d")
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def plain(value: Any) -> str:
    """A value as a person reads it: sections as `key: value`, lists with commas, yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        shown = [(k, v) for k, v in value.items() if not empty(v)]
        return "; ".join(f"{words(str(k))}: {_nested(v)}" for k, v in shown)
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_nested(v) for v in value if not empty(v))
    if isinstance(value, datetime | date):
        return when(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _nested(value: Any) -> str:
    text = plain(value)
    return f"({text})" if isinstance(value, Mapping) and ";" in text else text


def empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple | dict | set) and not value)


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
