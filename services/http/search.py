"""`GET /cases`: the case list, searched by name (`q`), filtered, in pages (services/case_search.py).

The body stays the list it always was (each case as the caller may read it, with `score` when
`q` is given); the page's figures travel in headers: `X-Total-Count` (every case that answers),
`X-Next-Cursor` (absent on the last page; give it back as `cursor` for the next one). A query
parameter the list does not know is refused (422, named), not ignored. The route is given the
caller, the node's lock and the views as the caller may read them (services/http/deps.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ledger.errors import InvalidField
from services import case_search
from services.http import deps
from services.http.common import Caller, QueryProblem, not_family
from services.http.view_access import ViewAccess
from services.node_lock import NodeLock

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/cases",
    summary="The cases of this caller's jurisdiction's views, with the personal data (at most the "
    "common tier) that the rules let this organisation read for this purpose and the family "
    "consented to; searched by name, filtered, in pages (X-Total-Count, X-Next-Cursor)",
    responses={
        200: {
            "headers": {
                "X-Total-Count": {"description": "How many cases answer", "schema": {"type": "integer"}},
                "X-Next-Cursor": {"description": "The next page's cursor", "schema": {"type": "string"}},
            }
        }
    },
)
def list_cases(
    request: Request,
    response: Response,
    who: Caller = Depends(deps.caller),
    q: str | None = None,
    status: str | None = None,
    nationality: str | None = None,
    sex: str | None = None,
    age_band: str | None = None,
    last_seen_country: str | None = None,
    last_seen_from: str | None = None,
    last_seen_to: str | None = None,
    reported_from: str | None = None,
    reported_to: str | None = None,
    origin: str | None = None,
    limit: str | None = None,
    cursor: str | None = None,
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
) -> list[dict[str, Any]]:
    """q: a name as people write it (accents, case, particles, surnames in either order,
    hypocoristics such as Chepe for José, phonetic spellings and small typos all answer),
    best match first. Filters: status, nationality, sex, age_band, last_seen_country,
    origin (ISO codes), last_seen_from/to and reported_from/to (YYYY-MM-DD, inclusive;
    a case is reported in a month: it answers when its month meets them).
    limit: 1 to 500 (default 50); cursor: X-Next-Cursor of the page before."""
    try:
        search = case_search.from_query(request.query_params.multi_items())
    except InvalidField as error:
        raise QueryProblem(error.field, error.problem) from None
    not_family(who)
    with lock:
        seen = views.seen(who)
        page = case_search.find(seen.views, case_search.reader(seen), search)
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    # Whether a person is a minor is for the views' decisions only: a list never says it.
    return [
        {
            **{k: v for k, v in asdict(f.row).items() if k != "minor"},
            **({"score": round(f.score, 4)} if f.score is not None else {}),
        }
        for f in page.items
    ]
