"""The API's reads of the past and of the live log: a case as of an instant, timelines, remains,
samples and matches, statistics, and the consular feed (Server-Sent Events). Each route is given
the caller, the node's lock and the views as the caller may read them (services/http/deps.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import StreamingResponse

from ledger import validation
from ledger.access_rules import AccessRules
from ledger.errors import InvalidField
from projections.feed_items import Cursor
from projections.statistics import monthly
from services.feed import ConsularFeed, decode_cursor, sse
from services.history import case_as_of, diff, timeline_items
from services.http import deps
from services.http.common import Caller, HeaderProblem, QueryProblem, jsonable, not_family
from services.http.view_access import ViewAccess
from services.node_lock import NodeLock

__all__ = ["FORENSIC_LISTS", "router"]

FORENSIC_LISTS = (("remains", "UnidentifiedRemains"), ("samples", "Sample"), ("matches", "Match"))
QUIET_BEATS = 15
"""Seconds without news before a comment keeps proxies from closing the feed's stream."""

router = APIRouter()


def _instant(name: str, value: datetime | None) -> datetime | None:
    try:
        return validation.instant(name, value) if value is not None else None
    except InvalidField as error:
        raise QueryProblem(error.field, error.problem) from None


@router.get("/cases/{case_id}/history", summary="The case as this jurisdiction could see it at an instant")
def history(
    case_id: uuid.UUID,
    as_of: datetime | None = None,
    since: datetime | None = None,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
) -> dict[str, Any]:
    """as_of: the instant (ISO 8601 with zone; default now). since: also say what changed
    between since and as_of."""
    not_family(who)
    as_of, since = _instant("as_of", as_of), _instant("since", since)
    with lock:
        seen = views.seen(who)
        if since is not None:
            return diff(seen, str(case_id), since, as_of or datetime.now(UTC))
        found = case_as_of(seen, str(case_id), as_of)
    if not found.events:
        raise HTTPException(404, f"case {case_id}: nothing {who.jurisdiction} could see by then")
    return found.as_dict()


@router.get(
    "/timeline/{aggregate_id}", summary="Every event of a case, remains, sample or match this view shows"
)
def timeline(
    aggregate_id: uuid.UUID,
    as_of: datetime | None = None,
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
) -> list[dict[str, Any]]:
    """In the order things happened (happened_at: the day seen, recovered, ... or occurred_at),
    each with when and by whom it was recorded. as_of: only what had been recorded by then."""
    not_family(who)
    as_of = _instant("as_of", as_of)
    with lock:
        entries = views.seen(who).timeline(str(aggregate_id), as_of)
    if not entries:
        raise HTTPException(404, f"{aggregate_id}: nothing {who.jurisdiction} can see")
    return timeline_items(entries)


def _forensic_list(kind: str, aggregate_type: str) -> Callable[..., list[dict[str, Any]]]:
    def listing(
        who: Caller = Depends(deps.caller),
        lock: NodeLock = Depends(deps.node_lock),
        views: ViewAccess = Depends(deps.views),
    ) -> list[dict[str, Any]]:
        not_family(who)
        with lock:
            rows = views.seen(who).forensic(aggregate_type)
        return [{**jsonable(asdict(r)), "state": json.loads(r.state)} for r in rows]

    listing.__name__ = f"list_{kind}"
    return listing


for _kind, _aggregate_type in FORENSIC_LISTS:
    router.get(
        f"/{_kind}",
        summary=f"The {_kind} of this jurisdiction's views: status, and the fields this organisation may "
        "read for this purpose",
    )(_forensic_list(_kind, _aggregate_type))


@router.get(
    "/statistics", summary="Monthly counts of reported cases from the public tier; cells under 5 hidden"
)
def statistics(
    by: str = "missing",
    who: Caller = Depends(deps.caller),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
) -> list[dict[str, Any]]:
    """by: the month the person went missing ("missing", the default; "unknown" where the
    views may not read it) or the month the case was reported ("reported")."""
    if who.credential.family:
        raise HTTPException(403, "a family member's credential opens their own case only")
    if by not in ("missing", "reported"):
        raise QueryProblem("by", f"{by!r} is not one of missing, reported")
    with lock:
        cells = monthly(views.current(who.jurisdiction), by)
    return [
        {"month": c.month, "last_seen_country": c.last_seen_country, "sex": c.sex, "cases": c.shown}
        for c in cells
    ]


@router.get(
    "/feed",
    summary="A consulate's live feed (Server-Sent Events) of the events about its nationals its "
    "agreements allow; resumes from Last-Event-ID",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
def consular_feed(
    who: Caller = Depends(deps.caller),
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    follow: bool = True,
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    rules: AccessRules | None = Depends(deps.rules),
    feeds: deps.Feeds = Depends(deps.consular_feeds),
    here: str = Depends(deps.node_jurisdiction),
) -> StreamingResponse:
    """follow=false: send what there is and end the stream, instead of waiting for more."""
    if who.credential.role != "consular_officer" or rules is None:
        raise HTTPException(403, "the feed is for consular officers of consulates in the network's rules")
    try:
        consular = feeds(rules, who.credential.organisation, who.purpose)
    except InvalidField as error:
        raise HTTPException(403, str(error)) from None
    try:
        start = decode_cursor(last_event_id) if last_event_id else None
    except InvalidField as error:
        raise HeaderProblem("Last-Event-ID", error.problem) from None
    return StreamingResponse(
        _feed_events(consular, start, follow, lock, lambda: views.sync(here)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


def _feed_events(
    consular: ConsularFeed, start: Cursor | None, follow: bool, lock: NodeLock, catch_up: Callable[[], None]
) -> Iterator[str]:
    """The feed's events as Server-Sent Events, from start; following: a read a second, and a
    comment now and then while nothing comes."""
    cursor, quiet = start, 0
    while True:
        with lock:
            catch_up()
            items, cursor = consular.read(cursor)
        for item in items:
            yield sse(item)
        if not follow:
            return
        quiet = 0 if items else quiet + 1
        if quiet >= QUIET_BEATS:  # a comment now and then keeps proxies from closing the stream
            yield ": still here\n\n"
            quiet = 0
        time.sleep(1.0)
