"""Which roles read beyond their own organisation's records: the overseers, who see what is
owed to families (overdue inquiries and family updates) on every case they may read, not only
those their organisation sent, was sent or owes. The rule every interface applies (the HTTP
API and the command line alike, through services/overdue.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["OVERSEERS", "Oversees", "sees_overdue"]

OVERSEERS = frozenset({"commissioner", "investigator", "node_operator"})
"""Who sees the overdue items of every case they may read, not only their own organisation's."""

Oversees = Callable[[str], bool] | None
"""Whether the caller may read a case (by its id); None: every one, as on the node's command line."""


def sees_overdue(
    organisation: str, role: str, parties: Iterable[str], case_id: str, oversees: Oversees = None
) -> bool:
    """Whether an overdue item of a case is shown to this organisation's staff in this role:
    its own (the organisation is one of the item's parties), or, to an overseer, any of a
    case it may read."""
    return organisation in tuple(parties) or (role in OVERSEERS and (oversees is None or oversees(case_id)))
