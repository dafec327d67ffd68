"""KafkaEventLog drops a metadata client that met broker trouble: the next call connects afresh
instead of reusing a client whose connections and metadata a fault left in any state.
Pure unit tests: the clients are stand-ins, no broker is reached (the behaviour against real
brokers is the chaos test's, tests/integration/test_chaos.py)."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from topics.kafka_log import KafkaEventLog
from topics.log import LogUnavailable, TopicPartition


class StandIn:
    """A consumer that answers end_offsets, or raises what it is given, and says if it was closed."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure, self.closed = failure, False

    def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        if self.failure is not None:
            raise self.failure
        return {tp: 7 for tp in tps}

    def close(self) -> None:
        self.closed = True


TP = TopicPartition("ledger.events.MX", 0)


def test_a_client_that_timed_out_is_closed_and_not_used_again() -> None:
    log = KafkaEventLog("127.0.0.1:1")
    broken, written = StandIn(KafkaTimeoutError("no answer")), StandIn()
    log._consumer, log._uncommitted = broken, written
    with pytest.raises(LogUnavailable, match="KafkaTimeoutError"):
        log.end_offsets([TP])
    assert broken.closed and written.closed
    assert log._consumer is None and log._uncommitted is None
    # The next call makes a new client (here a stand-in put where _metadata() would make one).
    log._consumer = StandIn()
    assert log.end_offsets([TP]) == {TP: 7}


def test_a_client_that_answered_is_kept() -> None:
    """The control: without trouble the same client serves every call."""
    log = KafkaEventLog("127.0.0.1:1")
    client = StandIn()
    log._consumer = client
    assert log.end_offsets([TP]) == {TP: 7}
    assert log.end_offsets([TP]) == {TP: 7}
    assert log._consumer is client and not client.closed


def test_a_client_whose_close_fails_is_dropped_all_the_same() -> None:
    class Unclosable(StandIn):
        def close(self) -> None:
            raise OSError("socket already gone")

    log = KafkaEventLog("127.0.0.1:1")
    log._consumer = Unclosable(KafkaTimeoutError("no answer"))
    with pytest.raises(LogUnavailable):
        log.end_offsets([TP])
    assert log._consumer is None
