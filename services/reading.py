"""Audited reads of a case (#5, deliverables 5 and 6).

An organisation reads a case for a purpose: the access rules decide tier by tier (a minor's
common fields count as reserved), the family's consent for that purpose is required, and
whatever reaches above the common tier, or is refused, is recorded on the ledger as a
ReadRecorded event before anything is shown. A family consults everything held about its
own case, including who read it, and that read is recorded too.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.access_rules import AccessRules, Decision
from ledger.audit import read_log_id_for
from ledger.case import MissingPersonCase
from ledger.commands import Actor, RecordRead
from ledger.course import course_of, folded
from ledger.errors import LedgerError
from ledger.events import ENVELOPE_KEYS
from ledger.tier_split import merge, split
from ledger.tiers import TIERS, is_minor
from services.bootstrap import Node
from services.history import happened, in_happened_order

__all__ = [
    "ABOVE_PUBLIC",
    "AUDITED",
    "ERASED",
    "MANDATE_REASON",
    "READ_REFUSED",
    "CaseErased",
    "CaseReading",
    "Dossier",
    "Entry",
    "Protect",
    "ReadEntry",
    "ReadRefused",
    "flagged_contacts",
    "keep_flagged_contacts",
    "reads_elsewhere",
]

ABOVE_PUBLIC = TIERS[1:]
READ_REFUSED = (
    "the access rules and the family's consent do not let this organisation read it for this purpose"
)
AUDITED = ("reserved", "forensic", "genetic")
MANDATE_REASON = "by legal mandate: "  # a read's reason starts so when a mandate, not consent, allowed it
_NOT_FIELDS = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "origin",
    *ENVELOPE_KEYS,
}


# (event type, recording organisation, the event's fields) -> the fields taken out of them
Protect = Callable[[str, str, dict[str, Any]], tuple[str, ...]]


class ReadRefused(LedgerError):
    """A read the rules or the family's consent do not allow; it has been recorded. The reader
    is told one sentence whatever the reason (which the read log keeps, for the family): the
    reason would tell, for one, whether the person is a minor."""

    def __init__(self, case_id: str, reason: str) -> None:
        super().__init__(f"read of case {case_id} refused and recorded: {READ_REFUSED}")
        self.reason = reason


class CaseErased(ReadRefused):
    """A read of a case its family had erased: the reader is told so (erasure is public on the
    ledger), not that consent is missing."""

    def __init__(self, case_id: str) -> None:
        super().__init__(case_id, ERASED)
        self.args = (f"case {case_id}: erased at the family's request; nothing of it can be read",)


ERASED = "the case was erased at the family's request"


@dataclass(frozen=True)
class Entry:
    """One event of a case as the reader may see it."""

    event_type: str
    version: int
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: dict[str, str]
    purpose: str
    fields: dict[str, Any]
    withheld: tuple[str, ...]  # tiers this reader may not see in this event
    protected: tuple[str, ...] = ()  # fields kept from this reader to protect a person
    happened_at: datetime | None = None  # the day seen, recovered, ... where not occurred_at's

    @property
    def happened(self) -> datetime:
        """When the thing happened, as far as this reader may see (else occurred_at)."""
        return self.happened_at or self.occurred_at


@dataclass(frozen=True)
class ReadEntry:
    at: datetime
    organisation: str
    role: str
    purpose: str
    tiers: tuple[str, ...]
    outcome: str
    reason: str
    interface: str


@dataclass(frozen=True)
class Dossier:
    case_id: str
    origin: str
    status: str
    tiers: tuple[str, ...]  # the tiers shown
    entries: list[Entry]
    reads: list[ReadEntry] = field(default_factory=list)
    handle_with_care: bool = False  # a protection risk was flagged: every reader is told


class CaseReading:
    def __init__(
        self,
        node: Node,
        rules: AccessRules | None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.node, self.rules, self.today = node, rules, today

    # ------------------------------------------------------------------ reads

    def read(self, case_id: UUID, reader: Actor, purpose: str, interface: str = "cli") -> Dossier:
        """The case as this organisation may see it for this purpose; refused reads raise
        ReadRefused after they are recorded."""
        case = self.node.ledger.get_case(case_id)
        decisions = self.decide(case, reader.organisation, purpose)
        granted = tuple(t for t, d in decisions.items() if d)
        if case.erased:
            self._record(case_id, reader, purpose, (), "refused", ERASED, interface)
            raise CaseErased(str(case_id))
        mandate = self.rules.mandate(reader.organisation, purpose) if self.rules else None
        if not granted:
            refusal = next(iter(decisions.values())).reason if decisions else "no access rules are configured"
        elif not case.has_consent(purpose) and mandate is None:
            refusal, granted = f"the family has not consented to {purpose}", ()
        else:
            refusal = ""
        if refusal:
            self._record(case_id, reader, purpose, (), "refused", refusal, interface)
            raise ReadRefused(str(case_id), refusal)
        # Every read of the case's data above public is recorded, the common tier included: the
        # family sees who read what (a read by mandate names the mandate, MANDATE_REASON).
        reason = "; ".join(sorted({decisions[t].reason for t in granted}))
        if mandate is not None:
            reason = f"{MANDATE_REASON}{mandate.name} ({reason})"
        self._record(case_id, reader, purpose, granted, "granted", reason, interface)
        return self._dossier(case, granted, self._protection(case, reader.organisation))

    def consult(self, case_id: UUID, family_member: Actor) -> Dossier:
        """Everything held about the case, for its family: every tier, who recorded each
        event and who read the case. Recorded as a read like any other."""
        case = self.node.ledger.get_case(case_id)
        self._record(
            case_id,
            family_member,
            "family_support",
            AUDITED,
            "granted",
            "the family's right to consult",
            "consult",
        )
        # The located person themselves (their own credential) reads where they are; a relative, not.
        own = family_member.role == "data_subject"
        dossier = self._dossier(case, ABOVE_PUBLIC, self._protection(case, None, own=own))
        reads = [
            ReadEntry(
                at=e.occurred_at,
                organisation=e.recorded_by["organisation"],
                role=e.recorded_by["role"],
                purpose=e.read_purpose,
                tiers=tuple(e.tiers),
                outcome=e.outcome,
                reason=e.reason,
                interface=e.interface,
            )
            for e in self.node.ledger.reads_of(case_id)
        ]
        reads = sorted([*reads, *reads_elsewhere(self.node, case_id)], key=lambda r: r.at)
        return dataclasses.replace(dossier, reads=reads)

    def related(
        self, case_id: UUID, reader: Actor, purpose: str, candidates: Sequence[str]
    ) -> tuple[list[tuple[str, list[Entry]]], list[tuple[str, list[Entry]]]]:
        """The samples (each with its custody chain) and matches of a case held at this node, as
        this organisation may see them: which records concern the case is forensic, so nothing
        comes back unless the rules let the reader read the forensic tier; genetic fields only to
        genetic readers. candidates: the samples and matches to look among (their ids are public).
        The read of the case itself records the tiers."""
        case = self.node.ledger.get_case(case_id)
        decisions = self.decide(case, reader.organisation, purpose)
        mandated = self.rules is not None and self.rules.mandate(reader.organisation, purpose) is not None
        if not decisions.get("forensic") or not (case.has_consent(purpose) or mandated):
            return [], []
        tiers = tuple(t for t, d in decisions.items() if d)
        samples: list[tuple[str, list[Entry]]] = []
        matches: list[tuple[str, list[Entry]]] = []
        for candidate in candidates:
            try:
                aggregate: Any = self.node.ledger.repository.get(UUID(candidate))
            except (AggregateNotFoundError, ValueError):
                continue  # another node's record: that node answers for it
            if getattr(aggregate, "case_id", None) != str(case_id):
                continue
            entries = self._entries(aggregate.id, tiers)
            (samples if type(aggregate).__name__ == "Sample" else matches).append((candidate, entries))
        return samples, matches

    # ------------------------------------------------------------------ helpers

    def decide(self, case: MissingPersonCase, organisation: str, purpose: str) -> dict[str, Decision]:
        if self.rules is None:
            return {}
        return {
            tier: self.rules.decide_member(
                organisation,
                case.origin,
                tier,
                purpose,
                nationalities=tuple(case.person.get("nationalities") or ()),
                minor=is_minor(case.person, case.last_seen),
                withheld_from=case.withheld_countries,
                on=self.today(),
            )
            for tier in ABOVE_PUBLIC
        }

    def _record(
        self,
        case_id: UUID,
        reader: Actor,
        purpose: str,
        tiers: Sequence[str],
        outcome: str,
        reason: str,
        interface: str,
    ) -> None:
        self.node.ledger.record_read(
            RecordRead(
                command_id=str(uuid.uuid4()),
                recorded_by=reader,
                case_id=case_id,
                read_purpose=purpose[:100] or "(none)",
                tiers=tuple(tiers),
                outcome=outcome,
                reason=reason[:500],
                interface=interface,
            )
        )

    @staticmethod
    def _protection(case: MissingPersonCase, organisation: str | None, *, own: bool = False) -> Protect:
        """What to keep from a reader (organisation None: the family) whatever its tiers: where
        a located person is, unless they may be shared (case.whereabouts_shareable), except
        from the organisation that recorded the location; and, from the family, the name of a
        witness and a best-interests decision's reasoning and author."""
        shareable = own or case.whereabouts_shareable

        guarded = flagged_contacts(case, organisation)

        def protect(event_type: str, recorded_by: str, fields: dict[str, Any]) -> tuple[str, ...]:
            if guarded and keep_flagged_contacts(event_type, fields, guarded):
                return ("family_contacts",) if event_type == "CaseReported" else ("contact",)
            kept: tuple[str, ...] = ()
            if event_type == "PersonLocatedAlive" and not shareable and organisation != recorded_by:
                kept = ("place",)
            elif organisation is None and event_type == "SightingRecorded":
                kept = ("witness",)
            elif organisation is None and event_type == "BestInterestsDetermined":
                kept = ("reason", "decided_by")
            return tuple(k for k in kept if fields.pop(k, None) is not None)

        return protect

    def _dossier(
        self, case: MissingPersonCase, tiers: Sequence[str], protect: Protect | None = None
    ) -> Dossier:
        entries = in_happened_order(self._entries(case.id, tiers, protect), lambda e: e.happened)
        status = f"{case.status.value}, erased at the family's request" if case.erased else case.status.value
        return Dossier(
            str(case.id), case.origin, status, tuple(tiers), entries, handle_with_care=case.handle_with_care
        )

    def _entries(
        self, aggregate_id: UUID, tiers: Sequence[str], protect: Protect | None = None
    ) -> list[Entry]:
        entries = []
        # Creation and later events share the envelope by convention, not by one base class.
        events: list[Any] = list(self.node.ledger.events.get(aggregate_id))
        for event in events:
            name = type(event).__name__
            attributes = {k: v for k, v in vars(event).items() if k not in _NOT_FIELDS}
            public, groups = split(name, attributes)
            # The rules already counted a minor's common fields as reserved when deciding tiers.
            shown = {t: g for t, g in groups.items() if t in tiers}
            withheld = tuple(sorted(set(groups) - set(shown), key=TIERS.index))
            fields = merge(name, public, shown)
            protected = protect(name, event.recorded_by["organisation"], fields) if protect else ()
            day = happened(name, fields, event.occurred_at)
            entries.append(
                Entry(
                    event_type=name,
                    version=int(event.originator_version),
                    occurred_at=event.occurred_at,
                    recorded_at=event.timestamp,
                    recorded_by=dict(event.recorded_by),
                    purpose=event.purpose,
                    fields=fields,
                    withheld=withheld,
                    protected=protected,
                    happened_at=None if day == event.occurred_at else day,
                )
            )
        return entries


