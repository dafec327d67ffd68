"""Ante-mortem / post-mortem candidates at a node (#14, items 5 and 6): for unidentified
remains, the cases they may be; for a case, the remains it may be; scored and explained by
projections/am_pm.py.

Candidate lists are forensic tier: shown only to forensic roles, and built only from what the
caller's organisation may read for the purpose it states (the agreements, the family's
consent, a refugee's withholding, the minor rule): a case whose forensic tier the rules keep
from the caller is never compared. Every case asked about or listed is a recorded read, a
refusal too. A candidate scoring at least the node's threshold (Settings.match_threshold),
of remains recorded here, becomes a MatchProposed by_matcher with its explanation, for two
people to review; its command id is derived from the pair, so a rerun (or a run killed midway
and run again) never proposes a pair twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from eventsourcing.application import AggregateNotFoundError

from ledger.access_rules import AccessRules
from ledger.commands import Actor, RecordRead
from ledger.errors import NotFound
from ledger.events import command_key
from ledger.forensic_commands import ProposeMatch
from ledger.match import match_id_for
from ledger.tiers import TIERS
from projections.am_pm import (
    AnteMortem,
    Matcher,
    PostMortem,
    case_from_record,
    remains_for_case,
    remains_from_record,
)
from projections.am_pm_records import REMAINS, AmPmRecords
from projections.duplicates import Candidate
from projections.views import CaseRow, JurisdictionViews
from services.bootstrap import Node
from services.caller_view import CallerView, ledger_withholding
from services.candidates import CandidatesRefused

__all__ = ["AM_PM_ROLES", "LIMIT", "AmPmCandidates", "basis_of", "command_id_for"]

# Who may see remains and the cases they may be: forensic tier, forensic roles.
AM_PM_ROLES = frozenset({"forensic_expert", "geneticist"})
LIMIT = 10  # candidates per remains (or per case), best first
# The tiers a view may hold; genetic data never enters a comparison.
_READABLE = tuple(t for t in TIERS if t != "genetic")
# What the matcher proposes on: never a primary identifier, so two organisations confirm.
_BASIS = {"effects": "personal_effects", "names": "personal_effects", "time": "circumstantial"}


def command_id_for(remains_id: str, case_id: str) -> str:
    """The matcher's proposal of one pair: the same id on every run, at every try."""
    return f"am-pm-matcher:{remains_id}:{case_id}"


def basis_of(candidate: Candidate) -> str:
    """The basis the proposal states: the field that weighs most for it."""
    best = max(candidate.explanation, key=lambda e: e.weight, default=None)
    if best is None:
        return "circumstantial"
    return _BASIS.get(best.field, "circumstantial" if best.field == "place" else "anthropological")


@dataclass(frozen=True)
class _Readable:
    """What one caller may compare: cases (missing, consented, forensic tier readable) and
    remains (forensic tier readable), each as the matcher takes them."""

    cases: dict[str, AnteMortem]
    remains: dict[str, PostMortem]
    identified: frozenset[str]


