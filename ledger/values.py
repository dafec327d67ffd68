"""Structured values inside commands (documents, ranges, places, contacts), each checked into
the plain dict an event stores; every failure names the field it came from."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger import validation as v
from ledger.errors import InvalidField
from ledger.vocabulary import (
    BODY_SITES,
    BUILDS,
    CLOTHING_CATEGORIES,
    COLOURS,
    DENTAL_CONDITIONS,
    EFFECT_CATEGORIES,
    EYE_COLOURS,
    HAIR_COLOURS,
    ID_DOCUMENT_KINDS,
    MARK_KINDS,
    MEDICAL_FINDINGS,
    NOTIFICATION_TEAM_ROLES,
    RELIABILITY,
    SOURCES,
)

__all__ = [
    "FDI_TEETH",
    "PHOTO_LOCATION",
    "AgeRange",
    "Coordinates",
    "Effect",
    "FamilyContact",
    "FoundDocument",
    "IdDocument",
    "Mark",
    "MedicalFinding",
    "PhotoReference",
    "Place",
    "Source",
    "TeamMember",
    "Tooth",
    "checked_range",
    "each",
    "optional_range",
    "physique",
    "texts",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class IdDocument:
    """An identity document as the family or the document itself gives it."""

    kind: str
    number: str
    issuing_country: str

    def checked(self, field: str) -> dict[str, Any]:
        return {
            "kind": v.choice(f"{field}.kind", self.kind, ID_DOCUMENT_KINDS),
            "number": v.required_text(f"{field}.number", self.number, max_length=64),
            "issuing_country": v.country(f"{field}.issuing_country", self.issuing_country),
        }


@dataclass(frozen=True)
class AgeRange:
    """An estimated age in whole years, when the date of birth is not known."""

    minimum: int
    maximum: int

    def checked(self, field: str, *, low: int = 0, high: int = 120) -> dict[str, int]:
        return checked_range(field, self.minimum, self.maximum, low=low, high=high)


def checked_range(
    field: str, minimum: Any, maximum: Any, *, low: int | float, high: int | float
) -> dict[str, Any]:
    """A closed numeric range within [low, high] whose start is not after its end."""
    for name, value in (("minimum", minimum), ("maximum", maximum)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidField(f"{field}.{name}", "must be a number")
        if not low <= value <= high:
            raise InvalidField(f"{field}.{name}", f"{value} is outside {low}–{high}")
    if minimum > maximum:
        raise InvalidField(field, f"starts at {minimum}, after its end {maximum}")
    return {"minimum": minimum, "maximum": maximum}


PHOTO_LOCATION = re.compile(r"^caseledger:(?P<node>[A-Z]{2})/photos/(?P<id>[0-9a-f-]{36})$")
"""Where a node keeps a photo it received (services/photos.py): sealed under a key of its own."""


@dataclass(frozen=True)
class PhotoReference:
    """Where a photo is kept and the hash of its bytes; the bytes never travel in an event."""

    sha256: str
    location: str

    def checked(self, field: str) -> dict[str, str]:
        digest = (self.sha256 or "").lower()
        if not _SHA256.match(digest):
            raise InvalidField(f"{field}.sha256", "must be the 64 hexadecimal digits of a SHA-256")
        return {
            "sha256": digest,
            "location": v.required_text(f"{field}.location", self.location, max_length=500),
        }


@dataclass(frozen=True)
class Coordinates:
    """A point on the globe in decimal degrees (WGS 84)."""

    latitude: float
    longitude: float

    def checked(self, field: str) -> dict[str, float]:
        for name, value, limit in (("latitude", self.latitude, 90.0), ("longitude", self.longitude, 180.0)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidField(f"{field}.{name}", "must be a number of decimal degrees")
            if not -limit <= value <= limit:
                raise InvalidField(f"{field}.{name}", f"{value} is off the globe (±{limit:g})")
        return {"latitude": float(self.latitude), "longitude": float(self.longitude)}


@dataclass(frozen=True)
class FamilyContact:
    """How to reach the family: at least a phone, an e-mail or an address."""

    name: str
    relationship: str
    phone: str | None = None
    email: str | None = None
    address: str | None = None

    def checked(self, field: str) -> dict[str, Any]:
        contact = {
            "name": v.required_text(f"{field}.name", self.name),
            "relationship": v.required_text(f"{field}.relationship", self.relationship, max_length=60),
            "phone": v.optional_text(f"{field}.phone", self.phone, max_length=40),
            "email": v.optional_text(f"{field}.email", self.email, max_length=200),
            "address": v.optional_text(f"{field}.address", self.address, max_length=500),
        }
        if not (contact["phone"] or contact["email"] or contact["address"]):
            raise InvalidField(field, "needs a phone, an e-mail or an address")
        if contact["email"] and "@" not in contact["email"]:
            raise InvalidField(f"{field}.email", "is not an e-mail address")
        return contact


@dataclass(frozen=True)
class Place:
    """Where something happened: a country, and as much detail as is known."""

    country: str
    place: str | None = None
    coordinates: Coordinates | None = None

    def checked(self, field: str) -> dict[str, Any]:
        return {
            "country": v.country(f"{field}.country", self.country),
            "place": v.optional_text(f"{field}.place", self.place),
            "coordinates": self.coordinates.checked(f"{field}.coordinates") if self.coordinates else None,
        }


@dataclass(frozen=True)
class Source:
    """Where a piece of information came from, and how far it can be trusted."""

    kind: str
    reliability: str = "unverified"

    def checked(self, field: str = "source") -> dict[str, str]:
        return {
            "kind": v.choice(f"{field}.kind", self.kind, SOURCES),
            "reliability": v.choice(f"{field}.reliability", self.reliability, RELIABILITY),
        }


def each(field: str, items: Sequence[Any] | None, *, at_most: int = 50) -> list[dict[str, Any]]:
    """Check every item of a list of values, naming each by its index."""
    values = list(items or ())
    if len(values) > at_most:
        raise InvalidField(field, f"holds {len(values)} items; at most {at_most}")
    return [item.checked(f"{field}[{i}]") for i, item in enumerate(values)]


def texts(field: str, items: Sequence[str] | None, *, at_most: int = 50, max_length: int = 500) -> list[str]:
    """A list of non-empty texts, kept exactly as entered."""
    values = list(items or ())
    if len(values) > at_most:
        raise InvalidField(field, f"holds {len(values)} items; at most {at_most}")
    return [v.required_text(f"{field}[{i}]", t, max_length=max_length) for i, t in enumerate(values)]


# ------------------------------------------------------------------ ante- and post-mortem
# The same values on both sides (a family's description, an examination's findings), so that
# projections/am_pm.py compares like with like. Free text stays beside each, never instead.

FDI_TEETH = frozenset(10 * quadrant + tooth for quadrant in range(1, 5) for tooth in range(1, 9))
"""Permanent teeth in the FDI two-digit notation: quadrant 1-4, tooth 1-8 (11-18 ... 41-48)."""


@dataclass(frozen=True)
class Mark:
    """A tattoo, scar, birthmark or amputation, where on the body, and what it looks like."""

    kind: str
    body_site: str
    description: str | None = None

    def checked(self, field: str) -> dict[str, Any]:
        return {
            "kind": v.choice(f"{field}.kind", self.kind, MARK_KINDS),
            "body_site": v.choice(f"{field}.body_site", self.body_site, BODY_SITES),
            "description": v.optional_text(f"{field}.description", self.description, max_length=1000),
        }


@dataclass(frozen=True)
class Tooth:
    """One tooth in FDI notation and what was done to it (or that it is missing)."""

    tooth: int
    condition: str
    description: str | None = None

    def checked(self, field: str) -> dict[str, Any]:
        if isinstance(self.tooth, bool) or not isinstance(self.tooth, int) or self.tooth not in FDI_TEETH:
            raise InvalidField(f"{field}.tooth", "must be an FDI tooth number, 11-18, 21-28, 31-38 or 41-48")
        return {
            "tooth": self.tooth,
            "condition": v.choice(f"{field}.condition", self.condition, DENTAL_CONDITIONS),
            "description": v.optional_text(f"{field}.description", self.description, max_length=500),
        }


@dataclass(frozen=True)
class MedicalFinding:
    """A healed fracture, a surgery, an implant or prosthesis (with its serial when known)."""

    kind: str
    body_site: str | None = None
    description: str | None = None
    serial: str | None = None

    def checked(self, field: str) -> dict[str, Any]:
        return {
            "kind": v.choice(f"{field}.kind", self.kind, MEDICAL_FINDINGS),
            "body_site": v.choice(f"{field}.body_site", self.body_site, BODY_SITES)
            if self.body_site is not None
            else None,
            "description": v.optional_text(f"{field}.description", self.description, max_length=1000),
            "serial": v.optional_text(f"{field}.serial", self.serial, max_length=100),
        }


@dataclass(frozen=True)
class Effect:
    """A garment or a personal effect: its category, colour, brand, and what it says or shows."""

    category: str
    colour: str | None = None
    brand: str | None = None
    text: str | None = None

    def checked(self, field: str) -> dict[str, Any]:
        return {
            "category": v.choice(f"{field}.category", self.category, CLOTHING_CATEGORIES + EFFECT_CATEGORIES),
            "colour": v.choice(f"{field}.colour", self.colour, COLOURS) if self.colour is not None else None,
            "brand": v.optional_text(f"{field}.brand", self.brand, max_length=100),
            "text": v.optional_text(f"{field}.text", self.text, max_length=1000),
        }


@dataclass(frozen=True)
class FoundDocument:
    """An identity document found with remains: what it is and the name written on it."""

    kind: str
    name: str
    number: str | None = None
    issuing_country: str | None = None

    def checked(self, field: str) -> dict[str, Any]:
        return {
            "kind": v.choice(f"{field}.kind", self.kind, ID_DOCUMENT_KINDS),
            "name": v.required_text(f"{field}.name", self.name),
            "number": v.optional_text(f"{field}.number", self.number, max_length=64),
            "issuing_country": v.country(f"{field}.issuing_country", self.issuing_country)
            if self.issuing_country is not None
            else None,
        }


def optional_range(field: str, value: Sequence[Any] | None, *, low: int, high: int) -> dict[str, Any] | None:
    """A (minimum, maximum) pair given as a list or tuple, or None; one value is a range of one."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidField(field, "give a minimum and a maximum")
    return checked_range(field, value[0], value[1], low=low, high=high)


def physique(build: str | None, hair: str | None, eyes: str | None) -> dict[str, str | None]:
    """Build, hair colour and eye colour, each from its list or absent."""
    return {
        "build": v.choice("build", build, BUILDS) if build is not None else None,
        "hair": v.choice("hair", hair, HAIR_COLOURS) if hair is not None else None,
        "eyes": v.choice("eyes", eyes, EYE_COLOURS) if eyes is not None else None,
    }


@dataclass(frozen=True)
class TeamMember:
    """One member of the team that tells a family: who, and in which role."""

    name: str
    role: str

    def checked(self, field: str) -> dict[str, str]:
        return {
            "name": v.required_text(f"{field}.name", self.name),
            "role": v.choice(f"{field}.role", self.role, NOTIFICATION_TEAM_ROLES),
        }
