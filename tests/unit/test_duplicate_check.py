"""The at-report duplicate check (projections/duplicate_check.py): the same scores and
explanations as Splink with the shipped model, and a blocking index that finds the spellings
of one name and follows the views."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from bench.corpus import generate
from bench.linkage import as_features
from projections.duplicate_check import DuplicateIndex, row_features, score
from projections.duplicates import features, find_duplicates
from projections.views import CaseRow
from services.candidates import Candidates

SEEN = {"date": "2026-02-03", "country": "MX"}


def record(record_id: str, given: str, first: str, second: str | None) -> dict[str, Any]:
    person = {"given_names": given, "first_surname": first, "second_surname": second, "sex": "male"}
    return features(record_id, {**person, "nationalities": ["GT"]}, SEEN)


def test_it_scores_and_explains_every_pair_as_splink_does() -> None:
    rows = [as_features(r) for r in generate(800, seed=31).reports]
    by_id = {r["unique_id"]: r for r in rows}
    found = find_duplicates(rows)
    assert len(found) > 500
    for splink in found:
        ours = score(by_id[splink.left], by_id[splink.right])
        assert abs(ours.score - splink.score) < 1e-9, (splink, ours)
        assert [(e.field, e.comparison) for e in ours.explanation] == [
            (e.field, e.comparison) for e in splink.explanation
        ]
        assert all(
            abs(a.weight - b.weight) < 1e-9 for a, b in zip(ours.explanation, splink.explanation, strict=True)
        )


def test_the_index_finds_the_spellings_of_one_name_and_not_a_stranger() -> None:
    index = DuplicateIndex()
    for version, (case_id, names) in enumerate(
        {
            "swapped": ("José", "Tzul", "Xicará"),
            "nickname": ("Chepe", "Xicara", "Tzul"),
            "unaccented": ("Jose", "Xicara", None),
            "stranger": ("Byron", "Coc", "Batz"),
        }.items()
    ):
        index.put(case_id, version, record(case_id, *names))
    subject = record("new", "José", "Xicará", "Tzul")
    assert index.candidates(subject) == {"swapped", "nickname", "unaccented"}
    index.discard("nickname")
    assert index.candidates(subject) == {"swapped", "unaccented"}


class Views:
    """The two reads a refresh makes of a jurisdiction's views."""

    def __init__(self, rows: list[CaseRow]) -> None:
        self.held = {r.case_id: r for r in rows}

    def all_chain_heads(self) -> dict[str, tuple[int, bytes]]:
        return {i: (r.version, b"") for i, r in self.held.items()}

    def rows(self, ids: list[str]) -> dict[str, CaseRow]:
        return {i: self.held[i] for i in ids if i in self.held}


def row(case_id: str, given: str | None, version: int = 1) -> CaseRow:
    return CaseRow(
        case_id=case_id,
        origin="MX",
        version=version,
        status="missing",
        reported_at=datetime(2026, 2, 4, tzinfo=UTC),
        sex="male",
        age_band="30-44",
        nationalities=("GT",),
        last_seen_country="MX",
        last_seen_month="2026-02",
        route=None,
        restricted=given is None,
        given_names=given,
        first_surname="Xicará" if given else None,
        second_surname="Tzul" if given else None,
        last_seen_date=date(2026, 2, 3) if given else None,
    )


def test_a_refresh_follows_amendments_erasures_and_new_cases() -> None:
    views = Views([row("a", "José"), row("b", "José")])
    index = DuplicateIndex()
    index.put_rows(views.held.values())
    subject = row_features(row("new", "José"))
    assert subject is not None and index.candidates(subject) == {"a", "b"}
    views.held["a"] = replace(row("a", "Byron", 2), first_surname="Coc", second_surname=None)  # amended
    views.held["b"] = replace(row("b", None), version=3)  # erased: nothing above public
    views.held["c"] = row("c", "Chepe")  # reported at another node meanwhile
    Candidates.refresh(index, views)  # type: ignore[arg-type]
    assert index.candidates(subject) == {"c"}
    assert index.versions == {"a": 2, "b": 3, "c": 1}
