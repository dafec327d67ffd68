"""Who may act on a record (issue 12): the rule lives in the ledger (ledger/acting.py), which
checks every command whatever adapter sends it; this module gives it what a node's views know
of records kept elsewhere (a case's nationalities and age band, a match's origin), and lets the
API refuse before the ledger is asked anything, in one sentence that says nothing of the record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.access_rules import AccessRules
from ledger.acting import NAMES_A_RECORD, REFUSED, ActRefused, Subject, named
from ledger.acting import Acting as LedgerActing
from projections.views import CaseRow

if TYPE_CHECKING:
    from services.bootstrap import Node

__all__ = ["NAMES_A_RECORD", "REFUSED", "ActRefused", "Acting", "Subject", "named"]
_MINOR_BANDS = ("0-11", "12-17")


class Acting(LedgerActing):
    """The ledger's rule, with this node's ledger and views behind it."""

    def __init__(
        self,
        node: Node,
        rules: AccessRules | None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        def local(record_id: str) -> Any:
            try:
                return node.ledger.repository.get(UUID(record_id))
            except (AggregateNotFoundError, ValueError):
                return None

        def foreign_case(case_id: str) -> Subject | None:
            row = node.views(node.settings.node).rows([case_id]).get(case_id)
            if row is None:
                return None
            return Subject(row.origin, True, tuple(row.nationalities), _possibly_minor(row))

        def foreign(aggregate_type: str) -> Callable[[str], str | None]:
            def origin(record_id: str) -> str | None:
                row = node.views(node.settings.node).forensic_rows([record_id]).get(record_id)
                return row.origin if row is not None and row.aggregate_type == aggregate_type else None

            return origin

        super().__init__(
            node.settings.node,
            rules,
            local,
            foreign_case,
            foreign("Match"),
            foreign("UnidentifiedRemains"),
            today,
        )
        self.node = node


def _possibly_minor(row: CaseRow) -> bool:
    """No age band means no date of birth: possibly a minor, the stricter reading (as is_minor)."""
    return row.restricted or row.age_band is None or row.age_band in _MINOR_BANDS
