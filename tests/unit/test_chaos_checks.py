"""The chaos run's checks (bench/chaos_checks.py) catch what they are there to catch: an
acknowledged event missing, one published twice, a case out of version order, an event no one
acknowledged, a refused command recorded, and a feed's missing, repeated or stray items."""

from __future__ import annotations

from collections import Counter

from bench.chaos_checks import (
    FeedItem,
    OnTopic,
    check_feed,
    check_origin,
    round_counts,
)
from bench.chaos_load import Command


def acked(case: str, version: int, at: float = 1.0, kind: str = "sighting") -> Command:
    return Command(
        "MX",
        kind,
        f"k-{case}-{version}",
        "/cases",
        {},
        case_id=case,
        version=version,
        status=201,
        answered_at=at,
    )


def on_topic(
    case: str, version: int, offset: int, partition: int = 0, command_id: str | None = None
) -> OnTopic:
    return OnTopic(case, version, partition, offset, "SightingRecorded", command_id)


COMMANDS = [acked("a", 1, kind="report"), acked("a", 2), acked("b", 1, kind="report")]
CLEAN = [on_topic("a", 1, 0), on_topic("b", 1, 1), on_topic("a", 2, 2)]


def no_others(_: OnTopic) -> bool:
    return False


def test_a_clean_topic_passes() -> None:
    assert check_origin(COMMANDS, CLEAN, no_others).problems("MX") == []


def test_an_acknowledged_event_missing_is_lost() -> None:
    found = check_origin(COMMANDS, CLEAN[:2], no_others)
    assert found.lost == [("a", 2)]


def test_an_event_twice_is_duplicated() -> None:
    found = check_origin(COMMANDS, [*CLEAN, on_topic("b", 1, 3)], no_others)
    assert found.duplicated == [(("b", 1), 2)]


def test_versions_out_of_offset_order_or_split_across_partitions() -> None:
    swapped = [on_topic("a", 2, 0), on_topic("b", 1, 1), on_topic("a", 1, 2)]
    assert check_origin(COMMANDS, swapped, no_others).out_of_order == ["a"]
    split = [on_topic("a", 1, 0), on_topic("b", 1, 1), on_topic("a", 2, 0, partition=1)]
    assert check_origin(COMMANDS, split, no_others).out_of_order == ["a"]


def test_an_event_never_acknowledged_is_unexpected_unless_allowed() -> None:
    stray = [*CLEAN, on_topic("a", 3, 3), on_topic("z", 1, 4)]
    found = check_origin(COMMANDS, stray, no_others)
    assert sorted(e for e, _ in found.unexpected) == [("a", 3), ("z", 1)]
    allowed = check_origin(COMMANDS, stray, lambda r: r.key == "z")
    assert [e for e, _ in allowed.unexpected] == [("a", 3)]


def test_a_refused_command_on_the_topic_is_named() -> None:
    refused = Command("MX", "stale", "late", "/cases/a/sightings", {}, if_match=1, case_id="a", status=409)
    refused.answers = [503, 409]
    recorded = [*CLEAN, on_topic("a", 3, 3, command_id=f"{refused.command_id}#0123456789abcdef")]
    found = check_origin([*COMMANDS, refused], recorded, no_others)
    assert found.refused_present == [f"{refused.command_id} (stale, answers [503, 409])"]
    assert check_origin([*COMMANDS, refused], CLEAN, no_others).refused_present == []


def test_a_feed_missing_repeating_or_adding_items_is_named() -> None:
    expected = {("a", 1), ("a", 2)}
    good = [FeedItem("a", 1, "CaseReported"), FeedItem("a", 2, "SightingRecorded")]
    assert check_feed("hn", expected, good, set()) == []
    assert "missing" in check_feed("hn", expected, good[:1], set())[0]
    assert "more than once" in check_feed("hn", expected, [*good, good[1]], set())[0]
    assert "may not see" in check_feed("hn", expected, [*good, FeedItem("b", 1, "CaseReported")], set())[0]


def test_round_counts_follow_the_instant_of_the_answer() -> None:
    commands = [
        acked("a", 1, at=1.0, kind="report"),
        acked("a", 2, at=5.0),
        acked("b", 1, at=6.0, kind="report"),
    ]
    published = Counter({("a", 1): 1, ("a", 2): 2})
    rounds = round_counts([(0.0, 4.0), (4.0, 10.0)], commands, published, {("a", 1)})
    assert [(r.accepted, r.published, r.projected, r.lost, r.duplicated) for r in rounds] == [
        (1, 1, 1, 0, 0),
        (2, 1, 0, 1, 1),
    ]
