"""Who may act on a record (issue 12): a command about an existing case, remains, sample or
match needs the acting organisation to be able to read that record, at least its common tier,
for the purpose it states, as the audited read decides (services/reading.py,
AccessRules.decide_member). Remains, samples and matches answer to their origin's rules and to
those of the case they are linked to; a consulate acts only on its own nationals' cases.

Decided before the ledger is asked anything, and refused in one sentence that says nothing of
the record: not whether it exists, whose it is, whether it was located, or whether the person
is a minor. The API and the command line share it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.access_rules import AccessRules
from ledger.case import MissingPersonCase
from ledger.errors import LedgerError
from ledger.match import Match
from ledger.remains import UnidentifiedRemains
from ledger.sample import Sample
from ledger.tiers import is_minor
from projections.views import CaseRow
from services.bootstrap import Node

REFUSED = (
    "the access rules do not let this organisation act on this record for this purpose, "
    "or no such record is kept at this node"
)
# The fields of a command that name a record, and that record's kind.
NAMES_A_RECORD = {
    "case_id": "case",
    "other_case_id": "case",
    "remains_id": "remains",
    "sample_id": "sample",
    "match_id": "match",
}
_KINDS: dict[str, type[Any]] = {"remains": UnidentifiedRemains, "sample": Sample, "match": Match}
_MINOR_BANDS = ("0-11", "12-17")


class ActRefused(LedgerError):
    """A command on a record this organisation may not read for its purpose (or on no record
    kept here: the two are not told apart). Nothing was asked of the ledger."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


@dataclass(frozen=True)
class Subject:
    """What the rules decide on: a record's origin and, for a person's case, their
    nationalities and whether they may be a minor."""

    origin: str
    person: bool = False
    nationalities: tuple[str, ...] = ()
    minor: bool = False


def named(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The records a command's fields name, as (kind, id)."""
    return [(NAMES_A_RECORD[k], str(v)) for k, v in fields.items() if k in NAMES_A_RECORD and v is not None]


class Acting:
    """May an organisation act, for a purpose, on the records a command names? (rules None:
    no network rules; as the views' own reading, the node's own records only.)"""

    def __init__(
        self,
        node: Node,
        rules: AccessRules | None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.node, self.rules, self.today = node, rules, today

    def require(self, organisation: str, purpose: str, fields: Mapping[str, Any]) -> None:
        """Raise ActRefused unless the organisation may act on every record `fields` names."""
        if not self.may_act(organisation, purpose, named(fields)):
            raise ActRefused()

    def may_act(self, organisation: str, purpose: str, records: Iterable[tuple[str, str]]) -> bool:
        subjects: list[Subject] = []
        for kind, record_id in records:
            found = self._subjects(kind, record_id)
            if found is None:
                return False
            subjects += found
        member = self.rules.organisations.get(organisation) if self.rules is not None else None
        if member is not None and member.kind == "consulate":
            people = [s for s in subjects if s.person]
            if subjects and (not people or any(member.represents not in s.nationalities for s in people)):
                return False
        return all(self._may_read(organisation, purpose, s) for s in subjects)

    def _may_read(self, organisation: str, purpose: str, subject: Subject) -> bool:
        if self.rules is None:
            return subject.origin == self.node.settings.node and purpose != "statistics"
        return bool(
            self.rules.decide_member(
                organisation,
                subject.origin,
                "common",
                purpose,
                nationalities=subject.nationalities,
                minor=subject.minor,
                on=self.today(),
            )
        )

    # ------------------------------------------------------------------ what a record answers to

    def _subjects(self, kind: str, record_id: str) -> list[Subject] | None:
        """The subjects a record answers to, or None when this node cannot tell (then refused)."""
        if kind == "case":
            case = self._case(record_id)
            return None if case is None else [case]
        record = self._local(record_id)
        expected = _KINDS[kind]
        if record is None:
            if kind != "match":
                return None  # remains and samples are acted on at the node that keeps them
            row = self.node.views(self.node.settings.node).forensic_rows([record_id]).get(record_id)
            if row is None or row.aggregate_type != "Match":
                return None
            return [Subject(row.origin)]  # another node's match: the command names its case too
        if not isinstance(record, expected):
            return None
        subjects = [Subject(record.origin)]
        for linked in (getattr(record, "case_id", None), getattr(record, "identified_as", None)):
            if linked is not None:
                # A linked case this node knows nothing of: the stricter reading, of unknown
                # nationality and possibly a minor.
                subjects.append(self._case(linked) or Subject(record.origin, True, (), True))
        remains_id = getattr(record, "remains_id", None)
        if remains_id is not None:
            remains = self._subjects("remains", remains_id)
            subjects += remains or [Subject(record.origin)]
        return subjects

    def _case(self, case_id: str) -> Subject | None:
        """A case from this node's ledger, else from its views (nationalities and age band are
        public); None when neither holds it."""
        case = self._local(case_id)
        if isinstance(case, MissingPersonCase):
            nationalities = tuple(case.person.get("nationalities") or ())
            return Subject(case.origin, True, nationalities, is_minor(case.person, case.last_seen))
        if case is not None:
            return None
        row = self.node.views(self.node.settings.node).rows([case_id]).get(case_id)
        return (
            None if row is None else Subject(row.origin, True, tuple(row.nationalities), _possibly_minor(row))
        )

    def _local(self, record_id: str) -> Any:
        try:
            return self.node.ledger.repository.get(UUID(record_id))
        except (AggregateNotFoundError, ValueError):
            return None


def _possibly_minor(row: CaseRow) -> bool:
    """No age band means no date of birth: possibly a minor, the stricter reading (as is_minor)."""
    return row.restricted or row.age_band is None or row.age_band in _MINOR_BANDS
