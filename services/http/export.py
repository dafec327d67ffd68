"""`Accept: text/csv` on the API's lists: the same rows, as CSV.

A list route answers a JSON array of objects, already narrowed to what the caller may read;
this middleware only changes how that array is written (one column per key, lists and
objects as JSON text), so a CSV can never hold a field the JSON would not. Anything that is
not a successful JSON array (an error, one object) is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from services.csv_text import to_csv

__all__ = ["CsvLists", "wants_csv"]


def wants_csv(scope: dict[str, Any]) -> bool:
    accept = next((v for k, v in scope.get("headers", []) if k == b"accept"), b"").decode("latin-1")
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return "text/csv" in kinds and kinds.index("text/csv") < _first(kinds, "application/json")


def _first(kinds: list[str], kind: str) -> int:
    return kinds.index(kind) if kind in kinds else len(kinds)


class CsvLists:
    """Writes a GET's JSON array answer as CSV when the caller's Accept prefers text/csv."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or not wants_csv(scope):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def held(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    await self._answer(start, b"".join(body), send)
            else:
                await send(message)

        await self.app(scope, receive, held)

    @staticmethod
    async def _answer(start: dict[str, Any], content: bytes, send: Any) -> None:
        headers = list(start.get("headers", []))
        media = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        rows: Any = None
        if start.get("status") == 200 and media.startswith(b"application/json"):
            try:
                rows = json.loads(content)
            except ValueError:
                rows = None
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
            content = to_csv(rows).encode("utf-8")
            headers = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
            headers += [
                (b"content-type", b"text/csv; charset=utf-8"),
                (b"content-length", str(len(content)).encode()),
                (b"vary", b"Accept"),
            ]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": content})
