"""Waiting for the log to hold something new, without polling it on a timer.

A long-running reader (the views, a consular feed) that has read every partition to its end
waits here: a reader assigned to those partitions at the positions reached returns as soon as
any of them holds a record past them (Kafka holds the fetch at the broker until data arrives;
the embedded log looks every few milliseconds), or when the time is up. Nothing is consumed:
the caller reads what arrived through its own verified reader (topics/reader.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from topics.log import EventLog, Reader, TopicPartition

__all__ = ["LogWatch", "TopicListing"]


class TopicListing:
    """The log's topics, listed again only every `every_s` (or after forget()): listing a
    broker's thousands of topics on every pass of a long-running reader was most of a pass."""

    def __init__(self, event_log: EventLog, every_s: float = 5.0) -> None:
        self.event_log, self.every_s = event_log, every_s
        self._listed: set[str] | None = None
        self._at = 0.0

    def get(self) -> set[str]:
        if self._listed is None or time.monotonic() - self._at > self.every_s:
            self._listed, self._at = self.event_log.list_topics(), time.monotonic()
        return self._listed

    def forget(self) -> None:
        self._listed = None


class LogWatch:
    def __init__(self, event_log: EventLog) -> None:
        self.event_log = event_log
        self._reader: Reader | None = None

    def wait(self, positions: Mapping[TopicPartition, int], timeout_s: float) -> bool:
        """True once a record lies at or past a position given, False when timeout_s passed."""
        if not positions:
            return False
        if self._reader is None:
            self._reader = self.event_log.reader()
        self._reader.assign(positions)
        return bool(self._reader.poll(timeout_s, max_records=1))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
