"""The field's closed vocabularies, as the workshop and the families use them."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    """Where a case stands. There is deliberately no "presumed dead"."""

    MISSING = "missing"
    LOCATED_ALIVE = "located_alive"
    IDENTIFIED_DECEASED = "identified_deceased"
    CLOSED = "closed"


SEXES = ("female", "male", "intersex", "unknown")

SOURCES = ("family", "witness", "survivor", "shelter", "official", "press", "social_media")

PURPOSES = ("search", "forensic_identification", "family_support", "accountability", "statistics")

ROLES = (
    "caseworker",
    "family_member",
    "forensic_expert",
    "geneticist",
    "consular_officer",
    "commissioner",
    "investigator",
    "node_operator",
)
