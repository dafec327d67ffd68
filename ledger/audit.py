"""The audit of reads (#5, deliverable 6): every read of reserved, forensic or genetic data,
and every refused attempt, is an event on the ledger, so the audit is published, signed and
hash-chained like everything else, and a gap in it shows.

A node keeps one ReadLog per case it serves reads of; its events say who read (organisation
and role, on the envelope), for which purpose, which tiers, through which interface, and
whether the rules granted or refused it and why. The envelope's purpose is accountability:
that is why the record exists. Nothing here holds the data that was read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.events import LedgerAggregate, Recorded

__all__ = ["ReadLog", "read_log_id_for"]


def read_log_id_for(node: str, case_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"caseledger:reads:{node}:{case_id}")


class ReadLog(LedgerAggregate):
    """Who read one case at one node, and what the rules said."""

    class ReadLogOpened(LedgerAggregate.Created):
        origin: str
        command_id: str
        occurred_at: datetime
        recorded_by: dict[str, str]
        purpose: str
        case_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.origin = self.origin
            aggregate.case_id = self.case_id
            aggregate.reads = 0
            aggregate.command_ids = {self.command_id}

    class ReadRecorded(Recorded):
        read_purpose: str
        tiers: list[str]
        outcome: str
        reason: str
        interface: str

        def evolve(self, log: Any) -> None:
            log.reads += 1

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        origin: str
        case_id: str
        reads: int

    @classmethod
    def open(cls, origin: str, case_id: str, envelope: dict[str, Any]) -> ReadLog:
        return cls._create(
            cls.ReadLogOpened,
            id=read_log_id_for(origin, case_id),
            origin=origin,
            case_id=case_id,
            **{**envelope, "command_id": f"{envelope['command_id']}:open"},
        )

    def record(self, envelope: dict[str, Any], **data: Any) -> None:
        self.trigger_event(self.ReadRecorded, **envelope, **data)
