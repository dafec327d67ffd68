"""What one caller may see of its jurisdiction's views (services/caller_view.py), as a property
over every organisation and purpose of the sample rules: never more than the views hold, and
personal data only where the organisation's own rules and the family's consent allow it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.access_rules import load
from ledger.vocabulary import PURPOSES
from projections.rows import public_only
from projections.views import CaseRow, ForensicRow, TimelineRow
from services.caller_view import CallerView

RULES = load()
TODAY = date(2026, 11, 28)
COUNTRIES = ("MX", "GT", "HN", "SV")
ORGANISATIONS = sorted(RULES.organisations)
CASE_ID = "00000000-0000-4000-8000-000000000001"
REMAINS_ID = "00000000-0000-4000-8000-000000000002"


class Views:
    """A jurisdiction's views holding one case and one set of remains (a stand-in for the
    SQLite and PostgreSQL views, whose contract tests run on both)."""

    def __init__(self, case: CaseRow, remains: ForensicRow, timeline: list[TimelineRow]) -> None:
        self.case, self.remains, self.entries = case, remains, timeline

    def cases(self) -> list[CaseRow]:
        return [self.case]

    def rows(self, ids: list[str]) -> dict[str, CaseRow]:
        return {CASE_ID: self.case} if CASE_ID in ids else {}

    def timeline(self, aggregate_id: str, until: datetime | None = None) -> list[TimelineRow]:
        return [e for e in self.entries if e.aggregate_id == aggregate_id]

    def timelines(self, ids: list[str]) -> dict[str, list[TimelineRow]]:
        return {i: found for i in ids if (found := self.timeline(i))}

    def forensic(self, aggregate_type: str | None = None) -> list[ForensicRow]:
        return [self.remains]


def entry(aggregate_id: str, aggregate_type: str, origin: str, shown: dict[str, Any]) -> TimelineRow:
    at = datetime(2026, 5, 5, tzinfo=UTC)
    return TimelineRow(
        aggregate_id=aggregate_id,
        version=1,
        aggregate_type=aggregate_type,
        event_type="CaseReported" if aggregate_type == "MissingPersonCase" else "RemainsRecovered",
        origin=origin,
        occurred_at=at,
        recorded_at=at,
        organisation="mx-fiscalia-migrantes",
        role="caseworker",
        purpose="search",
        public=json.dumps({"context": "river", "place": {"country": origin}}),
        shown=json.dumps(shown),
        withheld=("reserved",) if shown else ("common", "reserved"),
    )


def case_row(origin: str, nationalities: tuple[str, ...], consents: tuple[str, ...]) -> CaseRow:
    return CaseRow(
        case_id=CASE_ID,
        origin=origin,
        version=1,
        status="missing",
        reported_at=datetime(2026, 5, 5, tzinfo=UTC),
        sex="female",
        age_band="30-39",
        nationalities=nationalities,
        last_seen_country="MX",
        last_seen_month="2026-05",
        route=None,
        restricted=False,
        given_names="Yesenia",
        first_surname="Cruz",
        second_surname=None,
        last_seen_date=date(2026, 5, 5),
        last_seen_place="Tapachula",
        consents=consents,
    )


@st.composite
def views(draw: st.DrawFn) -> Views:
    origin = draw(st.sampled_from(COUNTRIES))
    case = case_row(
        origin,
        tuple(draw(st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=2, unique=True))),
        tuple(sorted(draw(st.sets(st.sampled_from(PURPOSES))))),
    )
    if draw(st.booleans()):
        case = public_only(case)
    shows_forensic = draw(st.booleans())
    remains = ForensicRow(
        aggregate_id=REMAINS_ID,
        aggregate_type="UnidentifiedRemains",
        origin=origin,
        version=1,
        status="recovered",
        recorded_at=datetime(2026, 6, 1, tzinfo=UTC),
        state=json.dumps(
            {"context": "river", "place": {"country": origin, "place": "Huixtla"}}
            | ({"circumstances": "secret"} if shows_forensic else {})
        ),
        withheld=("reserved",) if shows_forensic else ("reserved", "forensic"),
    )
    named = {} if case.restricted else {"given_names": "Yesenia"}
    return Views(
        case,
        remains,
        [
            entry(CASE_ID, "MissingPersonCase", origin, named),
            entry(REMAINS_ID, "UnidentifiedRemains", origin, {"place": {"place": "Huixtla"}}),
        ],
    )


@settings(max_examples=300, deadline=None)
@given(views(), st.sampled_from(ORGANISATIONS), st.sampled_from([p for p in PURPOSES if p != "statistics"]))
def test_a_caller_sees_personal_data_only_where_its_rules_and_the_consent_allow(
    held: Views, organisation: str, purpose: str
) -> None:
    seen = CallerView(held, RULES, organisation, purpose, today=lambda: TODAY)  # type: ignore[arg-type]
    (row,) = seen.cases()
    allowed = (
        not held.case.restricted
        and purpose in held.case.consents
        and bool(
            RULES.decide_member(
                organisation,
                held.case.origin,
                "common",
                purpose,
                nationalities=held.case.nationalities,
                on=TODAY,
            )
        )
    )
    assert row == (held.case if allowed else public_only(held.case))
    timeline = seen.timeline(CASE_ID)
    assert ("Yesenia" in timeline[0].shown) == allowed
    assert allowed or "common" in timeline[0].withheld

    (remains,) = seen.forensic()
    assert seen.forensic_row(held.remains) == remains, "the case page's single read agrees"
    state = json.loads(remains.state)
    for tier, field in (("common", "Huixtla"), ("forensic", "secret")):
        readable = bool(RULES.decide_member(organisation, held.remains.origin, tier, purpose, on=TODAY))
        if field in held.remains.state and not readable:
            assert field not in remains.state and tier in remains.withheld
    assert state["context"] == "river" and state["place"]["country"] == held.remains.origin
    assert set(held.remains.withheld) <= set(remains.withheld), "never shows what the views withhold"
    if remains == held.remains:
        shown = [t for t in ("common", "reserved", "forensic") if t not in held.remains.withheld]
        assert all(
            RULES.decide_member(organisation, held.remains.origin, t, purpose, on=TODAY) for t in shown
        )


def test_without_network_rules_the_familys_consent_decides_up_to_the_common_tier() -> None:
    case = case_row("MX", ("HN",), ("search",))
    remains = ForensicRow(REMAINS_ID, "UnidentifiedRemains", "MX", 1, "recovered", case.reported_at, "{}", ())
    only = Views(case, remains, [])
    assert CallerView(only, None, "any", "search").cases() == [case]  # type: ignore[arg-type]
    assert CallerView(only, None, "any", "accountability").cases() == [public_only(case)]  # type: ignore[arg-type]
    (listed,) = CallerView(only, None, "any", "search").forensic()  # type: ignore[arg-type]
    assert {"reserved", "forensic"} <= set(listed.withheld), "no rules: never above the common tier"
