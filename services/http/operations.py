"""What an operator and a monitor ask a node: is it alive (/health), are its views caught up
enough to answer (/ready), and its figures in Prometheus's text format (/metrics): how far the
views are behind per partition, how many events it has relayed, how many messages it put on
its dead-letter topic, and the requests it answered by status. None of it is personal data, and
none of it needs a credential: a load balancer and a scraper ask without one."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from services.bootstrap import Node
from topics.log import LogUnavailable, TopicPartition

__all__ = ["READY_LAG", "RequestCounts", "Tally", "add_operations", "metrics_text"]

READY_LAG = 100
"""The views answer as /ready while fewer than this many events wait for them in all."""


class Tally:
    """Responses by method and status, shared by the middleware that counts and /metrics."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()
        self.lock = threading.Lock()

    def add(self, method: str, status: int) -> None:
        with self.lock:
            self.counts[(method, status)] += 1

    def snapshot(self) -> list[tuple[tuple[str, int], int]]:
        with self.lock:
            return sorted(self.counts.items())


class RequestCounts:
    """Counts each response by method and status (an ASGI middleware), into a Tally."""

    def __init__(self, app: Any, tally: Tally) -> None:
        self.app, self.tally = app, tally

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                self.tally.add(str(scope.get("method", "")), int(message.get("status", 0)))
            await send(message)

        await self.app(scope, receive, counted)


def _lag(node: Node) -> dict[TopicPartition, int]:
    return dict(sorted(node.projector(node.settings.node).lag().items()))


def _relayed_and_dead(node: Node) -> tuple[int, int]:
    log_ = node.event_log
    existing = log_.list_topics()
    totals = []
    for topic in (
        node.catalogue.events(node.settings.node).name,
        node.catalogue.deadletter(node.settings.node).name,
    ):
        tps = log_.partitions(topic) if topic in existing else []
        totals.append(sum(log_.end_offsets(tps).values()) if tps else 0)
    return totals[0], totals[1]


def metrics_text(node: Node, tally: Tally) -> str:
    """The node's figures in Prometheus's text exposition format (version 0.0.4)."""
    node_label = node.settings.node
    lines = [
        "# HELP caseledger_views_lag_events Events on the log the node's own views have not applied.",
        "# TYPE caseledger_views_lag_events gauge",
    ]
    for tp, behind in _lag(node).items():
        where = f'node="{node_label}",topic="{tp.topic}",partition="{tp.partition}"'
        lines.append(f"caseledger_views_lag_events{{{where}}} {behind}")
    relayed, dead = _relayed_and_dead(node)
    lines += [
        "# HELP caseledger_events_relayed_total Events this node's relay has put on its events topic.",
        "# TYPE caseledger_events_relayed_total counter",
        f'caseledger_events_relayed_total{{node="{node_label}"}} {relayed}',
        "# HELP caseledger_dead_letters_total Messages this node could not decode, verify or apply.",
        "# TYPE caseledger_dead_letters_total counter",
        f'caseledger_dead_letters_total{{node="{node_label}"}} {dead}',
        "# HELP caseledger_http_requests_total Requests the API answered, by method and status.",
        "# TYPE caseledger_http_requests_total counter",
    ]
    for (method, status), count in tally.snapshot():
        lines.append(f'caseledger_http_requests_total{{method="{method}",status="{status}"}} {count}')
    return "\n".join(lines) + "\n"


def add_operations(app: FastAPI, node: Node, lock: Any, ready_lag: int = READY_LAG) -> None:
    """/health, /ready and /metrics on the node's API (no credential, no personal data)."""
    tally = Tally()
    app.add_middleware(RequestCounts, tally=tally)

    @app.get("/health", summary="Liveness: the process answers", tags=["operations"])
    def health() -> dict[str, str]:
        return {"status": "alive", "node": node.settings.node}

    @app.get(
        "/ready",
        summary="Readiness: the node's own views are within a bound of the log",
        tags=["operations"],
        responses={503: {"description": "The views are behind or the log cannot be reached"}},
    )
    def ready() -> JSONResponse:
        try:
            with lock:
                behind = sum(_lag(node).values())
        except LogUnavailable:
            return JSONResponse({"status": "not ready", "reason": "the log cannot be reached"}, 503)
        if behind >= ready_lag:
            return JSONResponse(
                {"status": "not ready", "reason": f"the views are {behind} events behind", "behind": behind},
                503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"status": "ready", "behind": behind})

    @app.get(
        "/metrics",
        summary="The node's figures (Prometheus text format)",
        tags=["operations"],
        response_class=PlainTextResponse,
        responses={503: {"description": "The log cannot be reached"}},
    )
    def metrics() -> PlainTextResponse:
        try:
            with lock:
                text = metrics_text(node, tally)
            text += "".join(more() for more in getattr(app.state, "metrics_extra", []))
        except LogUnavailable:
            return PlainTextResponse("# the log cannot be reached\n", 503)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
