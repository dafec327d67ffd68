"""The API's reads of the past and of the live log: a case as of an instant, timelines, remains,
samples and matches, statistics, and the consular feed (Server-Sent Events)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import StreamingResponse

from ledger import validation
from ledger.access_rules import AccessRules
from ledger.errors import InvalidField
from projections.statistics import monthly
from services.bootstrap import Node
from services.feed import ConsularFeed, decode_cursor, sse
from services.history import case_as_of, diff, timeline_items
from services.http.common import Caller, HeaderProblem, QueryProblem, jsonable, not_family, seen_by

__all__ = ["FORENSIC_LISTS", "add_reads"]

FORENSIC_LISTS = (("remains", "UnidentifiedRemains"), ("samples", "Sample"), ("matches", "Match"))


def add_reads(
    app: FastAPI,
    node: Node,
    rules: AccessRules | None,
    lock: Any,
    caller: Callable[..., Caller],
    sync: Callable[[str], None],
    catch_up: bool,
) -> None:
    @app.get("/cases/{case_id}/history", summary="The case as this jurisdiction could see it at an instant")
    def history(
        case_id: uuid.UUID,
        as_of: datetime | None = None,
        since: datetime | None = None,
        who: Caller = Depends(caller),
    ) -> dict[str, Any]:
        """as_of: the instant (ISO 8601 with zone; default now). since: also say what changed
        between since and as_of."""
        not_family(who)
        try:
            as_of = validation.instant("as_of", as_of) if as_of is not None else None
            since = validation.instant("since", since) if since is not None else None
        except InvalidField as error:
            raise QueryProblem(error.field, error.problem) from None
        with lock:
            sync(who.jurisdiction)
            views = seen_by(who, node.views(who.jurisdiction), rules, node.ledger)
            if since is not None:
                return diff(views, str(case_id), since, as_of or datetime.now(UTC))
            found = case_as_of(views, str(case_id), as_of)
        if not found.events:
            raise HTTPException(404, f"case {case_id}: nothing {who.jurisdiction} could see by then")
        return found.as_dict()

    @app.get(
        "/timeline/{aggregate_id}", summary="Every event of a case, remains, sample or match this view shows"
    )
    def timeline(
        aggregate_id: uuid.UUID, as_of: datetime | None = None, who: Caller = Depends(caller)
    ) -> list[dict[str, Any]]:
        """In the order things happened (happened_at: the day seen, recovered, ... or occurred_at),
        each with when and by whom it was recorded. as_of: only what had been recorded by then."""
        not_family(who)
        try:
            as_of = validation.instant("as_of", as_of) if as_of is not None else None
        except InvalidField as error:
            raise QueryProblem(error.field, error.problem) from None
        with lock:
            sync(who.jurisdiction)
            entries = seen_by(who, node.views(who.jurisdiction), rules, node.ledger).timeline(
                str(aggregate_id), as_of
            )
        if not entries:
            raise HTTPException(404, f"{aggregate_id}: nothing {who.jurisdiction} can see")
        return timeline_items(entries)

    for kind, aggregate_type in FORENSIC_LISTS:
        _add_forensic_list(app, kind, aggregate_type, node, rules, lock, caller, sync)

    @app.get(
        "/statistics", summary="Monthly counts of reported cases from the public tier; cells under 5 hidden"
    )
    def statistics(by: str = "missing", who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        """by: the month the person went missing ("missing", the default; "unknown" where the
        views may not read it) or the month the case was reported ("reported")."""
        if who.credential.family:
            raise HTTPException(403, "a family member's credential opens their own case only")
        if by not in ("missing", "reported"):
            raise QueryProblem("by", f"{by!r} is not one of missing, reported")
        with lock:
            sync(who.jurisdiction)
            cells = monthly(node.views(who.jurisdiction), by)
        return [
            {"month": c.month, "last_seen_country": c.last_seen_country, "sex": c.sex, "cases": c.shown}
            for c in cells
        ]

    @app.get(
        "/feed",
        summary="A consulate's live feed (Server-Sent Events) of the events about its nationals its "
        "agreements allow; resumes from Last-Event-ID",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    )
    def consular_feed(
        who: Caller = Depends(caller),
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
        follow: bool = True,
    ) -> StreamingResponse:
        """follow=false: send what there is and end the stream, instead of waiting for more."""
        if who.credential.role != "consular_officer" or rules is None:
            raise HTTPException(403, "the feed is for consular officers of consulates in the network's rules")
        try:
            consular = ConsularFeed(node, rules, who.credential.organisation, who.purpose)
        except InvalidField as error:
            raise HTTPException(403, str(error)) from None
        try:
            start = decode_cursor(last_event_id) if last_event_id else None
        except InvalidField as error:
            raise HeaderProblem("Last-Event-ID", error.problem) from None

        def events() -> Iterator[str]:
            cursor, quiet = start, 0
            while True:
                with lock:
                    if catch_up:
                        node.sync(node.settings.node)
                    items, cursor = consular.read(cursor)
                for item in items:
                    yield sse(item)
                if not follow:
                    return
                quiet = 0 if items else quiet + 1
                if quiet >= 15:  # a comment now and then keeps proxies from closing the stream
                    yield ": still here\n\n"
                    quiet = 0
                time.sleep(1.0)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )


def _add_forensic_list(
    app: FastAPI,
    kind: str,
    aggregate_type: str,
    node: Node,
    rules: AccessRules | None,
    lock: Any,
    caller: Any,
    sync: Any,
) -> None:
    def listing(who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        not_family(who)
        with lock:
            sync(who.jurisdiction)
            rows = seen_by(who, node.views(who.jurisdiction), rules, node.ledger).forensic(aggregate_type)
        return [{**jsonable(asdict(r)), "state": json.loads(r.state)} for r in rows]

    listing.__name__ = f"list_{kind}"
    app.get(
        f"/{kind}",
        summary=f"The {kind} of this jurisdiction's views: status, and the fields this organisation may "
        "read for this purpose",
    )(listing)
