"""Every field of every event has a tier, in one place, and the tiers agree with the schemas
and with the domain events."""

from __future__ import annotations

import inspect
from datetime import date
from typing import Any

import pytest

from ledger.audit import ReadLog
from ledger.case import MissingPersonCase
from ledger.events import ENVELOPE_KEYS
from ledger.match import Match
from ledger.remains import UnidentifiedRemains
from ledger.sample import Sample
from ledger.tiers import BY_FIELD, FIELD_TIERS, TIERS, UnknownField, amendment_tier, is_minor, tier_of
from topics.avro import SchemaRegistry

REGISTRY = SchemaRegistry()
SHARED = {"Actor", "Envelope", "KeyGrant"}
# Sealed tier records (<Event>_<tier>, topics/sealed_schemas.py) are checked in test_sealed_schemas.
EVENT_TYPES = sorted(n for n in set(REGISTRY.names()) - SHARED if "_" not in n)


def leaf_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Fields of a record, descending into (non-null) nested records; anything else is a leaf."""
    paths: set[str] = set()
    for field in schema["fields"]:
        path = f"{prefix}{field['name']}"
        kind = field["type"]
        if isinstance(kind, dict) and kind.get("type") == "record":
            paths |= leaf_paths(kind, f"{path}.")
        else:
            paths.add(path)
    return paths


def domain_event_classes() -> dict[str, type]:
    found = {}
    for aggregate in (MissingPersonCase, UnidentifiedRemains, Sample, Match, ReadLog):
        for name, member in vars(aggregate).items():
            if inspect.isclass(member) and name in FIELD_TIERS:
                found[name] = member
    return found


def test_every_event_schema_has_tiers_and_nothing_else_does() -> None:
    assert sorted(FIELD_TIERS) == EVENT_TYPES


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_field_of_the_newest_schema_has_exactly_one_tier(event_type: str) -> None:
    schema = REGISTRY.latest_plain(event_type).schema
    body = {"fields": [f for f in schema["fields"] if f["name"] != "meta"]}
    assert leaf_paths(body) == set(FIELD_TIERS[event_type])
    assert set(FIELD_TIERS[event_type].values()) <= {*TIERS, BY_FIELD}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_domain_events_carry_exactly_the_schema_fields(event_type: str) -> None:
    event_class = domain_event_classes()[event_type]
    attributes = set(inspect.signature(event_class).parameters) - {
        "self",
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "origin",
        *ENVELOPE_KEYS,
    }
    top_level = {f["name"] for f in REGISTRY.latest_plain(event_type).schema["fields"]} - {"meta"}
    assert attributes == top_level


def test_minors_have_common_fields_raised_to_reserved() -> None:
    assert tier_of("CaseReported", "person.given_names") == "common"
    assert tier_of("CaseReported", "person.given_names", minor=True) == "reserved"
    assert tier_of("CaseReported", "person.photo", minor=True) == "reserved"
    assert tier_of("CaseReported", "person.sex", minor=True) == "public"
    assert tier_of("CaseReported", "family_contacts", minor=True) == "reserved"
    assert tier_of("ProfileRecorded", "profile", minor=True) == "genetic"


def test_a_field_without_a_tier_is_refused() -> None:
    with pytest.raises(UnknownField, match=r"CaseReported\.person\.shoe_size"):
        tier_of("CaseReported", "person.shoe_size")


def test_an_amendment_takes_the_highest_tier_of_the_fields_it_changes() -> None:
    assert amendment_tier(["person.given_names"]) == "common"
    assert amendment_tier(["person.given_names", "circumstances"]) == "reserved"
    assert amendment_tier(["person.given_names"], minor=True) == "reserved"


@pytest.mark.parametrize(
    ("person", "last_seen", "minor"),
    [
        ({"date_of_birth": date(2010, 6, 1)}, {"date": date(2026, 5, 31)}, True),
        ({"date_of_birth": date(2008, 6, 1)}, {"date": date(2026, 6, 1)}, False),
        ({"date_of_birth": date(2008, 6, 2)}, {"date": date(2026, 6, 1)}, True),
        (
            {"date_of_birth": None, "age_range": {"minimum": 14, "maximum": 17}},
            {"date": date(2026, 1, 1)},
            True,
        ),
        (
            {"date_of_birth": None, "age_range": {"minimum": 16, "maximum": 20}},
            {"date": date(2026, 1, 1)},
            False,
        ),
        ({"date_of_birth": None, "age_range": None}, {"date": date(2026, 1, 1)}, True),
    ],
)
def test_who_counts_as_a_minor(person: dict[str, Any], last_seen: dict[str, Any], minor: bool) -> None:
    assert is_minor(person, last_seen) is minor


def test_the_projections_know_every_creation_event() -> None:
    from eventsourcing.domain import Aggregate

    from topics.mapping import CREATION_EVENTS

    created = {
        name
        for aggregate in (MissingPersonCase, UnidentifiedRemains, Sample, Match, ReadLog)
        for name, member in vars(aggregate).items()
        if inspect.isclass(member) and issubclass(member, Aggregate.Created) and name != "Created"
    }
    assert created == CREATION_EVENTS
