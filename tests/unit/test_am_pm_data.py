"""Ante-mortem and post-mortem data in comparable structure (DVI form categories): each value
is checked with the field named, travels sealed in the forensic tier, and data written with
the first release's schemas and events still reads."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from fastavro import schemaless_writer

from ledger.application import CaseLedger
from ledger.commands import AddComprehensiveData
from ledger.errors import InvalidField
from ledger.forensic_commands import RecordPostMortem
from ledger.remains import UnidentifiedRemains
from ledger.tier_split import split
from ledger.tiers import tier_of
from ledger.values import Effect, FoundDocument, Mark, MedicalFinding, Tooth
from tests.factories import FORENSIC, ctx, report
from tests.unit.test_upcasting import V1_STATE
from topics.avro import SchemaRegistry

TODAY = date(2026, 11, 1)
REGISTRY = SchemaRegistry()


def post_mortem(**changes: Any) -> RecordPostMortem:
    fields: dict[str, Any] = {"sex": "undetermined", "condition": "fresh", **changes}
    return RecordPostMortem(**ctx(FORENSIC), remains_id=uuid4(), **fields)


def test_structured_post_mortem_findings_are_kept_beside_the_free_text() -> None:
    checked = post_mortem(
        marks=("tattoo of a rose",),
        body_marks=(Mark("tattoo", "left_forearm", "a rose"),),
        teeth=(Tooth(11, "gold"), Tooth(36, "missing")),
        medical_findings=(MedicalFinding("implant", "left_thigh", "femoral nail", "SN-4411"),),
        effects=(Effect("jeans", "blue", "Levi's"), Effect("religious_item", text="rosary")),
        documents_found=(FoundDocument("national_id", "José Luis Hernández", None, "HN"),),
        time_since_death_days=(10, 40),
        stature_cm=(165, 165),
        build="slim",
        hair="black",
        eyes="brown",
    ).checked(TODAY)
    assert checked["marks"] == ["tattoo of a rose"]
    assert checked["body_marks"] == [{"kind": "tattoo", "body_site": "left_forearm", "description": "a rose"}]
    assert checked["teeth"][1] == {"tooth": 36, "condition": "missing", "description": None}
    assert checked["medical_findings"][0]["serial"] == "SN-4411"
    assert checked["documents_found"][0]["name"] == "José Luis Hernández"
    assert checked["time_since_death_days"] == {"minimum": 10, "maximum": 40}
    assert checked["stature_cm"] == {"minimum": 165, "maximum": 165}
    assert checked["sex"] == "undetermined"
    public, tiers = split("PostMortemRecorded", checked)
    assert set(public) == {"sex"}  # every description is forensic
    assert "body_marks" in tiers["forensic"] and "documents_found" in tiers["forensic"]


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"teeth": (Tooth(19, "crown"),)}, "teeth[0].tooth", "FDI"),
        ({"teeth": (Tooth(21, "rotten"),)}, "teeth[0].condition", "not one of"),
        ({"body_marks": (Mark("tattoo", "elbow"),)}, "body_marks[0].body_site", "not one of"),
        ({"body_marks": (Mark("mole", "face"),)}, "body_marks[0].kind", "not one of"),
        ({"effects": (Effect("hat", "blue"),)}, "effects[0].category", "not one of"),
        ({"effects": (Effect("cap", "azul"),)}, "effects[0].colour", "not one of"),
        ({"documents_found": (FoundDocument("passport", "Ana", None, "XX"),)}, "documents_found[0]", ""),
        ({"medical_findings": (MedicalFinding("tumour"),)}, "medical_findings[0].kind", "not one of"),
        ({"time_since_death_days": (40, 10)}, "time_since_death_days", "after its end"),
        ({"build": "fat"}, "build", "not one of"),
        ({"sex": "mostly"}, "sex", "not one of"),
    ],
)
def test_each_bad_value_names_its_field(changes: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(InvalidField) as raised:
        post_mortem(**changes).checked(TODAY)
    assert raised.value.field.startswith(field) and problem in str(raised.value)


def test_ante_mortem_structure_alone_is_enough_and_checked() -> None:
    command = AddComprehensiveData(
        **ctx(), case_id=uuid4(), teeth=(Tooth(11, "gold"),), stature_cm=(170, 170), hair="black"
    )
    checked = command.checked(TODAY)
    assert checked["teeth"] == [{"tooth": 11, "condition": "gold", "description": None}]
    assert checked["dental"] is None and checked["stature_cm"] == {"minimum": 170, "maximum": 170}
    with pytest.raises(InvalidField, match="stature_cm"):
        AddComprehensiveData(**ctx(), case_id=uuid4(), stature_cm=(170,)).checked(TODAY)  # type: ignore[arg-type]


def _v1_post_mortem() -> bytes:
    v1 = REGISTRY.get("PostMortemRecorded", 1)
    record = {
        "meta": {
            "event_id": str(uuid4()),
            "event_type": "PostMortemRecorded",
            "aggregate_type": "UnidentifiedRemains",
            "aggregate_id": str(uuid4()),
            "aggregate_version": 2,
            "origin": "MX",
            "occurred_at": datetime(2026, 4, 2, tzinfo=UTC),
            "recorded_at": datetime(2026, 4, 2, tzinfo=UTC),
            "recorded_by": {"organisation": "SEMEFO", "role": "forensic_expert"},
            "purpose": "forensic_identification",
            "command_id": "c1",
        },
        "sex": "male",
        "age_range": {"minimum": 18, "maximum": 30},
        "stature_cm": None,
        "condition": "skeletonised",
        "marks": ["scar"],
        "dental": None,
        "clothing": [],
        "belongings": [],
    }
    buffer = io.BytesIO()
    buffer.write(v1.frame_prefix)
    schemaless_writer(buffer, v1.schema, record)
    return buffer.getvalue()


def test_a_first_release_post_mortem_message_reads_with_the_new_schema() -> None:
    decoded = REGISTRY.decode(_v1_post_mortem())
    assert decoded.writer_version == 1
    assert decoded.record["marks"] == ["scar"]
    assert decoded.record["body_marks"] is None and decoded.record["teeth"] is None
    assert decoded.record["documents_found"] is None and decoded.record["time_since_death_days"] is None


def test_a_stored_v1_post_mortem_event_loads_with_no_structure() -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    remains_id = uuid4()
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-04-02T10:00:00+00:00"},
        "command_id": "pm1",
        "occurred_at": {"_type_": "datetime_iso", "_data_": "2026-04-02T09:00:00+00:00"},
        "recorded_by": {"organisation": "SEMEFO", "role": "forensic_expert"},
        "purpose": "forensic_identification",
        "sex": "male",
        "age_range": None,
        "stature_cm": None,
        "condition": "decomposed",
        "marks": [],
        "dental": "crown 11",
        "clothing": [],
        "belongings": [],
    }
    event = UnidentifiedRemains.PostMortemRecorded
    stored = StoredEvent(
        originator_id=remains_id,
        originator_version=2,
        topic="ledger.remains:UnidentifiedRemains.PostMortemRecorded",
        state=json.dumps(state).encode(),
    )
    loaded = ledger.mapper.to_domain_event(stored)
    assert isinstance(loaded, event)
    assert loaded.dental == "crown 11" and loaded.teeth is None and loaded.documents_found is None


def test_the_place_of_origin_is_kept_as_entered_in_the_common_tier() -> None:
    checked = report(origin="San Pedro Soloma, Huehuetenango").checked(TODAY)
    assert checked["person"]["origin"] == "San Pedro Soloma, Huehuetenango"
    _, tiers = split("CaseReported", checked)
    assert tiers["common"]["person"]["origin"] == "San Pedro Soloma, Huehuetenango"
    assert tier_of("CaseReported", "person.origin", minor=True) == "reserved"
    assert report().checked(TODAY)["person"]["origin"] is None


def test_a_stored_v2_report_loads_with_no_origin() -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    state = json.loads(json.dumps(V1_STATE))
    state["class_version"] = 2
    state.pop("family_contact")
    state.update(family_contacts=[], source_reliability="unverified", consented_purposes=["search"])
    state["person"].update(id_documents=[], age_range=None, photo=None, physical_description=None)
    state["last_seen"]["coordinates"] = None
    case_id = uuid4()
    stored = StoredEvent(
        originator_id=case_id,
        originator_version=1,
        topic="ledger.case:MissingPersonCase.CaseReported",
        state=json.dumps(state).encode(),
    )
    ledger.recorder.insert_events([stored])
    case = ledger.get_case(case_id)
    assert case.person["origin"] is None and case.person["given_names"] == "José Ángel"
