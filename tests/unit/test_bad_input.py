"""Every invalid value in every kind of command is refused with an error naming the field,
and nothing is written."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from ledger.application import CaseLedger
from ledger.commands import (
    AddComprehensiveData,
    AmendData,
    CloseCase,
    GrantConsent,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordSighting,
)
from ledger.errors import InvalidField
from ledger.forensic_commands import (
    ProposeMatch,
    RecordPostMortem,
    RecordRemainsRecovered,
    ReviewMatch,
    TakeSample,
)
from ledger.values import AgeRange, Coordinates, FamilyContact, IdDocument, PhotoReference, Place
from tests.factories import FORENSIC, ctx, report

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


@pytest.fixture
def case_id(ledger: CaseLedger) -> UUID:
    return ledger.report_missing_person(
        report(consented_purposes=("search", "forensic_identification", "family_support"))
    )


REPORTS = [
    ({"date_of_birth": None, "age_range": AgeRange(30, 20)}, "age_range", "after its end"),
    ({"date_of_birth": None, "age_range": AgeRange(-1, 20)}, "age_range.minimum", "outside 0–120"),
    ({"date_of_birth": None, "age_range": AgeRange(10, 200)}, "age_range.maximum", "outside 0–120"),
    ({"age_range": AgeRange(20, 30)}, "age_range", "not both"),
    ({"last_seen_coordinates": Coordinates(91.0, 0.0)}, "last_seen_coordinates.latitude", "off the globe"),
    ({"last_seen_coordinates": Coordinates(0.0, -180.5)}, "last_seen_coordinates.longitude", "off the globe"),
    ({"last_seen_coordinates": Coordinates(math.nan, 0.0)}, "last_seen_coordinates.latitude", "a number"),
    ({"photo": PhotoReference("abc", "s3://photos/1")}, "photo.sha256", "SHA-256"),
    ({"photo": PhotoReference("a" * 64, "")}, "photo.location", "must not be empty"),
    (
        {"id_documents": (IdDocument("passport", "X1", "XX"),)},
        "id_documents[0].issuing_country",
        "not a known",
    ),
    ({"id_documents": (IdDocument("tattoo", "X1", "HN"),)}, "id_documents[0].kind", "is not one of"),
    ({"family_contacts": (FamilyContact("Rosa", "mother"),)}, "family_contacts[0]", "needs a phone"),
    (
        {"family_contacts": (FamilyContact("", "mother", phone="1"),)},
        "family_contacts[0].name",
        "must not be empty",
    ),
    (
        {"family_contacts": (FamilyContact("Rosa", "mother", email="rosa"),)},
        "family_contacts[0].email",
        "e-mail",
    ),
    ({"source_reliability": "certain"}, "source_reliability", "is not one of"),
    ({"consented_purposes": ("search", "marketing")}, "consented_purposes[1]", "is not one of"),
    ({"occurred_at": datetime(2026, 7, 1, tzinfo=UTC)}, "occurred_at", "in the future"),
    ({"expected_version": "one"}, "expected_version", "whole number"),
]


@pytest.mark.parametrize(("changes", "field", "problem"), REPORTS)
def test_bad_report_values(ledger: CaseLedger, changes: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(**changes))
    assert (refused.value.field, problem in refused.value.problem) == (field, True)
    assert ledger.recorder.max_notification_id() is None


def case_commands(case_id: UUID) -> list[tuple[Any, str, Any, str, str]]:
    """(handler name, command factory, field, problem) for commands on an existing case."""
    return [
        (
            "record_sighting",
            lambda: RecordSighting(
                **ctx(), case_id=case_id, seen_on="2026-07-01", place=Place("MX"), source="witness"
            ),
            "seen_on",
            "future",
        ),
        (
            "record_sighting",
            lambda: RecordSighting(
                **ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("ZZ"), source="witness"
            ),
            "place.country",
            "not a known",
        ),
        (
            "record_sighting",
            lambda: RecordSighting(
                **ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="rumour"
            ),
            "source",
            "is not one of",
        ),
        (
            "add_comprehensive_data",
            lambda: AddComprehensiveData(**ctx(), case_id=case_id),
            "dental",
            "at least one",
        ),
        (
            "amend_data",
            lambda: AmendData(**ctx(), case_id=case_id, changes={}, reason="x"),
            "changes",
            "at least one",
        ),
        (
            "amend_data",
            lambda: AmendData(**ctx(), case_id=case_id, changes={"person.given_names": ""}, reason="x"),
            "changes.person.given_names",
            "must not be empty",
        ),
        (
            "grant_consent",
            lambda: GrantConsent(**ctx(), case_id=case_id, consent_purpose="sale", given_by="x"),
            "consent_purpose",
            "is not one of",
        ),
        (
            "record_person_located_alive",
            lambda: RecordPersonLocatedAlive(
                **ctx(),
                case_id=case_id,
                located_on="2026-05-01",
                place=Place("MX"),
                whereabouts_may_be_shared="yes",
            ),
            "whereabouts_may_be_shared",
            "true or false",
        ),
        (
            "notify_family",
            lambda: NotifyFamily(**ctx(), case_id=case_id, means="pigeon"),
            "means",
            "is not one of",
        ),
        (
            "close_case",
            lambda: CloseCase(**ctx(), case_id=case_id, reason="bored"),
            "reason",
            "is not one of",
        ),
    ]


@pytest.mark.parametrize("index", range(10))
def test_bad_case_command_values(ledger: CaseLedger, case_id: UUID, index: int) -> None:
    handler, make, field, problem = case_commands(case_id)[index]
    with pytest.raises(InvalidField) as refused:
        getattr(ledger, handler)(make())
    assert refused.value.field == field and problem in refused.value.problem
    assert ledger.recorder.max_notification_id() == 1


def forensic_commands(case_id: UUID) -> list[tuple[str, Any, str, str]]:
    remains = UUID(int=1)
    return [
        (
            "record_remains_recovered",
            lambda: RecordRemainsRecovered(
                **ctx(FORENSIC), recovered_on="2026-04-01", place=Place("MX"), context="volcano"
            ),
            "context",
            "not one of",
        ),
        (
            "record_remains_recovered",
            lambda: RecordRemainsRecovered(
                **ctx(FORENSIC),
                recovered_on="2026-04-01",
                place=Place("MX", coordinates=Coordinates(0, 200)),
                context="desert",
            ),
            "place.coordinates.longitude",
            "off the globe",
        ),
        (
            "record_post_mortem",
            lambda: RecordPostMortem(
                **ctx(FORENSIC), remains_id=remains, sex="male", condition="partial", stature_cm=(180, 150)
            ),
            "stature_cm",
            "after its end",
        ),
        (
            "record_post_mortem",
            lambda: RecordPostMortem(**ctx(FORENSIC), remains_id=remains, sex="male", condition="mummy"),
            "condition",
            "not one of",
        ),
        (
            "take_sample",
            lambda: TakeSample(**ctx(FORENSIC), taken_on="2026-04-01", sample_type="blood", holder="Lab"),
            "case_id",
            "relative (case_id) or from remains",
        ),
        (
            "take_sample",
            lambda: TakeSample(
                **ctx(FORENSIC), taken_on="2026-04-01", sample_type="blood", holder="Lab", case_id=case_id
            ),
            "donor_relationship",
            "is required",
        ),
        (
            "take_sample",
            lambda: TakeSample(
                **ctx(FORENSIC), taken_on="2026-04-01", sample_type="saliva", holder="Lab", remains_id=remains
            ),
            "sample_type",
            "not one of",
        ),
        (
            "propose_match",
            lambda: ProposeMatch(
                **ctx(FORENSIC), case_id=case_id, remains_id=remains, basis="dna", score=1.5
            ),
            "score",
            "outside 0–1",
        ),
        (
            "propose_match",
            lambda: ProposeMatch(
                **ctx(FORENSIC), case_id=case_id, remains_id=remains, basis="dna", score=math.inf
            ),
            "score",
            "a number",
        ),
        (
            "review_match",
            lambda: ReviewMatch(**ctx(FORENSIC), match_id=remains, outcome="maybe"),
            "outcome",
            "not one of",
        ),
    ]


@pytest.mark.parametrize("index", range(10))
def test_bad_forensic_command_values(ledger: CaseLedger, case_id: UUID, index: int) -> None:
    handler, make, field, problem = forensic_commands(case_id)[index]
    with pytest.raises(InvalidField) as refused:
        getattr(ledger, handler)(make())
    assert refused.value.field == field and problem in refused.value.problem
    assert ledger.recorder.max_notification_id() == 1
