"""The one fold of a case's standing over its events: its status (and what it was before it
was closed), how many identifications stand, the purposes the family consents to, whether its
data was erased and the countries it is withheld from.

Every reader that follows a case from its events folds it here: the views' rows
(projections/rows.py) and their reopenings, a case folded again from the log
(projections/refold.py), the case as it stood at an instant (services/history.py) and the
consular feed (projections/feed.py). The aggregate (ledger/case.py) decides commands and
keeps the same standing; a property test holds the two to the same answer
(tests/unit/test_case_fold.py).

An event is given by its type and the fields a reader can see of it. Only public fields are
needed: a revision's status after it, a purpose consented to or withdrawn, a report's
consented purposes, the countries a case is withheld from. Without fields (a reader that
knows only the event types) a revision counts the identifications that stand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ledger.vocabulary import CaseStatus

__all__ = ["STATUS_AFTER", "CaseFold", "fold_case"]

MISSING = CaseStatus.MISSING.value
CLOSED = CaseStatus.CLOSED.value
IDENTIFIED = CaseStatus.IDENTIFIED_DECEASED.value

# The events that set a case's status whatever it was (the rest: CaseFold.after).
STATUS_AFTER: Mapping[str, str] = {
    "CaseReported": MISSING,
    "PersonLocatedAlive": CaseStatus.LOCATED_ALIVE.value,
    "IdentificationConfirmed": IDENTIFIED,
}

_NO_FIELDS: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class CaseFold:
    """A case's standing after the events folded so far (a person is never presumed dead)."""

    status: str = MISSING
    before_closure: str | None = None  # the status a reopening returns to
    identified: int = 0  # the identifications that stand (each revision takes one back)
    consents: frozenset[str] = frozenset()
    erased: bool = False
    withheld: frozenset[str] = frozenset()  # countries never to be told (a refugee's)

    def after(self, event_type: str, fields: Mapping[str, Any] | None = None) -> CaseFold:
        """The standing after one more event; fields: what the reader sees of it (None: its
        type only). An event that changes none of it returns the fold as it was."""
        step = _STEPS.get(event_type)
        return self if step is None else step(self, _NO_FIELDS if fields is None else fields)


def fold_case(
    events: Iterable[tuple[str, Mapping[str, Any] | None]], start: CaseFold | None = None
) -> CaseFold:
    """The standing after these events, in order, from start (a new case's if None)."""
    case = start or CaseFold()
    for event_type, fields in events:
        case = case.after(event_type, fields)
    return case


def _reported(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    return CaseFold(
        consents=frozenset(fields.get("consented_purposes") or ()),
        withheld=frozenset(fields.get("withheld_from_countries") or ()),
    )


def _located(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    return replace(case, status=STATUS_AFTER["PersonLocatedAlive"])


def _identified(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    return replace(case, status=IDENTIFIED, identified=case.identified + 1)


def _revised(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    """A confirmed match revised: one identification fewer; with none left the person is
    missing again. The event says the status after it; a reader of types only counts."""
    left = case.identified - 1
    if case.status != CLOSED:
        given = fields.get("status")
        status = str(given) if given else (MISSING if left <= 0 else case.status)
        return replace(case, status=status, identified=left)
    before = MISSING if left <= 0 and case.before_closure == IDENTIFIED else case.before_closure
    return replace(case, identified=left, before_closure=before)  # a reopening finds them so


def _closed(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    return replace(case, status=CLOSED, before_closure=case.status)


def _reopened(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    return replace(case, status=case.before_closure or MISSING, before_closure=None)


def _consented(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    purpose = fields.get("consent_purpose")  # None: a reader of the types alone
    return case if purpose is None else replace(case, consents=case.consents | {str(purpose)})


def _withdrawn(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    purpose = fields.get("consent_purpose")
    return case if purpose is None else replace(case, consents=case.consents - {str(purpose)})


def _erased(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    return replace(case, consents=frozenset(), erased=True)


def _withheld(case: CaseFold, fields: Mapping[str, Any]) -> CaseFold:
    return replace(case, withheld=case.withheld | frozenset(fields.get("countries") or ()))


_STEPS: Mapping[str, Callable[[CaseFold, Mapping[str, Any]], CaseFold]] = {
    "CaseReported": _reported,
    "PersonLocatedAlive": _located,
    "IdentificationConfirmed": _identified,
    "IdentificationRevised": _revised,
    "CaseClosed": _closed,
    "CaseReopened": _reopened,
    "ConsentGranted": _consented,
    "ConsentWithdrawn": _withdrawn,
    "DataErased": _erased,
    "SharingWithheld": _withheld,
}
