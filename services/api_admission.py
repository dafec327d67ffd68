"""Admission control: a node under more commands than it can commit answers 503 at once,
with Retry-After, instead of letting requests queue until clients time out.

Commands (every request that is not a GET, HEAD or OPTIONS) are admitted while fewer than
`api_max_commands` of them are in flight — running, or waiting for the node's lock or a
worker thread. One more is refused before its body is read: 503, Retry-After, and an
application/problem+json body naming the reason. A refused command records nothing, so the
client retries it as it is (with the same Idempotency-Key). Reads, and /health, /ready and
/metrics, are never refused here. Because the queue is bounded, so is the memory that
waiting requests hold, whatever the offered rate.

/metrics gains caseledger_api_commands_refused_total and caseledger_api_commands_in_flight.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REASON = "overloaded"


class Gate:
    """The count of commands in flight, their bound, and the refusals so far."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        if limit < 1:
            raise ValueError("api_max_commands: must be at least 1")
        if retry_after_s < 1:
            raise ValueError("api_retry_after_s: must be at least 1")
        self.limit, self.retry_after_s = limit, retry_after_s
        self.in_flight = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._warned = False

    def enter(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                self.refused += 1
                first, self._warned = not self._warned, True
            else:
                self.in_flight += 1
                return True
        if first:  # once per process: a log line per refusal would itself be load
            log.warning("api: %d commands in flight; further commands get 503 until some finish", self.limit)
        return False

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

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
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave()

    async def _refuse(self, send: Any) -> None:
        wait = self.gate.retry_after_s
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "reason": REASON,
                "detail": f"the node has {self.gate.limit} commands in flight, its bound; nothing was "
                f"recorded; send the same request again (same Idempotency-Key) in {wait} s",
                "retry_after": wait,
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(wait).encode()),
            (b"connection", b"close"),  # the unread body goes with the connection
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def add_admission(app: FastAPI, limit: int, retry_after_s: int, node: str) -> Gate:
    """Bound the commands in flight on app; the gate's figures join /metrics."""
    gate = Gate(limit, retry_after_s)
    app.add_middleware(Admission, gate=gate)
    app.state.metrics_extra = [*getattr(app.state, "metrics_extra", []), lambda: gate.metrics(node)]
    app.state.admission = gate
    return gate
