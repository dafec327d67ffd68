"""Reading PFIF (People Finder Interchange Format) 1.2, 1.3 and 1.4 feeds, record by record.

Untrusted XML is parsed by defusedxml, which refuses document type declarations, entities
and external references (no XXE, no billion laughs), streaming: each person (with its
nested notes) or top-level note is handed on and cleared, so memory stays flat however long
the feed. Field names of 1.2 and 1.3 are read as their 1.4 names (first_name is given_name,
other is description, found is author_made_contact), and every value is checked against
the types of the PFIF 1.4 RELAX NG schema (record ids, UTC times, e-mail, phone, dates and
ages) and the fields each version requires. A file that is not a PFIF document at all is
refused whole (FeedRefused); a record that breaks the schema is reported with its problems.
"""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

__all__ = [
    "FIELD_TYPES",
    "NAMESPACES",
    "NOTE_FIELDS",
    "PERSON_FIELDS",
    "PFIF_1_4",
    "RENAMED",
    "REQUIRED_NOTE",
    "REQUIRED_PERSON",
    "FeedRefused",
    "Record",
    "check_value",
    "parse_approx_date",
    "parse_time",
    "read_feed",
]

NAMESPACES = {f"http://zesty.ca/pfif/{v}": v for v in ("1.2", "1.3", "1.4")}
PFIF_1_4 = "http://zesty.ca/pfif/1.4"

# Older names of fields, as PFIF 1.4 names them.
RENAMED = {
    "first_name": "given_name",
    "last_name": "family_name",
    "other": "description",
    "found": "author_made_contact",
    "home_zip": "home_postal_code",
}
_PERSON_1_2 = [
    "person_record_id",
    "entry_date",
    "author_name",
    "author_email",
    "author_phone",
    "source_name",
    "source_date",
    "source_url",
    "first_name",
    "last_name",
    "home_city",
    "home_state",
    "home_neighborhood",
    "home_street",
    "home_postal_code",
    "home_country",
    "photo_url",
    "other",
    "sex",
    "date_of_birth",
    "age",
]
_NOTE_1_2 = [
    "note_record_id",
    "person_record_id",
    "linked_person_record_id",
    "entry_date",
    "author_name",
    "author_email",
    "author_phone",
    "source_date",
    "found",
    "status",
    "email_of_found_person",
    "phone_of_found_person",
    "last_known_location",
    "text",
]
PERSON_FIELDS = {
    "1.2": frozenset(_PERSON_1_2),
    "1.3": frozenset([*_PERSON_1_2, "expiry_date", "full_name"]),
    "1.4": frozenset(
        [
            *(f for f in _PERSON_1_2 if f not in ("first_name", "last_name", "other")),
            *[
                "expiry_date",
                "full_name",
                "given_name",
                "family_name",
                "alternate_names",
                "description",
                "profile_urls",
            ],
        ]
    ),
}
NOTE_FIELDS = {
    "1.2": frozenset(_NOTE_1_2),
    "1.3": frozenset(_NOTE_1_2),
    "1.4": frozenset([*(f for f in _NOTE_1_2 if f != "found"), "author_made_contact", "photo_url"]),
}
# Required by the schema (1.4 names); 1.2 persons need first and last names, 1.3 on full_name.
REQUIRED_PERSON = {
    "1.2": ("person_record_id", "given_name", "family_name"),
    "1.3": ("person_record_id", "source_date", "full_name"),
    "1.4": ("person_record_id", "source_date", "full_name"),
}
REQUIRED_NOTE = ("note_record_id", "author_name", "source_date", "text")

