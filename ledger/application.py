"""CaseLedger: a node's write side, with the commands about missing persons' cases."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ledger.audit import ReadLog, read_log_id_for
from ledger.case import MissingPersonCase
from ledger.commands import (
    AddComprehensiveData,
    AmendData,
    CloseCase,
    ConfirmIdentification,
    EraseData,
    GrantConsent,
    JudgeCasesDistinct,
    LinkCases,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordRead,
    RecordSighting,
    ReopenCase,
    ReportMissingPerson,
    WithdrawConsent,
)
from ledger.course_ledger import CourseLedger
from ledger.errors import CaseNotFound, InvalidField, NotFound, VersionConflict
from ledger.events import LedgerAggregate
from ledger.forensic import ForensicLedger, identifying_match
from ledger.linkage_case import LinkageLedger
from ledger.match import Match
from ledger.protection_commands import DetermineBestInterests, WithholdSharing
from ledger.remains import UnidentifiedRemains
from ledger.sample import Sample
from ledger.values import PHOTO_LOCATION

__all__ = ["CaseLedger"]


class CaseLedger(CourseLedger, ForensicLedger, LinkageLedger):
    """Records case actions for one origin jurisdiction."""

    def __init__(self, origin: str, *, snapshot_interval: int = 100, **kwargs: Any) -> None:
        """snapshot_interval: a snapshot every N events of an aggregate (0: never)."""
        if snapshot_interval > 0:
            # Per instance, so a node chooses its interval; the library reads it from self.
            self.snapshotting_intervals = dict.fromkeys(  # type: ignore[misc]
                (MissingPersonCase, UnidentifiedRemains, Sample, Match, ReadLog), snapshot_interval
            )
            kwargs["env"] = {**(kwargs.get("env") or {}), "IS_SNAPSHOTTING_ENABLED": "y"}
        super().__init__(origin, **kwargs)

    # -------------------------------------------------------------- case commands

    def report_missing_person(self, command: ReportMissingPerson) -> UUID:
        """Record CaseReported; a retried command_id returns the case it made the first time."""
        envelope, data = self._checked(command, claim_later=True)
        with self.claims_first(envelope["command_id"]):
            if self.origin in data["withheld_from_countries"]:
                raise InvalidField(
                    "withheld_from_countries",
                    f"the case is recorded in {self.origin}; it cannot be withheld from it",
                )
            case = MissingPersonCase.report(self.origin, envelope, data)
            if data["withheld_from_countries"]:
                # Said again as a withholding, an event type every node sees: the country
                # withheld, which cannot open the report, learns from it to keep nothing
                # (projections/withheld.py).
                case.trigger_event(
                    case.SharingWithheld,
                    **{**envelope, "command_id": f"{envelope['command_id']}:withheld"},
                    countries=list(data["withheld_from_countries"]),
                    reason="withheld when reported",
                )
            return self._create(case, envelope["command_id"])

    def add_comprehensive_data(self, command: AddComprehensiveData) -> int:
        return self._case_act(command, lambda c, e, d: c.add_comprehensive_data(e, **d))

    def record_sighting(self, command: RecordSighting) -> int:
        return self._case_act(command, lambda c, e, d: c.record_sighting(e, **d))

    def amend_data(self, command: AmendData) -> int:
        return self._case_act(command, lambda c, e, d: c.amend(e, **d))

    def grant_consent(self, command: GrantConsent) -> int:
        return self._case_act(command, lambda c, e, d: c.grant_consent(e, **d))

    def withdraw_consent(self, command: WithdrawConsent) -> int:
        return self._case_act(command, lambda c, e, d: c.withdraw_consent(e, **d))

    def withhold_sharing(self, command: WithholdSharing) -> int:
        return self._case_act(command, lambda c, e, d: c.withhold_from(e, **d))

    def link_cases(self, command: LinkCases) -> int:
        """Record the link on both cases when both are here; neither case loses anything."""

        def decide(
            case: MissingPersonCase, envelope: dict[str, Any], data: dict[str, Any]
        ) -> list[LedgerAggregate]:
            case.link(envelope, **data)
            try:
                other = self.get_case(UUID(data["other_case_id"]))
            except CaseNotFound:
                return []  # recorded at another node: the link is recorded on this side
            other.link(
                {**envelope, "command_id": f"{envelope['command_id']}:other"},
                other_case_id=str(case.id),
                basis=data["basis"],
            )
            return [other]

        return self._case_act(command, decide)

    def judge_cases_distinct(self, command: JudgeCasesDistinct) -> int:
        """Record on both cases when both are here (on this side when the other is elsewhere)."""

        def decide(
            case: MissingPersonCase, envelope: dict[str, Any], data: dict[str, Any]
        ) -> list[LedgerAggregate]:
            case.judge_distinct(envelope, **data)
            try:
                other = self.get_case(UUID(data["other_case_id"]))
            except CaseNotFound:
                return []
            other.judge_distinct(
                {**envelope, "command_id": f"{envelope['command_id']}:other"},
                other_case_id=str(case.id),
                reason=data["reason"],
            )
            return [other]

        return self._case_act(command, decide)

    def record_person_located_alive(self, command: RecordPersonLocatedAlive) -> int:
        return self._case_act(
            command, lambda c, e, d: c.locate_alive(e, d["located_on"], d["place"], d["shareable"])
        )

    def determine_best_interests(self, command: DetermineBestInterests) -> int:
        return self._case_act(command, lambda c, e, d: c.determine_best_interests(e, **d))

    def confirm_identification(self, command: ConfirmIdentification) -> int:
        """Only through a confirmed match that names this case; the remains are marked too."""

        def decide(
            case: MissingPersonCase, envelope: dict[str, Any], data: dict[str, Any]
        ) -> list[LedgerAggregate]:
            facts = self.match_facts(UUID(data["match_id"]))
            remains_id = identifying_match(facts, case_id=str(case.id))
            case.confirm_identification(envelope, data["match_id"], remains_id)
            return self.identify_remains_here(envelope, UUID(remains_id), data["match_id"], str(case.id))

        return self._case_act(command, decide)

    def notify_family(self, command: NotifyFamily) -> int:
        return self._case_act(command, lambda c, e, d: c.notify_family(e, **d))

    def close_case(self, command: CloseCase) -> int:
        return self._case_act(command, lambda c, e, d: c.close(e, **d))

    def reopen_case(self, command: ReopenCase) -> int:
        return self._case_act(command, lambda c, e, d: c.reopen(e, **d))

    def record_read(self, command: RecordRead) -> int:
        """Add a read (or a refused attempt) to the case's read log here; returns the log's
        version. Concurrent reads of one case retry on the log's next version."""
        envelope, data = self._checked(command)
        log_id = read_log_id_for(self.origin, str(command.case_id))
        for _ in range(10):
            try:
                log = self._load(ReadLog, "read log", log_id)
            except NotFound:
                log = ReadLog.open(self.origin, str(command.case_id), envelope)
            if log.already_applied(envelope["command_id"]):
                return int(log.version)
            log.record(envelope, **data)
            try:
                self.save(log)
            except IntegrityError:
                continue  # another read landed first: record this one after it
            return int(log.version)
        raise VersionConflict(str(log_id), int(log.version), int(log.version))

    def reads_of(self, case_id: UUID) -> list[ReadLog.ReadRecorded]:
        """Every read of the case recorded at this node, oldest first."""
        try:
            self._load(ReadLog, "read log", read_log_id_for(self.origin, str(case_id)))
        except NotFound:
            return []
        events = self.events.get(read_log_id_for(self.origin, str(case_id)))
        return [e for e in events if isinstance(e, ReadLog.ReadRecorded)]

    def erase_data(self, command: EraseData) -> int:
        """Record DataErased, then shred the case's keys here; the relay publishes tombstones
        for them and every node that held copies destroys its own."""
        photo = (self.get_case(command.case_id).person.get("photo") or {}).get("location", "")
        version = self._case_act(command, lambda c, e, d: c.erase(e, **d))
        self.shred(command.case_id)
        kept_here = PHOTO_LOCATION.match(photo)
        if kept_here and kept_here["node"] == self.origin:
            self.keys.destroy_aggregate(kept_here["id"])  # the photo goes with the case
        return version
