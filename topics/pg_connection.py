"""One autocommit PostgreSQL connection that outlives the server's restart.

The key store and the relay's chain store each keep one connection. When PostgreSQL restarts
(or cuts the connection), the statement in hand fails with psycopg.OperationalError, and its
caller fails or retries as it does for any error (the API answers 500 and the client resends
with its Idempotency-Key; the relay tries the batch again). Without more, every later
statement would fail too ("the connection is closed") and the process would be alive but
useless until someone restarted it: the next statement here runs on a new connection.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg

__all__ = ["Reconnecting"]


class Reconnecting:
    """An autocommit connection to the server conninfo names, replaced when found closed."""

    def __init__(self, conninfo: dict[str, Any]) -> None:
        self._conninfo = {k: v for k, v in conninfo.items() if v}
        self._lock = threading.Lock()
        self._closed = False
        self._connection = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**self._conninfo, autocommit=True)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The connection, a new one when the last was closed under it (a server restart)."""
        with self._lock:
            if not self._closed and (self._connection.closed or self._connection.broken):
                with contextlib.suppress(psycopg.Error):
                    self._connection.close()
                self._connection = self._connect()
            return self._connection

    def close(self) -> None:
        self._closed = True
        self._connection.close()
