"""The relay wakes when any process commits events: PostgreSQL LISTEN on the event store's channel.

The eventsourcing library's PostgreSQL recorder sends `NOTIFY <channel>` inside the transaction
that inserts events (its insert function, its pipelined insert, and ledger/import_batch.py's
COPY all do), so a notification is delivered once those events are committed, to every
connection listening on the channel, whichever process committed them. A relay that listens
wakes at once instead of waiting out its polling interval.

A notification can be lost (the listening connection drops, the server restarts): the relay
still polls every `idle_s`, so a lost one costs at most that interval, never an event. After
(re)connecting the listener wakes the relay once, for whatever was committed while nobody
listened. Other nodes sharing the database notify the same channel name (the events table is
named alike in each node's schema): such a wake costs the relay one empty query.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

__all__ = ["CommitNotices"]

log = logging.getLogger(__name__)


class CommitNotices:
    """A thread listening on one PostgreSQL channel; every notification sets `wake`."""

    def __init__(self, conninfo: Mapping[str, Any], channel: str, retry_s: float = 1.0) -> None:
        self.conninfo = {k: v for k, v in conninfo.items() if v}
        self.channel = channel
        self.retry_s = retry_s
        self.listening = threading.Event()  # set while LISTEN is in force (tests wait on it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, wake: threading.Event) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, args=(wake,), name="relay-notices", daemon=True)
        self._thread.start()

    def _listen(self, wake: threading.Event) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(**self.conninfo, autocommit=True) as connection:
                    connection.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
                    self.listening.set()
                    wake.set()  # committed while nobody listened: the relay looks once
                    while not self._stop.is_set():
                        # Short waits: the loop sees stop within 0.5 s.
                        for _ in connection.notifies(timeout=0.5, stop_after=1):
                            wake.set()
            except psycopg.Error as error:
                log.warning("relay notices: %s; the relay polls until listening again", type(error).__name__)
            finally:
                self.listening.clear()
            self._stop.wait(self.retry_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
