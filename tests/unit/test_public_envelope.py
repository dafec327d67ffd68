"""The public envelope (Envelope v2): who recorded an event, its exact instants and its command
id travel in the common tier; in the clear, the month. Messages written before still read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from tests.unit.test_avro_framing import case_reported_record
from topics.avro import SchemaRegistry
from topics.mapping import open_envelope, open_record, seal_envelope

REGISTRY = SchemaRegistry()


def keys() -> MemoryKeyStore:
    return MemoryKeyStore(MasterKey(new_data_key()))


def test_a_message_written_with_the_first_envelope_reads_with_its_recorder_and_instants() -> None:
    written = case_reported_record()
    decoded = REGISTRY.decode(REGISTRY.encode("CaseReported", written, version=1))
    assert decoded.writer_version == 1 and decoded.record["meta"]["sealed_envelope"] is None
    meta = open_record(REGISTRY, keys(), decoded).plain["meta"]
    assert meta["recorded_by"] == {"organisation": "Casa del Migrante", "role": "caseworker"}
    assert meta["occurred_at"] == datetime(2026, 3, 14, 9, 30, tzinfo=UTC) and meta["command_id"] == "c-1"


def test_the_envelope_opens_only_with_the_aggregates_common_key() -> None:
    origin = keys()
    meta: dict[str, Any] = dict(case_reported_record()["meta"])  # type: ignore[arg-type]
    public = seal_envelope(REGISTRY, origin, meta)
    month = datetime(2026, 3, 1, tzinfo=UTC)
    assert (public["occurred_at"], public["recorded_at"]) == (month, month)
    assert public["recorded_by"] == {"organisation": "", "role": ""} and public["command_id"] == ""
    key_id = public["sealed_envelope"]["key_id"]
    assert key_id.startswith(f"{meta['aggregate_id']}/common/")
    stranger = open_envelope(REGISTRY, keys(), public)
    assert stranger["recorded_by"] == {"organisation": "", "role": ""} and stranger["occurred_at"] == month
    reader = keys()
    key = origin.get(key_id)
    assert key is not None
    reader.put_many([(key_id, key)])
    opened = open_envelope(REGISTRY, reader, public)
    assert opened["recorded_by"]["organisation"] == "Casa del Migrante" and "sealed_envelope" not in opened
    assert opened["occurred_at"] == datetime(2026, 3, 14, 9, 30, tzinfo=UTC) and opened["command_id"] == "c-1"
