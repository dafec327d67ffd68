"""Domain errors a caseworker can act on: each names the field and the problem."""

from __future__ import annotations

__all__ = [
    "CaseNotFound",
    "CommandIdReused",
    "ConsentRequired",
    "InvalidField",
    "LedgerError",
    "NotFound",
    "NotOnBehalf",
    "RuleBroken",
    "VersionConflict",
]


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class InvalidField(LedgerError):
    """A command carried a value the ledger refuses; nothing was written."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class CommandIdReused(InvalidField):
    """A command id (an Idempotency-Key, a --command-id) sent again with a different request:
    refused, never answered with the first request's result."""

    def __init__(self, command_id: str) -> None:
        super().__init__(
            "command_id",
            f"{command_id!r} was already used for a different request; a retry must repeat the "
            "request exactly, and a new request needs a new id",
        )
        self.command_id = command_id


class VersionConflict(LedgerError):
    """The caller's expected version is stale: someone else changed the case first."""

    def __init__(self, case_id: str, expected: int, current: int) -> None:
        super().__init__(f"case {case_id}: expected version {expected} but the current version is {current}")
        self.case_id = case_id
        self.expected = expected
        self.current = current


class RuleBroken(LedgerError):
    """The command is well formed but the field's rules forbid it now (the reason says which)."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


class NotOnBehalf(RuleBroken):
    """What only the family may decide, asked by someone who may not decide it for them."""


class ConsentRequired(LedgerError):
    """The case holds no active consent for the purpose the command states."""

    def __init__(self, case_id: str, purpose: str) -> None:
        super().__init__(f"case {case_id}: no active consent for purpose '{purpose}'")
        self.case_id = case_id
        self.purpose = purpose


class NotFound(LedgerError):
    """No record of that kind with that id at this node."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id}: not recorded at this node")
        self.kind = kind
        self.record_id = record_id


class CaseNotFound(NotFound):
    """No case with that id is recorded at this node."""

    def __init__(self, case_id: str) -> None:
        super().__init__("case", case_id)
        self.case_id = case_id
