"""Candidates: records that may be one person, scored and explained, for the people who may see
them (#14, items 4 and 8).

Kind "duplicate": cases that may be reports of one person. They are listed to the caseworkers
of an organisation that may read both cases' names for the purpose it states (as the views
show them to it: services/caller_view.py). Every case listed, and the case asked about (not a
report's own, which its recorder typed), is a read recorded on the ledger, a refusal too. A
pair a person linked (CasesLinked) or judged to be two people (CasesJudgedDistinct) is not
proposed again. Kind "am_pm" (remains and cases) is services/candidates_am_pm.py's
(Candidates.am_pm).

The names are opened from the views only while a check runs and stay in this process's
memory; the blocking index (projections/duplicate_check.py) holds case ids under keyed hashes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

from ledger.access_rules import AccessRules
from ledger.commands import Actor, RecordRead
from ledger.errors import LedgerError, NotFound
from projections.duplicate_check import DuplicateIndex, row_features, score
from projections.duplicates import Candidate, features, find_duplicates
from projections.views import CaseRow, JurisdictionViews
from services.bootstrap import Node
from services.caller_view import CallerView, ledger_withholding
from services.reading import READ_REFUSED

__all__ = [
    "DEFAULT_MIN_SCORE",
    "DUPLICATE_ROLES",
    "KINDS",
    "REFRESH_SECONDS",
    "Candidates",
    "CandidatesRefused",
    "listed",
]

if TYPE_CHECKING:
    from services.candidates_am_pm import AmPmCandidates

KINDS = ("duplicate", "am_pm")
# Who may see possible duplicates: those who record and follow up reports.
DUPLICATE_ROLES = frozenset({"caseworker", "consular_officer", "investigator", "node_operator"})
# Below this a pair is too unlike to be worth a person's time, unless asked with --min-score.
DEFAULT_MIN_SCORE = 0.5
# How long a jurisdiction's index may go before a check looks for cases the views got meanwhile
# (the reports recorded through this process are added at once).
REFRESH_SECONDS = 5.0
# Events that settle a pair: a person has looked at it already.
_SETTLED = ("CasesLinked", "CasesJudgedDistinct")


class CandidatesRefused(LedgerError):
    """The caller may not see these candidates; a refusal about a case has been recorded."""


def listed(
    candidate: Candidate, kind: str = "duplicate", refs: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """The stable JSON shape of a candidate (README): kind, left, right, left_ref, right_ref,
    score, explanation. The refs are the records' ids in the registries they were imported
    from (Candidates.references), null for a record not imported or whose common tier these
    views do not open."""
    shown = candidate.as_json(kind)
    refs = refs or {}
    return {
        "kind": shown["kind"],
        "left": shown["left"],
        "right": shown["right"],
        "left_ref": refs.get(str(shown["left"])),
        "right_ref": refs.get(str(shown["right"])),
        "score": shown["score"],
        "explanation": shown["explanation"],
    }


@dataclass
class _Index:
    index: DuplicateIndex
    checked_at: float


class Candidates:
    """The candidates of one node's views, as each caller may see them."""

    def __init__(
        self,
        node: Node,
        rules: AccessRules | None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node, self.rules, self.today, self.clock = node, rules, today, clock
        self._indexes: dict[str, _Index] = {}
        self._am_pm: Any = None

    @property
    def am_pm(self) -> AmPmCandidates:
        """Ante-mortem / post-mortem candidates, for forensic roles (services/candidates_am_pm.py)."""
        if self._am_pm is None:
            from services.candidates_am_pm import AmPmCandidates

            self._am_pm = AmPmCandidates(self.node, self.rules, self.today)
        return cast("AmPmCandidates", self._am_pm)

    def references(self, jurisdiction: str, found: Sequence[Candidate]) -> dict[str, str | None]:
        """Each listed record's reference in the registry it was imported from (`imported_from`,
        common tier, on its first event), as the jurisdiction's views open it."""
        from services.history import visible_fields

        ids = sorted({str(c.left) for c in found} | {str(c.right) for c in found})
        refs: dict[str, str | None] = {}
        for record_id, entries in self.node.views(jurisdiction).timelines(ids).items():
            imported = visible_fields(entries[0]).get("imported_from") if entries else None
            refs[record_id] = imported.get("reference") if isinstance(imported, dict) else None
        return refs

    # ------------------------------------------------------------------ asks

    def for_case(
        self, jurisdiction: str, case_id: str, reader: Actor, purpose: str, min_score: float, interface: str
    ) -> list[Candidate]:
        """The possible duplicates of a case in the jurisdiction's views. NotFound when the
        views hold no such case; CandidatesRefused (recorded) when the caller may not read it."""
        views = self.node.views(jurisdiction)
        row = views.rows([case_id]).get(case_id)
        if row is None:
            raise NotFound("case", case_id)
        view = self._view(views, reader, purpose)
        if reader.role not in DUPLICATE_ROLES:
            self._record(
                case_id, reader, purpose, "refused", f"the role {reader.role} sees no candidates", interface
            )
            raise CandidatesRefused(f"the role {reader.role} may not see possible duplicates")
        if not view.shows(row):
            self._record(
                case_id, reader, purpose, "refused", "candidates: its names are not this reader's", interface
            )
            raise CandidatesRefused(f"read of case {case_id} refused and recorded: {READ_REFUSED}")
        subject = row_features(row)
        found = self.check(jurisdiction, views, view, subject, min_score) if subject else []
        self._record_listed(case_id, found, reader, purpose, interface)
        return found

    def at_report(
        self, jurisdiction: str, case_id: str, reader: Actor, purpose: str, interface: str, case: Any = None
    ) -> list[Candidate]:
        """The possible duplicates of a case just reported here, that its recorder may see
        (none for a role that sees no candidates). The new case goes into the index at once.
        case: the case as the caller read it already."""
        case = case or self.node.ledger.get_case(uuid.UUID(case_id))
        subject = features(case_id, case.person, case.last_seen)
        views = self.node.views(jurisdiction)
        held = self._index(jurisdiction, views)
        if reader.role not in DUPLICATE_ROLES:
            held.put(case_id, int(case.version), subject)
            return []
        found = self.check(
            jurisdiction, views, self._view(views, reader, purpose), subject, DEFAULT_MIN_SCORE
        )
        held.put(case_id, int(case.version), subject)
        # The recorder typed this case itself: only the cases listed beside it are reads.
        self._record_listed(case_id, found, reader, purpose, interface, asked=False)
        return found

    def batch(
        self, jurisdiction: str, reader: Actor, purpose: str, min_score: float, interface: str
    ) -> list[Candidate]:
        """Every candidate pair among the cases of the jurisdiction's views (its own and other
        countries' as the agreements let it see them) that this caller may read by name."""
        if reader.role not in DUPLICATE_ROLES:
            raise CandidatesRefused(f"the role {reader.role} may not see possible duplicates")
        views = self.node.views(jurisdiction)
        view = self._view(views, reader, purpose)
        rows = {r.case_id: r for r in views.cases() if view.shows(r)}
        records = [f for r in rows.values() if (f := row_features(r)) is not None]
        found = find_duplicates(records, threshold=min_score)
        settled = self._settled(views, {c for pair in found for c in (pair.left, pair.right)})
        found = [c for c in found if c.score >= min_score and (c.left, c.right) not in settled]
        for case_id in sorted({c for pair in found for c in (pair.left, pair.right)}):
            self._record(
                case_id, reader, purpose, "granted", "listed in a batch of possible duplicates", interface
            )
        return found

    # ------------------------------------------------------------------ the check

    def check(
        self,
        jurisdiction: str,
        views: JurisdictionViews,
        view: CallerView,
        subject: Mapping[str, Any],
        min_score: float,
    ) -> list[Candidate]:
        """The possible duplicates of `subject` (from features()) this caller may see."""
        ids = sorted(self._index(jurisdiction, views).candidates(subject))
        rows: dict[str, CaseRow] = {}
        for start in range(0, len(ids), 500):  # a very common name's block: within SQLite's limits
            rows.update(views.rows(ids[start : start + 500]))
        shown = [r for r in rows.values() if view.shows(r)]
        scored = [
            candidate
            for row in shown
            if (other := row_features(row)) is not None
            and (candidate := score(subject, other)).score >= min_score
        ]
        if scored:
            settled = self._settled(
                views, {str(subject["unique_id"])} | {c.left for c in scored} | {c.right for c in scored}
            )
            scored = [c for c in scored if (c.left, c.right) not in settled]
        scored.sort(key=lambda c: (-c.score, c.left, c.right))
        return scored

    def _index(self, jurisdiction: str, views: JurisdictionViews) -> DuplicateIndex:
        """The jurisdiction's index, brought up to date with the views when it is older than
        REFRESH_SECONDS: cases whose version changed are read again, cases gone are dropped."""
        held = self._indexes.get(jurisdiction)
        now = self.clock()
        if held is not None and now - held.checked_at < REFRESH_SECONDS:
            return held.index
        if held is None:
            held = self._indexes[jurisdiction] = _Index(DuplicateIndex(), now)
            held.index.put_rows(views.cases())
        else:
            self.refresh(held.index, views)
        held.checked_at = now
        return held.index

    @staticmethod
    def refresh(index: DuplicateIndex, views: JurisdictionViews) -> None:
        heads = views.all_chain_heads()
        versions = {i: v for i, (v, _) in heads.items()}
        for gone in [i for i in index.versions if i not in versions]:
            index.discard(gone)
        changed = [i for i, v in versions.items() if index.versions.get(i) != v]
        rows = views.rows(changed) if changed else {}
        for case_id in changed:
            row = rows.get(case_id)
            if row is None:
                index.versions[case_id] = versions[case_id]  # not a case (remains, a sample...)
            else:
                index.put(case_id, row.version, row_features(row))

    def _settled(self, views: JurisdictionViews, case_ids: Iterable[str]) -> set[tuple[str, str]]:
        """Pairs a person already linked or judged distinct, as the views' timelines show them."""
        pairs: set[tuple[str, str]] = set()
        for case_id, entries in views.timelines(sorted(case_ids)).items():
            for entry in entries:
                if entry.event_type in _SETTLED:
                    other = json.loads(entry.shown or "{}").get("other_case_id")
                    if other:
                        a, b = sorted((case_id, str(other)))
                        pairs.add((a, b))
        return pairs

    # ------------------------------------------------------------------ reads

    def _view(self, views: JurisdictionViews, reader: Actor, purpose: str) -> CallerView:
        return CallerView(
            views,
            self.rules,
            reader.organisation,
            purpose,
            self.today,
            withheld=ledger_withholding(self.node.ledger),  # a refugee's case: never to that country
        )

    def _record_listed(
        self,
        case_id: str,
        found: Sequence[Candidate],
        reader: Actor,
        purpose: str,
        interface: str,
        asked: bool = True,
    ) -> None:
        if asked:
            self._record(case_id, reader, purpose, "granted", "possible duplicates asked for", interface)
        for other in sorted({c.left for c in found} | {c.right for c in found} - {case_id}):
            self._record(
                other, reader, purpose, "granted", f"listed as a possible duplicate of {case_id}", interface
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
                tiers=("common",) if outcome == "granted" else (),
                outcome=outcome,
                reason=reason[:500],
                interface=interface,
            )
        )
