"""The case list without q (services/case_search.py): whatever path a listing takes (the index's
sets, kinds of cases read once, pages that stop early), it answers as checking every case in
the list's order would, page by page and in total."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from projections.rows import public_only
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.view_batch import ViewBatch
from projections.views import CaseRow, tracking_at
from services import case_search
from tests.contracts.test_views_contract import TP, row


def cases(count: int) -> list[CaseRow]:
    rng = random.Random(3)
    made = []
    for n in range(1, count + 1):
        made.append(
            dataclasses.replace(
                row(1),
                case_id=f"00000000-0000-4000-8000-{n:012d}",
                reported_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 2000)),
                nationalities=(rng.choice(("GT", "HN", "SV", "MX")),),
                sex=rng.choice(("female", "male")),
                status=rng.choice(("missing", "missing", "closed")),
                origin=rng.choice(("MX", "GT")),
                age_band=rng.choice(("18-29", "30-44")),
                last_seen_date=date(2026, 1, 1) + timedelta(days=rng.randrange(0, 60)),
            )
        )
    return made


def reader(shown: CaseRow) -> CaseRow | None:
    """A caller who may not see Salvadoran cases at all and reads Guatemala's without names."""
    if shown.nationalities == ("SV",):
        return None
    return public_only(shown) if shown.origin == "GT" else shown


def expected(rows: list[CaseRow], search: case_search.CaseSearch) -> list[str]:
    seen = [reader(r) for r in sorted(rows, key=lambda r: (-r.reported_at.timestamp(), r.case_id))]
    return [
        r.case_id
        for r in seen
        if r is not None and case_search._public_match(r, search) and case_search._shown_match(r, search)
    ]


@pytest.mark.parametrize(
    "asked",
    [
        {},
        {"nationality": "GT"},
        {"nationality": "HN", "sex": "female"},
        {"status": "closed", "origin": "MX"},
        {"nationality": "SV"},
        {"sex": "male", "age_band": "30-44"},
        {"last_seen_from": "2026-01-10", "last_seen_to": "2026-02-01"},
        {"reported_from": "2026-02-01", "nationality": "MX"},
        {"nationality": "HN", "sex": "female", "status": "closed", "origin": "MX"},
    ],
)
def test_every_listing_answers_as_checking_every_case(tmp_path: Path, asked: dict[str, str]) -> None:
    views = SQLiteJurisdictionViews(
        tmp_path / "views.sqlite", "MX", MemoryKeyStore(MasterKey(new_data_key()))
    )
    rows = cases(120)
    views.apply(ViewBatch(rows, [tracking_at(TP, 1)]))
    want = expected(rows, case_search.parse(asked))
    for limit in ("7", "500"):
        got: list[str] = []
        cursor: str | None = None
        for _ in range(40):
            page = case_search.find(
                views, reader, case_search.parse({**asked, "limit": limit, "cursor": cursor})
            )
            assert page.total == len(want)
            got += [f.row.case_id for f in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert got == want
    views.close()


@pytest.mark.parametrize("asked", [{"q": "María López"}, {"q": "Ma. Jose Lopes", "nationality": "HN"}])
def test_pages_of_a_search_follow_its_whole_ranking(tmp_path: Path, asked: dict[str, str]) -> None:
    views = SQLiteJurisdictionViews(
        tmp_path / "views.sqlite", "MX", MemoryKeyStore(MasterKey(new_data_key()))
    )
    rows = cases(120)
    rows[5] = dataclasses.replace(rows[5], given_names="María", second_surname=None)  # a better match
    views.apply(ViewBatch(rows, [tracking_at(TP, 1)]))
    whole = case_search.find(views, reader, case_search.parse({**asked, "limit": "500"}))
    named = [r.case_id for r in rows if (s := reader(r)) is not None and not s.restricted]
    assert whole.next_cursor is None and whole.total == len(whole.items) > 0
    assert {f.row.case_id for f in whole.items} <= set(named), "no case found by a name it may not read"
    scores = [f.score or 0 for f in whole.items]
    assert scores == sorted(scores, reverse=True)
    got: list[str] = []
    cursor: str | None = None
    for _ in range(40):
        page = case_search.find(views, reader, case_search.parse({**asked, "limit": "7", "cursor": cursor}))
        assert page.total == whole.total
        got += [f.row.case_id for f in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert got == [f.row.case_id for f in whole.items]
    views.close()


def test_the_list_keeps_its_order_as_cases_come_change_and_go(tmp_path: Path) -> None:
    views = SQLiteJurisdictionViews(
        tmp_path / "views.sqlite", "MX", MemoryKeyStore(MasterKey(new_data_key()))
    )
    rows = cases(150)
    views.apply(ViewBatch(rows[:100], [tracking_at(TP, 1)]))
    search = case_search.parse({"limit": "500"})
    assert [f.row.case_id for f in case_search.find(views, reader, search).items] == expected(
        rows[:100], search
    )
    changed = [public_only(dataclasses.replace(r, version=2)) for r in rows[10:15]]
    views.apply(ViewBatch([*rows[100:], *changed], [tracking_at(TP, 2)]))  # this process's own write
    views.apply(ViewBatch([], [tracking_at(TP, 3)], {}, [rows[20].case_id]))  # an erasure
    now = [*rows[:10], *changed, *rows[15:20], public_only(rows[20]), *rows[21:]]
    for asked in ({"limit": "500"}, {"nationality": "HN", "limit": "500"}, {"sex": "male", "limit": "3"}):
        search = case_search.parse(asked)
        page = case_search.find(views, reader, search)
        assert page.total == len(expected(now, search))
        assert [f.row.case_id for f in page.items] == expected(now, search)[: search.limit]
    views.close()


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ({"reported_from": "2026-11-20"}, True),  # reported on the 30th: its month meets the day
        ({"reported_to": "2026-11-01"}, True),
        ({"reported_from": "2026-11-30", "reported_to": "2026-11-30"}, True),
        ({"reported_to": "2026-10-31"}, False),
        ({"reported_from": "2026-12-01"}, False),
    ],
)
def test_the_reported_filters_read_the_month_the_public_envelope_says(
    asked: dict[str, str], found: bool
) -> None:
    """Envelope v2 tells only the month a case was reported (its views row keeps the month's
    first instant): a case answers a date filter when its month meets it."""
    month = dataclasses.replace(row(1), reported_at=datetime(2026, 11, 1, tzinfo=UTC))
    assert case_search._shown_match(month, case_search.parse(asked)) is found