_TIME = re.compile(r"\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_TYPES: dict[str, tuple[re.Pattern[str], str]] = {
    "record_id": (re.compile(r".+/.+", re.S), "is not a PFIF record id (domain/local id)"),
    "email": (re.compile(r".+@.+", re.S), "is not an e-mail address"),
    "phone": (re.compile(r"[\-+()\d ]+"), "is not a phone number (digits, spaces, + - ( ))"),
    "sex": (re.compile(r"female|male|other"), "must be female, male or other"),
    "approx_date": (re.compile(r"\d\d\d\d(-\d\d(-\d\d)?)?"), "is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"),
    "approx_age": (re.compile(r"\d+(-\d+)?"), "is not an age (a number or a range such as 35-45)"),
    "country_code": (re.compile(r"[A-Z][A-Z]"), "is not an ISO 3166-1 two-letter code in capitals"),
    "boolean": (re.compile(r"true|false"), "must be true or false"),
    "status": (
        re.compile(r"information_sought|is_note_author|believed_alive|believed_missing|believed_dead"),
        "is not a PFIF status",
    ),
}
FIELD_TYPES = {
    "person_record_id": "record_id",
    "note_record_id": "record_id",
    "linked_person_record_id": "record_id",
    "entry_date": "time",
    "expiry_date": "time",
    "source_date": "time",
    "author_email": "email",
    "email_of_found_person": "email",
    "author_phone": "phone",
    "phone_of_found_person": "phone",
    "sex": "sex",
    "date_of_birth": "approx_date",
    "age": "approx_age",
    "home_country": "country_code",
    "author_made_contact": "boolean",
    "status": "status",
}


class FeedRefused(Exception):
    """The file as a whole is not a PFIF feed caseledger can read; nothing of it is used."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"file: {problem}")
        self.problem = problem


@dataclass
class Record:
    """One person or note as the feed gave it: 1.4 field names, whitespace stripped, empty
    elements left out; `problems` lists what the schema refuses (field: problem)."""

    kind: str  # "person" or "note"
    version: str
    ordinal: int  # its place among the file's records of its kind, from 1
    fields: dict[str, str]
    notes: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        return self.fields.get(f"{self.kind}_record_id") or f"({self.kind} #{self.ordinal}, no record id)"


def parse_time(text: str) -> datetime:
    """A PFIF time (UTC, Z); ValueError naming the problem if it is not one or does not exist."""
    if not _TIME.fullmatch(text):
        raise ValueError("is not a UTC time such as 2026-03-01T12:00:00Z")
    try:
        return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{text} is not a date and time that exists") from None


def parse_approx_date(text: str) -> tuple[int, int | None, date | None]:
    """Year, month and (when complete) the date of a PFIF approx_date; ValueError if it
    names a month or day that does not exist."""
    parts = [int(p) for p in text.split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else None
    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"{text} names a month that does not exist")
    if len(parts) == 3:
        try:
            return year, month, date(year, parts[1], parts[2])
        except ValueError:
            raise ValueError(f"{text} is not a date that exists") from None
    return year, month, None


def check_value(name: str, value: str) -> str | None:
    """The schema's problem with one field's value, or None."""
    kind = FIELD_TYPES.get(name)
    if kind == "time":
        try:
            parse_time(value)
        except ValueError as error:
            return str(error)
        return None
    if kind is None:
        return None
    pattern, problem = _TYPES[kind]
    if not pattern.fullmatch(value):
        return f"{value!r} {problem}"
    if kind == "approx_date":
        try:
            parse_approx_date(value)
        except ValueError as error:
            return str(error)
    if kind == "approx_age" and "-" in value:
        low, high = (int(p) for p in value.split("-"))
        if low > high:
            return f"{value!r} starts after it ends"
    return None


def _record(element: ET.Element, kind: str, version: str, ordinal: int, parent: str | None) -> Record:
    namespace = "{" + next(n for n, v in NAMESPACES.items() if v == version) + "}"
    allowed = (PERSON_FIELDS if kind == "person" else NOTE_FIELDS)[version]
    record = Record(kind, version, ordinal, {})
    for child in element:
        if not isinstance(child.tag, str):
            continue  # a comment or processing instruction
        if kind == "person" and child.tag == f"{namespace}note":
            continue
        problem = _field(record, child, namespace, allowed)
        if problem:
            record.problems.append(problem)
    record.problems.extend(_missing(record, parent))
    for name, value in record.fields.items():
        problem = check_value(name, value)
        if problem:
            record.problems.append(f"{name}: {problem}")
    return record


def _field(record: Record, child: ET.Element, namespace: str, allowed: Iterable[str]) -> str | None:
    """Take one child element's text as a field of the record, or say why not."""
    local = child.tag.removeprefix(namespace)
    if child.tag == local or local not in allowed:
        return f"{local}: not a field of a PFIF {record.version} {record.kind}"
    if len(child):
        return f"{local}: must hold text, not elements"
    name = RENAMED.get(local, local)
    if name in record.fields:
        return f"{name}: given twice"
    text = (child.text or "").strip()
    if text:
        record.fields[name] = text
    return None


