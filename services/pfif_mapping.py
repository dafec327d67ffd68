"""PFIF records as caseledger commands, as plain dicts (`command` names the command class;
the rest are its fields, values as JSON would carry them), so that any importer can run them.

A person is a report; a note is a sighting, whatever its status: a note saying the person is
believed dead is a claim to verify, recorded with low reliability, and the case stays
missing (never presumed dead); a note saying the author is the person, or believed alive, is
never a location (a located adult decides what is shared). A note's
linked_person_record_id is a link between probable duplicates. Each command's id derives
from the record's PFIF id, so importing a feed again records nothing new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.pfif import Record, parse_approx_date, parse_time

__all__ = [
    "SOURCE",
    "STATUS_SENTENCE",
    "STATUS_SOURCE",
    "ImportOptions",
    "left_out",
    "lines",
    "link_command",
    "provenance",
    "report_command",
    "sighting_command",
]

PERSON_PREFIX, NOTE_PREFIX, LINK_PREFIX = "pfif-person:", "pfif-note:", "pfif-link:"
SOURCE = "pfif"  # the import source of every PFIF record: their record ids are unique worldwide

# PFIF status -> (sighting source, reliability). Unverified claims all; none decides a status.
STATUS_SOURCE = {
    "is_note_author": ("survivor", "medium"),
    "believed_alive": ("witness", "low"),
    "believed_missing": ("witness", "unverified"),
    "information_sought": ("family", "unverified"),
    "believed_dead": ("witness", "low"),
}
STATUS_SENTENCE = {
    "is_note_author": "The author says they are the person.",
    "believed_alive": "The author believes the person is alive.",
    "believed_missing": "The author believes the person is missing.",
    "information_sought": "The author is seeking information about the person.",
    "believed_dead": (
        "The author believes the person is dead: a claim to verify, not a finding; the case stays missing."
    ),
}
_COORDINATES = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*")


@dataclass(frozen=True)
class ImportOptions:
    """What the feed cannot say: who imports, the source kind of its reports, the consent the
    families gave (and who explained it), and a country for records that name none."""

    organisation: str
    role: str = "caseworker"
    source: str = "family"
    consented_purposes: tuple[str, ...] = ()
    consent_explained_by: str | None = None
    consent_language: str | None = None
    country: str | None = None


def lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").split("\n") if line.strip()]


def _envelope(command: str, command_id: str, options: ImportOptions, when: str) -> dict[str, Any]:
    return {
        "command": command,
        "command_id": command_id,
        "recorded_by": {"organisation": options.organisation, "role": options.role},
        "purpose": "search",
        "occurred_at": parse_time(when).isoformat(),
    }


def report_command(person: Record, options: ImportOptions) -> dict[str, Any]:
    """The report a PFIF person becomes; ValueError naming the field when caseledger needs
    what the record does not hold."""
    f = person.fields
    if "source_date" not in f:
        raise ValueError("source_date: is required (caseledger dates the report by it)")
    country = f.get("home_country") or options.country
    if not country:
        raise ValueError(
            "home_country: missing; caseledger needs a country for the nationality and where the "
            "person was last seen (import with --country to give one for such records)"
        )
    full_names = lines(f.get("full_name"))
    given, family = f.get("given_name"), f.get("family_name")
    if not (given and family):
        words = (full_names[0] if full_names else "").split()
        if len(words) < 2:
            raise ValueError("family_name: missing, and full_name does not give a given name and a surname")
        given, family = given or " ".join(words[:-1]), family or words[-1]
    said = f"{given} {family}"
    aliases = [n for n in full_names if n != said] + lines(f.get("alternate_names"))
    reported_on = parse_time(f["source_date"]).date()
    born, age_range, kept = _birth(f.get("date_of_birth"), f.get("age"))
    contacts = []
    if f.get("author_name") and (f.get("author_email") or f.get("author_phone")):
        contacts.append(
            {
                "name": f["author_name"],
                "relationship": "author of the PFIF record",
                "phone": f.get("author_phone"),
                "email": f.get("author_email"),
            }
        )
    origin = ", ".join(f[k] for k in ("home_neighborhood", "home_city", "home_state") if f.get(k))
    return {
        **_envelope("ReportMissingPerson", PERSON_PREFIX + person.record_id, options, f["source_date"]),
        "given_names": given,
        "first_surname": family,
        "aliases": list(dict.fromkeys(aliases)),
        "sex": {"female": "female", "male": "male"}.get(f.get("sex", ""), "unknown"),
        "date_of_birth": born.isoformat() if born else None,
        "age_range": age_range,
        "nationalities": [country],
        "last_seen_date": reported_on.isoformat(),
        "last_seen_country": country,
        "physical_description": f.get("description"),
        "origin": origin or None,
        "family_contacts": contacts,
        "circumstances": provenance(person, kept),
        "source": options.source,
        "source_reliability": "unverified",
        "consented_purposes": list(options.consented_purposes),
        "consent_explained_by": options.consent_explained_by,
        "consent_language": options.consent_language,
    }


def _birth(born: str | None, age: str | None) -> tuple[date | None, dict[str, int] | None, str | None]:
    """A complete date of birth, else the age the record gives (as of its source date); a date
    of birth of only a year or month is kept in the provenance text."""
    complete = parse_approx_date(born)[2] if born else None
    if complete:
        return complete, None, None
    age_range = None
    if age:
        low, _, high = age.partition("-")
        age_range = {"minimum": int(low), "maximum": int(high or low)}
    return None, age_range, born


def provenance(person: Record, partial_birth: str | None) -> str:
    """Where the record came from and what of it has no field of its own (reserved tier)."""
    f = person.fields
    said = [f"Imported from PFIF {person.version} record {person.record_id}."]
    for key, label in (
        ("source_name", "Source"),
        ("source_url", "Source URL"),
        ("source_date", "Source date"),
        ("author_name", "Author"),
        ("photo_url", "Photo URL"),
        ("home_street", "Home street"),
        ("home_postal_code", "Home postal code"),
        ("expiry_date", "Expires"),
    ):
        if f.get(key):
            said.append(f"{label}: {f[key]}.")
    if partial_birth:
        said.append(f"Date of birth as given: {partial_birth}.")
    if f.get("sex") == "other":
        said.append("Sex as given: other.")
    if f.get("profile_urls"):
        said.append("Profiles: " + " ".join(lines(f["profile_urls"])) + ".")
    return " ".join(said)[:4000]


def sighting_command(note: Record, case_id: str, country: str, options: ImportOptions) -> dict[str, Any]:
    """The sighting a note becomes, in `country` (the case's, as a note names none)."""
    f = note.fields
    status = f.get("status")
    contact = f.get("author_made_contact") == "true"
    source, reliability = STATUS_SOURCE.get(status or "", ("witness", "unverified"))
    if contact and status in (None, "believed_alive"):
        reliability = "medium"
    said = [f["text"]]
    if status:
        said.append(STATUS_SENTENCE[status])
    if contact:
        said.append("The author says they have been in contact with the person.")
    if f.get("photo_url"):
        said.append(f"Photo URL: {f['photo_url']}.")
    place, coordinates = f.get("last_known_location"), None
    found = _COORDINATES.fullmatch(place or "")
    if found:
        latitude, longitude = float(found[1]), float(found[2])
        if -90 <= latitude <= 90 and -180 <= longitude <= 180:
            place, coordinates = None, {"latitude": latitude, "longitude": longitude}
    witness = " ".join(f[k] for k in ("author_name", "author_email", "author_phone") if f.get(k))
    return {
        **_envelope("RecordSighting", NOTE_PREFIX + note.record_id, options, f["source_date"]),
        "case_id": case_id,
        "seen_on": parse_time(f["source_date"]).date().isoformat(),
        "place": {"country": country, "place": place, "coordinates": coordinates},
        "source": source,
        "source_reliability": reliability,
        "description": " ".join(said)[:4000],
        "witness": witness[:500] or None,
    }


def link_command(note: Record, case_id: str, other_case_id: str, options: ImportOptions) -> dict[str, Any]:
    basis = f"PFIF note {note.record_id}: {note.fields['text']}"
    return {
        **_envelope("LinkCases", LINK_PREFIX + note.record_id, options, note.fields["source_date"]),
        "case_id": case_id,
        "other_case_id": other_case_id,
        "basis": basis[:200],
    }


def left_out(note: Record) -> list[str]:
    """What a note holds that caseledger does not import from it, and why (reported)."""
    return [
        f"{name}: not imported: a located person's contact is theirs to share "
        "(record their location with their agreement)"
        for name in ("email_of_found_person", "phone_of_found_person")
        if note.fields.get(name)
    ]
