"""What a search of the case list costs with 100,000 cases in a jurisdiction's views
(services/case_search.py, projections/search_index.py), beside a baseline in the same run: a raw
SQL SELECT of the same rows by id from the same views (what a plain database index lookup of the
answer would cost, with no name matching and nothing opened).

The cases are the synthetic reports of bench/corpus.py (the region's names, Maya surnames,
duplicates, siblings, common names), stored as the views store them (sealed, keyed tokens).
Each query is another noisy report of a person in the views (accents dropped, hypocoristics,
surnames swapped or missing, phonetic slips and typing slips), searched as Mexico's prosecutor
for the purpose `search`; the person's own reports should be among the first ten answers.

    python3 bench/search.py [--cases 100000] [--queries 200] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database
from bench.corpus import Report, _noisy, generate
from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from projections.postgres_views import PostgresJurisdictionViews, views_schema
from projections.rows import age_band
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.view_batch import ViewBatch
from projections.views import CaseRow, JurisdictionViews, tracking_at
from services import case_search
from services.caller_view import CallerView
from services.settings import Settings
from topics.log import TopicPartition

TP = TopicPartition("ledger.events.MX", 0)
PROSECUTOR = "mx-fiscalia-migrantes"
CONSULATE = "hn-consulado-tapachula"


def case_id(n: int) -> str:
    return str(uuid.UUID(int=n + 1, version=4))


def row(n: int, r: Report) -> CaseRow:
    return CaseRow(
        case_id=case_id(n),
        origin="MX",
        version=1,
        status="missing",
        reported_at=datetime.combine(r.last_seen_date, clock(12), UTC),
        sex=r.sex,
        age_band=age_band(r.date_of_birth, r.last_seen_date),
        nationalities=(r.nationality.split("-")[0],),
        last_seen_country=r.last_seen_country,
        last_seen_month=r.last_seen_date.strftime("%Y-%m"),
        route=None,
        restricted=False,
        given_names=r.given_names,
        first_surname=r.first_surname,
        second_surname=r.second_surname,
        last_seen_date=r.last_seen_date,
        last_seen_place=None,
        consents=("family_support", "forensic_identification", "search"),
    )


@contextlib.contextmanager
def opened(postgres: bool) -> Iterator[JurisdictionViews]:
    keys = MemoryKeyStore(MasterKey(new_data_key()))
    if postgres:
        with fresh_database() as url:
            views: JurisdictionViews = PostgresJurisdictionViews(
                Settings(database_url=url).postgres_conninfo(), "MX", keys
            )
            yield views
            views.close()
        return
    with tempfile.TemporaryDirectory() as folder:
        views = SQLiteJurisdictionViews(Path(folder) / "views-mx.sqlite", "MX", keys)
        yield views
        views.close()


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


def raw_select(views: JurisdictionViews, ids: list[str]) -> None:
    """The baseline: the same rows by id, one SQL SELECT, nothing opened or matched."""
    if isinstance(views, SQLiteJurisdictionViews):
        with views.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM cases WHERE case_id IN ({', '.join('?' * len(ids))})", ids)
            cursor.fetchall()
    else:
        with views.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            table = f"{views_schema('MX')}.cases"
            cursor.execute(f"SELECT * FROM {table} WHERE case_id = ANY(%s::uuid[])", (ids,))
            cursor.fetchall()


def report(title: str, ours: list[float], baseline: list[float]) -> None:
    """Medians (ms, to a tenth) of ours and of the baseline, and their ratio."""
    mine, base = statistics.median(ours), statistics.median(baseline)
    print(f"{title}")
    print(
        f"  caseledger: median {mine:.2f} ms, 90th percentile {statistics.quantiles(ours, n=10)[-1]:.1f} ms"
    )
    tail = statistics.quantiles(baseline, n=10)[-1]
    print(f"  baseline:   median {base:.2f} ms, 90th percentile {tail:.1f} ms")
    print(f"  ratio caseledger/baseline: {mine / base:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="the views on PostgreSQL, not SQLite")
    args = parser.parse_args()
    corpus = generate(args.cases, seed=11)
    rules = load_rules(SAMPLE_POLICY)
    rng = random.Random(5)
    with opened(args.postgres) as views:
        started = time.perf_counter()
        for start in range(0, len(corpus.reports), 5000):
            chunk = corpus.reports[start : start + 5000]
            views.apply(
                ViewBatch(
                    [row(start + i, r) for i, r in enumerate(chunk)], [tracking_at(TP, start + len(chunk))]
                )
            )
        print(f"{len(corpus.reports):,} cases stored sealed in {time.perf_counter() - started:,.1f} s")
        ms, _ = timed(lambda: case_search.index_for(views))
        print(f"index built in this process (every row opened once): {ms / 1000:,.1f} s")

        by_person: dict[int, set[str]] = {}
        for n, r in enumerate(corpus.reports):
            by_person.setdefault(r.person, set()).add(case_id(n))
        picked = rng.sample(range(len(corpus.reports)), args.queries)
        queries = []
        for n in picked:
            r = _noisy(rng, corpus.reports[n], "q")
            text = " ".join(p for p in (r.given_names, r.first_surname, r.second_surname) if p)
            queries.append((text, by_person[corpus.reports[n].person]))

        prosecutor = CallerView(views, rules, PROSECUTOR, "search")
        ours, baseline, found_at_10 = [], [], 0
        for text, truth in queries:
            search = case_search.parse({"q": text, "limit": "10"})
            ms, page = timed(lambda s=search: case_search.find(views, case_search.reader(prosecutor), s))
            assert isinstance(page, case_search.Page)
            ours.append(ms)
            ids = [f.row.case_id for f in page.items] or [case_id(0)]
            baseline.append(timed(lambda i=ids: raw_select(views, i))[0])
            found_at_10 += bool(truth & set(ids))
        print(f"\nqueries: {len(queries)}, e.g. {queries[0][0]!r}, {queries[1][0]!r}")
        print(f"the person's own report among the first 10 answers: {found_at_10 / len(queries):.1%}")
        report(f"search by name, first page of 10, {len(corpus.reports):,} cases (ms)", ours, baseline)

        print("\nvery common names (the worst case: thousands of cases answer), median of 7 runs:")
        for text in ("José Luis Hernández", "Chepe Hernández", "María", "Juan López"):
            search = case_search.parse({"q": text, "limit": "10"})
            runs, total = [], 0
            for _ in range(7):
                ms, page = timed(lambda s=search: case_search.find(views, case_search.reader(prosecutor), s))
                assert isinstance(page, case_search.Page)
                runs.append(ms)
                total = page.total
            print(f"  {text!r}: {total:,} cases answer; median {statistics.median(runs):.1f} ms")

        consulate = CallerView(views, rules, CONSULATE, "search")
        ours, baseline = [], []
        for text, _ in queries[:50]:
            search = case_search.parse({"q": text, "limit": "10"})
            ms, page = timed(lambda s=search: case_search.find(views, case_search.reader(consulate), s))
            assert isinstance(page, case_search.Page)
            ours.append(ms)
            baseline.append(timed(lambda: raw_select(views, [case_id(0)]))[0])
        report("the same searched by Honduras's consulate (its nationals only) (ms)", ours, baseline)

        ours, baseline = [], []
        for nationality in ("GT", "HN", "SV", "MX") * 5:
            search = case_search.parse({"nationality": nationality, "sex": "female", "limit": "50"})
            ms, page = timed(lambda s=search: case_search.find(views, case_search.reader(prosecutor), s))
            assert isinstance(page, case_search.Page)
            ours.append(ms)
            baseline.append(timed(lambda p=page: raw_select(views, [f.row.case_id for f in p.items]))[0])
        report("filters only (nationality, sex), first page of 50 with the total (ms)", ours, baseline)

        ours = []
        for k in range(10):
            extra = _noisy(rng, corpus.reports[k], "new")
            views.apply(
                ViewBatch(
                    [row(len(corpus.reports) + k, extra)], [tracking_at(TP, len(corpus.reports) + k + 1)]
                )
            )
            search = case_search.parse({"q": queries[k][0], "limit": "10"})
            ours.append(timed(lambda s=search: case_search.find(views, case_search.reader(prosecutor), s))[0])
        print(
            f"\nsearch right after a new case reaches the views (the index catches up first): "
            f"median {statistics.median(ours):.1f} ms (runs: {', '.join(f'{x:.0f}' for x in ours)})"
        )


if __name__ == "__main__":
    main()
