"""The transactional producer behind the Kafka log's Publisher port (topics/kafka_log.py): a
batch commits whole or aborts whole, and its commit or abort is bounded in time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTP
from kafka.errors import KafkaError, MessageSizeTooLargeError

from topics.kafka_bounded import bounded
from topics.log import MAX_RECORD_BYTES, LogUnavailable, OutgoingRecord, Publisher, RecordRejected

__all__ = ["CLIENT", "KafkaPublisher"]

# Fast group joins and failure detection; sensible for one node on loopback and in tests.
CLIENT = {"request_timeout_ms": 30000, "reconnect_backoff_max_ms": 2000}

# The longest a commit or an abort may take (topics/kafka_bounded.py): after that the
# publisher is dropped, and the next one's init_transactions() settles what was left.
_TRANSACTION_S, _ABORT_S = 60.0, 10.0


class KafkaPublisher(Publisher):
    """A transactional producer: a batch commits whole or aborts whole."""

    def __init__(self, bootstrap: str, transactional_id: str, client_id: str) -> None:
        self._bootstrap, self._client_id = bootstrap, client_id
        self._visibility: Any = None
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=f"{client_id}-relay",
                transactional_id=transactional_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                batch_size=256 * 1024,
                max_request_size=4 * 1024 * 1024,
                # A batch that follows the last at once may find its coordinator still writing
                # the last one's markers: it answers CONCURRENT_TRANSACTIONS, and kafka-python's
                # sender sleeps retry_backoff_ms (default 100) before asking again, not the 20 ms
                # its transaction manager lowers it to (KAFKA-5477): 20 ms, as the Java client.
                retry_backoff_ms=20,
                # Fail a batch in seconds when the broker is away: the relay retries it whole.
                max_block_ms=10000,
                delivery_timeout_ms=40000,  # at least linger + request timeout
                **CLIENT,
            )
            self._producer.init_transactions()
        except KafkaError as error:
            raise LogUnavailable(f"kafka at {bootstrap}: {type(error).__name__}") from error

    def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        for record in records:
            if len(record.value or b"") + len(record.key) > MAX_RECORD_BYTES:
                raise RecordRejected(f"a record of {len(record.value or b'')} bytes is over the 1 MB limit")
        producer = self._producer
        producer.begin_transaction()
        try:
            futures = [
                producer.send(
                    r.topic,
                    key=r.key,
                    value=r.value,
                    headers=list(r.headers),
                    timestamp_ms=r.timestamp_ms,
                    partition=r.partition,
                )
                for r in records
            ]
            producer.flush(timeout=45)
            written: dict[KafkaTP, int] = {}
            for future in futures:
                sent = future.get(timeout=0)  # surfaces a failed send before committing
                where = KafkaTP(sent.topic, sent.partition)
                written[where] = max(written.get(where, -1), sent.offset)
            bounded(producer.commit_transaction, _TRANSACTION_S, "commit_transaction")
            self._await_visible(written)
        except MessageSizeTooLargeError as error:
            self._abort()
            raise RecordRejected(f"the broker refused a record as too large: {error}") from error
        except KafkaError as error:
            self._abort()
            raise LogUnavailable(
                f"publishing {len(records)} records failed: {type(error).__name__}"
            ) from error

    def _await_visible(self, written: Mapping[KafkaTP, int]) -> None:
        """Return only once read_committed readers can see the batch: commit markers reach the
        partitions a moment after commit_transaction() returns, and a caller that reads right
        after publishing (a sync, a test, a caseworker's next command) must find what it wrote."""
        if self._visibility is None:
            self._visibility = KafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id=f"{self._client_id}-visibility",
                isolation_level="read_committed",
                enable_auto_commit=False,
                **CLIENT,
            )
        deadline = time.monotonic() + 30
        while True:
            ends = self._visibility.end_offsets(list(written))
            if all(ends[tp] > offset for tp, offset in written.items()):
                return
            if time.monotonic() > deadline:
                raise LogUnavailable("the committed batch did not become visible within 30 s")
            time.sleep(0.005)

    def _abort(self) -> None:
        # If this fails, the coordinator aborts the transaction on timeout or on the next init.
        with contextlib.suppress(KafkaError):
            bounded(self._producer.abort_transaction, _ABORT_S, "abort_transaction")

    def close(self) -> None:
        self._producer.close(timeout=5)
        if self._visibility is not None:
            self._visibility.close()
