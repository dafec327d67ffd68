"""A node's dead-letter topic (`ledger.deadletter.<node>`): a record that could not be decoded,
verified or applied is published there untouched, with the reason and where it came from,
then passed over. The projections and the linkage process both send theirs here."""

from __future__ import annotations

import logging

from topics.catalogue import Catalogue
from topics.log import EventLog, LogRecord, OutgoingRecord, Publisher

__all__ = ["DeadLetters"]

log = logging.getLogger(__name__)


class DeadLetters:
    """Publishes to the node's dead-letter topic, created (and its producer opened) on first use.

    who: names the reader in the log line ("views GT", "linkage MX"); transactional_id: the
    producer's; headers: more headers of the reader's own (e.g. the jurisdiction)."""

    def __init__(
        self,
        event_log: EventLog,
        catalogue: Catalogue,
        node: str,
        who: str,
        transactional_id: str,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> None:
        self.event_log, self.catalogue, self.node = event_log, catalogue, node
        self.who, self.transactional_id, self.headers = who, transactional_id, headers
        self._publisher: Publisher | None = None

    def send(self, record: LogRecord, reason: str) -> None:
        # The reason names what failed (a field, a check), never a field's value.
        log.warning(
            "%s: %s[%d]@%d dead-lettered: %s", self.who, record.topic, record.partition, record.offset, reason
        )
        topic = self.catalogue.deadletter(self.node)
        if self._publisher is None:
            self.event_log.create_topics([topic])
            self._publisher = self.event_log.publisher(self.transactional_id)
        headers = (
            ("reason", reason.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
            *self.headers,
            *record.headers,
        )
        self._publisher.publish(
            [OutgoingRecord(topic.name, record.key or b"", record.value or b"", headers, record.timestamp_ms)]
        )

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
