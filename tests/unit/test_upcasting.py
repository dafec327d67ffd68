"""Events stored by an earlier version of the ledger still load: CaseReported v1 upcasts to v2."""

from __future__ import annotations

import json
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from ledger.application import CaseLedger
from ledger.case import MissingPersonCase

# A CaseReported exactly as the first release stored it (no class_version: version 1).
V1_STATE = {
    "timestamp": {"_type_": "datetime_iso", "_data_": "2026-03-14T10:00:00+00:00"},
    "originator_topic": "ledger.case:MissingPersonCase",
    "origin": "MX",
    "command_id": "c1",
    "occurred_at": {"_type_": "datetime_iso", "_data_": "2026-03-14T09:00:00+00:00"},
    "recorded_by": {"organisation": "FUNDAR", "role": "caseworker"},
    "source": "family",
    "purpose": "search",
    "person": {
        "given_names": "José Ángel",
        "first_surname": "Pérez",
        "second_surname": None,
        "father_name": None,
        "mother_name": None,
        "aliases": [],
        "sex": "male",
        "date_of_birth": {"_type_": "date_iso", "_data_": "2001-05-02"},
        "nationalities": ["HN"],
    },
    "last_seen": {
        "date": {"_type_": "date_iso", "_data_": "2026-03-01"},
        "country": "MX",
        "place": None,
        "route": None,
    },
    "family_contact": "+504 5555 0000",
    "circumstances": None,
}


def test_a_stored_v1_report_loads_as_v2() -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    case_id = uuid4()
    stored = StoredEvent(
        originator_id=case_id,
        originator_version=1,
        topic="ledger.case:MissingPersonCase.CaseReported",
        state=json.dumps(V1_STATE).encode(),
    )
    ledger.recorder.insert_events([stored])
    case = ledger.get_case(case_id)
    assert isinstance(case, MissingPersonCase)
    assert case.full_name == "José Ángel Pérez"
    assert case.family_contacts[0]["phone"] == "+504 5555 0000"
    assert case.person["id_documents"] == [] and case.last_seen["coordinates"] is None
    assert case.has_consent("search") and not case.has_consent("accountability")
    event = next(iter(ledger.repository.event_store.get(case_id)))
    assert event.source_reliability == "unverified"  # type: ignore[attr-defined]
