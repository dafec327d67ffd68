"""Probable duplicate reports, scored and explained, by Splink (Fellegi-Sunter on DuckDB, in
memory only).

The records come from the node's views, opened for the reader: they exist in clear only in
this process's memory and in the in-memory DuckDB Splink runs on, never on disk. Each record is
first turned into comparable features by ledger/names.py (folded names, hypocoristics,
Spanish phonetic keys); Splink compares those features level by level and weighs each level
by how often it occurs among true and random pairs. The weights are data: a model trained on a
corpus (`train`) is saved as JSON and shipped, since a node with a handful of cases has too
little to learn from. Every candidate carries its explanation: each comparison's level and its
match weight (log2 of its Bayes factor).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ledger.names import HYPOCORISTICS, given_forms, phonetic, tokens

__all__ = ["MODEL", "Candidate", "Explained", "features", "find_duplicates", "settings", "train"]

MODEL = Path(__file__).resolve().parent / "models" / "duplicates.json"
"""The shipped model: comparisons, blocking rules and trained weights (bench/linkage.py --train)."""

_QUIET = logging.WARNING


@dataclass(frozen=True)
class Explained:
    field: str
    comparison: str
    weight: float


@dataclass(frozen=True)
class Candidate:
    """Two records that may be one person: a score from 0 to 1, and why."""

    left: str
    right: str
    score: float
    explanation: tuple[Explained, ...]

    def as_json(self, kind: str = "duplicate") -> dict[str, Any]:
        return {
            "kind": kind,
            "left": self.left,
            "right": self.right,
            "score": round(self.score, 4),
            "explanation": [
                {"field": e.field, "comparison": e.comparison, "weight": round(e.weight, 3)}
                for e in self.explanation
            ],
        }


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _age_bounds(person: Mapping[str, Any], seen: date | None) -> tuple[int | None, int | None]:
    born = _iso(person.get("date_of_birth"))
    if born and seen is not None:
        try:
            years = (seen - date.fromisoformat(born)).days // 365
        except ValueError:
            return None, None
        return years, years
    estimate = person.get("age_range") or {}
    return estimate.get("minimum"), estimate.get("maximum")


def features(record_id: str, person: Mapping[str, Any], last_seen: Mapping[str, Any]) -> dict[str, Any]:
    """One record as Splink compares it, from a case's person and last-seen fields as the
    ledger keeps them (given_names, first_surname, second_surname, sex, date_of_birth,
    age_range, nationalities, origin; last_seen date and country)."""
    given = tokens(person.get("given_names"))
    first, second = tokens(person.get("first_surname")), tokens(person.get("second_surname"))
    surnames = first + second
    root = HYPOCORISTICS.get(given[0], (given[0],))[0] if given else None
    seen_text = _iso(last_seen.get("date"))
    seen = date.fromisoformat(seen_text) if seen_text else None
    born = _iso(person.get("date_of_birth"))
    age_min, age_max = _age_bounds(person, seen)
    nationalities = person.get("nationalities") or ()
    pair = sorted(phonetic(s) for s in surnames[:2])
    return {
        "unique_id": record_id,
        "given_norm": " ".join(given) or None,
        "given_canon": sorted({form for word in given for form in given_forms(word)}),
        "given_root": phonetic(root) if root else None,
        "sur1": " ".join(first) or None,
        "sur2": " ".join(second) or None,
        "sur1_phon": phonetic(first[0]) if first else None,
        "sur2_phon": phonetic(second[0]) if second else None,
        "sur_pair": "|".join(pair) or None,
        "surnames": surnames,
        "dob": born,
        "birth_year": int(born[:4]) if born and born[:4].isdigit() else None,
        "age_min": age_min,
        "age_max": age_max,
        "sex": person.get("sex") if person.get("sex") in ("male", "female") else None,
        "nationality": nationalities[0] if nationalities else None,
        "origin": (" ".join(tokens(person.get("origin"))) or None) if person.get("origin") else None,
        "seen": seen,
        "seen_country": last_seen.get("country"),
    }


def settings() -> Any:
    """The comparisons and blocking rules (Splink's SettingsCreator), untrained."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            *_names(cl, cll),
            _born(cl, cll),
            cl.ExactMatch("sex"),
            cl.ExactMatch("nationality"),
            cl.ExactMatch("origin"),
            cl.ExactMatch("seen_country"),
            cl.AbsoluteDateDifferenceAtThresholds(
                "seen", input_is_string=False, metrics=["day", "day"], thresholds=[31, 365]
            ),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_root", "sur1_phon"),
            block_on("sur1_phon", "birth_year"),
            block_on("dob"),
            block_on("sur_pair", "given_root"),
            block_on("given_norm", "nationality"),
            block_on("sur_pair", "birth_year"),
            block_on("given_root", "sur2_phon"),
        ],
        retain_intermediate_calculation_columns=True,
    )


