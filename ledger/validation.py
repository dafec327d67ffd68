"""Field checks shared by commands: each failure raises InvalidField naming the field."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime

import pycountry

from ledger.errors import InvalidField

__all__ = [
    "EARLIEST",
    "LATEST_YEAR",
    "choice",
    "countries",
    "country",
    "instant",
    "not_before_birth",
    "optional_text",
    "past_date",
    "required_text",
    "visible",
]

EARLIEST = date(1900, 1, 1)
"""No date the ledger records, and no instant a history is asked at, comes before this."""
LATEST_YEAR = 2999
"""An instant a history is asked at may lie ahead (it means now), but not this far."""

# Characters that show nothing on their own: format characters (zero-width spaces and
# joiners, bidirectional controls, the byte-order mark), combining marks, separators.
_INVISIBLE = frozenset({"Cf", "Mn", "Me", "Zs", "Zl", "Zp", "Cc"})
_LINE_CONTROLS = frozenset("\t\n\r")


def visible(value: str) -> bool:
    """Whether the text holds at least one character a reader sees."""
    return any(not c.isspace() and unicodedata.category(c) not in _INVISIBLE for c in value)


def required_text(field: str, value: str | None, *, max_length: int = 200) -> str:
    """A non-empty string, kept exactly as entered (no case folding, no accent stripping)."""
    if value is None:
        raise InvalidField(field, "is required")
    if not isinstance(value, str):
        raise InvalidField(field, f"must be text, not {type(value).__name__}")
    if not value.strip():
        raise InvalidField(field, "must not be empty")
    return optional_text(field, value, max_length=max_length) or value


def optional_text(field: str, value: str | None, *, max_length: int = 200) -> str | None:
    """None, or a string within max_length characters, stored as given. Text that cannot be
    stored as UTF-8 (a lone surrogate), control characters other than tabs and line breaks,
    and text made only of invisible characters (zero-width, bidirectional controls) are
    refused: what is recorded must read back as it was entered, and show something."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(field, f"must be text, not {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidField(field, f"must be at most {max_length} characters, got {len(value)}")
    if value.isprintable() and value[:1].isalnum():
        # Neither NUL, nor a lone surrogate, nor a control character is printable, and a first
        # letter or digit is visible: most text (a bulk import's) needs none of the scans below.
        return value
    if "\x00" in value:
        raise InvalidField(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "is not valid Unicode text (it holds a lone surrogate)") from None
    # isprintable() is false for every control character: most text needs no scan (bulk imports).
    printable = value.isprintable()
    if not printable and any(unicodedata.category(c) == "Cc" and c not in _LINE_CONTROLS for c in value):
        raise InvalidField(field, "must not contain control characters")
    if not value.strip():
        return None
    if not (printable and value[0].isalnum()) and not visible(value):
        raise InvalidField(field, "must not be empty: it holds only invisible characters")
    return value


def country(field: str, code: str | None) -> str:
    """An ISO 3166-1 alpha-2 country code, upper case (pycountry is the authority)."""
    if code is None or (isinstance(code, str) and not code.strip()):
        raise InvalidField(field, "is required (an ISO 3166-1 alpha-2 country code)")
    if not isinstance(code, str) or len(code.strip()) != 2:
        raise InvalidField(field, f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    normalised = code.strip().upper()
    if not _known_country(normalised):
        raise InvalidField(field, f"{code!r} is not a known ISO 3166-1 country code")
    return normalised


@functools.cache  # at most 26 x 26 two-letter codes
def _known_country(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


def countries(field: str, codes: Iterable[str] | None, *, at_least: int = 1) -> tuple[str, ...]:
    """A non-repeating tuple of country codes, in the order given."""
    values = list(codes or ())
    if len(values) < at_least:
        raise InvalidField(field, f"needs at least {at_least} ISO 3166-1 country code")
    seen: list[str] = []
    for index, code in enumerate(values):
        checked = country(f"{field}[{index}]", code)
        if checked not in seen:
            seen.append(checked)
    return tuple(seen)


def choice(field: str, value: str | None, allowed: Iterable[str]) -> str:
    """One of a closed vocabulary."""
    options = tuple(allowed)
    if value not in options:
        raise InvalidField(field, f"{value!r} is not one of: {', '.join(options)}")
    return value


def past_date(field: str, value: date | str | None, *, today: date, required: bool) -> date | None:
    """A calendar date not after today; accepts ISO 8601 text."""
    if value is None or value == "":
        if required:
            raise InvalidField(field, "is required (YYYY-MM-DD)")
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise InvalidField(field, f"{value!r} is not a date (YYYY-MM-DD)") from None
    if not isinstance(value, date):
        raise InvalidField(field, "must be a date (YYYY-MM-DD)")
    if value > today:
        raise InvalidField(field, f"{value.isoformat()} is in the future")
    if value < EARLIEST:
        raise InvalidField(field, f"{value.isoformat()} is before 1900")
    return value


def instant(field: str, value: datetime) -> datetime:
    """A moment with its time zone, in the years 1900 to 2999, in UTC. A year like 0001 or
    9999 with an offset would overflow in the conversion: it is refused first."""
    if value.tzinfo is None:
        raise InvalidField(field, "needs a time zone (Z or +hh:mm)")
    if not EARLIEST.year <= value.year <= LATEST_YEAR:
        raise InvalidField(
            field, f"{value.isoformat()} is outside the years {EARLIEST.year} to {LATEST_YEAR}"
        )
    moment = value.astimezone(UTC)
    if moment.date() < EARLIEST:
        raise InvalidField(field, f"{value.isoformat()} is before 1900")
    return moment


def not_before_birth(field: str, on: date, born: date | str | None) -> None:
    """Nothing happens to a person before they were born (a birth date may be ISO text)."""
    if isinstance(born, str):
        born = date.fromisoformat(born)
    if isinstance(born, date) and on < born:
        raise InvalidField(field, f"{on.isoformat()} is before the person's date of birth")
