"""Consular subscriptions on an embedded node: the Server-Sent Events feed and the filtered
topic give a consulate the events about its nationals that its agreements allow, resume
where they stopped, and record deliveries above the common tier as reads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import AmendData, EraseData, GrantConsent, RecordSighting, WithdrawConsent
from ledger.values import Place
from projections.feed_items import encode_cursor
from services.bootstrap import Node, build_node
from services.feed import ConsularFeed
from services.feed_topic import FeedPublisher, open_feed_message
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import FAMILY, ctx, report
from topics.log import OutgoingRecord

BOTH = ("search", "family_support")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


@pytest.fixture
def cases(node: Node) -> dict[str, str]:
    ledger = node.ledger
    made = {
        "hn_adult": ledger.report_missing_person(
            report(given_names="Hondureño", nationalities=("HN",), consented_purposes=BOTH)
        ),
        "hn_minor": ledger.report_missing_person(
            report(
                given_names="Niño",
                nationalities=("HN",),
                date_of_birth="2015-01-01",
                consented_purposes=BOTH,
            )
        ),
        "gt_minor": ledger.report_missing_person(
            report(
                given_names="Niña",
                nationalities=("GT",),
                date_of_birth="2014-01-01",
                consented_purposes=BOTH,
            )
        ),
        "hn_no_consent": ledger.report_missing_person(
            report(given_names="Sin Consentimiento", nationalities=("HN",))
        ),
    }
    ledger.record_sighting(
        RecordSighting(
            **ctx(), case_id=made["hn_adult"], seen_on="2026-03-01", place=Place("MX"), source="survivor"
        )
    )
    return {k: str(v) for k, v in made.items()}


def events(text: str) -> list[dict[str, Any]]:
    """The events of a Server-Sent Events body: id, event and parsed data of each."""
    out: list[dict[str, Any]] = []
    for block in filter(None, text.strip().split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        out.append({"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])})
    return out


def headers(tokens: TokenStore, organisation: str, role: str = "consular_officer") -> dict[str, str]:
    token, _ = tokens.issue(organisation, role)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}


def test_a_consulate_follows_its_nationals_as_its_agreement_allows(
    node: Node, cases: dict[str, str], tmp_path: Path
) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    api = TestClient(create_app(node, tokens, catch_up=True))
    # For family support: the family of one case consented to the search only (a report's default).
    honduras = {**headers(tokens, "hn-consulado-tapachula"), "X-Purpose": "family_support"}
    response = api.get("/feed", params={"follow": "false"}, headers=honduras)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    feed = events(response.text)
    assert sorted((e["data"]["case_id"], e["event"]) for e in feed) == sorted(
        [
            (cases["hn_adult"], "CaseReported"),
            (cases["hn_adult"], "SightingRecorded"),
            (cases["hn_minor"], "CaseReported"),
            (cases["hn_no_consent"], "CaseReported"),
        ]
    ), "its nationals only"
    of_adult = [e["event"] for e in feed if e["data"]["case_id"] == cases["hn_adult"]]
    assert of_adult == ["CaseReported", "SightingRecorded"], "a case's events in their order"
    reported = {e["data"]["case_id"]: e["data"] for e in feed if e["event"] == "CaseReported"}
    adult, minor, no_consent = (reported[cases[k]] for k in ("hn_adult", "hn_minor", "hn_no_consent"))
    assert adult["fields"]["person"]["given_names"] == "Hondureño" and adult["tiers"] == ["public", "common"]
    # No agreement of Honduras's consulate names minors, and one family gave no consent: public only.
    for data in (minor, no_consent):
        assert data["tiers"] == ["public"] and "given_names" not in data["fields"]["person"]
        assert "common" in data["withheld"]
    assert "Niña" not in response.text and "genetic" not in adult["tiers"]

    # Resuming from any event's id gives what came after it, nothing before, even from the middle
    # of a run the origin signed as a whole.
    which = [(e["data"]["case_id"], e["data"]["version"]) for e in feed]
    for k, event in enumerate(feed):
        resume = {**honduras, "Last-Event-ID": event["id"]}
        resumed = events(api.get("/feed", params={"follow": "false"}, headers=resume).text)
        assert [(e["data"]["case_id"], e["data"]["version"]) for e in resumed] == which[k + 1 :]
    node.ledger.grant_consent(
        GrantConsent(
            **ctx(FAMILY),
            case_id=uuid.UUID(cases["hn_no_consent"]),
            consent_purpose="family_support",
            given_by="su madre",
            explained_by="Casa del Migrante: Juan Ruiz",
            language="es",
        )
    )
    later = events(
        api.get(
            "/feed", params={"follow": "false"}, headers={**honduras, "Last-Event-ID": feed[-1]["id"]}
        ).text
    )
    assert [e["event"] for e in later] == ["ConsentGranted"]

    garbled = api.get("/feed", params={"follow": "false"}, headers={**honduras, "Last-Event-ID": "yesterday"})
    assert garbled.status_code == 422 and garbled.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]
    caseworker = headers(tokens, "mx-fiscalia-migrantes", "caseworker")
    assert api.get("/feed", params={"follow": "false"}, headers=caseworker).status_code == 403
    not_a_consulate = headers(tokens, "mx-fiscalia-migrantes")
    assert api.get("/feed", params={"follow": "false"}, headers=not_a_consulate).status_code == 403


def test_a_minors_data_reaching_a_consulate_is_recorded_as_a_read(node: Node, cases: dict[str, str]) -> None:
    feed = ConsularFeed(node, load_rules(SAMPLE_POLICY), "gt-consulado-tapachula")
    node.relay.run_once()
    items, _ = feed.read()
    [minor] = items
    assert minor.aggregate_id == cases["gt_minor"] and minor.fields["person"]["given_names"] == "Niña"
    reads = node.ledger.reads_of(uuid.UUID(cases["gt_minor"]))
    assert [(r.recorded_by["organisation"], r.interface, tuple(r.tiers)) for r in reads] == [
        ("gt-consulado-tapachula", "feed", ("common",))
    ]


def test_the_feed_topic_resumes_from_its_own_last_message(node: Node, cases: dict[str, str]) -> None:
    rules = load_rules(SAMPLE_POLICY)
    node.relay.run_once()
    publisher = FeedPublisher(ConsularFeed(node, rules, "hn-consulado-tapachula"))
    assert publisher.run_once() == 4
    publisher.close()
    restarted = FeedPublisher(ConsularFeed(node, rules, "hn-consulado-tapachula"))  # a new process
    assert restarted.run_once() == 0, "nothing published twice"
    node.ledger.record_sighting(
        RecordSighting(
            **ctx(),
            case_id=uuid.UUID(cases["hn_adult"]),
            seen_on="2026-03-02",
            place=Place("MX"),
            source="survivor",
        )
    )
    node.relay.run_once()
    assert restarted.run_once() == 1
    restarted.close()
    topic = node.catalogue.feed("hn-consulado-tapachula").name
    [tp] = node.event_log.partitions(topic)
    reader = node.event_log.reader()
    reader.assign({tp: 0})
    messages = reader.poll(1.0, max_records=100)
    reader.close()
    assert sorted(json.loads(m.value or b"")["event_type"] for m in messages) == [
        "CaseReported",
        "CaseReported",
        "CaseReported",
        "SightingRecorded",
        "SightingRecorded",
    ]
    assert all(m.header("cursor") for m in messages) and b"Ni\xc3\xb1a" not in b"".join(
        m.value or b"" for m in messages
    )


def test_a_birth_date_corrected_to_a_minors_stops_the_common_tier_reaching_a_consulate(
    node: Node, cases: dict[str, str]
) -> None:
    """The Honduran consulate's agreement excludes minors: once the family corrects the date of
    birth to a child's, a later sighting's place is not delivered, whether the feed read the
    report itself or learned the case from the ledger (a cursor after the report)."""
    case_id = uuid.UUID(cases["hn_adult"])
    rules = load_rules(SAMPLE_POLICY)
    node.relay.run_once()
    first, cursor = ConsularFeed(node, rules, "hn-consulado-tapachula").read(None)
    node.ledger.amend_data(
        AmendData(
            **ctx(FAMILY, "family_support"),
            case_id=case_id,
            changes={"person.date_of_birth": "2012-01-01"},
            reason="the birth certificate",
        )
    )
    node.ledger.record_sighting(
        RecordSighting(
            **ctx(), case_id=case_id, seen_on="2026-05-07", place=Place("MX", "Huixtla"), source="family"
        )
    )
    node.sync("MX")
    for feed, start in (
        (ConsularFeed(node, rules, "hn-consulado-tapachula"), None),
        (ConsularFeed(node, rules, "hn-consulado-tapachula"), cursor),
    ):
        items, _ = feed.read(start)
        sighting = [
            i for i in items if i.aggregate_id == str(case_id) and i.event_type == "SightingRecorded"
        ][-1]
        assert "Huixtla" not in json.dumps(sighting.fields, default=str) and "common" in sighting.withheld
    assert any(
        i.aggregate_id == str(case_id)
        and "Hondureño" in json.dumps(i.fields, default=str, ensure_ascii=False)
        for i in first
    )


def shown(response: Any) -> str:
    """Every item's data as readable text (JSON escapes accents)."""
    return json.dumps([e["data"] for e in events(response.text)], ensure_ascii=False)


