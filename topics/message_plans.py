"""What the relay's stored-message path asks a schema registry for each event type, asked
once: the relay built the same answers for every event (whether the schema is sealed, whether
its envelope is, the plain schema's field names, each tier's writer version), a tenth of its
encoding time. The registry's schemas never change once loaded, so a type's plan is kept for
as long as its registry lives.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from ledger.tier_split import PUBLIC
from ledger.tiers import FIELD_TIERS
from topics.avro import SchemaRegistry, SchemaVersion
from topics.mapping import ENVELOPE_ATTRIBUTES, seals_envelope

__all__ = ["MessagePlan", "plan_for", "tiered_attributes"]


@dataclass(frozen=True)
class MessagePlan:
    """One event type's schema facts, as the relay's stored-message path uses them."""

    latest: SchemaVersion
    sealed: bool
    seals_envelope: bool
    # (field name, whether the field is public): the plain schema's body fields, in order
    fields: tuple[tuple[str, bool], ...]
    tier_versions: dict[str, int]  # tier -> the version its sealed record is written with today

    def tier_version(self, registry: SchemaRegistry, tier: str) -> int:
        found = self.tier_versions.get(tier)
        if found is None:
            found = self.tier_versions[tier] = registry.latest(f"{self.latest.name}_{tier}").version
        return found


_PLANS: weakref.WeakKeyDictionary[SchemaRegistry, dict[str, MessagePlan]] = weakref.WeakKeyDictionary()
_TIERED: dict[str, frozenset[str]] = {}


def plan_for(registry: SchemaRegistry, event_type: str) -> MessagePlan:
    plans = _PLANS.setdefault(registry, {})
    found = plans.get(event_type)
    if found is None:
        found = plans[event_type] = _plan(registry, event_type)
    return found


def _plan(registry: SchemaRegistry, event_type: str) -> MessagePlan:
    latest = registry.latest(event_type)
    tagged = FIELD_TIERS.get(event_type, {})
    fields = tuple(
        (name, tagged.get(name, PUBLIC) == PUBLIC)
        for name in (f["name"] for f in registry.latest_plain(event_type).schema["fields"])
        if name != "meta" and name not in ENVELOPE_ATTRIBUTES
    )
    return MessagePlan(latest, latest.sealed, seals_envelope(latest), fields, {})


def tiered_attributes(event_type: str) -> frozenset[str]:
    """The event's attributes that its tiers hold (all or part of): the top-level names of
    its tagged fields."""
    found = _TIERED.get(event_type)
    if found is None:
        found = _TIERED[event_type] = frozenset(
            path.partition(".")[0] for path in FIELD_TIERS.get(event_type, {})
        )
    return found
