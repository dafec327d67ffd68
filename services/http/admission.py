"""Admission control: a node under more commands than it can commit answers 503 at once,
with Retry-After, instead of letting requests queue until clients time out.

Commands (every request that is not a GET, HEAD or OPTIONS) are admitted while fewer than
`api_max_commands` of them are in flight — running, or waiting for the node's lock or a
worker thread — and while the wait a new one would have, judged from the pace at which the
node has been answering commands, is at most `api_max_wait_s` (a fixed count alone lets a
slow node queue past its clients' timeouts). Any other is refused before its body is read:
503, Retry-After, and the API's JSON error body (detail[].type "overloaded"). A refused command
records nothing, so the client retries it as it is (with the same Idempotency-Key). Reads,
and /health, /ready and /metrics, are never refused here. Because the queue is bounded, so is the memory that
waiting requests hold, whatever the offered rate.

/metrics gains caseledger_api_commands_refused_total and caseledger_api_commands_in_flight.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI

__all__ = ["REASON", "SAFE_METHODS", "Admission", "Gate", "add_admission"]

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REASON = "overloaded"


class Gate:
    """The count of commands in flight, their bound, and the refusals so far."""

    def __init__(self, limit: int, retry_after_s: int, max_wait_s: float | None = None) -> None:
        if limit < 1:
            raise ValueError("api_max_commands: must be at least 1")
        if retry_after_s < 1:
            raise ValueError("api_retry_after_s: must be at least 1")
        if max_wait_s is not None and max_wait_s <= 0:
            raise ValueError("api_max_wait_s: must be more than 0")
        self.limit, self.retry_after_s, self.max_wait_s = limit, retry_after_s, max_wait_s
        self.in_flight = 0
        self.refused = 0
        self.pace: float | None = None
        """Seconds between answers while commands wait (a moving average): the node's pace."""
        self._last_answer = 0.0
        self._busy = False  # commands were in flight when the last one was answered
        self._lock = threading.Lock()
        self._warned = False

    def expected_wait(self) -> float:
        """How long a command admitted now would wait for its answer, at the node's pace."""
        return (self.in_flight + 1) * (self.pace or 0.0)

    def enter(self) -> bool:
        with self._lock:
            full = self.in_flight >= self.limit
            # with none in flight, one is always admitted: its answer renews a stale pace
            slow = (
                self.in_flight > 0 and self.max_wait_s is not None and self.expected_wait() > self.max_wait_s
            )
            if full or slow:
                self.refused += 1
                first, self._warned = not self._warned, True
            else:
                self.in_flight += 1
                return True
        if first:  # once per process: a log line per refusal would itself be load
            log.warning("api: more commands than the node answers in time; the excess gets 503")
        return False

    def leave(self, took: float, now: float | None = None) -> None:
        """A command was answered after `took` seconds in flight."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.in_flight -= 1
            interval = now - self._last_answer if self._busy else took
            self.pace = interval if self.pace is None else 0.8 * self.pace + 0.2 * interval
            self._last_answer, self._busy = now, self.in_flight > 0

    def metrics(self, node: str) -> str:
        with self._lock:
            refused, in_flight = self.refused, self.in_flight
        return (
            "# HELP caseledger_api_commands_refused_total Commands refused with 503 because too many "
            "were in flight.\n"
            "# TYPE caseledger_api_commands_refused_total counter\n"
            f'caseledger_api_commands_refused_total{{node="{node}",reason="{REASON}"}} {refused}\n'
            "# HELP caseledger_api_commands_in_flight Commands admitted and not yet answered.\n"
            "# TYPE caseledger_api_commands_in_flight gauge\n"
            f'caseledger_api_commands_in_flight{{node="{node}"}} {in_flight}\n'
        )


class Admission:
    """The ASGI middleware that admits commands through a Gate."""

    def __init__(self, app: Any, gate: Gate) -> None:
        self.app, self.gate = app, gate

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if not self.gate.enter():
            await self._refuse(send)
            return
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave(time.monotonic() - started)

    async def _refuse(self, send: Any) -> None:
        wait = self.gate.retry_after_s
        body = json.dumps(
            {  # the API's one error shape (services/http/common.py problem): detail[].loc names the part
                "detail": [
                    {
                        "loc": ["request"],
                        "msg": "the node has more commands in flight than it can answer in time; nothing "
                        f"was recorded; send the same request again (same Idempotency-Key) in {wait} s",
                        "type": REASON,
                    }
                ],
                "reason": REASON,
                "retry_after": wait,
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(wait).encode()),
            (b"connection", b"close"),  # the unread body goes with the connection
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def add_admission(app: FastAPI, limit: int, retry_after_s: int, max_wait_s: float, node: str) -> Gate:
    """Bound the commands in flight on app; the gate's figures join /metrics."""
    gate = Gate(limit, retry_after_s, max_wait_s)
    app.add_middleware(Admission, gate=gate)
    app.state.metrics_extra = [*getattr(app.state, "metrics_extra", []), lambda: gate.metrics(node)]
    app.state.admission = gate
    return gate
