"""Values as people read them (#16, item 4), for the command line and the pages alike: no
Python reprs, no JSON quotes, no escaped unicode; instants in UTC, a month alone where that is
all a reader may know; field and event names as words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["REPR_MARKS", "empty", "is_month", "kind", "plain", "reprs_in", "when", "words"]

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
