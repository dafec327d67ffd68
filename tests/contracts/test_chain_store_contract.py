"""One contract for every ChainStore (topics/chain.py): the embedded SQLite store and the
PostgreSQL store keep the relay's hash-chain links the same way. A restarted relay continues
each aggregate's chain from these links, so a link lost, or one the relay replaced and the
store did not, breaks the chain for every reader downstream."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.postgres_views import ensure_schema
from services.backends import embedded, ledger_schema, servers
from services.settings import Settings
from topics.chain import ChainStore, Link, PostgresChainStore, SQLiteChainStore

OpenChain = Callable[[], ChainStore]  # calling again reopens the same store


def digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def links(aggregate_id: str, versions: range, salt: str = "") -> list[Link]:
    return [(aggregate_id, v, digest(aggregate_id, v, salt)) for v in versions]


def aggregate() -> str:
    return str(uuid.uuid4())


class ChainStoreContract:
    """Subclasses provide `open_chain`: a new handle on the same links, as a restarted relay
    would have (the previous handle is left open, as a crash leaves it)."""

    @pytest.fixture
    def open_chain(self) -> OpenChain:
        raise NotImplementedError

    @pytest.fixture
    def opened(self, open_chain: OpenChain) -> Iterator[OpenChain]:
        handles: list[ChainStore] = []

        def open_() -> ChainStore:
            handles.append(open_chain())
            return handles[-1]

        yield open_
        for handle in handles:
            handle.close()

    def test_links_are_read_back_after_a_restart(self, opened: OpenChain) -> None:
        a, b = aggregate(), aggregate()
        chain = opened()
        chain.put([*links(a, range(1, 4)), *links(b, range(1, 2))])
        again = opened()
        assert [again.get(a, v) for v in range(1, 4)] == [digest(a, v, "") for v in range(1, 4)]
        assert again.get(b, 1) == digest(b, 1, "")
        # Control: what was never recorded is not found (the check can tell).
        assert again.get(a, 4) is None and again.get(b, 2) is None and again.get(aggregate(), 1) is None

    def test_recording_the_same_links_twice_is_harmless(self, opened: OpenChain) -> None:
        a = aggregate()
        chain = opened()
        chain.put(links(a, range(1, 3)))
        chain.put(links(a, range(1, 3)))
        opened().put(links(a, range(2, 4)))  # a restarted relay repeats a batch's overlap
        assert [opened().get(a, v) for v in range(1, 4)] == [digest(a, v, "") for v in range(1, 4)]
        chain.put([])

    def test_a_link_recorded_again_with_another_hash_replaces_it(self, opened: OpenChain) -> None:
        """The relay records a batch's links before publishing it; when that publish is
        abandoned, the batch is encoded again and the links recorded then are what the topic
        holds, so they are what the next event of the aggregate must chain to."""
        a = aggregate()
        opened().put(links(a, range(1, 3), salt="abandoned"))
        opened().put(links(a, range(2, 3), salt="published"))
        again = opened()
        assert again.get(a, 2) == digest(a, 2, "published")
        # Control: the versions not recorded again keep theirs.
        assert again.get(a, 1) == digest(a, 1, "abandoned")

    def test_a_batch_that_fails_leaves_nothing_and_the_store_usable(self, opened: OpenChain) -> None:
        a, b = aggregate(), aggregate()
        chain = opened()
        bad: list[Any] = [*links(a, range(1, 3)), (a, 3, None)]  # a link without its hash
        with pytest.raises(Exception):  # noqa: B017 - each backend's driver names it its own way
            chain.put(bad)
        assert opened().get(a, 1) is None and chain.get(a, 2) is None
        # Control: the same handle records the next good batch.
        chain.put(links(b, range(1, 2)))
        assert opened().get(b, 1) == digest(b, 1, "")

    @settings(
        max_examples=25,
        deadline=None,
        # One property, run by each backend's class; examples share the store, each on
        # aggregates of its own.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(1, 6), st.integers(1, 4), st.booleans()),
            min_size=1,
            max_size=8,
        )
    )
    def test_any_sequence_of_batches_and_restarts_keeps_the_latest_link_of_each_version(
        self, open_chain: OpenChain, batches: list[tuple[int, int, int, bool]]
    ) -> None:
        follow(open_chain, batches)


def follow(open_chain: OpenChain, batches: list[tuple[int, int, int, bool]]) -> None:
    """Each batch (aggregate, first version, how many, restart first) records consecutive
    links; a fresh handle then reads exactly the model: the latest link of every version, and
    each aggregate's head (its highest version with a link) never goes back."""
    aggregates = [aggregate() for _ in range(3)]
    model: dict[tuple[str, int], bytes] = {}
    heads = dict.fromkeys(aggregates, 0)
    handles = [open_chain()]
    try:
        for n, (which, first, count, restart) in enumerate(batches):
            if restart:
                handles.append(open_chain())
            a = aggregates[which]
            batch = links(a, range(first, first + count), salt=str(n))
            handles[-1].put(batch)
            model.update({(x, v): h for x, v, h in batch})
            handles.append(fresh := open_chain())
            for (x, v), h in model.items():
                assert fresh.get(x, v) == h, (x, v)
            for x in aggregates:
                head = max((v for v in range(1, 12) if fresh.get(x, v) is not None), default=0)
                assert head >= heads[x]
                heads[x] = head
    finally:
        for handle in handles:
            handle.close()


def test_the_property_fails_on_a_store_that_keeps_the_first_link(tmp_path: Path) -> None:
    """Control for the property: a store that ignores a link recorded again is caught."""

    class FirstWins(SQLiteChainStore):
        def put(self, links: list[Link]) -> None:  # type: ignore[override]
            super().put([link for link in links if self.get(link[0], link[1]) is None])

    first_wins: OpenChain = lambda: FirstWins(tmp_path / "ledger.sqlite")  # noqa: E731
    follow(first_wins, [(0, 1, 3, False), (1, 1, 2, True)])  # distinct links pass
    with pytest.raises(AssertionError):
        follow(first_wins, [(0, 1, 3, False), (0, 2, 1, True)])


# Each backend's store as a node gets it: from its factory (services/backends.py).


class TestSQLiteChainStore(ChainStoreContract):
    @pytest.fixture
    def open_chain(self, tmp_path: Path) -> OpenChain:
        backend = embedded(Settings(node="MX", data_dir=tmp_path))
        probe = backend.chain_store()
        probe.close()
        assert isinstance(probe, SQLiteChainStore)
        return backend.chain_store


@pytest.mark.integration
class TestPostgresChainStore(ChainStoreContract):
    @pytest.fixture
    def open_chain(self, database_url: str, tmp_path: Path) -> OpenChain:
        backend = servers(Settings(node="MX", data_dir=tmp_path, database_url=database_url))
        ensure_schema(backend.settings.postgres_conninfo(), ledger_schema("MX"))  # as the ledger does first
        probe = backend.chain_store()
        probe.close()
        assert isinstance(probe, PostgresChainStore)
        return backend.chain_store