def withdraw_search(node: Node, case_id: str) -> None:
    node.ledger.withdraw_consent(
        WithdrawConsent(
            **ctx(FAMILY), case_id=uuid.UUID(case_id), consent_purpose="search", withdrawn_by="su madre"
        )
    )


def test_a_replay_after_the_family_withdrew_the_search_shows_no_name(
    node: Node, cases: dict[str, str], tmp_path: Path
) -> None:
    """Every item, replayed or live, is decided by the case's consent now, not by the consent
    the replayed event was recorded under."""
    tokens = TokenStore(tmp_path / "tokens.json")
    api = TestClient(create_app(node, tokens, catch_up=True))
    honduras = headers(tokens, "hn-consulado-tapachula")
    before = api.get("/feed", params={"follow": "false"}, headers=honduras)
    assert "Hondureño" in shown(before), "the consulate read the name while the family consented"
    withdraw_search(node, cases["hn_adult"])

    replay = api.get("/feed", params={"follow": "false"}, headers=honduras)  # no Last-Event-ID
    assert replay.status_code == 200
    assert "Hondureño" not in shown(replay)
    of_adult = [e for e in events(replay.text) if e["data"]["case_id"] == cases["hn_adult"]]
    assert "López" not in json.dumps([e["data"] for e in of_adult], ensure_ascii=False)
    assert [e["event"] for e in of_adult] == [
        "CaseReported",
        "SightingRecorded",
        "ConsentWithdrawn",
        "ItemsRetracted",
    ]
    assert all(e["data"]["tiers"] == ["public"] for e in of_adult)
    reported = of_adult[0]["data"]
    assert "common" in reported["withheld"] and "date_of_birth" not in reported["fields"]["person"]
    assert "place" not in reported["fields"]["last_seen"]
    retraction = of_adult[-1]["data"]
    assert retraction["fields"] == {"reason": "consent_withdrawn", "up_to_version": 3}

    # Live: a subscriber that had the name before is told to drop it.
    last_before = events(before.text)[-1]["id"]
    live = events(
        api.get("/feed", params={"follow": "false"}, headers={**honduras, "Last-Event-ID": last_before}).text
    )
    assert [e["event"] for e in live] == ["ConsentWithdrawn", "ItemsRetracted"]

    # The family gives its consent again: the case reads as it stands now, names included.
    node.ledger.grant_consent(
        GrantConsent(
            **ctx(FAMILY), case_id=uuid.UUID(cases["hn_adult"]), consent_purpose="search", given_by="su madre"
        )
    )
    again = api.get("/feed", params={"follow": "false"}, headers=honduras)
    assert "Hondureño" in shown(again) and "ItemsRetracted" not in again.text


