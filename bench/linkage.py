"""Duplicate reports: quality and time of projections/duplicates.py (Splink, with the names of
ledger/names.py) on the synthetic corpus of bench/corpus.py, beside a naive matcher in the same
run (exact match on folded given names and first surname).

    python3 bench/linkage.py [--reports 10000] [--threshold 0.9] [--runs 3] [--train]

--train learns the weights from the corpus (unlabelled) and writes the shipped model
(projections/models/duplicates.json) before measuring.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import Corpus, Report, generate
from ledger.names import fold
from projections.duplicates import MODEL, features, find_duplicates, train


def as_features(report: Report) -> dict[str, Any]:
    person = {
        "given_names": report.given_names,
        "first_surname": report.first_surname,
        "second_surname": report.second_surname,
        "sex": report.sex,
        "date_of_birth": report.date_of_birth,
        "age_range": (
            {"minimum": report.age_range[0], "maximum": report.age_range[1]} if report.age_range else None
        ),
        "nationalities": [report.nationality],
        "origin": report.origin,
    }
    last_seen = {"date": report.last_seen_date, "country": report.last_seen_country}
    return features(report.id, person, last_seen)


def naive(corpus: Corpus) -> set[tuple[str, str]]:
    """Pairs whose folded given names and folded first surname are equal."""
    groups: dict[tuple[str, str], list[str]] = {}
    for r in corpus.reports:
        groups.setdefault((fold(r.given_names), fold(r.first_surname)), []).append(r.id)
    found: set[tuple[str, str]] = set()
    for ids in groups.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                found.add((min(a, b), max(a, b)))
    return found


def quality(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--seed", type=int, default=11, help="the measured corpus (training uses seed 7)")
    args = parser.parse_args()

    if args.train:
        started = time.perf_counter()
        train([as_features(r) for r in generate(args.reports, seed=7).reports])
        took = time.perf_counter() - started
        print(f"trained on {args.reports:,} unlabelled reports in {took:.1f} s: {MODEL}")
    corpus = generate(args.reports, seed=args.seed)  # another corpus than the one trained on
    truth = corpus.true_pairs()
    rows = [as_features(r) for r in corpus.reports]

    ours_t, naive_t = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        candidates = find_duplicates(rows, threshold=args.threshold)
        ours_t.append(time.perf_counter() - started)
        started = time.perf_counter()
        baseline = naive(corpus)
        naive_t.append(time.perf_counter() - started)
    found = {(c.left, c.right) for c in candidates}
    p, r, f = quality(found, truth)
    bp, br, bf = quality(baseline, truth)
    print(
        f"duplicate reports: {args.reports:,} reports, {len(truth):,} true pairs, threshold {args.threshold}"
    )
    print(f"  caseledger (Splink): precision {p:.3f} recall {r:.3f} F1 {f:.3f} ({len(found):,} pairs)")
    print(f"  naive baseline:      precision {bp:.3f} recall {br:.3f} F1 {bf:.3f} ({len(baseline):,} pairs)")
    print(
        f"  batch time: caseledger median {statistics.median(ours_t):.2f} s, "
        f"naive median {statistics.median(naive_t):.3f} s (runs: "
        f"{', '.join(f'{t:.2f}' for t in ours_t)} / {', '.join(f'{t:.3f}' for t in naive_t)})"
    )


if __name__ == "__main__":
    main()
