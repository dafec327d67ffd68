"""KeyStore.prime (ledger/key_priming.py) on both backends: a store that brought a batch's
keys in at once answers current(), get() and granted_to() exactly as one that asked for each,
without asking the database again; a destroyed newest key is left for current() to decide."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.crypto import MasterKey, new_data_key
from ledger.keystore import KeyStore
from services.backends import embedded, servers
from services.settings import Settings

Opened = Callable[[], KeyStore]


class PrimingContract:
    @pytest.fixture
    def make(self) -> Callable[[], KeyStore]:
        raise NotImplementedError

    @pytest.fixture
    def opened(self, make: Callable[[], KeyStore]) -> Iterator[Opened]:
        handles: list[KeyStore] = []

        def open_() -> KeyStore:
            handles.append(make())
            return handles[-1]

        yield open_
        for handle in handles:
            handle.close()

    def test_primed_answers_are_the_stores_answers_without_a_query(self, opened: Opened) -> None:
        writer = opened()
        a, b, c = (str(uuid.uuid4()) for _ in range(3))
        first = writer.current(a, "common")
        rotated = (writer.current(a, "reserved"), writer.rotate(a, "reserved"))
        writer.current(b, "common")
        writer.record_grants({first[0]: frozenset({"MX", "GT"})})
        erased = writer.current(c, "common")
        writer.destroy([erased[0]])
        expected = opened()  # asks per key, as the relay did
        answers = {
            "a/common": expected.current(a, "common"),
            "a/reserved": expected.current(a, "reserved"),
            "old": expected.get(rotated[0][0]),
            "granted": expected.granted_to(first[0]),
            "b/common": expected.current(b, "common"),
            "b/granted": expected.granted_to(expected.current(b, "common")[0]),
        }
        assert answers["a/reserved"] == rotated[1] and answers["granted"] == frozenset({"MX", "GT"})
        primed = opened()
        primed.prime([(a, "common"), (a, "reserved"), (b, "common"), (c, "common")])
        queries = _counting(primed)
        assert {
            "a/common": primed.current(a, "common"),
            "a/reserved": primed.current(a, "reserved"),
            "old": primed.get(rotated[0][0]),
            "granted": primed.granted_to(first[0]),
            "b/common": primed.current(b, "common"),
            "b/granted": primed.granted_to(primed.current(b, "common")[0]),
        } == answers
        assert queries == []
        # The erased tier was not primed: current() decides (a new generation), as it did.
        assert primed.current(c, "common")[0] == f"{c}/common/2"
        assert queries  # control: the counter does see a store's query

    def test_priming_what_is_known_asks_nothing(self, opened: Opened) -> None:
        store = opened()
        a = str(uuid.uuid4())
        store.current(a, "common")
        queries = _counting(store)
        store.prime([(a, "common")])
        assert queries == []


def _counting(store: KeyStore) -> list[str]:
    """Records each storage query the store makes from now on."""
    seen: list[str] = []
    for name in ("_rows", "_row", "_rows_of", "_rows_by_ids", "_grants"):
        method = getattr(store, name)

        def counted(*args: Any, _name: str = name, _method: Any = method) -> Any:
            seen.append(_name)
            return _method(*args)

        setattr(store, name, counted)
    return seen


class TestSQLitePriming(PrimingContract):
    @pytest.fixture
    def make(self, tmp_path: Path) -> Callable[[], KeyStore]:
        backend, master = embedded(Settings(node="MX", data_dir=tmp_path)), MasterKey(new_data_key())
        return lambda: backend.key_store(master)


@pytest.mark.integration
class TestPostgresPriming(PrimingContract):
    @pytest.fixture
    def make(self, database_url: str, tmp_path: Path) -> Callable[[], KeyStore]:
        backend = servers(Settings(node="MX", data_dir=tmp_path, database_url=database_url))
        master = MasterKey(new_data_key())
        return lambda: backend.key_store(master)
