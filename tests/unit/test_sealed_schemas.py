"""The sealed message schemas agree with the tiers: each field travels in exactly one place
(in the clear if public, else inside its tier's sealed record), and the committed files are
what the generator makes from the plain schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger.tier_split import sealed_tiers
from ledger.tiers import BY_FIELD, FIELD_TIERS
from schemas import SCHEMA_DIR
from topics.avro import SchemaRegistry
from topics.sealed_schemas import expected_files, inner_name

REGISTRY = SchemaRegistry()
SEALED_EVENTS = [e for e in sorted(FIELD_TIERS) if sealed_tiers(e)]


def test_the_committed_sealed_schemas_are_the_generated_ones() -> None:
    for name, schema in expected_files().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"run python -m topics.sealed_schemas: {name} is missing"
        assert json.loads(path.read_text()) == schema, f"{name} differs from what the tiers call for"


@pytest.mark.parametrize("event_type", SEALED_EVENTS)
def test_each_field_travels_in_the_clear_only_if_public(event_type: str) -> None:
    outer = REGISTRY.latest(event_type)
    assert outer.sealed
    tags = FIELD_TIERS[event_type]

    def paths(schema: dict[str, Any]) -> set[str]:
        found = set()
        for field in schema["fields"]:
            name = field["name"]
            if name in ("meta", "sealed"):
                continue
            kind = field["type"]
            record = next((t for t in kind if isinstance(t, dict)), None) if isinstance(kind, list) else kind
            if any(p.startswith(f"{name}.") for p in tags):
                found |= {f"{name}.{f['name']}" for f in record["fields"]}
            else:
                found.add(name)
        return found

    by_tier = {"public": paths(outer.schema)}
    for tier in sealed_tiers(event_type):
        by_tier[tier] = paths(REGISTRY.latest(inner_name(event_type, tier)).schema)
    for path, tier in tags.items():
        holders = {t for t, held in by_tier.items() if path in held}
        if tier == BY_FIELD:
            assert holders == set(by_tier), path  # amendments are split change by change
        else:
            assert holders == {tier}, f"{event_type}.{path} is in {holders}, its tier is {tier}"
