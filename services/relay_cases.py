"""The case the relay's questions about one event read, loaded once for that event.

While the relay publishes an event, topics/grants.py asks the node's ledger several things
about the case as it stands now: its nationalities and minor status (for an event other than
the report), the nodes an approved disclosure adds (services/bootstrap.py disclosed_readers)
and the readers it is withheld from (withheld_readers). Each question loaded the aggregate
from the event store again: a select and an unsealing each, two or three per event, a fifth
of the relay's time at 10 commands/s. Granting says when it starts on another event
(`for_event`); until then the aggregate loaded first answers them all. Without an event
(a question asked outside publishing) nothing is kept.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.application import CaseLedger
from ledger.case import MissingPersonCase
from ledger.errors import CaseNotFound

__all__ = ["EventCases"]

_ABSENT = object()


class EventCases:
    """Aggregates loaded for the event being published, each once."""

    def __init__(self, ledger: CaseLedger) -> None:
        self.ledger = ledger
        self._event: Any = None
        self._loaded: dict[UUID, Any] = {}

    def for_event(self, event: Any) -> None:
        """The questions from now on are about this event (None: about none, nothing kept)."""
        if event is None or event is not self._event:
            self._event, self._loaded = event, {}

    def aggregate(self, aggregate_id: UUID) -> Any:
        """The aggregate as it stands now; AggregateNotFoundError when this node holds none."""
        found = self._loaded.get(aggregate_id, _ABSENT) if self._event is not None else _ABSENT
        if found is _ABSENT:
            try:
                found = self.ledger.repository.get(aggregate_id)
            except AggregateNotFoundError:
                found = None
            if self._event is not None:
                self._loaded[aggregate_id] = found
        if found is None:
            raise AggregateNotFoundError(aggregate_id)
        return found

    def case(self, case_id: UUID) -> MissingPersonCase:
        """The case as it stands now (as the ledger's get_case); CaseNotFound otherwise."""
        try:
            found = self.aggregate(case_id)
        except AggregateNotFoundError:
            raise CaseNotFound(str(case_id)) from None
        if not isinstance(found, MissingPersonCase):
            raise CaseNotFound(str(case_id))
        return found
