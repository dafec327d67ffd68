"""A linkage candidate recorded on a case (#19, item 3): the linkage process found, over
Bloom-filter encodings alone, that another origin holds a case that may be the same person.

The event names the other case by its id and origin and the match probability; nothing else
of the other side's record is known here. Its fields are reserved (ledger/tiers.py): they
never leave the origin in the clear, and each node records the candidate on its own case, so
the designated roles of both origins see it, and only they (LINKAGE_ROLES): a candidate says
that two countries hold a report of one person, which is itself sensitive.

A mixin of MissingPersonCase and of the ledger application, as ledger/course.py is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger import validation as v
from ledger.commands import CaseCommand
from ledger.errors import InvalidField
from ledger.events import Recorded

# Who sees linkage candidates and asks for disclosure: the node's national bodies, not every
# caseworker (a candidate reveals that another country holds a report of the person).
LINKAGE_ROLES = frozenset({"commissioner", "investigator", "node_operator"})


def linkage_of(case: Any) -> dict[str, dict[str, Any]]:
    """The candidates a case keeps, by "<origin>/<case id>" (created on first use)."""
    found: dict[str, dict[str, Any]] | None = case.__dict__.get("linkage_candidates")
    if found is None:
        found = case.__dict__["linkage_candidates"] = {}
    return found


class CaseLinkage:
    """Events and decisions of MissingPersonCase about linkage candidates."""

    if TYPE_CHECKING:

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _refuse_if_erased(self, action: str) -> None: ...

    class LinkageCandidateFound(Recorded):
        """The linkage process found, over encodings, a case of another origin that may be this
        person: its origin, its case id, the match probability and the encoding schema."""

        other_origin: str
        other_case_id: str
        score: float
        schema_version: int

        def evolve(self, case: Any) -> None:
            linkage_of(case)[f"{self.other_origin}/{self.other_case_id}"] = {
                "score": self.score,
                "schema_version": self.schema_version,
            }

    def record_linkage_candidate(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_erased("LinkageCandidateFound")
        self.trigger_event(self.LinkageCandidateFound, **envelope, **data)


@dataclass(frozen=True, kw_only=True)
class RecordLinkageCandidate(CaseCommand):
    """Record a linkage candidate on this node's case (search purpose: the family consented)."""

    other_origin: str
    other_case_id: str
    score: float
    schema_version: int

    def checked(self, today: date) -> dict[str, Any]:
        if self.purpose != "search":
            raise InvalidField("purpose", "linkage candidates are recorded for search only")
        try:
            other = str(UUID(str(self.other_case_id)))
        except ValueError:
            raise InvalidField("other_case_id", "not a case id") from None
        score = self.score
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise InvalidField("score", "must be a number from 0 to 1")
        if isinstance(self.schema_version, bool) or not isinstance(self.schema_version, int):
            raise InvalidField("schema_version", "must be a whole number")
        return {
            "other_origin": v.country("other_origin", self.other_origin),
            "other_case_id": other,
            "score": float(score),
            "schema_version": self.schema_version,
        }


class LinkageLedger:
    """The handler (a mixin of CaseLedger)."""

    if TYPE_CHECKING:

        def _case_act(self, command: Any, decide: Any) -> int: ...

    def record_linkage_candidate(self, command: RecordLinkageCandidate) -> int:
        return self._case_act(command, lambda c, e, d: c.record_linkage_candidate(e, **d))
