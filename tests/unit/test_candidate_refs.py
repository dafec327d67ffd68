"""A candidate names each record's reference in the registry it was imported from (#14 item 8,
`left_ref` / `right_ref`); a record typed in at the node has none (null)."""

from __future__ import annotations

from pathlib import Path

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import Actor
from ledger.imports import ImportedFrom
from services.bootstrap import build_node
from services.candidates import Candidates, listed
from services.settings import Settings
from tests.factories import report

CASEWORKER = Actor("mx-casa-migrante-tapachula", "caseworker")


def test_candidates_carry_the_registry_reference_of_imported_records(tmp_path: Path) -> None:
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    try:
        imported = node.ledger.report_missing_person(
            report(imported_from=ImportedFrom("registro-albergue", "ALB-2026-0042"))
        )
        typed = node.ledger.report_missing_person(report(given_names="Maria Jose", first_surname="Lopez"))
        node.sync("MX")
        finder = Candidates(node, load_rules(SAMPLE_POLICY))
        found = finder.batch("MX", CASEWORKER, "search", 0.5, "cli")
        (pair,) = [listed(c, refs=finder.references("MX", found)) for c in found]
        refs = {pair["left"]: pair["left_ref"], pair["right"]: pair["right_ref"]}
        assert refs == {str(imported): "ALB-2026-0042", str(typed): None}, "the control: typed in, none"
        assert listed(found[0])["left_ref"] is None, "without references asked, null"
    finally:
        node.close()
