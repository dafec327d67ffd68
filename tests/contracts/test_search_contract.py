"""The in-memory search index (projections/search_index.py) keeps up with the views on SQLite
and on PostgreSQL: with this process's own writes, and with another process's (another opening
of the same views), a name erased or restricted there is found no more here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from projections.postgres_views import PostgresJurisdictionViews
from projections.rows import public_only
from projections.search_index import index_for
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.view_batch import ViewBatch
from projections.views import JurisdictionViews, tracking_at
from services.settings import Settings
from tests.contracts.test_views_contract import KEYS, TP, row


def names(views: JurisdictionViews, sought: str) -> list[str]:
    return [hit.row.case_id for hit in index_for(views).search(sought, lambda r: r)]


class SearchContract:
    @pytest.fixture
    def open_views(self) -> Callable[[], JurisdictionViews]:
        raise NotImplementedError

    @pytest.fixture
    def pair(self, open_views: Callable[[], JurisdictionViews]) -> Iterator[tuple[JurisdictionViews, ...]]:
        here, there = open_views(), open_views()
        yield here, there
        here.close()
        there.close()

    def test_the_stamp_and_signatures_follow_every_write(self, pair: tuple[JurisdictionViews, ...]) -> None:
        views, _ = pair
        before = views.change_stamp()
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 3)]))
        assert views.change_stamp() != before
        assert views.case_signatures() == {row(1).case_id: (1, False, False)}
        moved = views.change_stamp()
        views.apply(ViewBatch([], [tracking_at(KEYS, 5)], {}, [row(1).case_id]))  # a key tombstone purges
        assert views.change_stamp() != moved
        assert views.case_signatures() == {row(1).case_id: (1, True, True)}, "the purge shows, same version"

    def test_the_index_keeps_up_with_this_process_and_another(
        self, pair: tuple[JurisdictionViews, ...]
    ) -> None:
        here, there = pair
        here.apply(
            ViewBatch([row(1), row(2, given_names="Jesús", first_surname="Xicará")], [tracking_at(TP, 2)])
        )
        assert names(here, "Ma. José Lopes") == [row(1).case_id]
        here.apply(
            ViewBatch([row(3, given_names="Guadalupe", first_surname="Tzul")], [tracking_at(TP, 3)])
        )  # own write
        assert names(here, "Lupe Tzul") == [row(3).case_id]
        # Another process: a new case, one restricted, one erased.
        there.apply(
            ViewBatch(
                [row(4, given_names="Concepción", first_surname="Ajú"), public_only(row(2, version=2))],
                [tracking_at(TP, 6)],
            ),
        )
        assert names(here, "Concha Aju") == [row(4).case_id]
        assert names(here, "Chuy Xicara") == [], "restricted there: no name here"
        there.apply(ViewBatch([], [tracking_at(KEYS, 1)], {}, [row(1).case_id]))
        assert names(here, "María José López") == [], "erased there: gone from here"
        assert set(index_for(here).entries) == {row(n).case_id for n in (1, 2, 3, 4)}
        assert index_for(here).entries[row(1).case_id].name.empty
        # A write here after another's: the index still catches up with both.
        there.apply(ViewBatch([dataclasses.replace(row(5), given_names="Rigoberta")], [tracking_at(TP, 7)]))
        here.apply(ViewBatch([dataclasses.replace(row(6), given_names="Rigoberto")], [tracking_at(TP, 8)]))
        assert set(names(here, "Rigoberta López")) == {row(5).case_id, row(6).case_id}


class TestSQLiteSearch(SearchContract):
    @pytest.fixture
    def open_views(self, tmp_path: Path) -> Callable[[], JurisdictionViews]:
        keys = MemoryKeyStore(MasterKey(new_data_key()))
        return lambda: SQLiteJurisdictionViews(tmp_path / "views-mx.sqlite", "MX", keys)


@pytest.mark.integration
class TestPostgresSearch(SearchContract):
    @pytest.fixture
    def open_views(self, database_url: str) -> Callable[[], JurisdictionViews]:
        conninfo = Settings(database_url=database_url).postgres_conninfo()
        keys = MemoryKeyStore(MasterKey(new_data_key()))
        return lambda: PostgresJurisdictionViews(conninfo, "MX", keys)
