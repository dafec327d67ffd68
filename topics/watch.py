"""Waiting for the log to hold something new, without polling it on a timer.

A long-running reader (the views, a consular feed) that has read every partition to its end
waits here: a reader assigned to those partitions at the positions reached returns as soon as
any of them holds a record past them (Kafka holds the fetch at the broker until data arrives;
the embedded log looks every few milliseconds), or when the time is up. Nothing is consumed:
the caller reads what arrived through its own verified reader (topics/reader.py)."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Mapping

from topics.log import EventLog, Reader, TopicPartition

__all__ = ["LogWatch", "TopicListing", "grants_decided", "shared_listing"]

log = logging.getLogger(__name__)


class TopicListing:
    """The log's topics, listed again every `every_s` in the background: listing a broker's
    thousands of topics took 0.4-0.8 s here, and a pass that listed them itself kept every
    record arriving meanwhile waiting. Only the first listing (or the one after forget())
    is made in the caller's thread; after that get() answers at once with the last listing,
    at most every_s plus one listing's time old."""

    def __init__(self, event_log: EventLog, every_s: float = 5.0) -> None:
        self.event_log, self.every_s = event_log, every_s
        self._listed: set[str] | None = None
        self._at = 0.0
        self._lock = threading.Lock()
        self._refreshing: threading.Thread | None = None

    def get(self) -> set[str]:
        with self._lock:
            listed, stale = self._listed, time.monotonic() - self._at > self.every_s
            if listed is not None and stale and self._refreshing is None:
                self._refreshing = threading.Thread(target=self._refresh, name="topic-listing", daemon=True)
                self._refreshing.start()
        if listed is None:
            listed = self.event_log.list_topics()
            with self._lock:
                self._listed, self._at = listed, time.monotonic()
        return listed

    def _refresh(self) -> None:
        try:
            listed = self.event_log.list_topics()
        except Exception as error:  # the next get() tries again; the last listing still serves
            log.warning("listing the log's topics failed: %s", type(error).__name__)
            with self._lock:
                self._refreshing = None
            return
        with self._lock:
            if self._listed is not None:  # not forgotten meanwhile
                self._listed, self._at = listed, time.monotonic()
            self._refreshing = None

    def forget(self) -> None:
        with self._lock:
            self._listed = None


_shared: weakref.WeakKeyDictionary[EventLog, TopicListing] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def shared_listing(event_log: EventLog, every_s: float = 5.0) -> TopicListing:
    """One listing per log for the long-running readers of a process (the views and the feeds
    of `serve` share their log): each listing costs a parse of every topic's metadata."""
    with _shared_lock:
        listing = _shared.get(event_log)
        if listing is None or listing.every_s != every_s:
            listing = _shared[event_log] = TopicListing(event_log, every_s)
        return listing


class LogWatch:
    def __init__(self, event_log: EventLog) -> None:
        self.event_log = event_log
        self._reader: Reader | None = None

    def wait(self, positions: Mapping[TopicPartition, int], timeout_s: float) -> bool:
        """True once a record lies at or past a position given, False when timeout_s passed."""
        if not positions:
            return False
        if self._reader is None:
            self._reader = self.event_log.watcher()
        self._reader.assign(positions)
        return bool(self._reader.poll(timeout_s, max_records=1))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def grants_decided(
    event_log: EventLog, tps: list[TopicPartition], timeout_s: float, who: str
) -> dict[TopicPartition, int]:
    """The key grants' committed ends, once every grant written before now is decided. A
    relay's transaction commits on each partition it wrote as its marker lands there: an
    event may be visible on its topic while its grant, written before it, still waits for
    its marker on `ledger.keys` (whose leader may just have died). Read to the committed
    end alone, the views would apply that event without its key, closed for good (found
    by bench/chaos.py); so they wait until the grants' committed end passes what was
    written when the events' ends were taken."""
    if not tps:
        return {}
    written = event_log.written_offsets(tps)
    deadline = time.monotonic() + timeout_s
    while True:
        ends = event_log.end_offsets(tps)
        if all(ends[tp] >= written[tp] for tp in tps):
            return ends
        if time.monotonic() > deadline:
            raise TimeoutError(f"{who}: key grants undecided for {timeout_s} s")
        time.sleep(0.005)
