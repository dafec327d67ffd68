"""Domain errors a caseworker can act on: each names the field and the problem."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class InvalidField(LedgerError):
    """A command carried a value the ledger refuses; nothing was written."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class CaseNotFound(LedgerError):
    """No case with that id is recorded at this node."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id}: not recorded at this node")
        self.case_id = case_id


class VersionConflict(LedgerError):
    """The caller's expected version is stale: someone else changed the case first."""

    def __init__(self, case_id: str, expected: int, current: int) -> None:
        super().__init__(f"case {case_id}: expected version {expected} but the current version is {current}")
        self.case_id = case_id
        self.expected = expected
        self.current = current
