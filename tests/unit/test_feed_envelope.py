"""The consular feed and its Kafka topic under Envelope v2: who recorded an event and exactly
when are of its common tier; the feed shows them with that tier, its topic keeps them sealed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from services.bootstrap import Node, build_node
from services.feed import ConsularFeed
from services.feed_topic import FeedPublisher, open_feed_message
from services.settings import Settings
from tests.factories import FAMILY, report
from topics.mapping import month_of

CONSULATE = "hn-consulado-tapachula"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


def test_the_feed_names_the_recorder_with_the_common_tier_and_its_topic_seals_it(node: Node) -> None:
    adult = str(
        node.ledger.report_missing_person(
            report(given_names="Hondureño", nationalities=("HN",), consented_purposes=("search",))
        )
    )
    minor = str(
        node.ledger.report_missing_person(
            report(given_names="Niño", nationalities=("HN",), date_of_birth="2015-01-01")
        )
    )
    node.relay.run_once()
    items, _ = ConsularFeed(node, load_rules(SAMPLE_POLICY), CONSULATE).read(None)
    shown = {item.aggregate_id: item for item in items}
    exact = shown[adult]
    reporter = report().recorded_by.organisation
    assert exact.tiers == ("public", "common") and exact.recorded_by["organisation"] == reporter
    assert exact.recorded_at != month_of(exact.recorded_at), "the exact instant, not the month"
    # A minor's case shows the public tier only: the month, and no recorder.
    public = shown[minor]
    assert public.tiers == ("public",) and public.recorded_by == {"organisation": "", "role": ""}
    assert (public.recorded_at.day, public.recorded_at.hour, public.recorded_at.minute) == (1, 0, 0)

    publisher = FeedPublisher(ConsularFeed(node, load_rules(SAMPLE_POLICY), CONSULATE))
    assert publisher.run_once() == 2
    publisher.close()
    [tp] = node.event_log.partitions(node.catalogue.feed(CONSULATE).name)
    reader = node.event_log.reader()
    reader.assign({tp: 0})
    messages = {m.key: m for m in reader.poll(1.0, max_records=100)}
    reader.close()
    message = messages[adult.encode()]
    raw = json.loads(message.value or b"")
    assert FAMILY.organisation.encode() not in (message.value or b"")
    assert raw["recorded_by"] == {"organisation": "", "role": ""} and raw["sealed_envelope"]
    assert raw["recorded_at"].startswith(exact.recorded_at.strftime("%Y-%m-01T00:00:00"))
    assert message.timestamp_ms == int(month_of(exact.recorded_at).timestamp() * 1000)
    opened = open_feed_message(node.registry, node.data_keys, message.value or b"")
    assert (
        opened["recorded_by"] == exact.recorded_by and opened["recorded_at"] == exact.recorded_at.isoformat()
    )
    assert "sealed_envelope" not in opened
    # The envelope is bound to its case and version: moved to another, it does not open.
    tampered = json.dumps({**raw, "sealed": [], "version": raw["version"] + 1}).encode()
    with pytest.raises(ValueError, match="sealed envelope"):
        open_feed_message(node.registry, node.data_keys, tampered)
