"""Two processes of one embedded node write its views: `serve` keeps them current while a
command line (`report` finding duplicates) syncs them itself. The one that commits a position
second fails on its tracking row, keeps nothing of that pass, and reads on from where the
other got to: nothing applied twice, the command line not failing (it did, now and then,
with `unexpected IntegrityError`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import report


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """One node's data directory opened twice, as by `serve` and by a command line."""
    settings = Settings(node="MX", data_dir=tmp_path)
    serving, command_line = build_node(settings), build_node(settings)
    yield serving, command_line
    command_line.close()
    serving.close()


def test_the_second_writer_reads_on_from_the_first(
    two_processes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    serving, command_line = two_processes
    case_id = str(command_line.ledger.report_missing_person(report(given_names="Yesenia")))
    command_line.relay.run_once()
    first, second = serving.projector("MX"), command_line.projector("MX")
    applying = second.views.apply
    conflicts: list[Any] = []

    def after_the_other(batch: Any) -> None:
        """The other writer commits the same positions between this pass's read and its write
        of the events (not only of the key grants, which come first)."""
        if not conflicts and any(".events." in t.application_name for t in batch.trackings):
            first.run_once()
        try:
            applying(batch)
        except IntegrityError:
            conflicts.append(batch)
            raise

    monkeypatch.setattr(second.views, "apply", after_the_other)
    second.run_once()
    assert len(conflicts) == 1  # the race happened: the check below is not vacuous
    assert any(".events." in t.application_name for t in conflicts[0].trackings)
    assert [r.case_id for r in second.views.cases()] == [case_id]
    assert len(second.views.timeline(case_id)) == 1  # the report, applied once
    assert sum(second.lag().values()) == 0

    # The writer that lost the race keeps the views current afterwards.
    later = str(command_line.ledger.report_missing_person(report(given_names="Keyla")))
    command_line.relay.run_once()
    assert second.run_once() == 1
    assert sorted(r.case_id for r in first.views.cases()) == sorted([case_id, later])
    assert len(first.views.timeline(later)) == 1


def _failing_once(views: Any, monkeypatch: pytest.MonkeyPatch, message: str) -> list[Any]:
    """The views' next write fails with an IntegrityError saying `message`; the calls made."""
    applying, calls = views.apply, []

    def apply(batch: Any) -> None:
        calls.append(batch)
        if len(calls) == 1:
            raise IntegrityError(message)
        applying(batch)

    monkeypatch.setattr(views, "apply", apply)
    return calls


def test_any_other_integrity_error_is_raised_at_once(
    two_processes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: only a position taken is read on from; a constraint the rows broke is not
    retried as if it were one."""
    _, command_line = two_processes
    command_line.ledger.report_missing_person(report(given_names="Yesenia"))
    command_line.relay.run_once()
    calls = _failing_once(command_line.views("MX"), monkeypatch, "NOT NULL constraint failed: cases.x")
    with pytest.raises(IntegrityError, match="NOT NULL"):
        command_line.projector("MX").run_once()
    assert len(calls) == 1


def test_a_rebuild_never_reads_on_from_another_writer(
    two_processes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild starts from offset 0: reading on from a position another writer committed
    meanwhile would skip what lies before it, so the race is raised, not absorbed."""
    _, command_line = two_processes
    command_line.ledger.report_missing_person(report(given_names="Yesenia"))
    command_line.relay.run_once()
    projector = command_line.projector("MX")
    projector.run_once()
    calls = _failing_once(command_line.views("MX"), monkeypatch, "Failed to record tracking for x:0 1")
    with pytest.raises(IntegrityError, match="Failed to record tracking"):
        projector.rebuild()
    assert len(calls) == 1
