"""services/import_gc.py: an import raises the collector's youngest threshold while it runs
and gives the process its own back, however the import ends."""

from __future__ import annotations

import gc

import pytest

from ledger.application import CaseLedger
from services.import_gc import YOUNGEST, collecting_less
from services.importing import Importer
from tests.unit.test_importing import CASEWORKER, person


def test_the_threshold_is_raised_within_and_restored_after_even_on_error() -> None:
    before = gc.get_threshold()
    assert before[0] < YOUNGEST  # control: the process's own threshold is the lower one
    with collecting_less():
        assert gc.get_threshold() == (YOUNGEST, *before[1:])
    assert gc.get_threshold() == before
    with pytest.raises(ZeroDivisionError), collecting_less():
        1 / 0  # noqa: B018
    assert gc.get_threshold() == before


def test_an_import_runs_with_the_raised_threshold() -> None:
    seen: list[int] = []
    importer = Importer(
        CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        "reports",
        source="s",
        recorded_by=CASEWORKER,
    )
    before = gc.get_threshold()
    importer.run([person(1, "p1")], lambda result: seen.append(gc.get_threshold()[0]))
    assert seen == [YOUNGEST] and gc.get_threshold() == before
