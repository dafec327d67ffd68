"""Valid commands to start from; tests change one field at a time."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from ledger.commands import Actor, ReportMissingPerson
from ledger.values import FamilyContact


def report(**changes: Any) -> ReportMissingPerson:
    """A complete, valid report of a missing person; keyword arguments replace fields."""
    base = ReportMissingPerson(
        command_id=str(uuid.uuid4()),
        recorded_by=Actor("mx-casa-migrante-tapachula", "caseworker"),
        given_names="María José",
        first_surname="López",
        second_surname="Chávez",
        sex="female",
        date_of_birth="1999-07-30",
        nationalities=("GT",),
        last_seen_date="2026-02-03",
        last_seen_country="MX",
        last_seen_place="Arriaga, Chiapas",
        route="Tecún Umán – Arriaga",
        family_contacts=(FamilyContact("Rosa Chávez", "mother", phone="+502 5555 0101"),),
        consented_purposes=("search",),
        consent_explained_by="Comité de Familiares: Lucía Pérez",
        consent_language="es",
    )
    return dataclasses.replace(base, **changes)


CASEWORKER = Actor("mx-casa-migrante-tapachula", "caseworker")
FORENSIC = Actor("mx-semefo-chiapas", "forensic_expert")
FAMILY = Actor("family:3f0a9c1d2e4b", "family_member")  # a family credential, no organisation
# Another organisation than the one that proposes a match: two people decide an identification.
REVIEWER = Actor("mx-mecanismo-externo", "forensic_expert")


def ctx(actor: Actor = CASEWORKER, purpose: str = "search", **more: Any) -> dict[str, Any]:
    """The envelope arguments every command takes, with a fresh command id."""
    return {"command_id": str(uuid.uuid4()), "recorded_by": actor, "purpose": purpose, **more}
