"""What one caller may see of its jurisdiction's views (services/caller_view.py), as a property
over every organisation and purpose of the sample rules: never more than the views hold, and
personal data only where the organisation's own rules and the family's consent allow it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import example, given, settings
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

    def __init__(
        self, case: CaseRow, remains: ForensicRow, timeline: list[TimelineRow], linked: bool = False
    ) -> None:
        self.case, self.remains, self.entries, self.linked = case, remains, timeline, linked

    def linked_cases(self, ids: list[str]) -> dict[str, set[str]]:
        return {REMAINS_ID: {CASE_ID}} if self.linked and REMAINS_ID in ids else {}

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
    at = datetime(2026, 5, 5, 10, 30, tzinfo=UTC)
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
        minor=False,
    )


@st.composite
def views(draw: st.DrawFn) -> Views:
    origin = draw(st.sampled_from(COUNTRIES))
    case = case_row(
        origin,
        tuple(draw(st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=2, unique=True))),
        tuple(sorted(draw(st.sets(st.sampled_from(PURPOSES))))),
    )
    case = replace(case, minor=draw(st.booleans()))
    if case.minor or draw(st.booleans()):
        case = public_only(case)  # the views hold no minor's name
    return held_views(case, shows_forensic=draw(st.booleans()), linked=draw(st.booleans()))


def held_views(case: CaseRow, *, shows_forensic: bool, linked: bool) -> Views:
    """The case, remains of its origin and their timelines; linked: matched to the case, or
    identified as the person."""
    origin = case.origin
    remains = ForensicRow(
        aggregate_id=REMAINS_ID,
        aggregate_type="UnidentifiedRemains",
        origin=origin,
        version=1,
        status="recovered",
        recorded_at=datetime(2026, 6, 3, 14, 5, tzinfo=UTC),
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
        linked=linked,
    )


# Found by the property: a mandate declared in the rules stands in for consent (a case without
# any consent, read for accountability by the mechanism that holds that mandate).
MANDATED = held_views(case_row("MX", ("MX",), ()), shows_forensic=True, linked=True)


@example(MANDATED, "mx-mecanismo-externo", "accountability")
@settings(max_examples=300, deadline=None)
@given(views(), st.sampled_from(ORGANISATIONS), st.sampled_from([p for p in PURPOSES if p != "statistics"]))
def test_a_caller_sees_personal_data_only_where_its_rules_and_the_consent_allow(
    held: Views, organisation: str, purpose: str
) -> None:
    seen = CallerView(held, RULES, organisation, purpose, today=lambda: TODAY)  # type: ignore[arg-type]

    def may(origin: str, tier: str, nationalities: tuple[str, ...] = (), minor: bool = False) -> bool:
        return bool(
            RULES.decide_member(
                organisation, origin, tier, purpose, nationalities=nationalities, minor=minor, on=TODAY
            )
        )

    # A legal mandate declared in the rules (the Mexican external support mechanism reading for
    # accountability) stands in for the family's consent: such reads are recorded elsewhere.
    consented = purpose in held.case.consents or RULES.mandate(organisation, purpose) is not None
    case = held.case
    if not may(case.origin, "public", case.nationalities):
        assert seen.cases() == [] and seen.timeline(CASE_ID) == [], "no public tier: not even listed"
    else:
        (row,) = seen.cases()
        allowed = not case.restricted and consented and may(case.origin, "common", case.nationalities)
        coarse = replace(public_only(case), reported_at=datetime(2026, 5, 1, tzinfo=UTC))
        assert row == (case if allowed else coarse), "shown whole, or its public tier and month"
        timeline = seen.timeline(CASE_ID)
        assert ("Yesenia" in timeline[0].shown) == allowed
        assert allowed or ("common" in timeline[0].withheld and timeline[0].occurred_at.day == 1)

    remains_origin = held.remains.origin
    if not may(remains_origin, "public"):
        assert seen.forensic() == [] and seen.timeline(REMAINS_ID) == []
        return
    (remains,) = seen.forensic()
    assert seen.forensic_row(held.remains) == remains, "the case page's single read agrees"

    def case_allows(tier: str) -> bool:
        """What the linked case lets this caller read: its consent, the agreements, the minor rule."""
        return not held.linked or (consented and may(case.origin, tier, case.nationalities, case.minor))

    state = json.loads(remains.state)
    for tier, field in (("common", "Huixtla"), ("forensic", "secret")):
        readable = may(remains_origin, tier) and case_allows(tier)
        if field in held.remains.state and not readable:
            assert field not in remains.state and tier in remains.withheld
    assert state["context"] == "river" and state["place"]["country"] == remains_origin
    assert set(held.remains.withheld) <= set(remains.withheld), "never shows what the views withhold"
    if remains.state == held.remains.state:
        shown = [t for t in ("common", "reserved", "forensic") if t not in held.remains.withheld]
        assert all(may(remains_origin, t) and case_allows(t) for t in shown)
    exact = may(remains_origin, "common") and case_allows("common")
    assert (remains.recorded_at == held.remains.recorded_at) == exact, "coarse unless common is readable"
    (recovered,) = seen.timeline(REMAINS_ID)
    assert ("Huixtla" in recovered.shown) == exact and (recovered.occurred_at.day == 1) != exact


def test_without_network_rules_the_familys_consent_decides_up_to_the_common_tier() -> None:
    case = case_row("MX", ("HN",), ("search",))
    remains = ForensicRow(REMAINS_ID, "UnidentifiedRemains", "MX", 1, "recovered", case.reported_at, "{}", ())
    only = Views(case, remains, [])
    assert CallerView(only, None, "any", "search").cases() == [case]  # type: ignore[arg-type]
    listed = replace(public_only(case), reported_at=datetime(2026, 5, 1, tzinfo=UTC))  # its month
    assert CallerView(only, None, "any", "accountability").cases() == [listed]  # type: ignore[arg-type]
    (listed,) = CallerView(only, None, "any", "search").forensic()  # type: ignore[arg-type]
    assert {"reserved", "forensic"} <= set(listed.withheld), "no rules: never above the common tier"