def flagged_contacts(case: MissingPersonCase, organisation: str | None) -> frozenset[str]:
    """The family contacts flagged at risk (folded names) that this reader may not see: every
    reader but the organisation that flagged them (the family consulting included, since the
    risk may come from within it)."""
    protection = course_of(case)["protection"]
    if organisation is not None and organisation == protection["by"]:
        return frozenset()
    return frozenset(protection["contacts"])


def keep_flagged_contacts(event_type: str, fields: dict[str, Any], flagged: frozenset[str]) -> bool:
    """Take a flagged contact out of an event's fields; whether anything was taken."""
    if event_type == "CaseReported":
        contacts = fields.get("family_contacts") or []
        kept = [c for c in contacts if folded(str(c.get("name") or "")) not in flagged]
        fields["family_contacts"] = kept
        return len(kept) != len(contacts)
    if fields.get("contact") and folded(str(fields["contact"])) in flagged:
        for name in ("contact", "languages") if event_type == "ContactDetailsRecorded" else ("contact",):
            fields.pop(name, None)
        return True
    return False


def reads_elsewhere(node: Node, case_id: UUID) -> list[ReadEntry]:
    """The reads of the case recorded at other nodes (a forensic institute abroad comparing
    remains with it), as this node's own views hold their public read logs."""
    views, own = node.views(node.settings.node), node.settings.node
    topics = node.catalogue.events_topics(node.event_log.list_topics())
    origins = {node.catalogue.origin_of(t) for t in topics}
    found = []
    for origin in sorted(o for o in origins if o and o != own):
        for entry in views.timeline(str(read_log_id_for(origin, str(case_id)))):
            if entry.event_type == "ReadRecorded":
                read = json.loads(entry.public)
                found.append(
                    ReadEntry(
                        at=entry.occurred_at,
                        organisation=entry.organisation,
                        role=entry.role,
                        purpose=str(read.get("read_purpose", "")),
                        tiers=tuple(read.get("tiers") or ()),
                        outcome=str(read.get("outcome", "")),
                        reason=str(read.get("reason", "")),
                        interface=f"{read.get('interface', '')} at {origin}",
                    )
                )
    return found
