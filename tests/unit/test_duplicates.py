"""Probable duplicate reports found by Splink with the region's names, each explained."""

from __future__ import annotations

import pytest

from bench.corpus import generate
from bench.linkage import as_features, naive, quality
from projections.duplicates import features, find_duplicates


def person(given: str, first: str, second: str | None, born: str | None, **more: object) -> dict:
    return {
        "given_names": given,
        "first_surname": first,
        "second_surname": second,
        "sex": more.get("sex", "female"),
        "date_of_birth": born,
        "age_range": more.get("age_range"),
        "nationalities": ["HN"],
        "origin": more.get("origin"),
    }


SEEN = {"date": "2026-02-03", "country": "MX"}
AGED_33_TO_38 = {"minimum": 33, "maximum": 38}


def test_three_spellings_of_one_woman_are_found_and_a_stranger_is_not() -> None:
    records = [
        features("a", person("María José", "Pérez", "Gutiérrez", "1990-04-02"), SEEN),
        features("b", person("Maria Jose", "Perez", "Gutierrez", "1990-04-02"), SEEN),
        features(
            "c",
            person("Ma. José", "Gutiérrez", "Pérez", None, age_range={"minimum": 33, "maximum": 38}),
            SEEN,
        ),
        features("d", person("Rosa", "Pérez", "Gutiérrez", "1972-11-30"), SEEN),  # her aunt, say
    ]
    found = {(c.left, c.right): c for c in find_duplicates(records, threshold=0.5)}
    assert {("a", "b"), ("a", "c"), ("b", "c")} <= set(found)
    assert not any("d" in pair for pair in found), found  # the control: a relative is not her


def test_every_candidate_explains_each_comparison_with_its_weight() -> None:
    records = [
        features("a", person("Chepe", "Xicará", "Tzul", "1988-01-09", sex="male"), SEEN),
        features("b", person("José", "Xicara", "Tzul", "1988-01-09", sex="male"), SEEN),
    ]
    (candidate,) = find_duplicates(records)
    shown = candidate.as_json()
    assert shown["kind"] == "duplicate" and (shown["left"], shown["right"]) == ("a", "b")
    assert 0.9 <= shown["score"] <= 1.0
    fields = {e["field"]: e for e in shown["explanation"]}
    assert {"given_names", "surnames", "date_of_birth", "sex"} <= set(fields)
    assert fields["date_of_birth"]["comparison"].lower().startswith("exact")
    assert all(isinstance(e["weight"], float) for e in shown["explanation"])
    assert fields["date_of_birth"]["weight"] > 0 and fields["given_names"]["weight"] > 0


def test_on_a_synthetic_corpus_it_beats_the_naive_matcher_by_far() -> None:
    corpus = generate(2_000, seed=23)
    truth = corpus.true_pairs()
    found = {
        (c.left, c.right) for c in find_duplicates([as_features(r) for r in corpus.reports], threshold=0.9)
    }
    precision, recall, f1 = quality(found, truth)
    _, _, naive_f1 = quality(naive(corpus), truth)
    assert precision >= 0.9 and recall >= 0.85, (precision, recall)
    assert f1 > naive_f1 + 0.5


@pytest.mark.parametrize("size", [0, 1])
def test_fewer_than_two_records_have_no_pairs(size: int) -> None:
    records = [features("a", person("Ana", "Coc", None, None), SEEN)][:size]
    assert find_duplicates(records) == []
