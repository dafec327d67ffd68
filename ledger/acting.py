"""Who may record a command, under the network's rules (issue 12, items 1 and 9), checked by the
ledger itself so that every adapter (the API, the command line, an import, the matcher) meets it.

The recorder is an organisation the rules know, in a role its kind can hold (ledger/roles.py);
and a command about an existing case, remains, sample or match needs that organisation to be
able to read the record, at least its common tier, for the purpose it states, as the audited
read decides (AccessRules.decide_member). Remains, samples and matches answer to their origin's
rules and to those of the case they are linked to; a consulate acts only on its own nationals'
cases. A refusal says nothing of the record: not whether it exists, whose it is, whether it was
located, or whether the person is a minor.

A family member or the located person acting on their own case (`family:<pseudonym>`, a
case-bound role) holds no organisation: the credential that binds them to their case is
checked where it is presented (the API, the family pages)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ledger.access_rules import AccessRules
from ledger.case import MissingPersonCase
from ledger.errors import LedgerError
from ledger.match import Match
from ledger.remains import UnidentifiedRemains
from ledger.roles import check_staff
from ledger.sample import Sample
from ledger.tiers import is_minor
from ledger.vocabulary import CASE_BOUND_ROLES

__all__ = [
    "FAMILY_PREFIX",
    "NAMES_A_RECORD",
    "NODE_PROCESS_ROLE",
    "REFUSED",
    "ActRefused",
    "Acting",
    "ForeignCase",
    "ForeignMatch",
    "Subject",
    "case_bound",
    "named",
]

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
FAMILY_PREFIX = "family:"
NODE_PROCESS_ROLE = "node_operator"  # a node's own process records as the node (its jurisdiction code)


class ActRefused(LedgerError):
    """A command on a record this organisation may not read for its purpose (or on no record
    kept here: the two are not told apart). Nothing was recorded."""

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


def case_bound(organisation: str, role: str) -> bool:
    """A family member or the located person, acting on their own case."""
    return organisation.startswith(FAMILY_PREFIX) and role in CASE_BOUND_ROLES


# What a node knows of records it does not keep (its views): a case's subject, a match's origin.
ForeignCase = Callable[[str], Subject | None]
ForeignMatch = Callable[[str], str | None]


class Acting:
    """May an organisation act, for a purpose, on the records a command names? (rules None: no
    network rules; the node's own records only.) local(id): the record from this node's
    ledger, or None; foreign_case / foreign_match: what the node's views hold of others'."""

    def __init__(
        self,
        origin: str,
        rules: AccessRules | None,
        local: Callable[[str], Any],
        foreign_case: ForeignCase = lambda case_id: None,
        foreign_match: ForeignMatch = lambda match_id: None,
        foreign_remains: ForeignMatch = lambda remains_id: None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.origin, self.rules, self.local, self.today = origin, rules, local, today
        self.foreign_case, self.foreign_match = foreign_case, foreign_match
        self.foreign_remains = foreign_remains

    def require(self, organisation: str, purpose: str, fields: Mapping[str, Any]) -> None:
        """Raise ActRefused unless the organisation may act on every record `fields` names."""
        if not self.may_act(organisation, purpose, named(fields)):
            raise ActRefused()

    def check_command(self, command: Any) -> None:
        """The ledger's check of a command before anything is decided: its recorder (InvalidField
        naming recorded_by.organisation or recorded_by.role), then the records it names."""
        actor = command.recorded_by
        if self.rules is None or case_bound(actor.organisation, actor.role):
            return
        pointers = getattr(type(command), "POINTERS", ())  # records named but not acted on
        fields = {
            f.name: getattr(command, f.name) for f in dataclasses.fields(command) if f.name not in pointers
        }
        if actor.organisation == self.origin and actor.role == NODE_PROCESS_ROLE:
            # The node's own process (the linkage finder), on records this node keeps only.
            if not all(self._kept_here(kind, record_id) for kind, record_id in named(fields)):
                raise ActRefused()
            return
        check_staff(self.rules.organisations, actor.organisation, actor.role)
        self.require(actor.organisation, command.purpose, fields)

    def _kept_here(self, kind: str, record_id: str) -> bool:
        record = self.local(record_id)
        wanted = MissingPersonCase if kind == "case" else _KINDS[kind]
        return isinstance(record, wanted) and record.origin == self.origin

    def may_act(self, organisation: str, purpose: str, records: Iterable[tuple[str, str]]) -> bool:
        subjects: list[Subject] = []
        for kind, record_id in records:
            found = self._subjects(kind, record_id)
            if found is None:
                return False
            subjects += found
        member = self.rules.organisations.get(organisation) if self.rules is not None else None
        people = [s for s in subjects if s.person]
        if (
            member is not None
            and member.kind == "consulate"
            and subjects
            and (not people or any(member.represents not in s.nationalities for s in people))
        ):
            return False
        # Remains, a sample or a match named beside a person's case are about that person: an
        # agreement's nationality condition reads the case's nationalities for them too.
        nationalities = tuple(sorted({n for s in people for n in s.nationalities}))
        subjects = [s if s.person else dataclasses.replace(s, nationalities=nationalities) for s in subjects]
        return all(self._may_read(organisation, purpose, s) for s in subjects)

    def _may_read(self, organisation: str, purpose: str, subject: Subject) -> bool:
        if self.rules is None:
            return subject.origin == self.origin and purpose != "statistics"
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
        record = self.local(record_id)
        if record is None:
            if kind == "sample":
                return None  # samples are acted on at the node that keeps them
            # A match or remains kept elsewhere (a case's part of a repatriation names Mexico's
            # remains): what this node's views hold of it; the command names its case too.
            origin = self.foreign_match(record_id) if kind == "match" else self.foreign_remains(record_id)
            return None if origin is None else [Subject(origin)]
        if not isinstance(record, _KINDS[kind]):
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
        """A case from this node's ledger, else from its views; None when neither holds it."""
        case = self.local(case_id)
        if isinstance(case, MissingPersonCase):
            nationalities = tuple(case.person.get("nationalities") or ())
            return Subject(case.origin, True, nationalities, is_minor(case.person, case.last_seen))
        if case is not None:
            return None
        return self.foreign_case(case_id)
