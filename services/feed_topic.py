"""A consulate's feed on Kafka: `ledger.feed.<organisation>`, for networks that run their own
consumers.

The topic keeps no personal data in the clear. Each message is a feed item (projections/feed_items.py)
with its public fields in the clear and every tier above public that the consulate may read
as the origin sealed it on `ledger.events.<origin>`: the tier, the id of the case's data key
and the ciphertext. Whoever holds that key through a grant on `ledger.keys` opens it
(`open_feed_message`): the node of the consulate's jurisdiction, which serves its feed. The
case's erasure destroys those keys at the origin and, through their tombstones, everywhere:
what the topic holds of the case can then be read by no one.

Items are decided by the case as it stands when they are published. When the family
withdraws the feed's purpose, or has the case erased, an `ItemsRetracted` item follows: its
subscribers drop every field above public they hold of the case up to its version.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from typing import Any

from ledger.crypto import Refused, open_fixed
from ledger.keystore import KeyStore
from ledger.tiers import TIERS
from projections.feed_items import Cursor, FeedItem, decode_cursor, jsonable
from projections.rows import overlay
from services.feed import ConsularFeed
from topics.avro import SchemaRegistry, UndecodableMessage
from topics.log import LogUnavailable, OutgoingRecord, Publisher
from topics.mapping import message_context, month_of
from topics.reader import LogReader
from topics.watch import LogWatch, shared_listing

__all__ = ["FORMAT", "FeedPublisher", "feed_message", "open_feed_message"]

log = logging.getLogger(__name__)
# Header of every message this release publishes: items of earlier releases (without it)
# carried every shown field in the clear.
FORMAT = ("format", b"sealed-tiers")


def feed_message(item: FeedItem) -> dict[str, Any]:
    """The item as the feed's topic keeps it: the public fields in the clear, and each shown
    tier above public as the origin sealed it (tier, key id, ciphertext in base64), so the
    case's erasure, which destroys those keys, leaves nothing readable on the topic. A shown
    tier that came unsealed (a message of a release before sealing) is withheld."""
    carried = [str(entry["tier"]) for entry in item.sealed]
    return {
        **item.as_json(),
        **_public_envelope(item),
        "fields": jsonable(item.public),
        "sealed": [
            {
                "tier": str(entry["tier"]),
                "key_id": str(entry["key_id"]),
                "ciphertext": base64.b64encode(bytes(entry["ciphertext"])).decode(),
            }
            for entry in item.sealed
        ],
        "tiers": [t for t in item.tiers if t == "public" or t in carried],
        "withheld": [
            t for t in TIERS if t in item.withheld or (t in item.tiers and t != "public" and t not in carried)
        ],
    }


def _public_envelope(item: FeedItem) -> dict[str, Any]:
    """Who recorded the item and exactly when, as the topic keeps them: where the origin sealed
    them (Envelope v2), the month and no recorder in the clear, and its sealed envelope."""
    if not item.envelope:
        return {}
    return {
        "occurred_at": month_of(item.occurred_at).isoformat(),
        "recorded_at": month_of(item.recorded_at).isoformat(),
        "recorded_by": {"organisation": "", "role": ""},
        "sealed_envelope": {
            "key_id": str(item.envelope["key_id"]),
            "ciphertext": base64.b64encode(bytes(item.envelope["ciphertext"])).decode(),
        },
    }


def _open_envelope(
    registry: SchemaRegistry, keys: KeyStore, case_id: str, version: int, item: dict[str, Any]
) -> dict[str, Any]:
    """The exact recorder and instants of a feed message, where its reader holds the key of the
    sealed envelope; else what the message says in the clear (the month)."""
    sealed = item.get("sealed_envelope")
    if not sealed:
        return {}
    key = keys.get(str(sealed["key_id"]))
    if key is None:
        return {}  # not granted here, or erased
    try:
        ciphertext = base64.b64decode(str(sealed["ciphertext"]), validate=True)
        inner = registry.decode(open_fixed(key, ciphertext, message_context(case_id, version, "envelope")))
    except (Refused, UndecodableMessage, binascii.Error, TypeError) as error:
        raise ValueError(f"sealed envelope of a feed item: {error}") from None
    if inner.name != "Envelope_common":
        raise ValueError(f"sealed envelope of a feed item holds a {inner.name} record")
    found = inner.record
    return {
        "occurred_at": found["occurred_at"].isoformat(),
        "recorded_at": found["recorded_at"].isoformat(),
        "recorded_by": {k: str(v) for k, v in dict(found["recorded_by"]).items()},
    }


def open_feed_message(registry: SchemaRegistry, keys: KeyStore, value: bytes) -> dict[str, Any]:
    """A message of a feed topic as its reader may see it: the public fields, and those of each
    sealed tier it holds the key for (a tier whose key it lacks or that was erased is withheld).
    ValueError when the message is not a feed item or a sealed tier was tampered with."""
    try:
        item = json.loads(value)
        case_id, version, event_type = str(item["case_id"]), int(item["version"]), str(item["event_type"])
        fields, sealed = dict(item["fields"]), list(item.get("sealed") or ())
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"not a feed item: {type(error).__name__}") from None
    opened: list[str] = []
    for entry in sealed:
        tier = str(entry["tier"])
        key = keys.get(str(entry["key_id"]))
        if key is None:
            continue  # not granted here, or erased
        try:
            ciphertext = base64.b64decode(str(entry["ciphertext"]), validate=True)
            inner = registry.decode(open_fixed(key, ciphertext, message_context(case_id, version, tier)))
        except (Refused, UndecodableMessage, binascii.Error) as error:
            raise ValueError(f"sealed {tier} tier of a feed item: {error}") from None
        if inner.name != f"{event_type}_{tier}":
            raise ValueError(f"sealed {tier} tier of a feed item holds a {inner.name} record")
        for name, found in jsonable(inner.record).items():
            overlay(fields, name, found)
        opened.append(tier)
    closed = {str(entry["tier"]) for entry in sealed} - set(opened)
    withheld = set(item.get("withheld") or ()) | closed
    shown = ["public", *opened] if "public" in (item.get("tiers") or ["public"]) else opened
    return {
        **{k: v for k, v in item.items() if k not in ("sealed", "sealed_envelope")},
        **_open_envelope(registry, keys, case_id, version, item),
        "fields": fields,
        "tiers": [t for t in TIERS if t in shown],
        "withheld": [t for t in TIERS if t in withheld],
    }


class FeedPublisher:
    """Keeps `ledger.feed.<organisation>` current for networks that run their own consumers.

    Each pass publishes what the feed read since the last message on the topic, in one
    transaction; every message carries the cursor after it (header `cursor`), so after a
    crash the publisher resumes from the topic's own last message: nothing twice, nothing lost.
    """

    def __init__(self, feed: ConsularFeed) -> None:
        self.feed = feed
        self.topic = feed.node.catalogue.feed(feed.organisation)
        self._cursor: Cursor | None = None
        self._publisher: Publisher | None = None

    def run_once(self, existing: set[str] | None = None) -> int:
        """Publish what the feed read since the last pass; existing: the log's topics, when
        the caller listed them already."""
        log_ = self.feed.node.event_log
        if self._publisher is None:
            log_.create_topics([self.topic])
            prefix = self.feed.node.catalogue.prefix
            self._publisher = log_.publisher(f"{prefix}caseledger-feed-{self.feed.organisation}")
            self._cursor = self.last_cursor()
        items, after = self.feed.read(self._cursor, existing=existing)
        if items:
            self._publisher.publish(
                [
                    OutgoingRecord(
                        self.topic.name,
                        item.aggregate_id.encode(),
                        json.dumps(feed_message(item), sort_keys=True).encode(),
                        (("cursor", item.cursor.encode()), ("event_type", item.event_type.encode()), FORMAT),
                        int(
                            (month_of(item.recorded_at) if item.envelope else item.recorded_at).timestamp()
                            * 1000
                        ),
                    )
                    for item in items
                ]
            )
        self._cursor = after
        return len(items)

    def last_cursor(self) -> Cursor | None:
        """The cursor of the topic's last message (None when it holds none)."""
        log_ = self.feed.node.event_log
        [tp] = log_.partitions(self.topic.name)
        begin, end = log_.beginning_offsets([tp])[tp], log_.end_offsets([tp])[tp]
        window = 16
        while end > begin:
            start = max(begin, end - window)
            found: bytes | None = None
            sealed = False
            reader = LogReader(
                log_,
                None,  # the feed's own topic: its messages carry no run signature
                max_records=500,
                timed_out=lambda: LogUnavailable(f"{self.topic.name}: could not read its last message"),
            )
            for batch in reader.batches({tp: start}, {tp: end}):
                for record in batch.records:
                    if record.header("cursor"):
                        found, sealed = record.header("cursor"), record.header(FORMAT[0]) == FORMAT[1]
            if found is not None:
                if not sealed:
                    log.warning(
                        "feed %s: %s holds items of an earlier release with their fields in the clear; "
                        "delete the topic and this feed publishes it again from the start, sealed",
                        self.feed.organisation,
                        self.topic.name,
                    )
                return decode_cursor(found.decode(), "cursor")
            if start == begin:
                return None
            window *= 4
        return None

    def run(
        self, stop: threading.Event, idle_s: float = 1.0, listed_s: float = 5.0, held_s: float = 0.02
    ) -> None:
        """Publish until stop is set. After each pass it long-polls the events partitions at
        the cursor (topics/watch.py): at once when something came during the pass, without the
        round trips of a pass that finds nothing. While items wait for the views to catch up
        (a pass that published nothing, the watch answering at once), it looks again every
        held_s. The log's topics are listed once every listed_s, not on every pass."""
        watch = LogWatch(self.feed.node.event_log)
        listing = shared_listing(self.feed.node.event_log, listed_s)
        try:
            while not stop.is_set():
                try:
                    published = self.run_once(listing.get())
                    cursor = self._cursor or {}
                    if not cursor:  # no events topic yet: look for one again after a while
                        listing.forget()
                        stop.wait(idle_s)
                        continue
                    began = time.monotonic()
                    if (
                        watch.wait({tp: read for tp, (_, read) in cursor.items()}, idle_s)
                        and not published
                        and time.monotonic() - began < held_s
                    ):
                        stop.wait(held_s)  # there already: items held back until the views catch up
                except Exception as error:  # a feed must outlive a broker restart
                    log.warning("feed %s: %s", self.feed.organisation, type(error).__name__)
                    self._close()
                    watch.close()
                    listing.forget()
                    stop.wait(2.0)
        finally:
            watch.close()

    def _close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def close(self) -> None:
        self._close()
