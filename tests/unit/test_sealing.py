"""Splitting an event by tier and merging it back loses nothing; a tier that cannot be
opened comes back as None in exactly its own fields (hypothesis, over every event schema)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tier_split import merge, split
from ledger.tiers import BY_FIELD, FIELD_TIERS, tier_of
from tests.unit.test_schema_evolution import REGISTRY, values_for

EVENT_TYPES = sorted(FIELD_TIERS)


def value_at(record: dict[str, Any], path: str) -> Any:
    head, _, leaf = path.partition(".")
    if not leaf:
        return record[head]
    section = record.get(head)
    return section.get(leaf) if isinstance(section, dict) else None


def bodies(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = REGISTRY.latest_plain(event_type).schema
    body = {**schema, "fields": [f for f in schema["fields"] if f["name"] != "meta"]}
    return values_for(body)  # type: ignore[return-value]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_split_then_merge_gives_the_event_back(event_type: str, data: st.DataObject) -> None:
    body = data.draw(bodies(event_type))
    public, groups = split(event_type, body)
    assert "public" not in groups
    restored = merge(event_type, public, groups)
    if BY_FIELD in FIELD_TIERS[event_type].values():  # amendments come back grouped by tier
        key = next(k for k, t in FIELD_TIERS[event_type].items() if t == BY_FIELD)
        assert sorted(map(str, restored.pop(key))) == sorted(map(str, body[key]))
        body = {k: v for k, v in body.items() if k != key}
    assert restored == body


@pytest.mark.parametrize("event_type", [e for e in EVENT_TYPES if BY_FIELD not in FIELD_TIERS[e].values()])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_an_unopened_tier_reads_as_none_in_its_fields_only(event_type: str, data: st.DataObject) -> None:
    body = data.draw(bodies(event_type))
    public, groups = split(event_type, body)
    for closed in groups:
        restored = merge(event_type, public, {t: g for t, g in groups.items() if t != closed})
        for path in FIELD_TIERS[event_type]:
            head, _, leaf = path.partition(".")
            original = body[head] if not leaf else (body[head] or {}).get(leaf) if body[head] else None
            seen = (
                restored[head] if not leaf else (restored[head] or {}).get(leaf) if restored[head] else None
            )
            if tier_of(event_type, path) == closed and (not leaf or body[head] is not None):
                assert seen is None, f"{path} of the closed {closed} tier leaked"
            else:
                assert seen == original, path
