"""The mapping file is checked whole before a row is read; value maps, country names and date
formats turn a registry's cells into caseledger's values; events recorded before imports
existed still load (with no registry of origin)."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.application import CaseLedger
from ledger.case import MissingPersonCase
from services.import_mapping import ImportMapping, MappingRefused, RowProblem, country_names, fold
from services.importing import Record
from tests.unit.test_upcasting import V1_STATE

BASE: dict[str, Any] = {
    "source": "albergue",
    "reference": "Folio",
    "date_format": "%d/%m/%Y",
    "columns": {"Nombre": "given_names", "Fecha": "last_seen_date", "Tel": "family_contacts.0.phone"},
    "values": {"sex": {"M": "male"}},
    "constants": {"sex": "female"},
}


def mapping(**changes: Any) -> ImportMapping:
    return ImportMapping.from_dict({**BASE, **changes}, "reports")


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"columns": {"Nombre": "given_name"}}, "mapping.columns.Nombre", "'given_name' is not a field"),
        (
            {"columns": {"Tel": "family_contacts.0.telefono"}},
            "mapping.columns.Tel",
            "'telefono' is not one of",
        ),
        ({"values": {"route": {"a": "b"}}}, "mapping.values.route", "no column is mapped"),
        ({"values": {"sex": "countries:xx"}}, "mapping.values.sex", "built-in maps"),
        ({"kind": "remains"}, "mapping.kind", "imports remains, not reports"),
        ({"colums": {}}, "mapping.colums", "is not a key"),
        ({"reference": ""}, "mapping.reference", "is required"),
        ({"dates": {"last_seen_date": "dd/mm/yyyy"}}, "mapping.dates.last_seen_date", "%d/%m/%Y"),
    ],
)
def test_a_wrong_mapping_is_refused_naming_its_key(changes: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(MappingRefused) as refused:
        mapping(**changes)
    assert refused.value.field == field and problem in refused.value.problem


def test_the_check_passes_a_right_mapping_and_a_header_that_has_its_columns() -> None:
    right = mapping()
    right.check_header(["Folio", "Nombre", "Fecha", "Tel", "Otra"])  # a column not mapped is left alone
    with pytest.raises(MappingRefused, match="no such column"):
        right.check_header(["Folio", "Nombre", "Fecha"])
    with pytest.raises(MappingRefused, match="appears twice"):
        right.check_header(["Folio", "Nombre", "Fecha", "Tel", "Nombre"])


def test_cells_become_values_by_maps_country_names_and_date_formats() -> None:
    names = country_names("es")
    assert (names[fold("México")], names[fold("  el salvador ")], names[fold("Estados Unidos")]) == (
        "MX",
        "SV",
        "US",
    )
    assert (
        names[fold("Venezuela")] == "VE"
        and names[fold("Guatemala")] == "GT"
        and names[fold("Honduras")] == "HN"
    )
    m = mapping(
        columns={"Nombre": "given_names", "Sexo": "sex", "País": "nationalities", "Fecha": "last_seen_date"},
        values={"sex": {"Masculino": "male"}, "nationalities": "countries:es"},
        constants={},
    )
    record = m.record(
        7,
        {
            "Folio": 12.0,
            "Nombre": "Ana",
            "Sexo": " masculino ",
            "País": "Honduras; Perú",
            "Fecha": "01/02/2026",
        },
    )
    assert isinstance(record, Record) and record.external_ref == "12"
    assert record.fields == {
        "given_names": "Ana",
        "sex": "male",
        "nationalities": ["HN", "PE"],
        "last_seen_date": "2026-02-01",
    }
    assert record.columns["sex"] == "Sexo"
    bad = m.record(8, {"Folio": "X", "Fecha": "31/02/2020"})
    assert bad == RowProblem(8, "X", "Fecha", "last_seen_date", "'31/02/2020' is not a date: no such day")
    wrong = m.record(9, {"Folio": "Y", "Fecha": "2020-02-01"})
    assert isinstance(wrong, RowProblem) and "expected the format %d/%m/%Y" in wrong.problem


def test_nested_fields_and_constants_are_built_from_dotted_paths() -> None:
    record = mapping().record(2, {"Folio": "A", "Nombre": "Ana", "Tel": "+502 5555 0101"})
    assert isinstance(record, Record)
    assert record.fields == {
        "sex": "female",
        "given_names": "Ana",
        "family_contacts": [{"phone": "+502 5555 0101"}],
    }


def test_a_stored_v4_report_loads_with_no_registry_of_origin() -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    case_id = uuid4()
    stored = StoredEvent(
        originator_id=case_id,
        originator_version=1,
        topic="ledger.case:MissingPersonCase.CaseReported",
        state=json.dumps(V1_STATE).encode(),
    )
    ledger.recorder.insert_events([stored])
    event = next(iter(ledger.repository.event_store.get(case_id)))
    assert isinstance(event, MissingPersonCase.CaseReported) and event.imported_from is None
