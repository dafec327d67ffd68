"""Consular subscriptions, served: the feed of one consulate over this node
(projections/feed.py decides what it holds), its deliveries above the common tier recorded as
reads, and each item as a Server-Sent Event with Last-Event-ID. The Kafka topic of a
consulate's feed (`ledger.feed.<organisation>`) is services/feed_topic.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from ledger.access_rules import AccessRules
from ledger.commands import Actor, RecordRead
from ledger.errors import CaseNotFound, InvalidField
from ledger.tiers import TIERS, is_minor
from ledger.vocabulary import PURPOSES
from projections.feed import FeedProjection, FeedSource
from projections.feed_items import AUDITED, CaseContext, Cursor, FeedItem
from projections.feed_items import decode_cursor as decode_cursor  # where the API finds it
from services.bootstrap import Node

__all__ = ["ConsularFeed", "decode_cursor", "sse"]

_MINOR_BANDS = ("0-11", "12-17")


class ConsularFeed:
    """The feed of one consulate, for one purpose, at this node."""

    def __init__(
        self,
        node: Node,
        rules: AccessRules,
        organisation: str,
        purpose: str = "search",
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        consulate = rules.organisations.get(organisation)
        if consulate is None or consulate.represents is None:
            raise InvalidField("organisation", f"{organisation} is not a consulate in the rules")
        self.node, self.rules, self.organisation, self.purpose = node, rules, organisation, purpose
        self.country: str = consulate.represents
        here = node.settings.node
        source = FeedSource(
            here,
            node.event_log,
            node.keys.verify,
            node.catalogue,
            node.registry,
            node.data_keys,
            lambda existing: node.projector(here).partitions(existing),
            self._known,
            lambda case_id: bool(node.views(here).chain_heads([case_id])),
        )
        self.projection = FeedProjection(source, rules, organisation, self.country, purpose, today)

    def read(
        self, cursor: Cursor | None = None, timeout_s: float = 30.0, existing: set[str] | None = None
    ) -> tuple[list[FeedItem], Cursor]:
        """Everything committed after the cursor (from the beginning if None), and the cursor
        after it (projections/feed.py); the deliveries above the common tier recorded."""
        items, position = self.projection.read(cursor, timeout_s, existing)
        self._record_reads(items)
        return items, position

    def _record_reads(self, items: list[FeedItem]) -> None:
        """A delivery above the common tier (a minor's common fields count as reserved) is a
        read of the case, recorded at the node that holds it."""
        audited: dict[str, set[str]] = {}
        for item in items:
            known = self.projection.cases.get(item.aggregate_id)
            minor = known is not None and known.minor
            tiers = {t for t in item.tiers if t in AUDITED or (minor and t == "common")}
            if tiers:
                audited.setdefault(item.aggregate_id, set()).update(tiers)
        for case_id, tiers in audited.items():
            try:
                self.node.ledger.record_read(
                    RecordRead(
                        command_id=f"feed:{uuid.uuid4()}",
                        recorded_by=Actor(self.organisation, "consular_officer"),
                        case_id=uuid.UUID(case_id),
                        read_purpose=self.purpose,
                        tiers=tuple(t for t in TIERS if t in tiers),
                        outcome="granted",
                        reason="consular feed, by the consulate's agreement",
                        interface="feed",
                    )
                )
            except CaseNotFound:
                continue  # another node's case: that node records its own reads (a known limit)

    def _known(self, case_id: str) -> CaseContext | None:
        """A case reported before the cursor: from this node's ledger when it holds the case,
        else from its views (nationalities, age band and consents are public)."""
        try:
            case = self.node.ledger.get_case(uuid.UUID(case_id))
        except (CaseNotFound, ValueError):
            row = self.node.views(self.node.settings.node).rows([case_id]).get(case_id)
            if row is None:
                return None
            # No age band means no date of birth: possibly a minor, the stricter reading (as is_minor).
            minor = row.age_band is None or row.age_band in _MINOR_BANDS
            erased = row.status == "erased"
            consents = set() if erased else set(row.consents)
            context = CaseContext(
                tuple(row.nationalities), minor, consents, row.last_seen_date, None, row.version, erased
            )
        else:
            context = CaseContext(
                tuple(case.person.get("nationalities") or ()),
                is_minor(case.person, case.last_seen),
                {p for p in PURPOSES if case.has_consent(p)},
                case.last_seen.get("date"),
                case.person.get("age_range"),
                case.version,
                case.erased,
                withheld=set(case.withheld_countries),
            )
        return context


def sse(item: FeedItem) -> str:
    """One Server-Sent Event: its id is the cursor to resume after it."""
    return f"id: {item.cursor}\nevent: {item.event_type}\ndata: {json.dumps(item.as_json())}\n\n"


def __getattr__(name: str) -> Any:
    """FeedPublisher lives in services/feed_topic.py; `from services.feed import FeedPublisher`
    still finds it."""
    if name == "FeedPublisher":
        from services.feed_topic import FeedPublisher

        return FeedPublisher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