def _names(cl: Any, cll: Any) -> tuple[Any, Any]:
    """Given names and surnames, from the same person written the same to written differently."""
    given = cl.CustomComparison(
        output_column_name="given_names",
        comparison_levels=[
            cll.NullLevel("given_norm"),
            cll.ExactMatchLevel("given_norm"),
            cll.ArrayIntersectLevel("given_canon", 2),
            cll.And(cll.ArrayIntersectLevel("given_canon", 1), cll.JaroWinklerLevel("given_norm", 0.7)),
            cll.JaroWinklerLevel("given_norm", 0.92),
            cll.ArrayIntersectLevel("given_canon", 1),
            cll.JaroWinklerLevel("given_norm", 0.8),
            cll.ElseLevel(),
        ],
    )
    surnames = cl.CustomComparison(
        output_column_name="surnames",
        comparison_levels=[
            cll.NullLevel("sur1"),
            cll.And(cll.ExactMatchLevel("sur1"), cll.ExactMatchLevel("sur2")),
            cll.ColumnsReversedLevel("sur1", "sur2"),
            cll.ExactMatchLevel("sur1"),
            cll.ExactMatchLevel("sur_pair"),
            cll.Or(cll.ExactMatchLevel("sur1_phon"), cll.JaroWinklerLevel("sur1", 0.9)),
            cll.ArrayIntersectLevel("surnames", 1),
            cll.ElseLevel(),
        ],
    )
    return given, surnames


def _born(cl: Any, cll: Any) -> Any:
    """Date of birth, or the year or ages reported instead of it."""
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.CustomLevel(
                "(dob_l IS NULL OR dob_r IS NULL) AND (age_min_l IS NULL OR age_min_r IS NULL)"
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("dob"),
            cll.DamerauLevenshteinLevel("dob", 2),
            cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 1", "birth year within one"),
            cll.CustomLevel("age_min_l <= age_max_r + 2 AND age_min_r <= age_max_l + 2", "ages overlap"),
            cll.ElseLevel(),
        ],
    )


def train(records: Sequence[Mapping[str, Any]], path: Path = MODEL) -> Path:
    """Learn the weights from unlabelled records (u by random sampling, m by expectation
    maximisation on two blockings) and save the model; returns where."""
    from splink import DuckDBAPI, Linker, block_on

    linker = Linker(DuckDBAPI().register(list(records)), settings(), log_level=_QUIET)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_norm", "sur1", "dob")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=7)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_root", "sur1_phon"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    path.parent.mkdir(parents=True, exist_ok=True)
    linker.misc.save_model_to_json(str(path), overwrite=True)
    return path


def _labels(model: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each comparison's level labels, by comparison vector value."""
    out: dict[str, list[str]] = {}
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        out[comparison["output_column_name"]] = [lv["label_for_charts"] for lv in reversed(levels)]
    return out


def find_duplicates(
    records: Iterable[Mapping[str, Any]], *, threshold: float = 0.0, model: Path = MODEL
) -> list[Candidate]:
    """Every blocked pair of `records` (from features()) scoring at least `threshold`, best
    first, each with its explanation."""
    from splink import DuckDBAPI, Linker

    rows = list(records)
    if len(rows) < 2:
        return []
    saved = json.loads(model.read_text())
    labels = _labels(saved)
    linker = Linker(DuckDBAPI().register(rows), saved, log_level=_QUIET)
    predicted = linker.inference.predict(threshold_match_probability=threshold or None)
    candidates = []
    for row in predicted.as_record_list():
        explanation = []
        for name, words in labels.items():
            gamma = row.get(f"gamma_{name}")
            if gamma is None or gamma < 0:
                continue  # null level: the field is missing on one side, no evidence either way
            weight = float(row.get(f"mw_{name}") or 0.0) + float(row.get(f"mw_tf_adj_{name}") or 0.0)
            explanation.append(Explained(name, words[gamma], weight if math.isfinite(weight) else -99.0))
        left, right = sorted((str(row["unique_id_l"]), str(row["unique_id_r"])))
        candidates.append(Candidate(left, right, float(row["match_probability"]), tuple(explanation)))
    candidates.sort(key=lambda c: (-c.score, c.left, c.right))
    return candidates
