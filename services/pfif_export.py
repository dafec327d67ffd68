"""`caseledger export pfif --as J`: PFIF 1.4 of the cases a jurisdiction's views show, for
people-finding registries.

Only what PFIF may carry leaves: cases still missing whose family consented to `search` and
whose names the views show (never a minor's, never a withheld or erased case), and of them
only public and common fields: names, aliases, sex, date of birth or age, nationality as home
country, place of origin, description, who recorded the report, and each sighting's date
and place as a note. Family contacts, witnesses, circumstances and coordinates (reserved)
never do. A record imported from PFIF keeps its own record id (PFIF's rule for copies); the
node's own get `<domain>/case.<id>`. The document is validated against the PFIF 1.4 RELAX
NG schema before it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from lxml import etree

from ledger.events import command_key
from projections.views import CaseRow, JurisdictionViews, TimelineRow
from services.history import fold, visible_fields
from services.pfif import PFIF_1_4
from services.pfif_mapping import NOTE_PREFIX, SOURCE

__all__ = [
    "CHECKOUT",
    "PfifExport",
    "SchemaInvalid",
    "default_schema",
    "exportable",
    "ledger_ids",
    "reference_dir",
    "validate",
]

CHECKOUT = Path(__file__).resolve().parents[1]
_NS = "{" + PFIF_1_4 + "}"


class SchemaInvalid(Exception):
    """The document built does not validate: a fault of the exporter, never written."""


def reference_dir() -> Path:
    """The PFIF reference material kept beside the checkout (../shared/reference/pfif; from a
    git worktree nested deeper, the nearest such folder above it). Never in the repository."""
    for folder in CHECKOUT.parents:
        candidate = folder / "shared" / "reference" / "pfif"
        if candidate.is_dir():
            return candidate
    return CHECKOUT.parent / "shared" / "reference" / "pfif"


def default_schema() -> Path:
    return reference_dir() / "pfif-1.4.rng"


def exportable(row: CaseRow) -> bool:
    """A case PFIF may carry: still missing, names shown, the family consented to search. A case
    another origin disclosed to this node (#19) is for its searchers, never for a registry."""
    return (
        row.status == "missing"
        and not row.restricted
        and not row.minor
        and not row.disclosed
        and "search" in row.consents
    )


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(on: str | date) -> str:
    return f"{on}T00:00:00Z"


class PfifExport:
    """Builds the PFIF document of one jurisdiction's views. `own_ids(case_id)` gives, for a
    case this node recorded, its PFIF record ids by event version (from the command ids
    it was imported with); {} for the rest."""

    def __init__(self, views: JurisdictionViews, domain: str, own_ids: Any = lambda case_id: {}) -> None:
        self.views, self.domain, self.own_ids = views, domain, own_ids

    def document(self) -> etree._Element:
        root = etree.Element(_NS + "pfif", nsmap={"pfif": PFIF_1_4})
        rows = [r for r in self.views.cases() if exportable(r)]
        timelines = self.views.timelines([r.case_id for r in rows]) if rows else {}
        persons = []
        for row in rows:
            entries = timelines.get(row.case_id, [])
            if entries and entries[0].event_type == "CaseReported" and entries[0].shown != "{}":
                persons.append(self._person(row, entries))
        for person in sorted(persons, key=lambda p: str(p.findtext(_NS + "person_record_id"))):
            root.append(person)  # in record id order, the same on every node holding the records
        return root

    def _person(self, row: CaseRow, entries: Sequence[TimelineRow]) -> etree._Element:
        case = fold(row.case_id, list(entries), None)
        person, ids = case.person, self.own_ids(row.case_id)
        imported = visible_fields(entries[0]).get("imported_from") or {}
        record_id = (
            imported["reference"] if imported.get("source") == SOURCE else f"{self.domain}/case.{row.case_id}"
        )
        family = " ".join(p for p in (person.get("first_surname"), person.get("second_surname")) if p)
        fields: list[tuple[str, str | None]] = [
            ("person_record_id", record_id),
            ("author_name", entries[0].organisation),
            ("source_name", f"caseledger {row.origin}"),
            ("source_date", _time(entries[0].occurred_at)),
            ("full_name", f"{person.get('given_names')} {family}"),
            ("given_name", person.get("given_names")),
            ("family_name", family),
            ("alternate_names", "\n".join(person.get("aliases") or []) or None),
            ("description", person.get("physical_description")),
            ("sex", person.get("sex") if person.get("sex") in ("female", "male") else None),
            ("date_of_birth", person.get("date_of_birth")),
            ("age", _age(person.get("age_range"))),
            ("home_city", person.get("origin")),
            ("home_country", (person.get("nationalities") or [None])[0]),
        ]
        element = _element("person", fields)
        for entry in entries:
            if entry.event_type == "SightingRecorded" and entry.shown != "{}":
                element.append(self._note(record_id, entry, ids))
        return element

    def _note(self, person_id: str, entry: TimelineRow, ids: dict[int, str]) -> etree._Element:
        sighting = visible_fields(entry)
        place = (sighting.get("place") or {}).get("place")
        text = f"Seen on {sighting['seen_on']}" + (f" in {place}." if place else ".")
        fields: list[tuple[str, str | None]] = [
            ("note_record_id", ids.get(entry.version) or f"{person_id}.note.{entry.version}"),
            ("person_record_id", person_id),
            ("author_name", entry.organisation),
            ("source_date", _day(sighting["seen_on"])),
            ("last_known_location", place),
            ("text", text),
        ]
        return _element("note", fields)

    def write(self, target: Path, schema: Path | None) -> int:
        """Validate (when a schema is given) and write; the number of persons written."""
        root = self.document()
        if schema is not None:
            validate(root, schema)
        target.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
        return len(root)


def validate(root: etree._Element, schema: Path) -> None:
    """SchemaInvalid naming the first error if `root` does not validate against `schema`."""
    relaxng = etree.RelaxNG(
        etree.parse(str(schema), etree.XMLParser(resolve_entities=False, no_network=True))
    )
    if not relaxng.validate(root):
        first = relaxng.error_log.last_error
        raise SchemaInvalid(f"PFIF export does not validate against {schema.name}: {first}")


def _element(kind: str, fields: list[tuple[str, str | None]]) -> etree._Element:
    element = etree.Element(_NS + kind)
    for name, value in fields:
        if value not in (None, ""):
            etree.SubElement(element, _NS + name).text = str(value)
    return element


def _age(age_range: dict[str, int] | None) -> str | None:
    if not age_range:
        return None
    low, high = age_range["minimum"], age_range["maximum"]
    return str(low) if low == high else f"{low}-{high}"


def ledger_ids(ledger: Any, origin: str) -> Any:
    """For a case recorded at this node, the PFIF note ids of its sightings, by version: those
    they were imported with (read from their command ids, a common-tier field). A person's
    own id travels with its report (imported_from), to every node."""

    def ids(case_id: str) -> dict[int, str]:
        found: dict[int, str] = {}
        try:
            events = ledger.repository.event_store.get(UUID(case_id))
            for event in events:
                key = command_key(str(getattr(event, "command_id", "")))
                if key.startswith(NOTE_PREFIX):
                    found[int(event.originator_version)] = key.removeprefix(NOTE_PREFIX)
        except Exception:  # a case of another origin, or none here: no imported ids
            return {}
        return found

    return ids