def test_an_erased_case_replays_as_its_public_tier_and_a_retraction(
    node: Node, cases: dict[str, str], tmp_path: Path
) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    api = TestClient(create_app(node, tokens, catch_up=True))
    honduras = headers(tokens, "hn-consulado-tapachula")
    node.ledger.erase_data(
        EraseData(**ctx(FAMILY), case_id=uuid.UUID(cases["hn_adult"]), requested_by="Rosa Chávez, su madre")
    )
    replay = api.get("/feed", params={"follow": "false"}, headers=honduras)
    assert "Hondureño" not in shown(replay)
    of_adult = [e for e in events(replay.text) if e["data"]["case_id"] == cases["hn_adult"]]
    assert [e["event"] for e in of_adult][-2:] == ["DataErased", "ItemsRetracted"]
    assert all(e["data"]["tiers"] == ["public"] for e in of_adult)
    assert of_adult[-1]["data"]["fields"]["reason"] == "data_erased"


def test_the_feed_topic_carries_names_sealed_and_retracts_them(node: Node, cases: dict[str, str]) -> None:
    """On `ledger.feed.<organisation>` the tiers above public travel as the origin sealed them:
    the consulate's node opens them with the keys it holds; a withdrawal publishes a
    retraction; an erasure destroys the keys, so nothing of the name can be read any more."""
    rules = load_rules(SAMPLE_POLICY)
    node.relay.run_once()
    publisher = FeedPublisher(ConsularFeed(node, rules, "hn-consulado-tapachula"))
    publisher.run_once()
    topic = node.catalogue.feed("hn-consulado-tapachula").name

    def raw() -> list[Any]:
        [tp] = node.event_log.partitions(topic)
        reader = node.event_log.reader()
        reader.assign({tp: 0})
        found = reader.poll(1.0, max_records=1000)
        reader.close()
        return found

    def reported_name() -> Any:
        [message] = [
            m
            for m in raw()
            if m.key == cases["hn_adult"].encode() and m.header("event_type") == b"CaseReported"
        ]
        opened = open_feed_message(node.registry, node.data_keys, message.value or b"")
        return opened["fields"]["person"].get("given_names")

    assert not any(b"Hondure" in (m.value or b"") for m in raw()), "no name in the clear on the topic"
    assert reported_name() == "Hondureño", "the consulate's node opens what its agreement allows"

    withdraw_search(node, cases["hn_adult"])
    node.relay.run_once()
    assert publisher.run_once() == 2
    retraction = json.loads(raw()[-1].value or b"")
    assert (retraction["event_type"], retraction["case_id"], retraction["fields"]["reason"]) == (
        "ItemsRetracted",
        cases["hn_adult"],
        "consent_withdrawn",
    )

    node.ledger.erase_data(
        EraseData(**ctx(FAMILY), case_id=uuid.UUID(cases["hn_adult"]), requested_by="Rosa Chávez, su madre")
    )
    node.relay.run_once()
    assert publisher.run_once() == 2
    publisher.close()
    assert [json.loads(m.value or b"")["event_type"] for m in raw()][-2:] == ["DataErased", "ItemsRetracted"]
    assert reported_name() is None, "erased: its key is destroyed, the name opens nowhere"
    assert not any(b"Hondure" in (m.value or b"") + b"".join(v for _, v in m.headers) for m in raw())