class AmPmCandidates:
    """The AM/PM candidates of one node's views and log, as each caller may see them."""

    def __init__(
        self,
        node: Node,
        rules: AccessRules | None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.node, self.rules, self.today = node, rules, today
        self.threshold = node.settings.match_threshold
        self._records: dict[str, AmPmRecords] = {}

    # ------------------------------------------------------------------ asks

    def for_remains(
        self,
        jurisdiction: str,
        remains_id: str,
        reader: Actor,
        purpose: str,
        min_score: float,
        interface: str,
    ) -> list[Candidate]:
        """The cases some remains may be, best first. CandidatesRefused for a role that sees
        no candidates or a caller who may not read the remains' forensic tier; NotFound for
        remains the views do not hold."""
        self._role(reader)
        views = self.node.views(jurisdiction)
        row = views.forensic_rows([remains_id]).get(remains_id)
        if row is None or row.aggregate_type != REMAINS:
            raise NotFound("remains", remains_id)
        readable = self._readable(jurisdiction, views, reader, purpose)
        pm = readable.remains.get(remains_id)
        if pm is None:
            raise CandidatesRefused(
                f"remains {remains_id}: the access rules do not let this organisation read their "
                "post-mortem data for this purpose"
            )
        found = [
            c
            for c in Matcher(list(readable.cases.values())).candidates(pm, limit=LIMIT)
            if c.score >= min_score
        ]
        self._record_listed(found, reader, purpose, interface)
        self._propose(found, readable, reader, purpose)
        return found

    def for_case(
        self, jurisdiction: str, case_id: str, reader: Actor, purpose: str, min_score: float, interface: str
    ) -> list[Candidate]:
        """The remains a case may be, best first. NotFound for a case the views do not hold;
        CandidatesRefused (recorded) when the caller may not read its forensic tier."""
        views = self.node.views(jurisdiction)
        if views.rows([case_id]).get(case_id) is None:
            raise NotFound("case", case_id)
        if reader.role not in AM_PM_ROLES:
            self._record(
                case_id, reader, purpose, "refused", f"the role {reader.role} sees no matches", interface
            )
            self._role(reader)
        readable = self._readable(jurisdiction, views, reader, purpose, missing_only=False)
        am = readable.cases.get(case_id)
        if am is None:
            self._record(
                case_id,
                reader,
                purpose,
                "refused",
                "am_pm candidates: its forensic tier is not this reader's",
                interface,
            )
            raise CandidatesRefused(
                f"case {case_id}: read refused and recorded: the access rules and the family's consent "
                "do not let this organisation read its ante-mortem data for this purpose"
            )
        matcher = Matcher(list(readable.cases.values()))
        unidentified = [pm for i, pm in readable.remains.items() if i not in readable.identified]
        found = [
            c
            for c in remains_for_case(am, unidentified, limit=LIMIT, share=matcher.share)
            if c.score >= min_score
        ]
        self._record(
            case_id, reader, purpose, "granted", "ante-mortem / post-mortem candidates asked for", interface
        )
        self._propose(found, readable, reader, purpose)
        return found

    def batch(
        self, jurisdiction: str, reader: Actor, purpose: str, min_score: float, interface: str
    ) -> list[Candidate]:
        """For every unidentified remains the caller may read, the cases they may be."""
        self._role(reader)
        views = self.node.views(jurisdiction)
        readable = self._readable(jurisdiction, views, reader, purpose)
        matcher = Matcher(list(readable.cases.values()))
        found: list[Candidate] = []
        for remains_id in sorted(readable.remains):
            if remains_id in readable.identified:
                continue
            found += [
                c
                for c in matcher.candidates(readable.remains[remains_id], limit=LIMIT)
                if c.score >= min_score
            ]
        found.sort(key=lambda c: (-c.score, c.left, c.right))
        self._record_listed(found, reader, purpose, interface)
        self._propose(found, readable, reader, purpose)
        return found

    # ------------------------------------------------------------------ what a caller may compare

    def records(self, jurisdiction: str) -> AmPmRecords:
        """The log's cases and remains, sealed, caught up now (the jurisdiction's projector
        has read the key grants up to the log's end: node.sync)."""
        held = self._records.get(jurisdiction)
        if held is None:
            held = self._records[jurisdiction] = AmPmRecords.of(self.node.projector(jurisdiction))
        held.catch_up()
        return held

    def _role(self, reader: Actor) -> None:
        if reader.role not in AM_PM_ROLES:
            raise CandidatesRefused(
                f"the role {reader.role} may not see ante-mortem / post-mortem candidates "
                "(forensic roles only)"
            )

    def _tiers(
        self, view: CallerView, origin: str, nationalities: Sequence[str] = (), minor: bool = False
    ) -> frozenset[str]:
        """The tiers this caller may read of a record. A node without network rules is alone:
        its forensic staff compare its own records."""
        if self.rules is None:
            return frozenset(_READABLE) if origin == self.node.settings.node else frozenset()
        return frozenset(t for t in _READABLE if view.may_read(origin, t, nationalities, minor))

    def _readable(
        self,
        jurisdiction: str,
        views: JurisdictionViews,
        reader: Actor,
        purpose: str,
        missing_only: bool = True,
    ) -> _Readable:
        view = CallerView(
            views,
            self.rules,
            reader.organisation,
            purpose,
            self.today,
            withheld=ledger_withholding(self.node.ledger),
        )
        records = self.records(jurisdiction)
        rows: dict[str, CaseRow] = {r.case_id: r for r in views.cases()}
        cases: dict[str, AnteMortem] = {}
        for case_id in records.ids("MissingPersonCase"):
            row = rows.get(case_id)
            if not self._comparable(view, row, missing_only):
                continue
            assert row is not None
            tiers = self._tiers(view, row.origin, row.nationalities, row.minor)
            if "forensic" not in tiers:
                continue
            record = records.case(case_id, tiers.__contains__)
            if record is not None:
                cases[case_id] = case_from_record(record)
        remains: dict[str, PostMortem] = {}
        identified: set[str] = set()
        held = views.forensic_rows(records.ids(REMAINS))
        for remains_id, forensic in held.items():
            if forensic.status == "identified":
                identified.add(remains_id)
            tiers = self._tiers(view, forensic.origin)
            if not view.lists(forensic.origin) or "forensic" not in tiers:
                continue
            found = records.remains(remains_id, tiers.__contains__)
            if found is not None:
                remains[remains_id] = remains_from_record(found)
        return _Readable(cases, remains, frozenset(identified))

    @staticmethod
    def _comparable(view: CallerView, row: CaseRow | None, missing_only: bool) -> bool:
        """A case the views hold, still missing (a person found is no one's remains), whose
        family consented to the purpose, and not withheld from the caller's country."""
        return (
            row is not None
            and (row.status == "missing" or not missing_only)
            and view.purpose in row.consents
            and not view.kept_from_caller(row.case_id)
        )

    # ------------------------------------------------------------------ proposals

    def _propose(
        self, found: Iterable[Candidate], readable: _Readable, reader: Actor, purpose: str
    ) -> list[str]:
        """MatchProposed by_matcher for each candidate at or above the threshold whose remains
        were recorded here (another node proposes for its own), once per pair."""
        ledger = self.node.ledger
        proposed: list[str] = []
        for candidate in found:
            if candidate.score < self.threshold or candidate.left in readable.identified:
                continue
            command_id = command_id_for(candidate.left, candidate.right)
            match_id = match_id_for(ledger.origin, command_key(command_id))
            if self._exists(match_id) or not self._held_here(candidate.left):
                continue
            ledger.propose_match(
                ProposeMatch(
                    command_id=command_id,
                    recorded_by=reader,
                    purpose=purpose,
                    case_id=uuid.UUID(candidate.right),
                    remains_id=uuid.UUID(candidate.left),
                    basis=basis_of(candidate),
                    score=min(1.0, max(0.0, candidate.score)),
                    by_matcher=True,
                    explanation=tuple((e.field, e.comparison, e.weight) for e in candidate.explanation),
                )
            )
            proposed.append(str(match_id))
        return proposed

    def _exists(self, match_id: uuid.UUID) -> bool:
        try:
            self.node.ledger.repository.get(match_id)
        except AggregateNotFoundError:
            return False
        return True

    def _held_here(self, remains_id: str) -> bool:
        try:
            self.node.ledger.repository.get(uuid.UUID(remains_id))
        except AggregateNotFoundError:
            return False
        return True

    # ------------------------------------------------------------------ reads

    def _record_listed(self, found: Sequence[Candidate], reader: Actor, purpose: str, interface: str) -> None:
        listed: dict[str, set[str]] = {}
        for candidate in found:
            listed.setdefault(candidate.right, set()).add(candidate.left)
        for case_id, remains in sorted(listed.items()):
            which = ", ".join(sorted(remains)[:5]) + (" ..." if len(remains) > 5 else "")
            self._record(
                case_id,
                reader,
                purpose,
                "granted",
                f"listed as a possible match of remains {which}",
                interface,
            )

    def _record(
        self, case_id: str, reader: Actor, purpose: str, outcome: str, reason: str, interface: str
    ) -> None:
        self.node.ledger.record_read(
            RecordRead(
                command_id=str(uuid.uuid4()),
                recorded_by=reader,
                case_id=uuid.UUID(case_id),
                read_purpose=purpose[:100] or "(none)",
                tiers=("forensic",) if outcome == "granted" else (),
                outcome=outcome,
                reason=reason[:500],
                interface=interface,
            )
        )
