"""The API's lock on its node, which a command gives up while it waits for its commit.

Calls into a node are serialised (services/http/app.py): its stores are not all safe to share
between threads. But a command that has decided and only waits for PostgreSQL to commit its
events holds nothing the others need; while it waits, the next requests decide theirs, and
ledger/group_commit.py commits them together. released() gives the lock up entirely (however
many times this thread holds it) and takes it back as it was; pinned() keeps it for a
command that must not be interleaved with (a report tying a photo to itself).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from ledger.narrowing import narrows

__all__ = ["NodeLock", "share_with_group_commit"]


class NodeLock:
    """A reentrant lock that knows its owner and depth, so that it can be given up."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0
        self._pinned = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner = threading.get_ident()
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        self._lock.release()

    def __enter__(self) -> NodeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Give the lock up while in the block, if this thread holds it and has not pinned it."""
        if self._owner != threading.get_ident() or self._pinned:
            yield
            return
        depth = self._depth
        for _ in range(depth):
            self.release()
        try:
            yield
        finally:
            for _ in range(depth):
                self.acquire()

    def holding(self, command: Any, photo: bool = False) -> contextlib.AbstractContextManager[Any]:
        """The lock for running a command: pinned through its commit when the command narrows
        access (ledger/narrowing.py) or ties a photo to itself, else given up while it waits."""
        return self.pinned() if photo or narrows(command) else self

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Hold the lock through the block, waits for commits included (taken here)."""
        with self:
            self._pinned += 1
            try:
                yield
            finally:
                self._pinned -= 1


def share_with_group_commit(lock: NodeLock, node: Any, state: Any) -> bool:
    """On a ledger that commits in groups (PostgreSQL), a command gives the API's lock up while
    it waits for its commit and while it reads its claim; the writer's counts join /metrics
    (state: the app's). Whether the node's ledger groups its commits."""
    group = node.ledger.group
    if group is None:
        return False
    group.waiting = lock.released
    node.ledger.claims.waiting = lock.released
    state.metrics_extra = [*getattr(state, "metrics_extra", []), lambda: group.metrics(node.settings.node)]
    return True
