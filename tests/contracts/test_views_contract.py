"""One contract for a jurisdiction's views on SQLite and on PostgreSQL: rows and positions
commit together or not at all."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError
from psycopg.sql import SQL, Literal

from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from projections.claims import PartitionTaken
from projections.migrations import MIGRATIONS
from projections.postgres_views import DIRECT_ROWS, PostgresJurisdictionViews, views_schema
from projections.sqlite_views import SQLiteJurisdictionViews
from projections.view_batch import ViewBatch
from projections.views import (
    VIEWS_FORMAT,
    CaseRow,
    JurisdictionViews,
    Link,
    TimelineRow,
    ViewsFromLaterRelease,
    tracking_at,
)
from services.settings import Settings
from topics.log import TopicPartition

TP = TopicPartition("ledger.events.GT", 0)
OTHER = TopicPartition("ledger.events.GT", 1)
KEYS = TopicPartition("ledger.keys", 0)
SetFormat = Callable[[JurisdictionViews, "int | None"], None]
# A format the views of which are rebuilt (the last migration that says so comes after it).
BEFORE_REBUILD = max(m.to_format for m in MIGRATIONS if m.rebuild) - 1


def row(n: int = 1, version: int = 1, **changes: object) -> CaseRow:
    base = CaseRow(
        case_id=f"00000000-0000-4000-8000-{n:012d}",
        origin="GT",
        version=version,
        status="missing",
        reported_at=datetime(2026, 2, n, 10, tzinfo=UTC),
        sex="female",
        age_band="18-29",
        nationalities=("GT", "MX"),
        last_seen_country="MX",
        last_seen_month="2026-02",
        route=None,
        restricted=False,
        given_names="María José",
        first_surname="López",
        second_surname=None,
        last_seen_date=date(2026, 2, 1),
        last_seen_place="Arriaga",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


class ViewsContract:
    @pytest.fixture
    def open_views(self) -> Callable[[], JurisdictionViews]:
        raise NotImplementedError

    @pytest.fixture
    def views(self, open_views: Callable[[], JurisdictionViews]) -> Iterator[JurisdictionViews]:
        opened = open_views()
        yield opened
        opened.close()

    @pytest.fixture
    def set_format(self) -> SetFormat:
        raise NotImplementedError

    def test_views_of_an_earlier_format_are_emptied_for_a_rebuild_and_of_a_later_one_refused(
        self, views: JurisdictionViews, set_format: SetFormat
    ) -> None:
        assert views.upgrade() is None, "new views are of this release's format"
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 4), tracking_at(KEYS, 9)]))
        assert views.upgrade(keep=[KEYS]) is None and views.cases() == [row(1)]
        for n, earlier in enumerate((None, BEFORE_REBUILD), start=2):  # None: built before formats
            views.apply(ViewBatch([row(n)], [tracking_at(TP, 4 + n)]))
            set_format(views, earlier)
            assert views.upgrade(keep=[KEYS]) == (earlier or 1)
            assert views.cases() == [] and views.positions([TP, KEYS]) == {TP: 0, KEYS: 9}
            assert views.upgrade(keep=[KEYS]) is None, "emptied views are of this release's format"
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 1)]))
        set_format(views, VIEWS_FORMAT + 1)
        with pytest.raises(ViewsFromLaterRelease, match=f"views format {VIEWS_FORMAT + 1}"):
            views.upgrade(keep=[KEYS])
        assert views.cases() == [row(1)] and views.positions([TP]) == {TP: 1}, "nothing was altered"

    def test_processes_upgrading_the_same_views_at_once_rebuild_them_once(
        self, views: JurisdictionViews, open_views: Callable[[], JurisdictionViews], set_format: SetFormat
    ) -> None:
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 4)]))
        set_format(views, BEFORE_REBUILD)
        start = threading.Barrier(4)
        results: list[int | None] = []

        def upgrade() -> None:
            opened = open_views()
            start.wait()
            results.append(opened.upgrade())
            opened.close()

        threads = [threading.Thread(target=upgrade) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results, key=str) == [BEFORE_REBUILD, None, None, None]
        assert views.cases() == []

    def test_rows_and_positions_are_written_together(self, views: JurisdictionViews) -> None:
        assert views.positions([TP, OTHER]) == {TP: 0, OTHER: 0}
        views.apply(ViewBatch([row(1), row(2)], [tracking_at(TP, 5), tracking_at(OTHER, 2)]))
        assert [r.case_id for r in views.cases()] == [row(2).case_id, row(1).case_id]
        assert views.cases()[1] == row(1)
        assert views.positions([TP, OTHER]) == {TP: 5, OTHER: 2}

    def test_a_repeated_position_is_refused_and_its_rows_are_not_written(
        self, views: JurisdictionViews
    ) -> None:
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 3)]))
        with pytest.raises(IntegrityError):
            views.apply(ViewBatch([row(2)], [tracking_at(TP, 3)]))
        assert [r.case_id for r in views.cases()] == [row(1).case_id]
        assert views.positions([TP]) == {TP: 3}

    def test_an_older_version_never_overwrites_a_newer_one(self, views: JurisdictionViews) -> None:
        views.apply(ViewBatch([row(1, version=3, status="located_alive")], [tracking_at(TP, 1)]))
        views.apply(ViewBatch([row(1, version=2, status="missing")], [tracking_at(TP, 2)]))
        assert views.cases()[0].status == "located_alive"

    def test_a_batch_too_large_to_write_directly_is_written_alike(self, views: JurisdictionViews) -> None:
        """PostgreSQL writes a live pass's few rows directly (one pipeline) and a larger batch
        through staging tables: the rows, the newer-wins rule and the positions are the same."""
        many = [row(1, case_id=f"00000000-0000-4000-8001-{n:012d}") for n in range(DIRECT_ROWS + 1)]
        views.apply(ViewBatch(many, [tracking_at(TP, 1)]))
        first, second = many[0], many[1]
        newer = dataclasses.replace(second, version=2, status="located_alive")
        older = dataclasses.replace(first, version=0, status="located_dead")
        views.apply(ViewBatch([older, newer], [tracking_at(TP, 2)]))  # small: written directly
        found = {r.case_id: r for r in views.cases()}
        assert len(found) == DIRECT_ROWS + 1
        assert found[first.case_id] == first and found[second.case_id] == newer
        assert found[many[-1].case_id] == many[-1]
        assert views.positions([TP]) == {TP: 2}

    def test_restricted_rows_hold_no_names(self, views: JurisdictionViews) -> None:
        hidden = row(
            1,
            restricted=True,
            given_names=None,
            first_surname=None,
            last_seen_date=None,
            last_seen_place=None,
        )
        views.apply(ViewBatch([hidden], [tracking_at(TP, 1)]))
        assert views.cases() == [hidden]
        assert views.cases()[0].display_name == "(restricted)"

    def test_a_removed_case_leaves_no_row_and_no_timeline_but_its_chain_head(
        self, views: JurisdictionViews
    ) -> None:
        """A case withheld from this country (projections/withheld.py): nothing of it stays."""
        kept, gone = row(1), row(2)
        entries = [
            TimelineRow(
                aggregate_id=case.case_id,
                version=1,
                aggregate_type="MissingPersonCase",
                event_type="CaseReported",
                origin="MX",
                occurred_at=datetime(2026, 2, 3, tzinfo=UTC),
                recorded_at=datetime(2026, 2, 3, tzinfo=UTC),
                organisation="",
                role="",
                purpose="search",
                public="{}",
                shown="{}",
                withheld=("common",),
            )
            for case in (kept, gone)
        ]
        heads = {kept.case_id: (1, b"k"), gone.case_id: (1, b"g")}
        views.apply(ViewBatch([kept, gone], [tracking_at(TP, 1)], heads, timeline=entries))
        views.apply(ViewBatch([], [tracking_at(TP, 2)], {gone.case_id: (2, b"g2")}, removed=[gone.case_id]))
        assert views.cases() == [kept] and views.timeline(kept.case_id) == [entries[0]], "the control"
        assert views.rows([gone.case_id]) == {} and views.timeline(gone.case_id) == []
        assert views.chain_heads([gone.case_id]) == {gone.case_id: (2, b"g2")}

    def test_fields_above_public_are_stored_sealed_and_a_purge_destroys_their_key(
        self, views: JurisdictionViews, stored: Callable[[JurisdictionViews], bytes]
    ) -> None:
        case = row(1, route="Ruta del Golfo")
        entry = TimelineRow(
            aggregate_id=case.case_id,
            version=1,
            aggregate_type="MissingPersonCase",
            event_type="CaseReported",
            origin="GT",
            occurred_at=datetime(2026, 2, 3, tzinfo=UTC),
            recorded_at=datetime(2026, 2, 3, tzinfo=UTC),
            organisation="Casa del Migrante",
            role="caseworker",
            purpose="search",
            public='{"route": "Ruta del Golfo"}',
            shown='{"person": {"given_names": "María José"}, "last_seen": {"place": "Arriaga"}}',
            withheld=(),
        )
        views.apply(ViewBatch([case], [tracking_at(TP, 1)], {case.case_id: (1, b"h")}, timeline=[entry]))
        assert views.cases() == [case] and views.timeline(case.case_id) == [entry]
        raw = stored(views)
        assert b"Ruta del Golfo" in raw, "control: public fields are kept in clear"
        for text in ("María", "Maria", "López", "Lopez", "Arriaga", "18-29"):
            assert text.encode() not in raw, f"{text} stored in clear"
        keys = views.view_keys  # type: ignore[attr-defined]
        assert keys.store.live(case.case_id)
        views.apply(ViewBatch([], [tracking_at(TP, 2)], purged=[case.case_id]))
        assert keys.store.live(case.case_id) == [], "the purge destroyed the views key"
        assert views.cases()[0].given_names is None and views.timeline(case.case_id)[0].shown == "{}"

    def test_links_to_cases_are_kept_followed_through_remains_and_emptied_by_a_rebuild(
        self, views: JurisdictionViews, stored: Callable[[JurisdictionViews], bytes]
    ) -> None:
        """Remains, samples and matches answer to the rules of the cases they are linked to
        (projections/linked.py): the views keep the links, and whether a case is a minor's,
        both sealed."""
        case, other = row(1).case_id, row(3).case_id  # `other`: a case these views do not hold
        remains, sample, match = (f"00000000-0000-4000-9000-{n:012d}" for n in (1, 2, 3))
        links = [Link(match, case, "case"), Link(remains, case, "case"), Link(sample, remains, "remains")]
        minor = row(2, minor=True, restricted=True, given_names=None)
        views.apply(ViewBatch([row(1, minor=False), minor], [tracking_at(TP, 1)], links=links))
        before = views.digest()
        again = [Link(remains, other, "case"), links[0]]  # a link applied again is kept once
        views.apply(ViewBatch([], [tracking_at(TP, 2)], links=again))
        assert views.links([match]) == [links[0]] and len(views.links()) == 4
        assert views.linked_cases([match, remains, sample, case]) == {
            match: {case},
            remains: {case, other},
            sample: {case, other},
        }
        assert [r.minor for r in views.cases()] == [True, False] and views.digest() != before
        raw = stored(views)
        assert remains.encode() in raw, "control: a record's id is kept in clear"
        assert other.encode() not in raw, "the case a record is linked to is stored sealed"
        for column in (b"minor", b"linked_id"):
            assert column not in raw
        views.reset()
        assert views.links() == [] and views.linked_cases([sample]) == {}

    @pytest.mark.parametrize("earlier", [3, 4])
    def test_views_of_formats_3_and_4_gain_the_links_and_are_rebuilt(
        self,
        views: JurisdictionViews,
        open_views: Callable[[], JurisdictionViews],
        set_format: SetFormat,
        drop_links: Callable[[JurisdictionViews], None],
        earlier: int,
    ) -> None:
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 1)]))
        drop_links(views)  # as views of those formats were: no links table
        set_format(views, earlier)
        opened = open_views()
        try:
            assert opened.upgrade() == earlier and opened.cases() == []
            link = Link("00000000-0000-4000-9000-000000000001", row(2).case_id, "case")
            opened.apply(ViewBatch([row(2, minor=False)], [tracking_at(TP, 1)], links=[link]))
            assert opened.cases() == [row(2, minor=False)] and opened.links() == [link]
        finally:
            opened.close()

    def test_views_open_after_rebuild_after_rebuild(
        self, views: JurisdictionViews, open_views: Callable[[], JurisdictionViews]
    ) -> None:
        for n in (1, 2, 3):
            views.apply(ViewBatch([row(n)], [tracking_at(TP, 1), tracking_at(KEYS, n)]))
            views.reset(keep=[KEYS])
            again = open_views()  # another process of the node
            assert again.cases() == [] and again.positions([TP, KEYS]) == {TP: 0, KEYS: n}
            again.close()

    def test_views_survive_reopening(
        self, views: JurisdictionViews, open_views: Callable[[], JurisdictionViews]
    ) -> None:
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 1)]))
        views.close()
        again = open_views()
        try:
            assert again.cases() == [row(1)]
            assert again.positions([TP]) == {TP: 1}
        finally:
            again.close()

    def test_views_opened_by_several_processes_at_once_are_one_set_of_tables(
        self, open_views: Callable[[], JurisdictionViews]
    ) -> None:
        """Rebuild workers, a serving node and its CLI open the same views at the same moment."""
        start = threading.Barrier(6)
        opened: list[JurisdictionViews] = []
        failures: list[BaseException] = []

        def open_once() -> None:
            start.wait()
            try:
                opened.append(open_views())
            except BaseException as error:  # collected and asserted below
                failures.append(error)

        threads = [threading.Thread(target=open_once) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == [] and len(opened) == 6
        opened[0].apply(ViewBatch([row(1)], [tracking_at(TP, 1)]))
        assert [r.case_id for r in opened[-1].cases()] == [row(1).case_id]
        for views in opened:
            views.close()


class TestSQLiteViews(ViewsContract):
    @pytest.fixture
    def open_views(self, tmp_path: Path) -> Callable[[], JurisdictionViews]:
        keys = MemoryKeyStore(MasterKey(new_data_key()))  # the node's: every opening shares it
        return lambda: SQLiteJurisdictionViews(tmp_path / "views-mx.sqlite", "MX", keys)

    @pytest.fixture
    def drop_links(self) -> Callable[[JurisdictionViews], None]:
        def drop(views: JurisdictionViews) -> None:
            with views.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                cursor.execute("DROP TABLE case_links")

        return drop

    @pytest.fixture
    def stored(self, tmp_path: Path) -> Callable[[JurisdictionViews], bytes]:
        """Every byte of the views' file and its -wal, unchecked-pointed."""
        return lambda _: b"".join(p.read_bytes() for p in tmp_path.glob("views-mx.sqlite*"))

    def test_views_of_format_3_gain_the_sealed_columns_and_the_links_and_are_rebuilt(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "views-old.sqlite"
        with sqlite3.connect(path) as connection:
            connection.execute(
                "CREATE TABLE cases (case_id TEXT PRIMARY KEY, origin TEXT NOT NULL, version INTEGER "
                "NOT NULL, status TEXT NOT NULL, reported_at TEXT NOT NULL, sex TEXT NOT NULL, age_band "
                "TEXT, nationalities TEXT NOT NULL, last_seen_country TEXT NOT NULL, last_seen_month TEXT, "
                "route TEXT, restricted INTEGER NOT NULL, given_names TEXT, first_surname TEXT, "
                "second_surname TEXT, last_seen_date TEXT, last_seen_place TEXT, "
                "consents TEXT NOT NULL DEFAULT '')"
            )
            connection.execute("CREATE TABLE views_format (format INTEGER NOT NULL)")
            connection.execute("INSERT INTO views_format VALUES (3)")
        views = SQLiteJurisdictionViews(path, "MX")
        try:
            assert views.upgrade() == 3
            link = Link("00000000-0000-4000-9000-000000000001", row(1).case_id, "case")
            views.apply(ViewBatch([row(1, minor=False)], [tracking_at(TP, 1)], links=[link]))
            assert views.cases() == [row(1, minor=False)] and views.links() == [link]
        finally:
            views.close()

    @pytest.fixture
    def set_format(self) -> SetFormat:
        def stamp(views: JurisdictionViews, value: int | None) -> None:
            with views.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                cursor.execute("DELETE FROM views_format")
                if value is not None:
                    cursor.execute("INSERT INTO views_format VALUES (?)", (value,))

        return stamp


@pytest.mark.integration
class TestPostgresViews(ViewsContract):
    @pytest.fixture
    def open_views(self, database_url: str) -> Callable[[], JurisdictionViews]:
        conninfo = Settings(database_url=database_url).postgres_conninfo()
        keys = MemoryKeyStore(MasterKey(new_data_key()))  # the node's: every opening shares it
        return lambda: PostgresJurisdictionViews(conninfo, "MX", keys)

    @pytest.fixture
    def drop_links(self) -> Callable[[JurisdictionViews], None]:
        def drop(views: JurisdictionViews) -> None:
            schema = views._schema  # type: ignore[attr-defined]
            with views.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                cursor.execute(SQL("DROP TABLE {}.case_links").format(schema))

        return drop

    @pytest.fixture
    def stored(self) -> Callable[[JurisdictionViews], bytes]:
        """Every row of the views' tables as PostgreSQL prints it (bytea in hex)."""

        def rows(views: JurisdictionViews) -> bytes:
            schema = views._schema  # type: ignore[attr-defined]
            found = b""
            with views.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                for table in ("cases", "timeline", "forensic", "case_links"):
                    cursor.execute(SQL("SELECT t::text AS r FROM {}.{} t").format(schema, SQL(table)))
                    found += "".join(r["r"] for r in cursor.fetchall()).encode()
            return found

        return rows

    @pytest.fixture
    def set_format(self) -> SetFormat:
        def stamp(views: JurisdictionViews, value: int | None) -> None:
            schema = views._schema  # type: ignore[attr-defined]
            with views.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                cursor.execute(SQL("DELETE FROM {}.views_format").format(schema))
                if value is not None:
                    cursor.execute(SQL("INSERT INTO {}.views_format VALUES (%s)").format(schema), (value,))

        return stamp

    def test_a_process_that_lost_a_partition_cannot_commit_it(
        self, views: JurisdictionViews, open_views: Callable[[], JurisdictionViews]
    ) -> None:
        successor = open_views()
        try:
            assert views.claim([TP]) == {TP: 0}
            views.apply(ViewBatch([row(1)], [tracking_at(TP, 3), tracking_at(KEYS, 9)]))  # keys: not claimed
            views.apply(ViewBatch([row(2)], [tracking_at(TP, 5)]))  # from its own last commit
            assert successor.claim([TP]) == {TP: 5}  # the group moved TP; the loser has not heard
            successor.apply(ViewBatch([row(3)], [tracking_at(TP, 6)]))
            # The loser's next batch read from 5 too; its position (7) is past the stored one,
            # which a forward-only check would let through, applying record 5 twice.
            with pytest.raises(PartitionTaken):
                views.apply(ViewBatch([row(4)], [tracking_at(TP, 7)]))
            assert {r.case_id for r in views.cases()} == {row(n).case_id for n in (1, 2, 3)}
            assert views.positions([TP, KEYS]) == {TP: 6, KEYS: 9}
            assert views.claim([TP]) == {TP: 6}  # claimed again (the group gave it back)
            views.apply(ViewBatch([row(4)], [tracking_at(TP, 7)]))
            with pytest.raises(PartitionTaken):
                successor.apply(ViewBatch([row(5)], [tracking_at(TP, 8)]))
            successor.release([TP])
            successor.apply(
                ViewBatch([], [tracking_at(TP, 9)])
            )  # unclaimed: forward-only, as a lone projector
        finally:
            successor.close()

    def test_two_processes_claiming_a_partition_never_written_commit_it_once(
        self, views: JurisdictionViews, open_views: Callable[[], JurisdictionViews]
    ) -> None:
        other = open_views()
        try:
            assert views.claim([TP]) == other.claim([TP]) == {TP: 0}
            other.apply(ViewBatch([row(1)], [tracking_at(TP, 2)]))
            with pytest.raises(PartitionTaken):
                views.apply(ViewBatch([row(2)], [tracking_at(TP, 2)]))
            assert [r.case_id for r in views.cases()] == [row(1).case_id]
        finally:
            other.close()

    def test_views_of_format_3_gain_the_sealed_columns_and_the_links_and_are_rebuilt(
        self, views: JurisdictionViews, open_views: Callable[[], JurisdictionViews], set_format: SetFormat
    ) -> None:
        schema = views._schema  # type: ignore[attr-defined]
        views.apply(ViewBatch([row(1)], [tracking_at(TP, 1)]))
        with views.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                SQL("ALTER TABLE {}.cases DROP COLUMN sealed, DROP COLUMN name_tokens").format(schema)
            )
            cursor.execute(SQL("DROP TABLE {}.case_links").format(schema))
        set_format(views, 3)
        opened = open_views()
        try:
            assert opened.upgrade() == 3
            link = Link("00000000-0000-4000-9000-000000000001", row(2).case_id, "case")
            opened.apply(ViewBatch([row(2, minor=False)], [tracking_at(TP, 1)], links=[link]))
            assert opened.cases() == [row(2, minor=False)] and opened.links() == [link]
        finally:
            opened.close()

    def test_opening_views_of_a_later_release_leaves_their_sql_views_as_they_are(
        self, views: JurisdictionViews, open_views: Callable[[], JurisdictionViews], set_format: SetFormat
    ) -> None:
        schema = views._schema  # type: ignore[attr-defined]
        later = SQL(
            "CREATE OR REPLACE VIEW {0}.remains AS SELECT aggregate_id AS remains_id, origin, version, "
            "status, recorded_at, state, withheld, 'later' AS added FROM {0}.forensic "
            "WHERE aggregate_type = 'UnidentifiedRemains'"
        ).format(schema)

        def remains_view() -> str:
            with views.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                cursor.execute(
                    SQL("SELECT pg_get_viewdef({}::regclass) AS d").format(
                        Literal(f"{views_schema('MX')}.remains")
                    )
                )
                return str(cursor.fetchone()["d"])

        mine = remains_view()
        with views.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            cursor.execute(later)
        theirs = remains_view()
        assert "later" in theirs and theirs != mine
        set_format(views, VIEWS_FORMAT + 1)
        opened = open_views()  # this release's DDL runs here, before any format check
        try:
            with pytest.raises(ViewsFromLaterRelease):
                opened.upgrade()
        finally:
            opened.close()
        assert remains_view() == theirs, "this release replaced a later release's view"
        set_format(views, VIEWS_FORMAT)
        open_views().close()  # views of this release's format get this release's definitions
        assert remains_view() == mine
