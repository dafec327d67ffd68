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
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from ledger import validation as v
from ledger.commands import CaseCommand
from ledger.errors import InvalidField, RuleBroken
from ledger.events import Recorded

__all__ = [
    "DECISIONS",
    "LINKAGE_ROLES",
    "CaseLinkage",
    "DecideDisclosure",
    "LinkageLedger",
    "RecordLinkageCandidate",
    "RequestDisclosure",
    "disclosed_to",
    "disclosures_of",
    "linkage_of",
]

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

    class DisclosureRequested(Recorded):
        """Someone here asks the other origin to disclose its case of a linkage candidate (the
        request is routed to it on ledger.linkage.<origin>, topics/linkage_topic.py)."""

        request: str
        other_origin: str
        other_case_id: str

        def evolve(self, case: Any) -> None:
            disclosures_of(case)["asked"][self.request] = {
                "other_origin": self.other_origin,
                "other_case_id": self.other_case_id,
                "version": self.originator_version,
            }

    class DisclosureDecided(Recorded):
        """This origin's designated role approved or declined a request to disclose this case:
        an approval lets the requesting origin's node be granted the case's common tier key."""

        request: str
        requester_origin: str
        requester_case_id: str
        decision: str

        def evolve(self, case: Any) -> None:
            decided = disclosures_of(case)["decided"]
            decided[self.request] = {"requester_origin": self.requester_origin, "decision": self.decision}

    def record_linkage_candidate(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_erased("LinkageCandidateFound")
        self.trigger_event(self.LinkageCandidateFound, **envelope, **data)

    def request_disclosure(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_erased("DisclosureRequested")
        if f"{data['other_origin']}/{data['other_case_id']}" not in linkage_of(self):
            raise RuleBroken(
                "disclosure", "only a linkage candidate recorded on this case can be asked about"
            )
        if data["request"] in disclosures_of(self)["asked"]:
            raise RuleBroken("disclosure", "this request was made already")
        self.trigger_event(self.DisclosureRequested, **envelope, **data)

    def decide_disclosure(self, envelope: dict[str, Any], **data: Any) -> None:
        self._refuse_if_erased("DisclosureDecided")
        if data["request"] in disclosures_of(self)["decided"]:
            raise RuleBroken("disclosure", "this request was decided already")
        if f"{data['requester_origin']}/{data['requester_case_id']}" not in linkage_of(self):
            raise RuleBroken(
                "disclosure", "only a request about a linkage candidate recorded on this case can be decided"
            )
        if data["decision"] == "approved" and data["requester_origin"] in getattr(
            self, "withheld_from", set()
        ):
            raise RuleBroken("disclosure", "the case is withheld from the requesting country")
        self.trigger_event(self.DisclosureDecided, **envelope, **data)


def disclosures_of(case: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """The disclosure requests a case made ("asked") and those it decided ("decided")."""
    found: dict[str, dict[str, dict[str, Any]]] | None = case.__dict__.get("disclosures")
    if found is None:
        found = {"asked": {}, "decided": {}}
        case.__dict__["disclosures"] = found
    return found


def disclosed_to(case: Any) -> frozenset[str]:
    """The origins whose node a request approved on this case lets read its common tier."""
    decided = disclosures_of(case)["decided"].values()
    return frozenset(d["requester_origin"] for d in decided if d["decision"] == "approved")


@dataclass(frozen=True, kw_only=True)
class RecordLinkageCandidate(CaseCommand):
    """Record a linkage candidate on this node's case (search purpose: the family consented)."""

    # The other side's case is a pointer this node may not read (linkage without disclosure):
    # the recorder's right is checked on this node's case alone (ledger/acting.py).
    POINTERS: ClassVar[tuple[str, ...]] = ("other_case_id",)

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


def _designated(command: Any) -> None:
    if command.recorded_by.role not in LINKAGE_ROLES:
        roles = ", ".join(sorted(LINKAGE_ROLES))
        raise InvalidField("recorded_by.role", f"only {roles} ask for or decide disclosures")
    if command.purpose != "search":
        raise InvalidField("purpose", "disclosures are asked and decided for search only")


def _case_id(field: str, value: Any) -> str:
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise InvalidField(field, "not a case id") from None


@dataclass(frozen=True, kw_only=True)
class RequestDisclosure(CaseCommand):
    """Ask the origin of a linkage candidate to disclose its case (designated roles only)."""

    POINTERS: ClassVar[tuple[str, ...]] = ("other_case_id",)  # not readable here before disclosure

    request: str
    other_origin: str
    other_case_id: str

    def checked(self, today: date) -> dict[str, Any]:
        _designated(self)
        return {
            "request": _case_id("request", self.request),
            "other_origin": v.country("other_origin", self.other_origin),
            "other_case_id": _case_id("other_case_id", self.other_case_id),
        }


DECISIONS = ("approved", "declined")


@dataclass(frozen=True, kw_only=True)
class DecideDisclosure(CaseCommand):
    """Approve or decline a request to disclose this case (its origin's designated roles)."""

    request: str
    requester_origin: str
    requester_case_id: str
    decision: str

    def checked(self, today: date) -> dict[str, Any]:
        _designated(self)
        return {
            "request": _case_id("request", self.request),
            "requester_origin": v.country("requester_origin", self.requester_origin),
            "requester_case_id": _case_id("requester_case_id", self.requester_case_id),
            "decision": v.choice("decision", self.decision, DECISIONS),
        }


class LinkageLedger:
    """The handler (a mixin of CaseLedger)."""

    if TYPE_CHECKING:

        def _case_act(self, command: Any, decide: Any) -> int: ...

    def record_linkage_candidate(self, command: RecordLinkageCandidate) -> int:
        return self._case_act(command, lambda c, e, d: c.record_linkage_candidate(e, **d))

    def request_disclosure(self, command: RequestDisclosure) -> int:
        return self._case_act(command, lambda c, e, d: c.request_disclosure(e, **d))

    def decide_disclosure(self, command: DecideDisclosure) -> int:
        """The family's search consent is required (as for any act on the case); the rules
        decide again when the key is granted (services/bootstrap.py disclosed_readers)."""
        return self._case_act(command, lambda c, e, d: c.decide_disclosure(e, **d))
