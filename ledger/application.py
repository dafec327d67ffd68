"""CaseLedger: the node's write-side application, built on the eventsourcing library."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from ledger import validation as v
from ledger.case import MissingPersonCase
from ledger.commands import ReportMissingPerson
from ledger.errors import CaseNotFound


class DateAsISO(Transcoding):
    """Stores calendar dates (birth, last seen) as ISO 8601 text."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class CaseLedger(Application[UUID]):
    """Records case actions for one origin jurisdiction; publishing happens elsewhere."""

    name = "caseledger"

    def __init__(
        self,
        origin: str,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.origin = v.country("origin", origin)
        self.clock = clock
        super().__init__(env=env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def report_missing_person(self, command: ReportMissingPerson) -> UUID:
        """Record CaseReported; a retried command_id returns the case it made the first time."""
        attributes = command.checked(today=self.clock().date())
        case = MissingPersonCase(origin=self.origin, **attributes)
        try:
            self.save(case)
        except IntegrityError:
            existing = self.get_case(case.id)
            if command.command_id not in existing.command_ids:
                raise
        return case.id

    def get_case(self, case_id: UUID) -> MissingPersonCase:
        """The case's current state, or CaseNotFound."""
        from eventsourcing.application import AggregateNotFoundError

        try:
            return cast(MissingPersonCase, self.repository.get(case_id))
        except AggregateNotFoundError:
            raise CaseNotFound(str(case_id)) from None

    def persistence_info(self) -> dict[str, Any]:
        """Where the events are kept, for status displays (no secrets)."""
        return {"recorder": type(self.recorder).__name__, "origin": self.origin}
