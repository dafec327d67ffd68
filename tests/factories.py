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
        recorded_by=Actor("Comité de Familiares de Migrantes", "caseworker"),
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


CASEWORKER = Actor("Casa del Migrante", "caseworker")
FORENSIC = Actor("Servicio Médico Forense", "forensic_expert")
FAMILY = Actor("Comité de Familiares de Migrantes", "family_member")
# Another organisation than the one that proposes a match: two people decide an identification.
REVIEWER = Actor("Equipo Argentino de Antropología Forense", "forensic_expert")


def ctx(actor: Actor = CASEWORKER, purpose: str = "search", **more: Any) -> dict[str, Any]:
    """The envelope arguments every command takes, with a fresh command id."""
    return {"command_id": str(uuid.uuid4()), "recorded_by": actor, "purpose": purpose, **more}
