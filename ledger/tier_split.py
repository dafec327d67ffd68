"""Splitting an event's fields by tier, and putting them back together.

Both the node's own event store and the messages on Kafka keep the public tier in the
clear and each higher tier sealed under its own data key (ledger/crypto.py). This module
is the one place that knows how an event's fields (dotted paths in ledger/tiers.py) fall
into tiers; it touches no keys. A tier that cannot be opened (no grant, or erased) comes
back as None in every field it holds, so readers see "restricted", never a guess.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeGuard

from ledger.tiers import BY_FIELD, FIELD_TIERS, TIERS, tier_of

__all__ = ["PUBLIC", "holds_nothing", "merge", "sealed_tiers", "split", "tiers_of"]

PUBLIC = "public"


@functools.cache
def tiers_of(event_type: str) -> frozenset[str]:
    """The tiers above public that an event type's fields fall into (amendments: by field)."""
    return frozenset(t for t in FIELD_TIERS.get(event_type, {}).values() if t not in (PUBLIC, BY_FIELD))


def holds_nothing(value: Any) -> bool:
    """Whether a tier's fields are all empty (erased data reads as None): a message leaves
    such a tier out rather than sealing it."""
    if isinstance(value, dict):
        return all(holds_nothing(v) for v in value.values())
    return value is None or value == []


def _amendment_tier(change: Mapping[str, Any]) -> str:
    try:
        return tier_of("CaseReported", str(change.get("field")))
    except KeyError:
        return "reserved"  # an unknown field is kept closed rather than guessed open


@functools.cache
def _sealed_paths(event_type: str) -> tuple[tuple[str, str, str], ...]:
    """(head, leaf, tier) of each field of the event type above the public tier, in order:
    worked out once per type, as a node splits every event it records."""
    return tuple(
        (*_head_leaf(path), tier) for path, tier in FIELD_TIERS.get(event_type, {}).items() if tier != PUBLIC
    )


def _head_leaf(path: str) -> tuple[str, str]:
    head, _, leaf = path.partition(".")
    return head, leaf


@functools.cache
def _split_plan(event_type: str) -> tuple[tuple[str, str | None, tuple[tuple[str, str], ...]], ...]:
    """_sealed_paths grouped by head, in order: (head, tier, ()) for a whole field or an
    amendment list (tier BY_FIELD), (head, None, ((leaf, tier), ...)) for fields of a section.
    A head's paths are consecutive where an event type lists them; where they are not, the
    head comes once per run, so the tiers come out in the order the paths name them."""
    plan: list[tuple[str, str | None, tuple[tuple[str, str], ...]]] = []
    for head, leaf, tier in _sealed_paths(event_type):
        if not leaf:
            plan.append((head, tier, ()))
        elif plan and plan[-1][0] == head and plan[-1][1] is None:
            plan[-1] = (head, None, (*plan[-1][2], (leaf, tier)))
        else:
            plan.append((head, None, ((leaf, tier),)))
    return tuple(plan)


def split(event_type: str, attributes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The public fields (and everything untagged: ids, envelope), and each higher tier's
    fields, nested as they are in the event. The input is not modified."""
    public: dict[str, Any] = dict(attributes)
    groups: dict[str, dict[str, Any]] = {}
    for head, tier, leaves in _split_plan(event_type):
        if head not in public:
            continue
        if tier == BY_FIELD:
            kept = []
            for change in public[head] or []:
                change_tier = _amendment_tier(change)
                if change_tier == PUBLIC:
                    kept.append(change)
                else:
                    groups.setdefault(change_tier, {}).setdefault(head, []).append(change)
            public[head] = kept
        elif tier is not None:
            groups.setdefault(tier, {})[head] = public.pop(head)
        else:
            parent = public[head]
            if type(parent) is not dict and not isinstance(parent, Mapping):
                continue  # an absent section (None) says nothing about its fields
            section = dict(parent)
            for leaf, leaf_tier in leaves:
                if leaf in section:
                    groups.setdefault(leaf_tier, {}).setdefault(head, {})[leaf] = section.pop(leaf)
            if len(section) != len(parent):
                public[head] = section
    return public, groups


@functools.cache
def _merge_plan(event_type: str) -> tuple[frozenset[str], tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """The event type's amendment lists, and every tagged path grouped by head as _split_plan
    does, public ones too: (head, tier, ()) for a whole field or an amendment list, (head, "",
    leaves) for fields of a section. Worked out once per type, as a node opens every event."""
    tags = FIELD_TIERS.get(event_type, {})
    plan: list[tuple[str, str, tuple[str, ...]]] = []
    for path, tier in tags.items():
        head, leaf = _head_leaf(path)
        if tier == BY_FIELD or not leaf:
            plan.append((head, tier, ()))
        elif plan and plan[-1][0] == head and not plan[-1][1]:
            plan[-1] = (head, "", (*plan[-1][2], leaf))
        else:
            plan.append((head, "", (leaf,)))
    by_field = frozenset(_head_leaf(path)[0] for path, tier in tags.items() if tier == BY_FIELD)
    return by_field, tuple(plan)


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or (type(value) not in _PLAIN and isinstance(value, Mapping))


_PLAIN = frozenset({str, int, float, bool, bytes, list, type(None)})  # never a Mapping


def merge(
    event_type: str, public: Mapping[str, Any], opened: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The event's fields from its public part and the tiers that could be opened; every
    field of a tier that could not be opened is None (an amendment list only loses the
    changes it cannot open)."""
    by_field, plan = _merge_plan(event_type)
    merged: dict[str, Any] = {
        key: (dict(value) if _is_mapping(value) else value) for key, value in public.items()
    }
    for group in opened.values():
        for key, value in group.items():
            if key in by_field:
                merged[key] = [*(merged.get(key) or []), *value]
            elif _is_mapping(value):
                section = merged.get(key)
                merged[key] = {**(section if _is_mapping(section) else {}), **value}
            else:
                merged[key] = value
    for head, tier, leaves in plan:
        if tier == BY_FIELD:
            merged.setdefault(head, [])
        elif not leaves:
            merged.setdefault(head, None)
        elif head not in merged:
            merged[head] = dict.fromkeys(leaves)
        elif isinstance(merged[head], dict):
            section = merged[head]
            for leaf in leaves:
                section.setdefault(leaf, None)
    return merged


def sealed_tiers(event_type: str) -> list[str]:
    """The tiers above public that an event type can carry, from open to closed."""
    found = {tier for tier in FIELD_TIERS.get(event_type, {}).values() if tier not in (PUBLIC, BY_FIELD)}
    if BY_FIELD in FIELD_TIERS.get(event_type, {}).values():
        # Amendments touch the reported data set, whose fields are common or reserved.
        found.update(("common", "reserved"))
    return [t for t in TIERS if t in found]
