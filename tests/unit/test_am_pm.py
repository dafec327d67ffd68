"""Ante-mortem / post-mortem candidates: hard exclusions (each beside a control that is not
excluded), an explanation for every comparison, and ranking far above a naive matcher."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from bench.corpus import generate
from bench.corpus_remains import case_record, remains
from bench.linkage import naive_ranks, rank_quality
from ledger.commands import AddComprehensiveData
from ledger.forensic_commands import RecordPostMortem
from ledger.values import AgeRange, Effect, FoundDocument, Mark, MedicalFinding, Tooth
from projections.am_pm import (
    PRIOR_BITS,
    Matcher,
    ante_mortem,
    candidate,
    candidates_for_case,
    candidates_for_remains,
    post_mortem,
    remains_for_case,
)
from projections.am_pm_rules import exclusion, posterior
from tests.factories import FORENSIC, ctx

TODAY = date(2026, 11, 1)
PERSON = {
    "given_names": "José Luis",
    "first_surname": "Hernández",
    "second_surname": "Xicará",
    "sex": "male",
    "date_of_birth": date(1998, 5, 2),
    "age_range": None,
}
SEEN = {
    "date": date(2026, 2, 3),
    "country": "MX",
    "place": "Arriaga, Chiapas",
    "coordinates": {"latitude": 16.24, "longitude": -93.90},
}
RECOVERED = {
    "recovered_on": date(2026, 5, 2),
    "place": {"country": "MX", "place": "Ixtepec", "coordinates": {"latitude": 16.56, "longitude": -95.10}},
}


STATURE_150_156 = {"minimum": 150, "maximum": 156}


def am(person: dict[str, Any] | None = None, seen: dict[str, Any] | None = None, **data: Any) -> Any:
    return ante_mortem(
        "case-1", {**PERSON, **(person or {})}, {**SEEN, **(seen or {})}, [data] if data else []
    )


def pm(recovered: dict[str, Any] | None = None, **data: Any) -> Any:
    return post_mortem("remains-1", {**RECOVERED, **(recovered or {})}, [{"sex": "male", **data}])


@pytest.mark.parametrize(
    ("remains", "case", "reason"),
    [
        (pm(sex="female"), am(), "sex"),
        (pm(age_range={"minimum": 40, "maximum": 55}), am(), "age"),
        (
            pm(stature_cm={"minimum": 150, "maximum": 156}),
            am(stature_cm={"minimum": 170, "maximum": 172}),
            "stature",
        ),
        (pm({"recovered_on": date(2026, 1, 20)}), am(), "recovered_on"),
    ],
    ids=["sex", "age", "stature", "recovered-before-last-seen"],
)
def test_each_hard_exclusion_rules_the_pair_out(remains: Any, case: Any, reason: str) -> None:
    assert exclusion(remains, case) is not None
    assert exclusion(remains, case).startswith(reason)  # type: ignore[union-attr]
    assert candidate(remains, case) is None


@pytest.mark.parametrize(
    ("remains", "case"),
    [
        (pm(sex="undetermined"), am()),  # undetermined excludes no one
        (pm(sex="probably_female"), am()),  # an estimate weighs against, it does not exclude
        (pm(sex="female"), am({"sex": "unknown"})),
        (pm(age_range={"minimum": 28, "maximum": 35}), am()),  # 27 when last seen, 27-28 since
        (pm(age_range={"minimum": 40, "maximum": 55}), am({"date_of_birth": None, "age_range": None})),
        (pm(stature_cm={"minimum": 160, "maximum": 166}), am(stature_cm={"minimum": 170, "maximum": 170})),
        (pm({"recovered_on": date(2026, 2, 3)}), am()),  # found the day they were last seen
    ],
    ids=["undetermined", "probable", "sex-unknown", "age-fits", "age-unknown", "stature-near", "same-day"],
)
def test_the_controls_are_not_excluded(remains: Any, case: Any) -> None:
    assert exclusion(remains, case) is None
    assert candidate(remains, case) is not None


def test_age_is_compared_at_recovery_not_when_last_seen() -> None:
    # 27 when last seen in 2026; remains found four years on may be estimated 30-35.
    later = pm({"recovered_on": date(2030, 3, 1)}, age_range={"minimum": 30, "maximum": 35})
    assert exclusion(later, am()) is None
    assert exclusion(pm(age_range={"minimum": 30, "maximum": 35}), am()) is not None


def test_every_comparison_is_explained_with_its_weight_from_the_ledgers_own_records() -> None:
    described = AddComprehensiveData(
        **ctx(),
        case_id=uuid4(),
        stature_cm=(168, 168),
        hair="black",
        body_marks=(Mark("tattoo", "left_forearm", "una rosa"),),
        teeth=(Tooth(11, "gold"), Tooth(36, "filling")),
        effects=(Effect("jeans", "blue", "Levi's"),),
        medical_findings=(MedicalFinding("implant", "left_thigh", "clavo", "SN 4411"),),
    ).checked(TODAY)
    examined = RecordPostMortem(
        **ctx(FORENSIC),
        remains_id=uuid4(),
        sex="male",
        condition="decomposed",
        age_range=AgeRange(22, 32),
        stature_cm=(162, 172),
        time_since_death_days=(30, 90),
        hair="black",
        body_marks=(Mark("tattoo", "left_forearm"),),
        teeth=(Tooth(11, "gold"), Tooth(36, "filling")),
        effects=(Effect("jeans", "blue", "Levis"),),
        medical_findings=(MedicalFinding("implant", serial="SN-4411"),),
        documents_found=(FoundDocument("national_id", "JOSE LUIS HERNANDEZ XICARA"),),
    ).checked(TODAY)
    case = ante_mortem("case-1", PERSON, SEEN, [described])
    remains = post_mortem("remains-1", RECOVERED, [examined])
    found = candidate(remains, case)
    assert found is not None and found.left == "remains-1" and found.right == "case-1"
    fields = {e.field for e in found.explanation}
    assert fields >= {"sex", "age", "stature", "time", "place", "names", "hair", "marks", "dental"}
    assert fields >= {"effects", "medical"}
    assert all(e.comparison and e.weight == e.weight for e in found.explanation)
    said = {e.field: e.comparison for e in found.explanation}
    assert said["medical"] == "an implant's serial number matches" and "brand levis" in said["effects"]
    assert said["names"] == "an ID document found names the person"
    assert found.score == pytest.approx(posterior(list(found.explanation), PRIOR_BITS))
    assert found.score > 0.99
    shown = found.as_json("am_pm")
    assert shown["kind"] == "am_pm" and shown["left"] == "remains-1" and shown["right"] == "case-1"
    assert {"field", "comparison", "weight"} == set(shown["explanation"][0])


def test_disagreements_weigh_against() -> None:
    case = am(teeth=[{"tooth": 11, "condition": "missing"}], hair="black")
    remains = pm(teeth=[{"tooth": 11, "condition": "gold"}], hair="blond")
    found = candidate(remains, case)
    assert found is not None
    against = {e.field: e.weight for e in found.explanation if e.weight < 0}
    assert against["dental"] <= -4.0 and against["hair"] < 0
    agreeing = candidate(pm(teeth=[{"tooth": 11, "condition": "missing"}], hair="black"), case)
    assert agreeing is not None and agreeing.score > found.score


def test_a_case_lists_the_remains_it_may_be_best_first() -> None:
    near = pm(body_marks=[{"kind": "tattoo", "body_site": "chest"}])
    far = post_mortem("remains-2", RECOVERED, [{"sex": "male"}])
    excluded = post_mortem("remains-3", RECOVERED, [{"sex": "female"}])
    case = am(body_marks=[{"kind": "tattoo", "body_site": "chest", "description": None}])
    ranked = remains_for_case(case, [far, excluded, near])
    assert [c.left for c in ranked] == ["remains-1", "remains-2"]


def test_on_a_small_corpus_recall_at_10_is_far_above_the_naive_baseline() -> None:
    corpus = generate(1_500, seed=5)
    found = remains(corpus, 200, seed=5)
    records = [case_record(r, 5) for r in corpus.reports]
    cases = [ante_mortem(c["id"], c["person"], c["last_seen"], c["ante_mortem"]) for c in records]
    examined = [post_mortem(r.id, r.recovered, [r.post_mortem]) for r in found]
    matcher = Matcher(cases)
    ranked = [matcher.candidates(x, limit=10) for x in examined]
    person_of = {r.id: r.person for r in corpus.reports}
    _, at10, mrr = rank_quality([[c.right for c in r] for r in ranked], found, person_of)
    _, naive10, naive_mrr = rank_quality(naive_ranks(examined, cases), found, person_of)
    assert at10 >= 0.9 and at10 > naive10 + 0.6 and mrr > naive_mrr + 0.5
    assert all(c.explanation and 0.0 <= c.score <= 1.0 for r in ranked for c in r)
    by_id = {c.id: c for c in cases}
    assert not any(exclusion(x, by_id[c.right]) for x, r in zip(examined, ranked, strict=True) for c in r)


def test_the_record_level_functions_rank_both_ways() -> None:
    case = {"id": "case-1", "person": PERSON, "last_seen": SEEN, "ante_mortem": [{"hair": "black"}]}
    other = {"id": "case-2", "person": {**PERSON, "sex": "female"}, "last_seen": SEEN}
    remains = {**RECOVERED, "id": "remains-1", "post_mortem": [{"sex": "male", "hair": "black"}]}
    found = candidates_for_remains(remains, [case, other])
    assert [(c.left, c.right) for c in found] == [("remains-1", "case-1")]  # case-2: sex excludes
    assert candidates_for_remains(remains, [case], min_score=0.999) == []
    [back] = candidates_for_case(case, [remains], [case, other])
    assert (back.left, back.right) == ("remains-1", "case-1") and back.score == found[0].score
