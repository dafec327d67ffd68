"""Single-object framing: marker, fingerprint from the specification, and clear refusals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from schemas import SCHEMA_DIR
from topics.avro import MAGIC, SchemaRegistry, UndecodableMessage

REGISTRY = SchemaRegistry()


def case_reported_record() -> dict[str, object]:
    now = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    return {
        "meta": {
            "event_id": "7f2c5d0e-8d3a-4a8e-9d6e-0c1b2a3d4e5f",
            "event_type": "CaseReported",
            "aggregate_type": "MissingPersonCase",
            "aggregate_id": "0f7e3b7a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "aggregate_version": 1,
            "origin": "MX",
            "occurred_at": now,
            "recorded_at": now,
            "recorded_by": {"organisation": "Casa del Migrante", "role": "caseworker"},
            "purpose": "search",
            "command_id": "c-1",
        },
        "source": "shelter",
        "person": {
            "given_names": "Ñandú José",
            "first_surname": "Pérez",
            "second_surname": None,
            "father_name": None,
            "mother_name": "Ana",
            "aliases": ["Pepe"],
            "sex": "male",
            "date_of_birth": date(2001, 1, 2),
            "nationalities": ["HN", "GT"],
        },
        "last_seen": {"date": date(2026, 3, 1), "country": "MX", "place": None, "route": None},
        "family_contact": None,
        "circumstances": None,
    }


def test_frame_is_marker_fingerprint_body_and_round_trips() -> None:
    frame = REGISTRY.encode("CaseReported", case_reported_record(), version=1)
    assert frame[:2] == MAGIC == b"\xc3\x01"
    decoded = REGISTRY.decode(frame)
    assert (decoded.name, decoded.writer_version) == ("CaseReported", 1)
    assert decoded.record["person"]["given_names"] == "Ñandú José"
    assert decoded.record["meta"]["occurred_at"] == datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def test_fingerprint_is_crc64_avro_of_the_expanded_canonical_form() -> None:
    # Built independently of the registry: inline the shared types by hand.
    actor = json.loads((SCHEMA_DIR / "Actor.v1.avsc").read_text())
    envelope = json.loads((SCHEMA_DIR / "Envelope.v1.avsc").read_text())
    event = json.loads((SCHEMA_DIR / "CaseReported.v1.avsc").read_text())
    envelope["fields"] = [
        dict(f, type=actor) if f["type"] == "caseledger.Actor" else f for f in envelope["fields"]
    ]
    event["fields"] = [
        dict(f, type=envelope) if f["type"] == "caseledger.Envelope" else f for f in event["fields"]
    ]
    expected = fingerprint(to_parsing_canonical_form(parse_schema(event)), "CRC-64-AVRO")
    frame = REGISTRY.encode("CaseReported", case_reported_record(), version=1)
    assert frame[2:10].hex() == expected


def test_known_crc64_avro_vector() -> None:
    # The Java implementation's CRC-64-AVRO of the schema "int", little-endian bytes.
    assert fingerprint('"int"', "CRC-64-AVRO") == "8f5c393f1ad57572"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda f: b"", "shorter than the 10-byte"),
        (lambda f: f[:6], "shorter than the 10-byte"),
        (lambda f: b"\x00\x01" + f[2:], "single-object marker"),
        (lambda f: f[:2] + b"\xff" * 8 + f[10:], "unknown schema fingerprint"),
        (lambda f: f[: len(f) // 2], "does not decode with CaseReported v1"),
        (lambda f: f + b"\x00\x00", "bytes left over"),
    ],
)
def test_undecodable_messages_name_the_problem(mangle: object, reason: str) -> None:
    frame = REGISTRY.encode("CaseReported", case_reported_record(), version=1)
    with pytest.raises(UndecodableMessage, match=reason):
        REGISTRY.decode(mangle(frame))  # type: ignore[operator]


def test_every_schema_file_parses_and_fingerprints_are_unique() -> None:
    files = sorted(Path(SCHEMA_DIR).glob("*.avsc"))
    assert files, "schemas/ holds the .avsc files"
    names = set(REGISTRY.names())
    assert {"Envelope", "Actor", "CaseReported"} <= names
    fingerprints = [v.fingerprint for n in names for v in REGISTRY.versions(n)]
    assert len(fingerprints) == len(set(fingerprints)) == len(files)