def test_a_feed_topic_left_by_an_earlier_release_is_named_for_deletion(
    node: Node, cases: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Items of earlier releases carried the fields in the clear: the publisher says so."""
    rules = load_rules(SAMPLE_POLICY)
    node.relay.run_once()
    topic = node.catalogue.feed("hn-consulado-tapachula")
    node.event_log.create_topics([topic])
    _, cursor = ConsularFeed(node, rules, "hn-consulado-tapachula").read()
    earlier = node.event_log.publisher("an-earlier-release")
    earlier.publish(
        [OutgoingRecord(topic.name, b"case", b"{}", (("cursor", encode_cursor(cursor).encode()),), 0)]
    )
    earlier.close()
    publisher = FeedPublisher(ConsularFeed(node, rules, "hn-consulado-tapachula"))
    with caplog.at_level("WARNING", logger="services.feed_topic"):
        assert publisher.run_once() == 0, "it resumes after the earlier release's last item"
    publisher.close()
    assert "holds items of an earlier release with their fields in the clear" in caplog.text


def test_a_birth_date_corrected_to_a_minors_retracts_the_name_and_replays_without_it(
    node: Node, cases: dict[str, str]
) -> None:
    """The Honduran consulate's agreement excludes minors: once the family corrects the date
    of birth to a child's, the report replays without the name, and a subscriber that had it
    is told to drop it."""
    rules = load_rules(SAMPLE_POLICY)
    node.relay.run_once()
    before, cursor = ConsularFeed(node, rules, "hn-consulado-tapachula").read()
    assert "Hondureño" in json.dumps([i.fields for i in before], ensure_ascii=False, default=str)
    node.ledger.amend_data(
        AmendData(
            **ctx(FAMILY, "family_support"),
            case_id=uuid.UUID(cases["hn_adult"]),
            changes={"person.date_of_birth": "2013-05-01"},
            reason="the birth certificate",
        )
    )
    node.relay.run_once()
    live, _ = ConsularFeed(node, rules, "hn-consulado-tapachula").read(cursor)
    assert [(i.event_type, i.fields.get("reason")) for i in live] == [
        ("DataAmended", None),
        ("ItemsRetracted", "data_amended"),
    ]
    replay, _ = ConsularFeed(node, rules, "hn-consulado-tapachula").read()
    of_adult = [i for i in replay if i.aggregate_id == cases["hn_adult"]]
    assert "Hondureño" not in json.dumps([i.fields for i in of_adult], ensure_ascii=False, default=str)
    assert all(i.tiers == ("public",) for i in of_adult)


def test_a_feed_message_moved_to_another_case_does_not_open(node: Node, cases: dict[str, str]) -> None:
    """A sealed tier is bound to its case, version and tier: a message edited to say it is
    about another case is refused, not read as that case's."""
    node.relay.run_once()
    publisher = FeedPublisher(ConsularFeed(node, load_rules(SAMPLE_POLICY), "hn-consulado-tapachula"))
    publisher.run_once()
    publisher.close()
    topic = node.catalogue.feed("hn-consulado-tapachula").name
    [tp] = node.event_log.partitions(topic)
    reader = node.event_log.reader()
    reader.assign({tp: 0})
    messages = reader.poll(1.0, max_records=100)
    reader.close()
    [reported] = [
        json.loads(m.value or b"")
        for m in messages
        if m.key == cases["hn_adult"].encode() and m.header("event_type") == b"CaseReported"
    ]
    assert [s["tier"] for s in reported["sealed"]] == ["common"] and reported["tiers"] == ["public", "common"]
    moved = json.dumps({**reported, "case_id": cases["hn_no_consent"]}).encode()
    with pytest.raises(ValueError, match="sealed common tier of a feed item"):
        open_feed_message(node.registry, node.data_keys, moved)
