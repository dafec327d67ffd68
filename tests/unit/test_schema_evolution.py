"""Released schemas never change, and each new version stays compatible both ways: old data
read with the new schema, new data read with the old one."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import SCHEMA_DIR
from topics.avro import SchemaRegistry

REGISTRY = SchemaRegistry()
# A plain message is read with the newest plain schema and a sealed one with the newest
# sealed schema (topics/avro.py, reader_for): compatibility holds within each form.
PAIRS = [
    (older, newer)
    for name in REGISTRY.names()
    for form in (False, True)
    for same in [[v for v in REGISTRY.versions(name) if v.sealed == form]]
    for older, newer in itertools.pairwise(same)
]


def values_for(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """A hypothesis strategy for values of a parsed (expanded) Avro schema."""
    named = {} if named is None else named
    if isinstance(schema, str):
        return named[schema] if schema in named else _primitive(schema)
    if isinstance(schema, list):
        return st.one_of(*[values_for(branch, named) for branch in schema])
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "date":
        return st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1))
    if logical in ("timestamp-micros", "timestamp-millis"):
        return st.datetimes(
            min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    if logical == "uuid":
        return st.uuids().map(str)
    if kind == "record":
        fields = {f["name"]: values_for(f["type"], named) for f in schema["fields"]}
        strategy = st.fixed_dictionaries(fields)
        named[schema["name"]] = strategy
        return strategy
    if kind == "array":
        return st.lists(values_for(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), values_for(schema["values"], named), max_size=3)
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    return _primitive(kind)


def _primitive(kind: str) -> st.SearchStrategy[Any]:
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "float": st.floats(width=32, allow_nan=False),
        "double": st.floats(allow_nan=False),
        "string": st.text(max_size=20),
        "bytes": st.binary(max_size=20),
    }[kind]


def write(schema: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def read(data: bytes, writer: Any, reader: Any) -> Any:
    return schemaless_reader(io.BytesIO(data), writer, reader)


def test_there_is_a_versioned_pair_to_check() -> None:
    assert ("CaseReported", 1, 2) in [(o.name, o.version, n.version) for o, n in PAIRS]


@pytest.mark.parametrize(
    ("older", "newer"), PAIRS, ids=[f"{o.name}-v{o.version}-v{n.version}" for o, n in PAIRS]
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_consecutive_versions_read_each_other(older: Any, newer: Any, data: st.DataObject) -> None:
    old_record = data.draw(values_for(older.schema))
    assert read(write(older.schema, old_record), older.schema, newer.schema) is not None
    new_record = data.draw(values_for(newer.schema))
    assert read(write(newer.schema, new_record), newer.schema, older.schema) is not None


def test_the_check_catches_an_incompatible_change() -> None:
    old = parse_schema({"type": "record", "name": "T", "fields": [{"name": "a", "type": "string"}]})
    new = parse_schema(
        {
            "type": "record",
            "name": "T",
            "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}],
        }
    )  # no default
    with pytest.raises(Exception, match="b"):
        read(write(old, {"a": "x"}), old, new)


def test_released_schemas_are_never_edited() -> None:
    released = json.loads((Path(SCHEMA_DIR) / "released.json").read_text())
    current = {
        f"{n}.v{v.version}.avsc": v.fingerprint.hex() for n in REGISTRY.names() for v in REGISTRY.versions(n)
    }
    changed = {name for name in released if current.get(name) != released[name]}
    assert not changed, f"released schemas were edited (add a new version instead): {sorted(changed)}"
    unreleased = sorted(set(current) - set(released))
    assert not unreleased, (
        f"add these new versions to schemas/released.json when releasing them: {unreleased}"
    )
