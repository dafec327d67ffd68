"""The duplicate check at report time: a few blocked candidates scored with the shipped model,
in plain Python, fast enough to answer while a report is being recorded.

Splink (projections/duplicates.py) costs about a quarter of a second per call however few the
records, since it builds a DuckDB database and its SQL each time; a report waits for its
check. So the check scores with the same model (projections/models/duplicates.json): each
comparison's levels are evaluated here in the model's order with the same tests (rapidfuzz's
Jaro-Winkler and Damerau-Levenshtein are the algorithms DuckDB's functions implement), and
weighed by log2(m/u) as Splink does; tests/unit/test_duplicate_check.py checks the two agree.

The candidates come from a blocking index held in memory (`DuplicateIndex`): for each case,
keys made of its folded and phonetic name forms (ledger/names.py), the same blocks the batch
run's Splink blocking rules use. The index holds case ids under keyed hashes of those keys; the names
themselves are read from the views, opened, only for the few cases a check scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from projections.duplicates import MODEL, Candidate, Explained, features
from projections.views import CaseRow

__all__ = ["DuplicateIndex", "blocking_keys", "row_features", "score"]

_AGE_BANDS = {"0-11": (0, 11), "12-17": (12, 17), "18-29": (18, 29), "30-44": (30, 44), "45-59": (45, 59)}


def row_features(row: CaseRow) -> dict[str, Any] | None:
    """A case as the views hold it, as the model compares it (None: no name to compare). The
    views keep no date of birth: the age band stands for it."""
    if row.restricted or not row.given_names or not row.first_surname:
        return None
    band = _AGE_BANDS.get(row.age_band or "")
    if row.age_band == "60+":
        band = (60, 120)
    person = {
        "given_names": row.given_names,
        "first_surname": row.first_surname,
        "second_surname": row.second_surname,
        "sex": row.sex,
        "age_range": {"minimum": band[0], "maximum": band[1]} if band else None,
        "nationalities": list(row.nationalities),
    }
    return features(row.case_id, person, {"date": row.last_seen_date, "country": row.last_seen_country})


def blocking_keys(record: Mapping[str, Any]) -> set[str]:
    """The blocks a record falls in: its root given name with each of its first two surnames'
    phonetic keys (either order), its surname pair, and its folded given names with its
    nationality and the year it was last seen."""
    keys: set[str] = set()
    root = record.get("given_root")
    for surname in (record.get("sur1_phon"), record.get("sur2_phon")):
        if root and surname:
            keys.add(f"g|{root}|{surname}")
    if record.get("sur_pair") and "|" in str(record["sur_pair"]):
        keys.add(f"p|{record['sur_pair']}")
    seen = record.get("seen")
    if record.get("given_norm") and record.get("nationality") and isinstance(seen, date):
        # By the year last seen too: 'maria' of Guatemala alone blocks thousands in 100,000
        # cases (median block 30 -> 13 on 20,000 reports, recall at 0.5: 0.940 -> 0.939).
        keys.add(f"n|{record['given_norm']}|{record['nationality']}|{seen.year}")
    return keys


class DuplicateIndex:
    """Case ids by blocking key, in memory, for one jurisdiction's views. `versions` says which
    version of each case the keys were taken from, so a refresh re-reads only what changed.
    The keys are held keyed-hashed under a secret of this index's own, so even this process's
    memory holds no name beyond the check that opens it."""

    def __init__(self) -> None:
        self.by_key: dict[bytes, set[str]] = {}
        self.keys_of: dict[str, set[bytes]] = {}
        self.versions: dict[str, int] = {}
        self._secret = secrets.token_bytes(16)

    def _keys(self, record: Mapping[str, Any]) -> set[bytes]:
        return {
            hashlib.blake2b(key.encode(), key=self._secret, digest_size=12).digest()
            for key in blocking_keys(record)
        }

    def put(self, case_id: str, version: int, record: Mapping[str, Any] | None) -> None:
        self.discard(case_id)
        self.versions[case_id] = version
        keys = self._keys(record) if record is not None else set()
        self.keys_of[case_id] = keys
        for key in keys:
            self.by_key.setdefault(key, set()).add(case_id)

    def discard(self, case_id: str) -> None:
        for key in self.keys_of.pop(case_id, ()):
            held = self.by_key.get(key)
            if held is not None:
                held.discard(case_id)
                if not held:
                    del self.by_key[key]
        self.versions.pop(case_id, None)

    def put_rows(self, rows: Iterable[CaseRow]) -> None:
        for row in rows:
            self.put(row.case_id, row.version, row_features(row))

    def candidates(self, record: Mapping[str, Any]) -> set[str]:
        found: set[str] = set()
        for key in self._keys(record):
            found |= self.by_key.get(key, set())
        found.discard(str(record["unique_id"]))
        return found


# ---------------------------------------------------------------------- scoring


def _jw(a: Any, b: Any) -> float:
    return float(JaroWinkler.similarity(a, b)) if a is not None and b is not None else -1.0


def _shared(a: Any, b: Any) -> int:
    return len(set(a or ()) & set(b or ()))


def _eq(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a == b


def _days(a: Any, b: Any) -> int | None:
    if not isinstance(a, date) or not isinstance(b, date):
        return None
    return abs((a - b).days)


def _given(a: Mapping[str, Any], b: Mapping[str, Any]) -> int | None:
    if a["given_norm"] is None or b["given_norm"] is None:
        return None
    shared, jw = _shared(a["given_canon"], b["given_canon"]), _jw(a["given_norm"], b["given_norm"])
    tests = (
        a["given_norm"] == b["given_norm"],
        shared >= 2,
        shared >= 1 and jw >= 0.7,
        jw >= 0.92,
        shared >= 1,
        jw >= 0.8,
    )
    return _level(tests)


def _surnames(a: Mapping[str, Any], b: Mapping[str, Any]) -> int | None:
    if a["sur1"] is None or b["sur1"] is None:
        return None
    tests = (
        a["sur1"] == b["sur1"] and _eq(a["sur2"], b["sur2"]),
        _eq(a["sur1"], b["sur2"]),
        a["sur1"] == b["sur1"],
        _eq(a["sur_pair"], b["sur_pair"]),
        _eq(a["sur1_phon"], b["sur1_phon"]) or _jw(a["sur1"], b["sur1"]) >= 0.9,
        _shared(a["surnames"], b["surnames"]) >= 1,
    )
    return _level(tests)


def _born(a: Mapping[str, Any], b: Mapping[str, Any]) -> int | None:
    if (a["dob"] is None or b["dob"] is None) and (a["age_min"] is None or b["age_min"] is None):
        return None
    both = a["dob"] is not None and b["dob"] is not None
    years = (a["birth_year"], b["birth_year"])
    ages = (a["age_min"], a["age_max"], b["age_min"], b["age_max"])
    tests = (
        both and a["dob"] == b["dob"],
        both and DamerauLevenshtein.distance(a["dob"], b["dob"]) <= 2,
        None not in years and abs(years[0] - years[1]) <= 1,
        None not in ages and ages[0] <= ages[3] + 2 and ages[2] <= ages[1] + 2,
    )
    return _level(tests)


def _exact(name: str) -> Any:
    def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> int | None:
        if a[name] is None or b[name] is None:
            return None
        return _level((a[name] == b[name],))

    return compare


def _seen(a: Mapping[str, Any], b: Mapping[str, Any]) -> int | None:
    days = _days(a["seen"], b["seen"])
    if days is None:
        return None
    return _level((days == 0, days <= 31, days <= 365))


def _level(tests: tuple[bool, ...]) -> int:
    """Splink's comparison vector value: the first level that holds, counted from the last
    (the 'else' level is 0)."""
    for index, holds in enumerate(tests):
        if holds:
            return len(tests) - index
    return 0


_COMPARISONS = {
    "given_names": _given,
    "surnames": _surnames,
    "date_of_birth": _born,
    "sex": _exact("sex"),
    "nationality": _exact("nationality"),
    "origin": _exact("origin"),
    "seen_country": _exact("seen_country"),
    "seen": _seen,
}


@cache
def _model(path: Path) -> tuple[float, dict[str, list[tuple[str, float]]]]:
    """The prior's weight, and each comparison's (label, weight) by comparison vector value."""
    saved = json.loads(path.read_text())
    prior = float(saved["probability_two_random_records_match"])
    levels: dict[str, list[tuple[str, float]]] = {}
    for comparison in saved["comparisons"]:
        shown = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        levels[comparison["output_column_name"]] = [
            (lv["label_for_charts"], _weight(lv)) for lv in reversed(shown)
        ]
    if set(levels) != set(_COMPARISONS):
        raise ValueError(f"{path}: the model compares {sorted(levels)}, the check {sorted(_COMPARISONS)}")
    return math.log2(prior / (1 - prior)), levels


def _weight(level: Mapping[str, Any]) -> float:
    m, u = float(level["m_probability"]), float(level["u_probability"])
    if m <= 0:
        return -99.0
    return math.log2(m / u)


def score(left: Mapping[str, Any], right: Mapping[str, Any], model: Path = MODEL) -> Candidate:
    """Two records (from features()) compared as the model compares them, explained."""
    prior, levels = _model(model)
    total, explanation = prior, []
    for name, compare in _COMPARISONS.items():
        gamma = compare(left, right)
        if gamma is None:
            continue  # missing on one side: no evidence either way
        label, weight = levels[name][gamma]
        total += weight
        explanation.append(Explained(name, label, weight))
    probability = 1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0
    a, b = sorted((str(left["unique_id"]), str(right["unique_id"])))
    return Candidate(a, b, probability, tuple(explanation))
