"""A bad report is refused with an error naming the field, and nothing is written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ledger.application import CaseLedger
from ledger.errors import InvalidField
from tests.factories import report

TODAY = date(2026, 6, 1)


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger(
        "MX",
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        clock=lambda: datetime(2026, 6, 1, 12, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"given_names": None}, "given_names", "is required"),
        ({"given_names": "   "}, "given_names", "must not be empty"),
        ({"first_surname": ""}, "first_surname", "must not be empty"),
        ({"sex": None}, "sex", "is not one of"),
        ({"sex": "M"}, "sex", "is not one of"),
        ({"nationalities": ()}, "nationalities", "needs at least 1"),
        ({"nationalities": ("HN", "XX")}, "nationalities[1]", "not a known ISO 3166-1"),
        ({"nationalities": ("Honduras",)}, "nationalities[0]", "not an ISO 3166-1 alpha-2"),
        ({"last_seen_country": "QQ"}, "last_seen_country", "not a known ISO 3166-1"),
        ({"last_seen_country": None}, "last_seen_country", "is required"),
        ({"last_seen_date": None}, "last_seen_date", "is required"),
        ({"last_seen_date": "2026-13-01"}, "last_seen_date", "is not a date"),
        ({"last_seen_date": (TODAY + timedelta(days=1)).isoformat()}, "last_seen_date", "in the future"),
        ({"date_of_birth": (TODAY + timedelta(days=1)).isoformat()}, "date_of_birth", "in the future"),
        (
            {"date_of_birth": "2026-05-01", "last_seen_date": "2026-04-01"},
            "last_seen_date",
            "before the date of birth",
        ),
        ({"source": "rumour"}, "source", "is not one of"),
        ({"purpose": "marketing"}, "purpose", "is not one of"),
        ({"command_id": ""}, "command_id", "must not be empty"),
        ({"aliases": ("Majo", "")}, "aliases[1]", "must not be empty"),
        ({"circumstances": "x" * 4001}, "circumstances", "at most 4000"),
        ({"extra": {"favourite_colour": "blue"}}, "favourite_colour", "is not a field"),
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at", "time zone"),
    ],
)
def test_bad_report_is_refused_naming_the_field(
    ledger: CaseLedger, changes: dict[str, object], field: str, problem: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(**changes))
    assert refused.value.field == field
    assert problem in refused.value.problem
    assert str(refused.value).startswith(f"{field}: ")
    assert ledger.recorder.max_notification_id() is None, "nothing may be written"


def test_a_refused_report_leaves_earlier_cases_untouched(ledger: CaseLedger) -> None:
    first = ledger.report_missing_person(report())
    with pytest.raises(InvalidField):
        ledger.report_missing_person(report(last_seen_country="ZZ"))
    assert ledger.recorder.max_notification_id() == 1
    assert ledger.get_case(first).person["given_names"] == "María José"


def test_names_are_kept_exactly_as_entered(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(
        report(given_names="José Ángel", first_surname="Núñez", aliases=("chepe", "JOSÉ"))
    )
    person = ledger.get_case(case_id).person
    assert (person["given_names"], person["first_surname"]) == ("José Ángel", "Núñez")
    assert person["aliases"] == ["chepe", "JOSÉ"]


def test_country_codes_are_normalised_to_upper_case(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(report(nationalities=("gt", "GT", "mx"), last_seen_country="mx"))
    case = ledger.get_case(case_id)
    assert case.person["nationalities"] == ["GT", "MX"]
    assert case.last_seen["country"] == "MX"


def test_a_retried_command_records_one_case(ledger: CaseLedger) -> None:
    command = report()
    assert ledger.report_missing_person(command) == ledger.report_missing_person(command)
    assert ledger.recorder.max_notification_id() == 1


def test_a_new_case_is_missing_never_presumed_dead(ledger: CaseLedger) -> None:
    case = ledger.get_case(ledger.report_missing_person(report()))
    assert case.status.value == "missing"
