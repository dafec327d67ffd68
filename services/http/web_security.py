"""What every response of the node says to browsers, and what every unsafe request must show:
headers against caching, framing, sniffing and leaking referrers, a Content-Security-Policy
that loads nothing from elsewhere and runs no inline script, a refusal of cross-origin POSTs,
the pages' stylesheet and script served from the node itself, and API docs only when enabled
(rendered here, never from a CDN)."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.http.common import problem
from services.tokens import token_id_of

__all__ = [
    "ASSETS",
    "CSP",
    "FORM_PATHS",
    "HEADERS",
    "SAFE_METHODS",
    "SameOrigin",
    "SecurityHeaders",
    "assets_router",
    "attempt_keys",
    "client_address",
    "docs_router",
    "set_session_cookie",
    "too_many",
]

CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    b"cache-control": b"no-store",
    b"content-security-policy": CSP.encode(),
    b"referrer-policy": b"no-referrer",
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_PATHS = ("/pages/", "/family/")  # signed in by cookie: a browser sends it by itself
ASSETS = {"caseledger.css": "text/css; charset=utf-8", "caseledger.js": "text/javascript; charset=utf-8"}


class SecurityHeaders:
    """Sets HEADERS on every HTTP response (personal data must not stay in caches, be framed by
    another site, be sniffed into another type or leak its address as a referrer)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in HEADERS]
                message = {**message, "headers": kept + list(HEADERS.items())}
            await send(message)

        await self.app(scope, receive, with_headers)


def _host(value: str) -> str:
    return value.strip().lower().removesuffix(":80").removesuffix(":443")


class SameOrigin:
    """Refuses (403) an unsafe request whose Origin is another origin (another host or port: a
    page on another port of the same host would otherwise sign the victim's browser in as the
    attacker), or that the browser says comes from another site. The cookie-signed forms of
    /pages and /family also need an Origin or Referer naming this node."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        reason = _cross_origin(headers, str(scope.get("path", "")))
        if reason is None:
            await self.app(scope, receive, send)
            return
        await problem(403, ["header", "Origin"], reason, "cross_origin")(scope, receive, send)


def _cross_origin(headers: dict[str, str], path: str) -> str | None:
    """Why the request comes from elsewhere, or None. Sec-Fetch-Site is set by browsers and no
    page can forge it; with Referrer-Policy no-referrer a browser sends a same-origin form's
    Origin as "null", which only Sec-Fetch-Site: same-origin vouches for."""
    host = _host(headers.get("host", ""))
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return "a request from another site or origin is refused"
    origin = (headers.get("origin") or "").strip()
    if origin and origin != "null":
        return None if _host(urlsplit(origin).netloc) == host else "a request from another origin is refused"
    if origin == "null" and site != "same-origin":
        return "a request from an opaque origin is refused"
    if site is None and (path.startswith(FORM_PATHS) or path in ("/pages", "/family")):
        referer = headers.get("referer")
        if referer is None or _host(urlsplit(referer).netloc) != host:
            return "a form must be sent from this node's own pages (Origin or Referer)"
    return None


assets_router = APIRouter()
"""The pages' stylesheet and script, from the node itself (the policy forbids inline ones)."""

docs_router = APIRouter()
"""A plain page listing the API's operations, from its own OpenAPI document: no script, no
CDN (FastAPI's /docs and /redoc load both from jsDelivr). Included only when enabled."""


@assets_router.get("/assets/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    text = resources.files("services.http.pages").joinpath("templates", name).read_text(encoding="utf-8")
    return Response(text, media_type=ASSETS[name])


@docs_router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    rows = "".join(
        f"<tr><td>{html.escape(method.upper())}</td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(str(operation.get('summary', '')))}</td></tr>"
        for path, operations in spec.get("paths", {}).items()
        for method, operation in operations.items()
    )
    title = html.escape(str(spec.get("info", {}).get("title", "API")))
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<link rel="stylesheet" href="/assets/caseledger.css"></head><body>'
        f'<h1>{title}</h1><p>The whole document: <a href="/openapi.json">/openapi.json</a>.</p>'
        f"<table><thead><tr><th>Method</th><th>Path</th><th>What</th></tr></thead><tbody>{rows}"
        "</tbody></table></body></html>"
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def too_many(retry_after: int) -> Response:
    response = problem(
        429,
        ["header", "Authorization"],
        f"too many failed sign-ins; try again in {retry_after} s",
        "throttled",
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def attempt_keys(request: Request, token: str) -> list[str]:
    """What failed sign-ins are counted under: the client's address and the identity named
    (a token's id, never the token)."""
    return [f"address:{client_address(request)}", f"token:{token_id_of(token.strip())}"]


def set_session_cookie(response: Response, request: Request, name: str, session_id: str, path: str) -> None:
    response.set_cookie(
        name,
        session_id,
        httponly=True,
        samesite="strict",
        path=path,
        secure=request.url.scheme == "https",
    )
