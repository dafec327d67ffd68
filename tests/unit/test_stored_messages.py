"""The event store holds each sealed tier as the log carries it (#13 item 7): every event of a
case's whole story reads back as it did in the older form, and the relay's message made from
the stored ciphertext is byte for byte the one made by opening the event and sealing it again
(topics/mapping.py to_outgoing), so hash chains and idempotent re-publishing keep holding.
Events stored in the older form stay readable and are published as before."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.utils import resolve_topic

from ledger.application import CaseLedger
from ledger.commands import EraseData
from ledger.crypto import MasterKey, Refused, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from ledger.sealed_store import SEALED, SealingMapper
from ledger.tier_codec import WIRE
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import FAMILY, ctx, report
from tests.story import whole_story
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.mapping import Outgoing, to_outgoing
from topics.stored_messages import LazyEvent, stored_outgoing
from topics.wire_tiers import WireTiers

REGISTRY = SchemaRegistry()
CATALOGUE = Catalogue()


@pytest.fixture(scope="module")
def story() -> tuple[CaseLedger, list[Any]]:
    keys = MemoryKeyStore(MasterKey(new_data_key()))
    ledger = CaseLedger("MX", keys=keys, codec=WireTiers(REGISTRY))
    whole_story(ledger)
    return ledger, ledger.recorder.select_notifications(start=1, limit=10_000)


def as_published(outgoing: Outgoing) -> tuple[Any, ...]:
    record = outgoing.record
    return record.topic, record.key, record.value, record.headers, record.timestamp_ms, outgoing.key_ids


def test_every_event_is_stored_in_wire_form_and_reads_as_the_older_form_does(
    story: tuple[CaseLedger, list[Any]],
) -> None:
    ledger, notifications = story
    older = SealingMapper(ledger.mapper.transcoder, ledger.keys)  # no codec: the older form
    types = set()
    for notification in notifications:
        state = ledger.mapper.transcoder.decode(notification.state)
        assert WIRE in state and SEALED not in state, notification.topic
        event = ledger.mapper.to_domain_event(notification)
        again = older.to_stored_event(event)
        assert SEALED in older.transcoder.decode(again.state)
        assert vars(ledger.mapper.to_domain_event(again)) == vars(event), notification.topic
        types.add(notification.topic)
    assert len(types) >= 25, "the story covers the event types"


def test_the_message_from_the_stored_tiers_is_the_one_made_by_sealing_again(
    story: tuple[CaseLedger, list[Any]],
) -> None:
    ledger, notifications = story
    keys = ledger.keys
    sealed = 0
    for notification in notifications:
        state = ledger.mapper.transcoder.decode(notification.state)
        event = ledger.mapper.to_domain_event(notification)
        made = to_outgoing(REGISTRY, CATALOGUE, event, notification.topic, "MX", notification.id, keys)
        copied = stored_outgoing(REGISTRY, CATALOGUE, notification, state, "MX", keys)
        assert copied is not None, notification.topic
        assert as_published(copied) == as_published(made), notification.topic
        sealed += bool(made.key_ids)
    assert sealed >= 40, "most messages carry sealed tiers"


def test_a_key_rotated_by_the_grants_seals_the_stored_record_again_as_sealing_anew_does(
    story: tuple[CaseLedger, list[Any]],
) -> None:
    ledger, notifications = story
    other = new_data_key()

    def key_for(aggregate_id: str, tier: str) -> tuple[str, bytes]:
        return f"{aggregate_id}/{tier}/99", other  # what a rotation hands out

    rekeyed = 0
    for notification in notifications:
        state = ledger.mapper.transcoder.decode(notification.state)
        event = ledger.mapper.to_domain_event(notification)
        made = to_outgoing(
            REGISTRY, CATALOGUE, event, notification.topic, "MX", notification.id, ledger.keys, key_for
        )
        copied = stored_outgoing(REGISTRY, CATALOGUE, notification, state, "MX", ledger.keys, key_for)
        assert copied is not None and as_published(copied) == as_published(made), notification.topic
        rekeyed += any(k.endswith("/99") for k in made.key_ids)
    assert rekeyed >= 40


def test_changed_stored_ciphertext_is_refused_and_a_changed_public_field_changes_the_message(
    story: tuple[CaseLedger, list[Any]],
) -> None:
    """The comparisons above can fail: the message really is made from what is stored."""
    ledger, notifications = story
    notification = next(n for n in notifications if n.topic.endswith(".CaseReported"))
    state = ledger.mapper.transcoder.decode(notification.state)
    event = ledger.mapper.to_domain_event(notification)
    made = to_outgoing(REGISTRY, CATALOGUE, event, notification.topic, "MX", notification.id, ledger.keys)
    tier, entry = next(iter(state[WIRE]["tiers"].items()))
    flipped = bytearray(base64.b64decode(entry[1]))
    flipped[-1] ^= 1
    tampered = {
        **state,
        WIRE: {**state[WIRE], "tiers": {tier: [entry[0], base64.b64encode(flipped).decode(), *entry[2:]]}},
    }
    with pytest.raises(Refused):  # checked before it is copied, as the older path opened it
        stored_outgoing(REGISTRY, CATALOGUE, notification, tampered, "MX", ledger.keys)
    assert stored_outgoing(REGISTRY, CATALOGUE, notification, state, "MX", ledger.keys) is not None
    envelope = state[WIRE].get("envelope")
    assert envelope, "control: a report's envelope is stored sealed"
    bad = bytearray(base64.b64decode(envelope[1]))
    bad[-1] ^= 1
    wrong = {
        **state,
        WIRE: {**state[WIRE], "envelope": [envelope[0], base64.b64encode(bad).decode(), *envelope[2:]]},
    }
    with pytest.raises(Refused):
        stored_outgoing(REGISTRY, CATALOGUE, notification, wrong, "MX", ledger.keys)
    person = state["person"]
    assert "nationalities" in person and "given_names" not in person, "control: the public part only"
    moved = {**state, "person": {**person, "nationalities": ["GT", *person["nationalities"]]}}
    copied = stored_outgoing(REGISTRY, CATALOGUE, notification, moved, "MX", ledger.keys)
    assert copied is not None and copied.record.value != made.record.value


def test_an_event_stored_in_the_older_form_is_left_to_the_open_and_seal_path(
    story: tuple[CaseLedger, list[Any]],
) -> None:
    ledger, notifications = story
    older = SealingMapper(ledger.mapper.transcoder, ledger.keys)
    notification = notifications[0]
    stored = older.to_stored_event(ledger.mapper.to_domain_event(notification))
    state = older.transcoder.decode(stored.state)
    assert stored_outgoing(REGISTRY, CATALOGUE, notification, state, "MX", ledger.keys) is None


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def node_at(data_dir: Path, **ledger_kwargs: Any) -> Node:
    settings = Settings(node="MX", data_dir=data_dir, kafka_bootstrap=None, database_url=None)
    return build_node(settings, **ledger_kwargs)


def test_events_stored_in_either_form_are_read_and_published_as_sealing_anew_would(data_dir: Path) -> None:
    first = node_at(data_dir, codec=None)  # a node of the release before: the older form
    old_case = first.ledger.report_missing_person(report())
    erased = first.ledger.report_missing_person(report())
    first.close()
    node = node_at(data_dir)
    try:
        new_case = node.ledger.report_missing_person(report())
        node.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=erased, requested_by="Rosa Chávez, mother"))
        forms = {}
        for notification in node.ledger.recorder.select_notifications(start=1, limit=100):
            state = node.ledger.mapper.transcoder.decode(notification.state)
            forms[(notification.originator_id, notification.originator_version)] = (
                WIRE if WIRE in state else SEALED
            )
        assert forms[(old_case, 1)] == SEALED and forms[(new_case, 1)] == WIRE, "control: both forms stored"
        for case in (old_case, new_case):
            assert node.ledger.get_case(case).person["given_names"] == "María José"

        assert node.relay.run_once() == len(forms)
        published = {
            (r.key, (r.header("notification_id") or b"").decode()): r.value
            for r in read_all(node.event_log, node.catalogue.events("MX").name)
        }
        assert len(published) == len(forms)
        for notification in node.ledger.recorder.select_notifications(start=1, limit=100):
            event = node.ledger.mapper.to_domain_event(notification)
            made = to_outgoing(
                node.registry,
                node.catalogue,
                event,
                notification.topic,
                "MX",
                notification.id,
                node.data_keys,
            )
            key = (str(notification.originator_id).encode(), str(notification.id))
            assert published[key] == made.record.value, notification.topic
    finally:
        node.close()


def test_the_relays_lazy_event_opens_tiers_only_for_what_they_hold(
    story: tuple[CaseLedger, list[Any]],
) -> None:
    """The grants ask every event for its person: an event without one answers without its
    tiers being opened; a report's person is tiered, so asking for it opens them once."""
    ledger, notifications = story
    sighting = next(n for n in notifications if n.topic.endswith(".SightingRecorded"))
    reported = next(n for n in notifications if n.topic.endswith(".CaseReported"))
    loads: list[str] = []

    def lazy(notification: Any) -> LazyEvent:
        state = ledger.mapper.transcoder.decode(notification.state)

        def load() -> Any:
            loads.append(notification.topic)
            return ledger.mapper.to_domain_event(notification)

        return LazyEvent(resolve_topic(notification.topic), state, load)

    event = lazy(sighting)
    assert getattr(event, "person", None) is None
    assert loads == []
    real = ledger.mapper.to_domain_event(sighting)
    assert getattr(real, "person", None) is None, "control: the loaded event has no person either"
    report_event = lazy(reported)
    assert report_event.person["given_names"] and loads == [reported.topic]
    assert report_event.person["nationalities"] and loads == [reported.topic]  # opened once
