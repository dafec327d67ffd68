"""PFIF in and out, the same on the embedded default and on PostgreSQL and Kafka: a feed's
good records recorded and its bad ones reported, a second run recording nothing, a hostile
file leaving nothing behind, and the export validating and naming the imported records by
their own PFIF ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from services.bootstrap import Node, build_node
from services.pfif import PFIF_1_4
from services.pfif_export import PfifExport, ledger_ids, reference_dir, validate
from services.pfif_import import PfifImport
from services.pfif_mapping import ImportOptions
from services.settings import Settings
from tests.network import keyed

OPTIONS = ImportOptions(
    "Casa del Migrante",
    consented_purposes=("search",),
    consent_explained_by="Casa del Migrante: Lucía Pérez",
    consent_language="es",
)
FEED = f"""<?xml version="1.0" encoding="UTF-8"?>
<pfif:pfif xmlns:pfif="{PFIF_1_4}">
  <pfif:person>
    <pfif:person_record_id>albergue.example/p1</pfif:person_record_id>
    <pfif:source_date>2026-03-01T08:00:00Z</pfif:source_date>
    <pfif:full_name>Marvin Ramírez</pfif:full_name>
    <pfif:given_name>Marvin</pfif:given_name>
    <pfif:family_name>Ramírez</pfif:family_name>
    <pfif:sex>male</pfif:sex>
    <pfif:date_of_birth>1995-06-01</pfif:date_of_birth>
    <pfif:home_country>HN</pfif:home_country>
    <pfif:note>
      <pfif:note_record_id>albergue.example/n1</pfif:note_record_id>
      <pfif:author_name>Albergue</pfif:author_name>
      <pfif:source_date>2026-03-05T10:00:00Z</pfif:source_date>
      <pfif:last_known_location>Tenosique</pfif:last_known_location>
      <pfif:text>Pasó por el albergue</pfif:text>
    </pfif:note>
  </pfif:person>
  <pfif:person>
    <pfif:person_record_id>albergue.example/p2</pfif:person_record_id>
    <pfif:source_date>2026-02-30T08:00:00Z</pfif:source_date>
    <pfif:full_name>Nadie</pfif:full_name>
  </pfif:person>
</pfif:pfif>
"""


def stored(node: Node) -> int:
    return int(node.ledger.recorder.max_notification_id() or 0)


class PfifContract:
    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def node(self, settings: Settings) -> Iterator[Node]:
        node = build_node(settings)
        yield node
        node.close()

    def test_a_feed_goes_in_once_and_its_bad_records_are_named(self, node: Node, tmp_path: Path) -> None:
        path = tmp_path / "feed.xml"
        path.write_text(FEED, encoding="utf-8")
        first = PfifImport(node.ledger, OPTIONS).run(path)
        assert first.recorded == ["albergue.example/p1", "albergue.example/n1"]
        assert list(first.bad) == ["albergue.example/p2"]
        assert (
            "source_date: 2026-02-30T08:00:00Z is not a date and time that exists"
            in first.bad["albergue.example/p2"][0]
        )
        before = stored(node)
        again = PfifImport(node.ledger, OPTIONS).run(path)
        assert again.recorded == [] and stored(node) == before

    def test_a_hostile_file_leaves_nothing(self, node: Node, tmp_path: Path) -> None:
        path = tmp_path / "bomb.xml"
        path.write_text(FEED.replace("<pfif:pfif", '<!DOCTYPE p [<!ENTITY a "aaaa">]><pfif:pfif', 1))
        report = PfifImport(node.ledger, OPTIONS).run(path)
        assert report.refused and "declares a DTD" in report.refused
        assert stored(node) == 0

    def test_the_export_validates_and_keeps_the_records_ids(self, node: Node, tmp_path: Path) -> None:
        schema = reference_dir() / "pfif-1.4.rng"
        if not schema.is_file():
            pytest.fail(f"PFIF reference material missing: expected {schema}")
        path = tmp_path / "feed.xml"
        path.write_text(FEED, encoding="utf-8")
        PfifImport(node.ledger, OPTIONS).run(path)
        node.sync("MX")
        root = PfifExport(node.views("MX"), "mx.caseledger.invalid", ledger_ids(node.ledger, "MX")).document()
        validate(root, schema)
        pfif = "{" + PFIF_1_4 + "}"
        assert [p.findtext(pfif + "person_record_id") for p in root] == ["albergue.example/p1"]
        assert [n.findtext(pfif + "note_record_id") for n in root.iter(pfif + "note")] == [
            "albergue.example/n1"
        ]
        assert b"Marvin" in etree.tostring(root, encoding="UTF-8")


class TestEmbeddedPfif(PfifContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        plain = Settings(node="MX", data_dir=tmp_path / "data", kafka_bootstrap=None, database_url=None)
        return keyed({"MX": plain}, tmp_path / "keys")["MX"]


@pytest.mark.integration
class TestPostgresPfif(PfifContract):
    @pytest.fixture
    def settings(self, tmp_path: Path, kafka_bootstrap: str, database_url: str, unique: str) -> Settings:
        plain = Settings(
            node="MX",
            data_dir=tmp_path / "data",
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"t{unique}.",
        )
        return keyed({"MX": plain}, tmp_path / "keys")["MX"]
