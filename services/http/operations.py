"""What an operator and a monitor ask a node: is it alive (/health), are its views caught up
enough to answer (/ready), and its figures in Prometheus's text format (/metrics): how far the
views are behind per partition, how many events it has relayed, how many messages it put on
its dead-letter topic, and the requests it answered by status. None of it is personal data, and
none of it needs a credential: a load balancer and a scraper ask without one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from services.bootstrap import Node
from services.http import deps
from services.http.figures import READY_LAG, Figures, Tally
from topics.log import LogUnavailable

__all__ = ["RequestCounts", "add_operations", "router"]

router = APIRouter()


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


@router.get("/health", summary="Liveness: the process answers", tags=["operations"])
def health(figures: Figures = Depends(deps.node_figures)) -> dict[str, str]:
    return {"status": "alive", "node": figures.name}


@router.get(
    "/ready",
    summary="Readiness: the node's own views are within a bound of the log",
    tags=["operations"],
    responses={503: {"description": "The views are behind or the log cannot be reached"}},
)
def ready(figures: Figures = Depends(deps.node_figures)) -> JSONResponse:
    try:
        behind = figures.behind()
    except LogUnavailable:
        return JSONResponse({"status": "not ready", "reason": "the log cannot be reached"}, 503)
    if behind >= figures.ready_lag:
        return JSONResponse(
            {"status": "not ready", "reason": f"the views are {behind} events behind", "behind": behind},
            503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "behind": behind})


@router.get(
    "/metrics",
    summary="The node's figures (Prometheus text format)",
    tags=["operations"],
    response_class=PlainTextResponse,
    responses={503: {"description": "The log cannot be reached"}},
)
def metrics(
    figures: Figures = Depends(deps.node_figures),
    extra: list[Callable[[], str]] = Depends(deps.metrics_extra),
) -> PlainTextResponse:
    try:
        text = figures.metrics() + "".join(more() for more in extra)
    except LogUnavailable:
        return PlainTextResponse("# the log cannot be reached\n", 503)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def add_operations(
    app: FastAPI, node: Node, lock: AbstractContextManager[object], ready_lag: int = READY_LAG
) -> None:
    """/health, /ready and /metrics on the node's API (no credential, no personal data), and
    the middleware that counts its responses."""
    tally = Tally()
    app.add_middleware(RequestCounts, tally=tally)
    app.state.figures = Figures(node, lock, tally, ready_lag)
    app.include_router(router)
