"""Erasure leaves nothing readable on disk, on the embedded default (issue 12, item 5).

A case with a distinctive name, birth date and place is recorded at MX, shared with GT and
HN under the sample rules and projected there, then erased. Every byte of every file the
nodes keep (their SQLite views with their `-wal` files unchecked-pointed, the event store,
the key store, the embedded log) is searched: the name, birth date and place are nowhere.
The views never wrote them in clear in the first place.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import AmendData, EraseData, RecordSighting
from ledger.values import Place
from projections.view_keys import ViewKeys
from services.bootstrap import Node, build_node
from services.feed import ConsularFeed
from services.feed_topic import FeedPublisher
from services.settings import Settings
from tests.factories import FAMILY, ctx, report
from tests.network import keyed

NAME, AMENDED, SURNAME = "Yaretzinda", "Itzayanara", "Quetzalpilli"
PLACE, BIRTH, ROUTE = "Ixtepecatlan", "1994-11-23", "Ruta Tenosiquense"


def held(node_data: Path) -> dict[str, bytes]:
    """Every file under the nodes' data directory, as its raw bytes."""
    return {str(f): f.read_bytes() for f in sorted(node_data.rglob("*")) if f.is_file()}


def personal(found: dict[str, bytes], *texts: str) -> list[str]:
    """Which file holds which of the texts (in UTF-8 or as a lower-case word)."""
    return [
        f"{text} in {path}"
        for path, data in found.items()
        for text in texts
        if text.encode() in data or text.lower().encode() in data
    ]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[dict[str, Node]]:
    # Nodes on one machine share the embedded log file, as nodes share one Kafka cluster.
    base = {
        c: Settings(
            node=c,
            data_dir=tmp_path / "nodes",
            kafka_bootstrap=None,
            database_url=None,
            access_rules=SAMPLE_POLICY,
        )
        for c in ("MX", "GT", "HN")
    }
    nodes = {c: build_node(s) for c, s in keyed(base, tmp_path / "keys").items()}
    yield nodes
    for node in nodes.values():
        node.close()


def record_and_share(mx: Node, gt: Node, hn: Node) -> str:
    case_id = mx.ledger.report_missing_person(
        report(
            given_names=NAME,
            first_surname=SURNAME,
            date_of_birth=BIRTH,
            last_seen_place=PLACE,
            route=ROUTE,
            nationalities=("GT",),
        )
    )
    mx.ledger.record_sighting(
        RecordSighting(
            **ctx(),
            case_id=case_id,
            seen_on="2026-03-01",
            place=Place("MX", PLACE),
            source="witness",
            description=f"{NAME} {SURNAME} was seen boarding the train",
        )
    )
    mx.ledger.amend_data(
        AmendData(
            **ctx(FAMILY),
            case_id=case_id,
            changes={"person.given_names": AMENDED},
            reason="family's spelling",
        )
    )
    mx.sync("MX")
    gt.projector("GT").run_once()
    hn.projector("HN").run_once()
    return str(case_id)


def test_the_views_hold_no_name_in_clear_and_an_erasure_leaves_none_on_disk(
    network: dict[str, Node], tmp_path: Path
) -> None:
    mx, gt, hn = network["MX"], network["GT"], network["HN"]
    case_id = record_and_share(mx, gt, hn)
    # Guatemala's consulate in Tapachula follows its nationals' cases on its feed topic.
    feed = FeedPublisher(ConsularFeed(mx, load_rules(SAMPLE_POLICY), "gt-consulado-tapachula"))
    assert feed.run_once() >= 1, "control: the feed topic holds the case's items"
    for node, jurisdiction in ((mx, "MX"), (gt, "GT")):
        row = node.views(jurisdiction).rows([case_id])[case_id]
        assert (row.given_names, row.first_surname, row.last_seen_place) == (AMENDED, SURNAME, PLACE)
        assert AMENDED in "".join(e.shown for e in node.views(jurisdiction).timeline(case_id))
    found = held(tmp_path / "nodes")
    assert any(path.endswith("-wal") for path in found), "control: the views' -wal files are read"
    assert personal(found, ROUTE), "control: the scan finds a public field the views keep in clear"
    assert personal(found, NAME, AMENDED, SURNAME, PLACE, BIRTH) == [], "held in clear"

    mx.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=UUID(case_id), requested_by="Rosa Chávez, mother"))
    mx.sync("MX")
    gt.projector("GT").run_once()
    hn.projector("HN").run_once()
    assert feed.run_once() >= 1
    feed.close()

    for node, jurisdiction in ((mx, "MX"), (gt, "GT"), (hn, "HN")):
        views = node.views(jurisdiction)
        row = views.rows([case_id])[case_id]
        assert (row.status, row.given_names, row.last_seen_place) == ("erased", None, None)
        assert case_id not in views.search_tokens()
        assert node.data_keys.live(case_id) == [], "the views keys went with the case's keys"
    found = held(tmp_path / "nodes")
    assert personal(found, NAME, AMENDED, SURNAME, PLACE, BIRTH) == []


def test_a_case_s_name_tokens_find_it_and_reveal_nothing(network: dict[str, Node]) -> None:
    mx, gt, hn = network["MX"], network["GT"], network["HN"]
    case_id = record_and_share(mx, gt, hn)
    views = gt.views("GT")
    tokens = views.search_tokens()[case_id]
    assert NAME.encode() not in tokens and AMENDED.lower().encode() not in tokens
    keys = views.view_keys  # type: ignore[attr-defined]
    assert keys.name_matches(case_id, tokens, f"itzayanara  {SURNAME.upper()}")
    assert not keys.name_matches(case_id, tokens, NAME), "the amended name replaced it"
    assert tokens != mx.views("MX").search_tokens()[case_id], "another node's tokens differ"


def test_data_directories_and_files_are_owner_only(network: dict[str, Node], tmp_path: Path) -> None:
    record_and_share(network["MX"], network["GT"], network["HN"])
    data = tmp_path / "nodes"
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_name_tokens_fold_case_and_accents_and_go_with_the_key() -> None:
    keys = ViewKeys()
    stored = keys.name_tokens("case", ["María José", "López-Chávez"])
    assert stored is not None and b"maria" not in stored and "María".encode() not in stored
    assert keys.name_matches("case", stored, "MARIA lopez chavez")
    assert not keys.name_matches("case", stored, "Mario") and not keys.name_matches("case", stored, "")
    assert not keys.name_matches("other", stored, "maria"), "tokens are keyed per case"
    keys.destroy(["case"])
    assert not keys.name_matches("case", stored, "maria"), "erased with the views key"
