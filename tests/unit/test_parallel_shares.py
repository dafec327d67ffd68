"""How a rebuild splits the partitions between worker processes (services/parallel.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.parallel import shares
from topics.log import TopicPartition

pending_work = st.dictionaries(
    st.builds(TopicPartition, st.sampled_from(["ledger.events.MX", "ledger.events.GT"]), st.integers(0, 11)),
    st.integers(1, 10_000),
    max_size=24,
)


@given(pending_work, st.integers(1, 8))
def test_every_partition_goes_to_exactly_one_worker_and_the_work_is_balanced(
    pending: dict[TopicPartition, int], workers: int
) -> None:
    groups = shares(pending, workers)
    placed = [tp for group in groups for tp in group]
    assert sorted(placed) == sorted(pending), "each partition once, none forgotten"
    assert len(groups) <= workers and all(groups), "no more shares than workers, none empty"
    if pending:
        loads = [sum(pending[tp] for tp in group) for group in groups]
        # Largest first, each to the least loaded: no share exceeds another by more than one partition.
        assert max(loads) - min(loads) <= max(pending.values())
        assert len(groups) == min(workers, len(pending))


def test_one_worker_takes_everything() -> None:
    pending = {TopicPartition("t", p): p + 1 for p in range(4)}
    assert shares(pending, 1) == [sorted(pending)]
