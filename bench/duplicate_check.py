"""The duplicate check at report time (services/candidates.py, projections/duplicate_check.py)
with many cases in a jurisdiction's views, beside two baselines in the same run: the naive
check (open the whole views and compare folded given names and first surname, as
bench/linkage.py's baseline) and Splink itself on the same blocked candidates.

    python3 bench/duplicate_check.py [--cases 100000] [--checks 300] [--postgres]

The cases come from bench/corpus.py (the region's names with their noise, siblings, a pool
of very common names); the checked reports are later reports of the same corpus, so some
have true duplicates among the cases. The views are seeded through their own apply(), as the
projector writes them (sealed under the node's views keys, one timeline entry and chain head
per case): the check reads only the views, and recording and relaying 100,000 reports is
what bench/write_path.py and bench/relay.py measure. Embedded default (SQLite views);
--postgres uses the real PostgreSQL.

Measured here (2 shared cores, busy), 100,000 cases, 300 reports: median 7.9 ms on SQLite
and 11.7 ms on PostgreSQL (p95 108 / 243 ms: the corpus's pool of "José Luis Hernández"
blocks up to 3,839 cases), beside a scan of the views at 6.9 / 9.8 s and Splink on the same
blocks at 296 / 313 ms. The index is built once per process from the views (18 / 16 s).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import Report, generate
from bench.linkage import as_features
from ledger.names import fold
from projections.duplicates import find_duplicates
from projections.rows import age_band
from projections.view_batch import ViewBatch
from projections.views import CaseRow, TimelineRow
from services.bootstrap import build_node
from services.caller_view import CallerView
from services.candidates import Candidates
from services.settings import Settings


def seeded(r: Report, n: int, at: datetime) -> tuple[CaseRow, TimelineRow]:
    """A case as Mexico's views hold one of its own: names for adults, restricted otherwise."""
    case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench:{n}"))
    band = age_band(r.date_of_birth, r.last_seen_date)
    adult = (band is not None and band not in ("0-11", "12-17")) or (
        r.date_of_birth is None and r.age_range is not None and r.age_range[1] >= 18
    )
    row = CaseRow(
        case_id=case_id,
        origin="MX",
        version=1,
        status="missing",
        reported_at=at,
        sex=r.sex,
        age_band=band,
        nationalities=(r.nationality,),
        last_seen_country=r.last_seen_country,
        last_seen_month=r.last_seen_date.isoformat()[:7],
        route=None,
        restricted=not adult,
        given_names=r.given_names if adult else None,
        first_surname=r.first_surname if adult else None,
        second_surname=r.second_surname if adult else None,
        last_seen_date=r.last_seen_date if adult else None,
        consents=("search",),
    )
    entry = TimelineRow(
        aggregate_id=case_id,
        version=1,
        aggregate_type="MissingPersonCase",
        event_type="CaseReported",
        origin="MX",
        occurred_at=at,
        recorded_at=at,
        organisation="bench",
        role="caseworker",
        purpose="search",
        public=json.dumps({"sex": r.sex}),
        shown=json.dumps({"person": {"given_names": r.given_names}}) if adult else "{}",
        withheld=("reserved",) if adult else ("common", "reserved"),
    )
    return row, entry


@contextlib.contextmanager
def settings_for(postgres: bool) -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="caseledger-bench-dupes-") as directory:
        if not postgres:
            yield Settings(node="MX", data_dir=Path(directory))
            return
        from bench.common import fresh_database

        with fresh_database() as url:  # the views on PostgreSQL; the log (unused here) embedded
            yield Settings(node="MX", database_url=url, data_dir=Path(directory))


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    corpus = generate(args.cases + args.checks, seed=13).reports
    stored, checked = corpus[: args.cases], corpus[args.cases :]

    with settings_for(args.postgres) as settings:
        node = build_node(settings)
        views = node.views("MX")
        started, at = time.perf_counter(), datetime.now(UTC)
        for start in range(0, len(stored), 1000):
            made = [seeded(r, start + n, at) for n, r in enumerate(stored[start : start + 1000])]
            heads = {row.case_id: (1, hashlib.sha256(row.case_id.encode()).digest()) for row, _ in made}
            views.apply(ViewBatch([row for row, _ in made], [], heads, timeline=[entry for _, entry in made]))
        print(f"{args.cases:,} cases written to the views (sealed) in {time.perf_counter() - started:.0f} s")

        finder = Candidates(node, None)
        view = CallerView(views, None, "bench", "search")
        built, index = timed(lambda: finder._index("MX", views))
        print(f"index built from the views in {built:.0f} ms: {len(index.by_key):,} keys")

        ours, found, blocked = [], 0, []
        for r in checked:
            subject = as_features(r)
            took, listed = timed(lambda s=subject: finder.check("MX", views, view, s, 0.5))
            ours.append(took)
            found += len(listed)
            blocked.append(len(index.candidates(subject)))

        def naive(r: Report) -> list[str]:
            key = (fold(r.given_names), fold(r.first_surname))
            return [
                row.case_id
                for row in views.cases()
                if row.given_names and (fold(row.given_names), fold(row.first_surname or "")) == key
            ]

        def splink(r: Report) -> int:
            subject = as_features(r)
            ids = sorted(index.candidates(subject))
            rows = [f for f in (row_of(i) for i in ids) if f is not None]
            return len(find_duplicates([subject, *rows], threshold=0.5))

        def row_of(case_id: str) -> Any:
            from projections.duplicate_check import row_features

            row = views.rows([case_id]).get(case_id)
            return row_features(row) if row is not None else None

        sample = checked[: args.baseline_runs]
        scan = [timed(lambda r=r: naive(r))[0] for r in sample]
        with_splink = [timed(lambda r=r: splink(r))[0] for r in sample]
        q = statistics.quantiles(ours, n=100)
        print(f"at-report duplicate check, {len(views.cases()):,} cases in the views, {len(ours)} reports:")
        print(
            f"  caseledger (index + model): median {statistics.median(ours):6.1f} ms, p95 {q[94]:6.1f} ms, "
            f"max {max(ours):6.1f} ms; {statistics.median(blocked):.0f} blocked candidates (median), "
            f"max {max(blocked)}; {found} candidates listed"
        )
        print(f"  naive (scan the views):     median {statistics.median(scan):6.1f} ms ({len(scan)} reports)")
        print(
            f"  Splink on the same blocks:  median {statistics.median(with_splink):6.1f} ms "
            f"({len(sample)} reports)"
        )
        node.close()


if __name__ == "__main__":
    main()
