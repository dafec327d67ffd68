"""One contract for every KeyStore: the embedded SQLite store (topics/key_stores.py) and the
PostgreSQL store (topics/key_stores.py) pass the same cases. Erasure is the destruction of a
key, so "destroyed stays destroyed, across a reopen and a grant received again" is the
invariant that matters most here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.crypto import MasterKey, Refused, new_data_key
from ledger.keystore import KeyStore, key_id_for, parse_key_id
from services.backends import embedded, servers
from services.settings import Settings
from topics.key_stores import PostgresKeyStore, SQLiteKeyStore

OpenStore = Callable[..., KeyStore]  # open_store(master=None): calling again reopens the same store
Step = tuple[str, int, str]  # (operation, which aggregate, tier)


def aggregate() -> str:
    return str(uuid.uuid4())


class KeyStoreContract:
    """Subclasses provide `open_store(master=None)`: a new handle on the same stored keys,
    as another process or a restarted node would have (nothing shared in memory)."""

    @pytest.fixture
    def open_store(self) -> OpenStore:
        raise NotImplementedError

    @pytest.fixture
    def opened(self, open_store: OpenStore) -> Iterator[Callable[..., KeyStore]]:
        handles: list[KeyStore] = []

        def open_(master: MasterKey | None = None) -> KeyStore:
            handles.append(open_store(master))
            return handles[-1]

        yield open_
        for handle in handles:
            handle.close()

    # ------------------------------------------------------------ get / wrap round trips

    def test_a_key_made_once_is_the_same_key_after_a_reopen(self, opened: Callable[..., KeyStore]) -> None:
        a = aggregate()
        store = opened()
        key_id, key = store.current(a, "restricted")
        assert parse_key_id(key_id) == (a, "restricted", 1) and len(key) == 32
        again = opened()  # a restarted node: nothing cached
        assert again.get(key_id) == key
        assert again.current(a, "restricted") == (key_id, key)
        assert again.live(a) == [key_id] == again.known(a)

    def test_keys_are_wrapped_by_the_master_key_at_rest(self, opened: Callable[..., KeyStore]) -> None:
        a = aggregate()
        key_id, _ = opened().current(a, "restricted")
        # Control: the round trip above is not a lookup of bytes kept in clear; another master
        # key finds the row and cannot open it.
        with pytest.raises(Refused):
            opened(MasterKey(new_data_key())).get(key_id)

    def test_put_keeps_a_received_key_and_load_brings_keys_in_with_one_call(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a, b = aggregate(), aggregate()
        received = {
            key_id_for(a, "restricted", 1): new_data_key(),
            key_id_for(b, "sensitive", 2): new_data_key(),
        }
        opened().put_many(received.items())
        again = opened()
        assert all(again.cached(k) is None for k in received)
        again.load([*received, key_id_for(a, "restricted", 9)])  # an unknown id is skipped
        assert {k: again.cached(k) for k in received} == received
        assert again.get(key_id_for(a, "restricted", 9)) is None

    def test_a_key_load_did_not_find_is_none_until_the_next_load(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a = aggregate()
        key_id, key = key_id_for(a, "common", 1), new_data_key()
        store = opened()
        store.load([key_id])  # not granted yet
        opened().put_many([(key_id, key)])  # another process keeps it now
        assert store.get(key_id) is None  # the answer of the batch's load, without a query
        store.load([])  # the next batch: the earlier answer no longer stands
        assert store.get(key_id) == key
        store.put_many([(key_id, key)])
        assert store.get(key_id) == key

    # ------------------------------------------------------------ inserting many is idempotent

    def test_inserting_the_same_keys_again_keeps_the_first(self, opened: Callable[..., KeyStore]) -> None:
        a = aggregate()
        key_id = key_id_for(a, "restricted", 1)
        first, second = new_data_key(), new_data_key()
        store = opened()
        store.put_many([(key_id, first)])
        store.put_many([(key_id, first)])
        opened().put_many([(key_id, second)])  # another process, another key for the same id
        assert opened().get(key_id) == first
        assert store.get(key_id) == first
        assert opened().known(a) == [key_id]
        # Control: the check tells keys apart.
        assert first != second

    def test_first_keys_of_many_aggregates_are_made_once(self, opened: Callable[..., KeyStore]) -> None:
        wanted = {aggregate(): ["restricted", "sensitive", "restricted"] for _ in range(5)}
        store = opened()
        store.make_first_keys(wanted)
        made = {(a, t): store.current(a, t) for a, tiers in wanted.items() for t in tiers}
        other = opened()
        other.make_first_keys(wanted)  # again, from another process: nothing new is made
        assert {(a, t): other.current(a, t) for a, t in made} == made
        for a in wanted:
            assert sorted(other.known(a)) == sorted(k for (x, _), (k, _) in made.items() if x == a)

    def test_new_keys_for_an_aggregate_made_elsewhere_are_the_ones_made_first(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a = aggregate()
        first = opened().current_many(a, ["restricted", "sensitive"], new=True)
        second = opened().current_many(a, ["sensitive", "restricted"], new=True)
        assert second == first and {parse_key_id(k)[2] for k, _ in first.values()} == {1}

    # ------------------------------------------------------------ destruction

    def test_a_destroyed_key_is_unreadable_and_stays_destroyed(self, opened: Callable[..., KeyStore]) -> None:
        a, b = aggregate(), aggregate()
        store = opened()
        key_id, key = store.current(a, "restricted")
        kept_id, kept = store.current(b, "restricted")
        assert store.destroy_aggregate(a) == [key_id]
        assert store.get(key_id) is None and store.cached(key_id) is None
        assert store.live(a) == [] and store.known(a) == [key_id]  # the row says it existed
        assert store.erased(a, "restricted")
        again = opened()
        again.put_many([(key_id, key)])  # the same key received again (a replayed grant)
        again.load([key_id])
        assert again.get(key_id) is None and opened().get(key_id) is None
        assert again.erased(a, "restricted")
        # Control: destroying one aggregate's keys leaves another's readable.
        assert opened().get(kept_id) == kept and not again.erased(b, "restricted")

    def test_a_key_destroyed_by_another_process_is_gone_here_once_memory_is_forgotten(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a, b = aggregate(), aggregate()
        store = opened()
        key_id, _ = store.current(a, "restricted")
        kept_id, kept = store.current(b, "restricted")
        other = opened()  # another worker of the node, which reads the tombstone
        other.destroy_aggregate(a)
        assert store.cached(key_id) is not None  # the control: memory still holds it here
        store.forget_all()
        assert store.cached(key_id) is None and store.get(key_id) is None
        assert store.get(kept_id) == kept and store.current(b, "restricted") == (kept_id, kept)

    def test_a_tier_needed_after_erasure_gets_a_new_generation_never_the_old_key(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a = aggregate()
        store = opened()
        old_id, old = store.current(a, "restricted")
        store.destroy([old_id])
        new_id, new = opened().current(a, "restricted")
        assert parse_key_id(new_id) == (a, "restricted", 2) and new != old
        assert opened().get(old_id) is None and not opened().erased(a, "restricted")

    def test_an_erased_aggregate_counts_as_erased_for_a_tier_it_never_had(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a, b = aggregate(), aggregate()
        store = opened()
        store.current(a, "genetic")
        store.current(b, "genetic")
        assert not store.erased(a, "common"), "control: a live aggregate is not erased"
        assert not store.erased(aggregate(), "common"), "control: nor is one without keys"
        store.destroy_aggregate(a)
        # The key a relay would make for its envelope after the erasure is never made.
        assert opened().erased(a, "common") and not opened().erased(b, "common")

    def test_destroying_an_aggregate_forgets_keys_another_handle_destroyed(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a = aggregate()
        relay, command = opened(), opened()
        key_id, _ = relay.current(a, "common")  # open in this handle's memory
        command.destroy_aggregate(a)
        assert relay.cached(key_id) is not None and not relay.erased(a, "common"), "control: stale"
        assert relay.destroy_aggregate(a) == []
        assert relay.cached(key_id) is None and relay.get(key_id) is None and relay.erased(a, "common")

    # ------------------------------------------------------------ generations

    def test_rotation_adds_a_generation_and_the_old_one_still_opens_old_data(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a = aggregate()
        store = opened()
        first_id, first = store.current(a, "restricted")
        second_id, second = store.rotate(a, "restricted")
        assert [parse_key_id(k)[2] for k in (first_id, second_id)] == [1, 2] and second != first
        again = opened()
        assert again.current(a, "restricted") == (second_id, second)
        assert again.get(first_id) == first
        third_id, _ = again.rotate(a, "restricted")
        assert parse_key_id(third_id)[2] == 3
        assert store.rotate(a, "restricted")[0] == key_id_for(a, "restricted", 4)  # a stale handle too
        assert sorted(parse_key_id(k)[2] for k in opened().known(a)) == [1, 2, 3, 4]

    # ------------------------------------------------------------ grants

    def test_grants_are_remembered_across_a_reopen(self, opened: Callable[..., KeyStore]) -> None:
        a = aggregate()
        store = opened()
        key_id, _ = store.current(a, "restricted")
        other_id, _ = store.current(a, "sensitive")
        assert opened().granted_to(key_id) is None  # never granted
        store.record_grants({key_id: frozenset({"MX", "US"})})
        assert opened().granted_to(key_id) == frozenset({"MX", "US"})
        store.record_grants({key_id: frozenset({"MX"})})  # a reader lost its entitlement
        assert opened().granted_to(key_id) == frozenset({"MX"})
        # Control: a grant to one key is not a grant to another.
        assert opened().granted_to(other_id) is None

    # ------------------------------------------------------------ backup and restore (#18)

    def test_export_and_restore_give_back_every_key_and_keep_destroyed_ones_destroyed(
        self, opened: Callable[..., KeyStore]
    ) -> None:
        a, b, c, d = aggregate(), aggregate(), aggregate(), aggregate()
        store = opened()
        live_id, live = store.current(a, "restricted")
        gone_id, _ = store.current(b, "restricted")
        store.destroy([gone_id])
        exported = opened().export()
        assert exported[live_id] == live and exported[gone_id] is None

        # Keys from a backup: one kept, one destroyed there, one live here but destroyed there.
        back, held_id = new_data_key(), store.current(c, "restricted")[0]
        backup = {key_id_for(d, "restricted", 1): back, key_id_for(d, "restricted", 2): None, held_id: None}
        assert opened().restore(backup) == (1, 2)
        again = opened()
        assert again.get(key_id_for(d, "restricted", 1)) == back
        assert again.get(held_id) is None and again.erased(c, "restricted")
        assert again.erased(d, "restricted"), "the newest generation was destroyed"
        assert again.current(d, "restricted")[0] == key_id_for(d, "restricted", 3), "never an id reused"
        assert again.restore(backup) == (1, 2) and opened().export()[live_id] == live

    # ------------------------------------------------------------ property

    @settings(
        max_examples=25,
        deadline=None,
        # One property, run by each backend's class (differing executors); examples share the
        # store, each on aggregates of its own.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        st.lists(
            st.one_of(
                st.tuples(
                    st.sampled_from(["current", "rotate"]), st.integers(0, 1), st.sampled_from(["r", "s"])
                ),
                st.tuples(st.just("destroy"), st.integers(0, 1), st.just("")),
                st.tuples(st.just("reopen"), st.just(0), st.just("")),
            ),
            max_size=12,
        )
    )
    def test_any_sequence_keeps_generations_contiguous_and_destroyed_keys_gone(
        self, open_store: OpenStore, steps: list[Step]
    ) -> None:
        follow(open_store, steps)


def follow(open_store: OpenStore, steps: list[Step]) -> None:
    """Apply the steps to the store and to a model of it; after each, a fresh handle reads
    exactly the model: generations 1..n per tier, destroyed keys gone, the rest unchanged."""
    aggregates = [aggregate(), aggregate()]  # fresh per example: examples share the store
    model: dict[str, bytes | None] = {}  # key id -> key, None once destroyed
    handles = [open_store()]
    try:
        for op, n, tier in steps:
            a, store = aggregates[n], handles[-1]
            if op == "reopen":
                handles.append(open_store())
            elif op == "destroy":
                store.destroy_aggregate(a)
                model.update({k: None for k, v in model.items() if v is not None and k.startswith(a)})
            else:
                generations = [parse_key_id(k)[2] for k in model if k.startswith(f"{a}/{tier}/")]
                latest = key_id_for(a, tier, max(generations)) if generations else None
                key_id, key = (store.current if op == "current" else store.rotate)(a, tier)
                if op == "current" and latest is not None and model[latest] is not None:
                    assert (key_id, key) == (latest, model[latest])
                else:
                    assert key_id == key_id_for(a, tier, max(generations, default=0) + 1)
                    model[key_id] = key
            handles.append(fresh := open_store())
            for key_id, key in model.items():
                assert fresh.get(key_id) == key, key_id
            for a in aggregates:
                assert sorted(fresh.known(a)) == sorted(k for k in model if k.startswith(a))
                assert sorted(fresh.live(a)) == sorted(k for k, v in model.items() if k.startswith(a) and v)
    finally:
        for handle in handles:
            handle.close()


def test_the_property_fails_on_a_store_that_forgets_a_destruction(tmp_path: Path) -> None:
    """Control for the property: a store whose destruction never reaches the disk (only the
    handle's memory) is caught by the fresh handle."""

    class Forgetful(SQLiteKeyStore):
        def _destroy(self, key_ids: object) -> None:
            pass

    master = MasterKey(new_data_key())
    forgetful: OpenStore = lambda other=None: Forgetful(master, tmp_path / "keys.sqlite")  # noqa: E731
    follow(forgetful, [("current", 0, "r"), ("reopen", 0, "")])  # what it does keep passes
    with pytest.raises(AssertionError):
        follow(forgetful, [("current", 0, "r"), ("destroy", 0, "")])


# Each backend's store as a node gets it: from its factory (services/backends.py).


class TestSQLiteKeyStore(KeyStoreContract):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        backend, master = embedded(Settings(node="MX", data_dir=tmp_path)), MasterKey(new_data_key())
        probe = backend.key_store(master)
        probe.close()
        assert isinstance(probe, SQLiteKeyStore)
        return lambda other=None: backend.key_store(other or master)


@pytest.mark.integration
class TestPostgresKeyStore(KeyStoreContract):
    @pytest.fixture
    def open_store(self, database_url: str, tmp_path: Path) -> OpenStore:
        backend = servers(Settings(node="MX", data_dir=tmp_path, database_url=database_url))
        master = MasterKey(new_data_key())
        probe = backend.key_store(master)
        probe.close()
        assert isinstance(probe, PostgresKeyStore)
        return lambda other=None: backend.key_store(other or master)
