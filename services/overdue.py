"""What is owed to families, as an organisation may see it: the inquiries whose answer is
overdue and the family updates not given when promised, its own and, to an overseer, those
of the cases it may read (who oversees is the ledger's rule, ledger/read_roles.py). The API
(services/http/course.py) and the command line (`caseledger course overdue`) both list them."""

from __future__ import annotations

from typing import Any

from ledger.application import CaseLedger
from ledger.read_roles import Oversees, sees_overdue

__all__ = ["overdue_inquiries", "overdue_updates"]


def overdue_inquiries(
    ledger: CaseLedger, organisation: str, role: str, addressee: str | None, oversees: Oversees = None
) -> list[dict[str, Any]]:
    """The overdue inquiries an organisation sent or was sent; to an overseer, also those of
    the cases it may read (oversees(case id); None: every one, as on the node's command line)."""
    items = [
        i
        for i in ledger.overdue_inquiries()
        if sees_overdue(organisation, role, (i["sent_by"], i["addressee"]), i["case_id"], oversees)
    ]
    if addressee is not None:
        items = [i for i in items if i["addressee"] == addressee]
    return [{k: v for k, v in i.items() if k != "purpose"} for i in items]


def overdue_updates(
    ledger: CaseLedger, organisation: str, role: str, oversees: Oversees = None
) -> list[dict[str, Any]]:
    """The overdue family updates a focal point owes; to an overseer, also those of the cases
    it may read."""
    return [
        i
        for i in ledger.overdue_updates()
        if sees_overdue(organisation, role, (i["focal_point"],), i["case_id"], oversees)
    ]
