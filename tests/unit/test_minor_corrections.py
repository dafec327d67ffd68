"""A family's correction that makes the person a minor, across the network: the origin seals it
away from the nodes whose agreements exclude minors, and those nodes' views, which cannot open
it, keep the case's public tier only. Odd values of a corrected date count as the stricter case
instead of stalling the views or a consulate's feed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import AmendData
from projections.access import OwnCasesOnly
from projections.feed_items import CaseContext
from projections.rows import RowMaker, public_only
from projections.sqlite_views import SQLiteJurisdictionViews
from services.caller_view import CallerView
from services.demo import Network, network
from tests.factories import FAMILY, ctx, report
from tests.unit.test_caller_view import case_row

RULES = load_rules(SAMPLE_POLICY)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    logging.disable(logging.WARNING)  # grant warnings for organisations without keys
    built = network(tmp_path)
    yield built
    built.close()
    logging.disable(logging.NOTSET)


def test_another_countrys_views_drop_the_name_of_a_person_corrected_to_a_minor(net: Network) -> None:
    mx, gt = net.nodes["MX"], net.nodes["GT"]
    case_id = mx.ledger.report_missing_person(
        report(given_names="Yesenia", nationalities=("HN",), consented_purposes=("search",))
    )
    net.sync()
    listed = CallerView(gt.views("GT"), RULES, "gt-inacif", "search").cases()
    assert [r.given_names for r in listed if r.case_id == str(case_id)] == ["Yesenia"]
    mx.ledger.amend_data(
        AmendData(
            **ctx(FAMILY, "family_support"),
            case_id=case_id,
            changes={"person.date_of_birth": "2012-01-01"},
            reason="the birth certificate",
        )
    )
    net.sync()
    for views in (mx.views("MX"), gt.views("GT")):
        row = views.rows([str(case_id)])[str(case_id)]
        assert row.restricted and row.given_names is None, views.jurisdiction
        assert all(e.shown == "{}" for e in views.timeline(str(case_id))), "the timeline forgets too"
    gt.projector("GT").rebuild()
    assert gt.views("GT").rows([str(case_id)])[str(case_id)].given_names is None


@pytest.mark.parametrize(
    "change",
    [
        {"field": "person.date_of_birth", "value": '"01/02/2012"'},
        {"field": "person.date_of_birth", "value": "20120101x"},
        {"field": "person.date_of_birth", "value": "5"},
        {"field": "person.date_of_birth"},
    ],
)
def test_an_odd_corrected_date_counts_as_a_possible_minor(change: dict[str, Any]) -> None:
    row = case_row("MX", ("HN",), ("search",))
    maker = RowMaker("MX", OwnCasesOnly())
    assert maker.amended(row, 2, [change]) == public_only(replace(row, version=2, age_band=None, minor=True))
    context = CaseContext(("HN",), False, {"search"})
    context.amended([change])
    assert context.minor


def test_timelines_are_read_in_chunks_within_sqlites_limits(tmp_path: Path) -> None:
    views = SQLiteJurisdictionViews(tmp_path / "views.sqlite", "MX")
    try:
        many = [str(uuid.UUID(int=n)) for n in range(300_000)]  # over 32,766, and Debian's 250,000
        assert views.timelines(many) == {}
    finally:
        views.close()