def _missing(record: Record, parent: str | None) -> list[str]:
    """What a record lacks, or contradicts of the person it is nested in."""
    problems = []
    if record.kind == "note" and parent is not None:
        given = record.fields.setdefault("person_record_id", parent)
        if given != parent:
            problems.append(f"person_record_id: {given} inside the person {parent}")
    required = REQUIRED_PERSON[record.version] if record.kind == "person" else REQUIRED_NOTE
    problems.extend(f"{name}: is required" for name in required if name not in record.fields)
    if record.kind == "note" and "person_record_id" not in record.fields:
        problems.append("person_record_id: is required for a note outside a person")
    return problems


def read_feed(path: Path) -> Iterator[Record]:
    """Every person (its nested notes in `notes`) and every top-level note, in file order.
    FeedRefused for anything that makes the file itself unreadable: not XML, not UTF-8 as
    declared, a DTD or entities, another root or namespace."""
    with _refusals():
        yield from _records(SafeET.iterparse(str(path), events=("start", "end"), forbid_dtd=True))


def _records(events: Iterable[tuple[str, ET.Element]]) -> Iterator[Record]:
    depth, version, counts = 0, "", {"person": 0, "note": 0}
    person: str | None = None
    root = ET.Element("pfif")
    for event, element in events:
        if event == "start":
            depth += 1
            if depth == 1:
                version, root = _root_version(element.tag), element
            elif depth == 2 and element.tag.endswith("}person"):
                person = None
            continue
        depth -= 1
        local = element.tag.rpartition("}")[2]
        if depth == 2 and local == "person_record_id" and element.text:
            person = element.text.strip()
        if depth != 1:  # a note nested in a person is read at the person's end
            continue
        if local not in ("person", "note") or not element.tag.startswith("{http://zesty.ca/pfif/"):
            raise FeedRefused(f"<{local}> is neither a PFIF person nor a note")
        counts[local] += 1
        record = _record(element, local, version, counts[local], None)
        if local == "person":
            for child in element.findall("{*}note"):
                counts["note"] += 1
                record.notes.append(_record(child, "note", version, counts["note"], person))
        root.clear()  # what was read is handed on: memory stays flat
        yield record


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """The parser's and the file's errors as FeedRefused, each saying what is wrong."""
    try:
        yield
    except FeedRefused:
        raise
    except DefusedXmlException as error:
        raise FeedRefused(
            f"declares a DTD or entities ({type(error).__name__}); PFIF needs neither, and they are "
            "how XML bombs and external-entity reads work"
        ) from None
    except ET.ParseError as error:
        line, column = error.position
        reason = _reason(error)
        hint = "; is it UTF-8 throughout, as declared?" if "invalid token" in reason else ""
        raise FeedRefused(
            f"not well-formed XML at line {line}, column {column + 1} ({reason}){hint}"
        ) from None
    except (OSError, UnicodeError, LookupError) as error:
        raise FeedRefused(f"cannot be read: {error}") from None


def _root_version(tag: str) -> str:
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if local != "pfif":
        raise FeedRefused(f"the root element is <{local}>, not <pfif:pfif>")
    if namespace not in NAMESPACES:
        raise FeedRefused(
            f"namespace {namespace or '(none)'} is not PFIF 1.2, 1.3 or 1.4 (http://zesty.ca/pfif/1.x)"
        )
    return NAMESPACES[namespace]


def _reason(error: ET.ParseError) -> str:
    return str(error).split(":")[0]
