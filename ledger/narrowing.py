"""Commands that narrow who may read a record or act on it: a family's withdrawal of consent,
a donor's, a country withheld from, an erasure, a located adult's choice, a protection risk,
a best-interests determination, a disclosure decided, a closure, a sample destroyed.

Whatever is decided after one of them must see it. An adapter that lets the next commands
decide while earlier ones wait for their commit (services/node_lock.py, on PostgreSQL) holds
its lock through the commit of these: a sample taken or a match proposed is never decided on
the case as it was before the family withdrew its consent."""

from __future__ import annotations

from typing import Any

from ledger.commands import CloseCase, EraseData, RecordPersonLocatedAlive, WithdrawConsent
from ledger.course_commands import FlagProtectionRisk
from ledger.forensic_commands import DestroySample, WithdrawDonorConsent
from ledger.linkage_case import DecideDisclosure
from ledger.protection_commands import DetermineBestInterests, WithholdSharing

__all__ = ["NARROWING", "narrows"]

NARROWING: tuple[type, ...] = (
    WithdrawConsent,
    WithdrawDonorConsent,
    WithholdSharing,
    EraseData,
    RecordPersonLocatedAlive,
    FlagProtectionRisk,
    DetermineBestInterests,
    DecideDisclosure,
    CloseCase,
    DestroySample,
)


def narrows(command: Any) -> bool:
    """Whether the command narrows access: its commit must come before the next decision."""
    return isinstance(command, NARROWING)
